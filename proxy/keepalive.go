package proxy

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idleCache holds one peer's idle keepalive connections (nginx's upstream
// keepalive module): LIFO, so the most recently used connection, the least
// likely to have been closed by the upstream, goes out first. Safe for
// concurrent use.
type idleCache struct {
	mu       sync.Mutex
	conns    []*upConn
	max      int           // keepalive N (0: no cache)
	timeout  time.Duration // keepalive_timeout
	requests int           // keepalive_requests
}

func (c *idleCache) init(max int, timeout time.Duration, requests int) {
	c.max, c.timeout, c.requests = max, timeout, requests
}

// staleStats counts idle connections found dead before reuse. Metric-ready:
// atomics, read with Load.
type staleStats struct {
	FIN     atomic.Int64 // upstream had closed with FIN
	RST     atomic.Int64 // upstream had reset (the IIS case)
	Expired atomic.Int64 // idle longer than keepalive_timeout
	Reused  atomic.Int64 // connections handed out for reuse
}

// get returns a live idle connection and how long it was idle, or nil. Each
// candidate is probed without blocking (recv MSG_PEEK|MSG_DONTWAIT, as nginx's
// keepalive close handler does): a FIN or RST that arrived while it was idle
// is seen here and the connection is dropped instead of failing a request.
// probeAfter is the idle time below which an idempotent request reuses a
// connection without the MSG_PEEK probe (one syscall saved on the hot path):
// upstreams close idle connections after seconds, not milliseconds, and a
// request that does meet a dead connection gets the free fresh-connection
// retry. A non-idempotent request always probes, since it cannot be retried
// once written.
const probeAfter = 20 * time.Millisecond

func (c *idleCache) get(now time.Time, st *staleStats, alwaysProbe bool) (*upConn, time.Duration) {
	for {
		c.mu.Lock()
		n := len(c.conns)
		if n == 0 {
			c.mu.Unlock()
			return nil, 0
		}
		uc := c.conns[n-1]
		c.conns[n-1] = nil
		c.conns = c.conns[:n-1]
		c.mu.Unlock()

		idle := now.Sub(uc.idleSince)
		if c.timeout > 0 && idle > c.timeout {
			st.Expired.Add(1)
			uc.close()
			continue
		}
		if !alwaysProbe && idle < probeAfter {
			st.Reused.Add(1)
			return uc, idle
		}
		if uc.rdl.Before(now) && !uc.rdl.IsZero() {
			// An expired read deadline would fail the probe itself.
			uc.rdl = time.Time{}
			_ = uc.tcp.SetReadDeadline(uc.rdl)
		}
		if err := probeIdle(uc); err != nil {
			if errors.Is(err, syscall.ECONNRESET) {
				st.RST.Add(1)
			} else {
				st.FIN.Add(1)
			}
			uc.close()
			continue
		}
		st.Reused.Add(1)
		return uc, idle
	}
}

// put caches uc for reuse, evicting the oldest idle connection when full.
// It closes uc instead when the cache is off or keepalive_requests is reached.
func (c *idleCache) put(uc *upConn, now time.Time) {
	if c.max <= 0 || (c.requests > 0 && uc.requests >= c.requests) || uc.br.Buffered() > 0 {
		uc.close()
		return
	}
	uc.idleSince = now
	uc.rerr, uc.werr = nil, nil
	// Deadlines stay as they are: the next Read or Write renews them, and
	// get clears an expired one before the probe (see upConn.Read).
	c.mu.Lock()
	var evict *upConn
	if len(c.conns) >= c.max {
		evict = c.conns[0]
		copy(c.conns, c.conns[1:])
		c.conns = c.conns[:len(c.conns)-1]
	}
	c.conns = append(c.conns, uc)
	c.mu.Unlock()
	if evict != nil {
		evict.close()
	}
}

// reap closes connections idle longer than keepalive_timeout, so an idle
// upstream connection does not outlive its timeout just because no request
// came to look at it.
func (c *idleCache) reap(now time.Time) {
	c.mu.Lock()
	var dead []*upConn
	keep := c.conns[:0]
	for _, uc := range c.conns {
		if c.timeout > 0 && now.Sub(uc.idleSince) > c.timeout {
			dead = append(dead, uc)
		} else {
			keep = append(keep, uc)
		}
	}
	for i := len(keep); i < len(c.conns); i++ {
		c.conns[i] = nil
	}
	c.conns = keep
	c.mu.Unlock()
	for _, uc := range dead {
		uc.close()
	}
}

// closeAll closes every idle connection (shutdown).
func (c *idleCache) closeAll() {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, uc := range conns {
		uc.close()
	}
}

func (c *idleCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

var errUnsolicited = errors.New("upstream sent data on an idle connection")

// probeIdle checks an idle connection without blocking: nil if it is quiet
// and open, io.EOF if the upstream sent FIN, ECONNRESET if it sent RST, and
// errUnsolicited if it sent bytes nobody asked for (e.g. a 408).
func probeIdle(uc *upConn) error {
	rc, err := uc.tcp.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case e == syscall.EAGAIN:
		case e != nil:
			perr = e
		case n == 0:
			perr = io.EOF
		default:
			perr = errUnsolicited
		}
		return true // never park waiting for readiness
	})
	if err != nil {
		return err
	}
	if perr == errUnsolicited && uc.tls != nil {
		return probeTLS(uc) // a TLS record: close_notify, or a session ticket (upstream_tls.go)
	}
	return perr
}
