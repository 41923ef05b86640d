package proxy

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// liveSet tracks open connections so that a fast stop (nginx's TERM) can
// close them all: the client connections, and the upstream connections that
// in-flight requests are blocked on.
type liveSet[T interface {
	comparable
	io.Closer
}] struct {
	mu     sync.Mutex
	m      map[T]struct{}
	closed bool
}

// add registers c; after closeAll it closes c at once and returns false.
func (s *liveSet[T]) add(c T) bool {
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

func (s *liveSet[T]) remove(c T) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

// len is the number of registered connections.
func (s *liveSet[T]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// closeAll closes every registered connection, and every later one.
func (s *liveSet[T]) closeAll() {
	s.mu.Lock()
	s.closed = true
	m := s.m
	s.m = nil
	s.mu.Unlock()
	for c := range m {
		_ = c.Close()
	}
}

// inflight counts requests between serve and finish, so that a stop waits
// for them before it closes the logs they write to.
type inflight struct{ n atomic.Int64 }

func (f *inflight) begin() { f.n.Add(1) }
func (f *inflight) end()   { f.n.Add(-1) }

// wait polls until no request is in flight or the limit passes. The
// connections have been closed by then, so every request is on its way out.
func (f *inflight) wait(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for f.n.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
