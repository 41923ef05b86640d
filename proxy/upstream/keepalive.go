package upstream

import (
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"spillway/proxy/idlelearn"
)

// IdleCache holds one peer's idle keepalive connections (nginx's upstream
// keepalive module): LIFO, so the most recently used connection, the least
// likely to have been closed by the upstream, goes out first. Safe for
// concurrent use.
//
// How long a connection may stay idle is learn's Keep: keepalive_timeout,
// or a tenth less than the server's own idle timeout once that is known
// (keepalive_timeout_learn, proxy/idlelearn).
type IdleCache struct {
	mu       sync.Mutex
	conns    []*Conn
	addr     string        // the server's, for the notices
	max      int           // keepalive N (0: no cache)
	requests int           // keepalive_requests
	time     time.Duration // keepalive_time: the oldest a connection may be to be kept (0: any)
	learn    *idlelearn.Learner

	// watch holds a few connections retired by the learned limit, no
	// longer handed out, that the reaper keeps peeking at: when the
	// upstream closes them, that confirms what was learned; one still open
	// well past it says the server's timeout grew (idlelearn.Alive). So
	// the learner keeps its evidence without a request ever meeting a
	// closing connection.
	watch []*Conn
}

// maxWatch is how many retired connections each server's cache watches.
const maxWatch = 2

func (c *IdleCache) init(addr string, max int, timeout time.Duration, requests int, age time.Duration, learn bool) {
	c.addr, c.max, c.requests, c.time = addr, max, requests, age
	c.learn = idlelearn.New(timeout, learn)
}

// LearnLog logs what an IdleCache learned (the proxy's error log, at notice).
type LearnLog interface {
	IdleLearned(addr string, ev idlelearn.Event)
}

// StaleStats counts idle connections found dead before reuse. Metric-ready:
// atomics, read with Load.
type StaleStats struct {
	FIN     atomic.Int64 // upstream had closed with FIN
	RST     atomic.Int64 // upstream had reset (the IIS case)
	Expired atomic.Int64 // idle longer than keepalive_timeout
	Learned atomic.Int64 // idle longer than the learned limit (below keepalive_timeout)
	Reused  atomic.Int64 // connections handed out for reuse
	Retried atomic.Int64 // reused connections that failed and were retried fresh
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

// A connection found closed is what the learner observes (its idle age);
// lg logs what that teaches.
func (c *IdleCache) get(now time.Time, st *StaleStats, alwaysProbe bool, lg LearnLog) (*Conn, time.Duration) {
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

		// now was taken before the call: a connection cached since then
		// has been idle for no time, not for a negative one.
		idle := max(now.Sub(uc.idleSince), 0)
		if uc.h2 != nil {
			// HTTP/2 (http2.go): its reader goroutine owns the socket
			// and has seen a GOAWAY or a close; no probe, no learning.
			if !uc.h2.CanTakeNewRequest() {
				st.FIN.Add(1)
				uc.close()
				continue
			}
			st.Reused.Add(1)
			return uc, idle
		}
		if keep := c.learn.Keep(); keep > 0 && idle > keep {
			if c.retire(uc, now, lg) {
				st.Learned.Add(1)
			} else {
				st.Expired.Add(1)
			}
			continue
		}
		if !alwaysProbe && idle < probeAfter {
			st.Reused.Add(1)
			return uc, idle
		}
		if err := probeAt(uc, now); err != nil {
			how := idlelearn.FIN
			switch {
			case errors.Is(err, syscall.ECONNRESET):
				st.RST.Add(1)
				how = idlelearn.RST
			case err == ErrUnsolicited:
				st.FIN.Add(1) // e.g. a 408 before the close: not an idle timeout seen
				how = idlelearn.None
			default:
				st.FIN.Add(1)
			}
			uc.close()
			if how != idlelearn.None {
				c.Closed(idle, how, now, lg)
			}
			continue
		}
		st.Reused.Add(1)
		return uc, idle
	}
}

// retire takes an idle connection past its limit out of use. Past a
// learned limit (below keepalive_timeout) it is watched, while there is
// room, instead of closed; it reports whether the limit was a learned one.
// One the upstream already closed is not watched: its close is the
// observation (Closed) at once, and it must not take a slot from a live
// connection whose staying open would say the server's timeout grew (an
// upstream restarted with a longer one leaves dead connections behind).
func (c *IdleCache) retire(uc *Conn, now time.Time, lg LearnLog) bool {
	if uc.h2 != nil { // never probed: its reader goroutine owns the socket (http2.go)
		uc.close()
		return false
	}
	if max := c.learn.Max(); max > 0 && c.learn.Keep() >= max {
		uc.close()
		return false
	}
	if err := probeAt(uc, now); err != nil {
		c.observe(err, max(now.Sub(uc.idleSince), 0), now, lg)
		uc.close()
		return true
	}
	c.mu.Lock()
	if len(c.watch) < maxWatch {
		c.watch = append(c.watch, uc)
		uc = nil
	}
	c.mu.Unlock()
	if uc != nil {
		uc.close()
	}
	return true
}

// observe tells the learner what a probe's error says of a connection idle
// for idle: closed by an RST or a FIN (Closed); anything else says nothing.
func (c *IdleCache) observe(err error, idle time.Duration, now time.Time, lg LearnLog) {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		c.Closed(idle, idlelearn.RST, now, lg)
	case err == io.EOF:
		c.Closed(idle, idlelearn.FIN, now, lg)
	}
}

// Closed tells the learner that a connection idle for idle was found closed.
func (c *IdleCache) Closed(idle time.Duration, how idlelearn.How, now time.Time, lg LearnLog) {
	if ev, ok := c.learn.Closed(idle, how, now); ok && lg != nil {
		lg.IdleLearned(c.addr, ev)
	}
}

// put caches uc for reuse, evicting the oldest idle connection when full.
// It closes uc instead when the cache is off, keepalive_requests is reached
// or uc is older than keepalive_time (nginx checks both as it frees the
// peer).
func (c *IdleCache) put(uc *Conn, now time.Time) {
	if c.max <= 0 || (c.requests > 0 && uc.requests >= c.requests) || uc.br.Buffered() > 0 ||
		c.time > 0 && now.Sub(uc.born) > c.time {
		uc.close()
		return
	}
	uc.idleSince = now
	uc.rerr, uc.werr = nil, nil
	// Deadlines stay as they are: the next Read or Write renews them, and
	// get clears an expired one before the probe (see Conn.Read).
	c.mu.Lock()
	var evict *Conn
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

// reap closes connections idle longer than keepalive_timeout (or the
// learned limit), so an idle upstream connection does not outlive its
// timeout just because no request came to look at it. It also ages what
// the learner learned (idlelearn's rule 2).
func (c *IdleCache) reap(now time.Time, lg LearnLog) {
	if ev, ok := c.learn.Tick(now); ok && lg != nil {
		lg.IdleLearned(c.addr, ev)
	}
	c.peekWatched(now, lg) // first: closed ones make room for those retired now
	limit := c.learn.Keep()
	c.mu.Lock()
	var dead []*Conn
	keep := c.conns[:0]
	for _, uc := range c.conns {
		if limit > 0 && now.Sub(uc.idleSince) > limit {
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
		c.retire(uc, now, lg)
	}
}

// peekWatched looks at the watched connections: one the upstream closed
// is an observation (its idle age, FIN or RST: idlelearn.Closed), one
// still open is evidence the other way (idlelearn.Alive) until it reaches
// keepalive_timeout and is closed.
func (c *IdleCache) peekWatched(now time.Time, lg LearnLog) {
	c.mu.Lock()
	watch := c.watch
	c.watch = nil
	c.mu.Unlock()
	var alive []*Conn
	for _, uc := range watch {
		age := now.Sub(uc.idleSince)
		err := probeAt(uc, now)
		if err == nil && (c.learn.Max() == 0 || age < c.learn.Max()) {
			if ev, ok := c.learn.Alive(age, now); ok && lg != nil {
				lg.IdleLearned(c.addr, ev)
			}
			alive = append(alive, uc)
			continue
		}
		c.observe(err, age, now, lg)
		uc.close()
	}
	if len(alive) == 0 {
		return
	}
	c.mu.Lock()
	c.watch = append(c.watch, alive...)
	var extra []*Conn
	if n := len(c.watch); n > maxWatch { // retire added some meanwhile
		extra = slices.Clone(c.watch[maxWatch:])
		clear(c.watch[maxWatch:])
		c.watch = c.watch[:maxWatch]
	}
	c.mu.Unlock()
	for _, uc := range extra {
		uc.close()
	}
}

// closeAll closes every idle connection (shutdown).
func (c *IdleCache) closeAll() {
	c.mu.Lock()
	conns := append(c.conns, c.watch...)
	c.conns, c.watch = nil, nil
	c.mu.Unlock()
	for _, uc := range conns {
		uc.close()
	}
}

func (c *IdleCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

var ErrUnsolicited = errors.New("upstream sent data on an idle connection")

// Probe checks c without blocking (probeIdle): nil if it is quiet and
// open, io.EOF after a FIN, ECONNRESET after an RST, and errUnsolicited
// when the upstream sent bytes nobody asked for.
func (c *Conn) Probe() error { return probeIdle(c) }

// Unread reports, without waiting, whether the upstream has sent bytes
// that are still in the socket (for TLS, any record). It asks the socket,
// so it works from another goroutine than the one reading, and past a
// deadline; bytes already read into Reader are not its business.
func (c *Conn) Unread() bool {
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return false
	}
	unread := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		unread = e == nil && n > 0
	})
	return unread
}

// probeAt is probeIdle at now, after clearing a read deadline that has
// passed: it would fail the probe itself.
func probeAt(uc *Conn, now time.Time) error {
	if uc.rdl.Before(now) && !uc.rdl.IsZero() {
		uc.rdl = time.Time{}
		_ = uc.tcp.SetReadDeadline(uc.rdl)
	}
	return probeIdle(uc)
}

// probeIdle checks an idle connection without blocking: nil if it is quiet
// and open, io.EOF if the upstream sent FIN, ECONNRESET if it sent RST, and
// errUnsolicited if it sent bytes nobody asked for (e.g. a 408).
func probeIdle(uc *Conn) error {
	pr := &uc.probe
	if pr.rc == nil { // once per connection: SyscallConn and the callback allocate
		rc, err := uc.tcp.SyscallConn()
		if err != nil {
			return err
		}
		pr.rc, pr.fn = rc, pr.peek
	}
	pr.err = nil
	if err := pr.rc.Read(pr.fn); err != nil {
		return err
	}
	if pr.err == ErrUnsolicited && uc.tls != nil {
		return probeTLS(uc) // a TLS record: close_notify, or a session ticket (upstream_tls.go)
	}
	return pr.err
}

// idleProbe is a Conn's probeIdle state, kept so that a probe (every
// non-idempotent request on a reused connection) allocates nothing.
type idleProbe struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // peek, bound once
	err error
	b   [1]byte
}

// peek is the probe's one recv(2): MSG_PEEK, never parked waiting for
// readiness.
func (pr *idleProbe) peek(fd uintptr) bool {
	n, _, e := syscall.Recvfrom(int(fd), pr.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case e == syscall.EAGAIN:
	case e != nil:
		pr.err = e
	case n == 0:
		pr.err = io.EOF
	default:
		pr.err = ErrUnsolicited
	}
	return true
}

// Hint honours a response's "Keep-Alive: timeout=N" (v, the header's value).
func (c *IdleCache) Hint(v []byte, lg LearnLog) {
	if len(v) == 0 {
		return
	}
	if ev, ok := c.learn.Hint(idlelearn.HintOf(v)); ok && lg != nil {
		lg.IdleLearned(c.addr, ev)
	}
}

// IdleSeconds reports a server's learned idle timeout (0: not known)
// and how long its idle connections are kept (0: no limit).
func (pr *Peer) IdleSeconds() (learned, keep float64) {
	t, _ := pr.idle.learn.Timeout()
	return t.Seconds(), pr.idle.learn.Keep().Seconds()
}

// Learned reports what is believed about the server's idle timeout (0:
// unknown), what that rests on ("FIN", "RST", "Keep-Alive header",
// "none"), and how long idle connections are kept (0: no limit).
func (c *IdleCache) Learned() (timeout time.Duration, how string, keep time.Duration) {
	t, h := c.learn.Timeout()
	return t, h.String(), c.learn.Keep()
}
