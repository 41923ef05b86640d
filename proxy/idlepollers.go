package proxy

import (
	"errors"
	"sync/atomic"

	"spillway/proxy/internal/idlepark"
)

// idlePollers are the pollers idle keep-alive client connections park in
// (conn.go): one per P (GOMAXPROCS when the proxy starts), each its own
// epoll set, goroutine and lock, and a connection keeps the one it was
// given at its first parking (round robin). With one poller for the
// process, every request of every connection woke through one goroutine,
// which started the connection's goroutine on its own P for the other P
// to steal, and every parking took one lock from both Ps: with two cores
// that cost about a tenth of spillway's CPU per 1 KiB request
// (docs/measured/multicore-2026-12-08.md). nginx's counterpart is its
// worker processes, each with its own epoll set.
//
// A poller keeps a 16-byte slot for every descriptor number up to the
// highest it has parked, and round robin gives every poller descriptors
// from the whole range: n pollers cost 16·n bytes per connection, hence
// at most maxIdlePollers of them on a machine with many cores.
type idlePollers struct {
	ps   []*idlepark.Poller
	next atomic.Uint32
}

// maxIdlePollers bounds the pollers' slots at 128 bytes per connection.
const maxIdlePollers = 8

// newIdlePollers starts n pollers (at least one, at most maxIdlePollers).
func newIdlePollers(n int) (*idlePollers, error) {
	s := &idlePollers{}
	for i := 0; i < min(max(n, 1), maxIdlePollers); i++ {
		pl, err := idlepark.New()
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.ps = append(s.ps, pl)
	}
	return s, nil
}

// pick is the poller for a connection's parkings.
func (s *idlePollers) pick() *idlepark.Poller {
	if len(s.ps) == 1 {
		return s.ps[0]
	}
	return s.ps[int(s.next.Add(1)-1)%len(s.ps)]
}

// Close closes every poller: the connections parked in them get their
// callback (idlepark.Closed).
func (s *idlePollers) Close() error {
	var errs []error
	for _, pl := range s.ps {
		errs = append(errs, pl.Close())
	}
	return errors.Join(errs...)
}
