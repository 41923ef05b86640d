// Package liveset tracks open connections so that a fast stop (nginx's
// TERM) can close them all: the client connections, the upgraded tunnels,
// and the upstream connections that in-flight requests are blocked on.
package liveset

import (
	"io"
	"sync"
)

// Set is a set of open connections. The zero value is ready; it is safe
// for concurrent use and must not be copied after first use.
type Set[T interface {
	comparable
	io.Closer
}] struct {
	mu     sync.Mutex
	m      map[T]struct{}
	closed bool
}

// Add registers c; after CloseAll it closes c at once and returns false.
func (s *Set[T]) Add(c T) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return false
	}
	if s.m == nil {
		s.m = make(map[T]struct{})
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
	return true
}

// Remove forgets c (it was closed by its owner).
func (s *Set[T]) Remove(c T) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

// Len is the number of registered connections.
func (s *Set[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// CloseAll closes every registered connection, and every later one.
func (s *Set[T]) CloseAll() {
	s.mu.Lock()
	s.closed = true
	m := s.m
	s.m = nil
	s.mu.Unlock()
	for c := range m {
		_ = c.Close()
	}
}
