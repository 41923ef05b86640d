package proxy

// Descriptors kept back for the clients already accepted.
//
// nginx, out of descriptors, logs `accept4() failed (24: Too many open
// files)` at crit and stops accepting for accept_mutex_delay (500ms) before
// it tries again. Accepting to the last descriptor is what spillway did
// before: then every accepted client's upstream connect failed with EMFILE
// and was answered 502. So the accept loops keep a reserve: while fewer than
// reserve descriptors would be left, they stop calling accept (new
// connections wait in the kernel's listen backlog, as with nginx) and go on
// when descriptors free up. The first pause of an episode, whether the
// reserve ran short or accept itself failed with EMFILE/ENFILE, logs nginx's
// line once; the episode ends when a count finds room again beyond a margin.

import (
	"sync"
	"syscall"
	"time"

	"spillway/proxy/errorlog"
)

// acceptRetry is how long a paused accept loop waits for a client
// connection to close before it counts the descriptors again (upstream
// connections and temp files free some too, without a wake-up).
const acceptRetry = 100 * time.Millisecond

// creditTTL bounds how long a count is trusted: descriptors also go to
// upstream connections, keepalive caches and temp files between accepts.
const creditTTL = time.Second

// fdReserve decides whether the accept loops may take another connection.
// Counting the open descriptors (/proc/self/fd) costs a directory read, so
// after each count it grants half of the room it found, for at most
// creditTTL, without counting again: the other half covers what the
// clients accepted meanwhile open (an upstream connection each).
type fdReserve struct {
	limit   int                // RLIMIT_NOFILE (soft) when the proxy started; 0: no reserve
	reserve int                // descriptors kept free for accepted clients
	count   func() (int, bool) // open descriptors; false when unknown
	wake    chan struct{}      // a client connection closed
	now     func() time.Time   // time.Now; tests inject a clock

	mu      sync.Mutex
	credit  int       // accepts granted before the next count
	until   time.Time // when the credit lapses
	paused  bool      // in an episode: its line is logged
	pausedN int       // descriptors open when the episode began (for the info line)
}

// newFDReserve measures the descriptor limit: a quarter of it, at least 16
// and at most 1024, is kept for what accepted clients open (an upstream
// connection each, temp files for large bodies, keepalive connections).
func newFDReserve() *fdReserve {
	r := &fdReserve{count: openFDs, wake: make(chan struct{}, 1), now: time.Now}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 1<<31 {
		r.limit = int(lim.Cur)
		r.reserve = min(max(r.limit/4, 16), 1024)
	}
	if _, ok := r.count(); !ok {
		r.limit = 0 // no /proc: accept failures alone pause the loops
	}
	return r
}

// admit reports whether one more connection may be accepted now.
func (r *fdReserve) admit() bool {
	if r.limit == 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.credit > 0 && now.Before(r.until) {
		r.credit--
		return true
	}
	n, ok := r.count()
	if !ok {
		n = r.limit // cannot even open /proc/self/fd: out of descriptors
	}
	room := r.limit - r.reserve - n
	if room <= 0 {
		r.pausedN = n
		return false
	}
	if room >= max(r.reserve/4, 1) {
		// Clear of the reserve by a margin: the episode is over. (A
		// backlog drained one connection at a time stays one episode.)
		r.paused = false
	}
	r.credit, r.until = room/2, now.Add(creditTTL)
	return true
}

// closed wakes a paused accept loop: a client connection gave its
// descriptor back.
func (r *fdReserve) closed() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pause starts or continues an episode; it reports whether this is its
// start, when nginx's line is due.
func (r *fdReserve) pause() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.credit = 0
	first := !r.paused
	r.paused = true
	return first
}

// accepted ends the episode when nothing is counted (admit ends it
// otherwise): accept worked again.
func (r *fdReserve) accepted() {
	if r.limit != 0 {
		return
	}
	r.mu.Lock()
	r.paused = false
	r.mu.Unlock()
}

// waitForDescriptors runs a paused accept loop: it logs the episode's line
// once, then waits for a client connection to close, acceptRetry, or stop.
// errno is accept's error, or 0 when the reserve ran short. It returns false
// when the loop must end.
func (p *Proxy) waitForDescriptors(errno syscall.Errno, stop <-chan struct{}) bool {
	r := p.fds
	if r.pause() {
		// nginx's line, whatever stopped accepting: it is the one
		// operators and their monitoring know.
		e := errno
		if e == 0 {
			e = syscall.EMFILE
		}
		p.elog.Write(&errorlog.Entry{Level: errorlog.Crit, Msg: "accept4() failed", Errno: e})
		if errno == 0 {
			r.mu.Lock()
			n := r.pausedN
			r.mu.Unlock()
			p.elog.Infof("accepting paused: %d of %d descriptors open, %d kept for the connections already accepted", n, r.limit, r.reserve)
		}
	}
	t := time.NewTimer(acceptRetry)
	defer t.Stop()
	select {
	case <-r.wake:
	case <-t.C:
	case <-stop:
		return false
	case <-p.done:
		return false
	}
	return true
}
