package proxy

import (
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"spillway/proxy/errorlog"
	"spillway/proxy/idlelearn"
)

// idleCache holds one peer's idle keepalive connections (nginx's upstream
// keepalive module): LIFO, so the most recently used connection, the least
// likely to have been closed by the upstream, goes out first. Safe for
// concurrent use.
//
// How long a connection may stay idle is learn's Keep: keepalive_timeout,
// or a tenth less than the server's own idle timeout once that is known
// (keepalive_timeout_learn, proxy/idlelearn).
type idleCache struct {
	mu       sync.Mutex
	conns    []*upConn
	addr     string // the server's, for the notices
	max      int    // keepalive N (0: no cache)
	requests int    // keepalive_requests
	learn    *idlelearn.Learner

	// watch holds a few connections retired by the learned limit, no
	// longer handed out, that the reaper keeps peeking at: when the
	// upstream closes them, that confirms what was learned; one still open
	// well past it says the server's timeout grew (idlelearn.Alive). So
	// the learner keeps its evidence without a request ever meeting a
	// closing connection.
	watch []*upConn
}

// maxWatch is how many retired connections each server's cache watches.
const maxWatch = 2

func (c *idleCache) init(addr string, max int, timeout time.Duration, requests int, learn bool) {
	c.addr, c.max, c.requests = addr, max, requests
	c.learn = idlelearn.New(timeout, learn)
}

// learnLog logs what an idleCache learned (Proxy.idleLearned).
type learnLog interface {
	idleLearned(addr string, ev idlelearn.Event)
}

// staleStats counts idle connections found dead before reuse. Metric-ready:
// atomics, read with Load.
type staleStats struct {
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
func (c *idleCache) get(now time.Time, st *staleStats, alwaysProbe bool, lg learnLog) (*upConn, time.Duration) {
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
		if keep := c.learn.Keep(); keep > 0 && idle > keep {
			if c.retire(uc) {
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
		if uc.rdl.Before(now) && !uc.rdl.IsZero() {
			// An expired read deadline would fail the probe itself.
			uc.rdl = time.Time{}
			_ = uc.tcp.SetReadDeadline(uc.rdl)
		}
		if err := probeIdle(uc); err != nil {
			how := idlelearn.FIN
			switch {
			case errors.Is(err, syscall.ECONNRESET):
				st.RST.Add(1)
				how = idlelearn.RST
			case err == errUnsolicited:
				st.FIN.Add(1) // e.g. a 408 before the close: not an idle timeout seen
				how = idlelearn.None
			default:
				st.FIN.Add(1)
			}
			uc.close()
			if how != idlelearn.None {
				c.closed(idle, how, now, lg)
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
func (c *idleCache) retire(uc *upConn) bool {
	if max := c.learn.Max(); max > 0 && c.learn.Keep() >= max {
		uc.close()
		return false
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

// closed tells the learner that a connection idle for idle was found closed.
func (c *idleCache) closed(idle time.Duration, how idlelearn.How, now time.Time, lg learnLog) {
	if ev, ok := c.learn.Closed(idle, how, now); ok && lg != nil {
		lg.idleLearned(c.addr, ev)
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

// reap closes connections idle longer than keepalive_timeout (or the
// learned limit), so an idle upstream connection does not outlive its
// timeout just because no request came to look at it. It also ages what
// the learner learned (idlelearn's rule 2).
func (c *idleCache) reap(now time.Time, lg learnLog) {
	if ev, ok := c.learn.Tick(now); ok && lg != nil {
		lg.idleLearned(c.addr, ev)
	}
	c.peekWatched(now, lg) // first: closed ones make room for those retired now
	limit := c.learn.Keep()
	c.mu.Lock()
	var dead []*upConn
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
		c.retire(uc)
	}
}

// peekWatched looks at the watched connections: one the upstream closed
// is an observation (its idle age, FIN or RST: idlelearn.Closed), one
// still open is evidence the other way (idlelearn.Alive) until it reaches
// keepalive_timeout and is closed.
func (c *idleCache) peekWatched(now time.Time, lg learnLog) {
	c.mu.Lock()
	watch := c.watch
	c.watch = nil
	c.mu.Unlock()
	var alive []*upConn
	for _, uc := range watch {
		age := now.Sub(uc.idleSince)
		if uc.rdl.Before(now) && !uc.rdl.IsZero() {
			uc.rdl = time.Time{}
			_ = uc.tcp.SetReadDeadline(uc.rdl)
		}
		err := probeIdle(uc)
		switch {
		case err == nil && (c.learn.Max() == 0 || age < c.learn.Max()):
			if ev, ok := c.learn.Alive(age, now); ok && lg != nil {
				lg.idleLearned(c.addr, ev)
			}
			alive = append(alive, uc)
			continue
		case errors.Is(err, syscall.ECONNRESET):
			c.closed(age, idlelearn.RST, now, lg)
		case err == io.EOF:
			c.closed(age, idlelearn.FIN, now, lg)
		}
		uc.close()
	}
	if len(alive) == 0 {
		return
	}
	c.mu.Lock()
	c.watch = append(c.watch, alive...)
	var extra []*upConn
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
func (c *idleCache) closeAll() {
	c.mu.Lock()
	conns := append(c.conns, c.watch...)
	c.conns, c.watch = nil, nil
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

// idleLearned logs, once per change, what a server's idle timeout was
// learned to be: "upstream 127.0.0.1:9001 closes idle connections after
// 5.0s (FIN); keeping them at most 4.5s" (notice).
func (p *Proxy) idleLearned(addr string, ev idlelearn.Event) {
	lv := errorlog.Notice
	if p.elog.Enabled(lv) {
		p.elog.Write(&errorlog.Entry{Level: lv, Msg: ev.Message(addr)})
	}
}

// staleReuse is the learner's other observation: a reused connection that
// failed before any response byte, with an RST or a FIN, was closed by the
// upstream while idle (the race the peek cannot see). It counts the free
// retry that follows.
func (p *Proxy) staleReuse(pr *peer, a *attempt, ue *UpstreamError) {
	p.stale.Retried.Add(1)
	switch ue.Kind {
	case KindReset:
		pr.idle.closed(a.idle, idlelearn.RST, a.start, p)
	case KindClosed:
		pr.idle.closed(a.idle, idlelearn.FIN, a.start, p)
	}
}

// hint honours a response's "Keep-Alive: timeout=N" (v, the header's value).
func (c *idleCache) hint(v []byte, lg learnLog) {
	if len(v) == 0 {
		return
	}
	if ev, ok := c.learn.Hint(idlelearn.HintOf(v)); ok && lg != nil {
		lg.idleLearned(c.addr, ev)
	}
}

// StaleRetries reports the free fresh-connection retries made after a
// reused connection failed: the stale keepalive races the peek missed.
func (p *Proxy) StaleRetries() int64 { return p.stale.Retried.Load() }

// writeIdleLearned writes a server's learned idle timeout (0: not known)
// and how long its idle connections are kept (0: no limit).
func (pr *peer) idleLearned() (learned, keep float64) {
	t, _ := pr.idle.learn.Timeout()
	return t.Seconds(), pr.idle.learn.Keep().Seconds()
}

// IdleTimeout reports what spillway believes about an upstream server's
// idle timeout (0: unknown), what that rests on ("FIN", "RST", "Keep-Alive
// header", "none") and how long its idle connections are kept (0: no
// limit). ok is false when no group of the running configuration has the
// server.
func (p *Proxy) IdleTimeout(server string) (timeout time.Duration, how string, keep time.Duration, ok bool) {
	for _, g := range p.site.Load().groups {
		for _, pr := range append(slices.Clip(g.peers), g.backup...) {
			if pr.addr == server {
				t, h := pr.idle.learn.Timeout()
				return t, h.String(), pr.idle.learn.Keep(), true
			}
		}
	}
	return 0, "", 0, false
}
