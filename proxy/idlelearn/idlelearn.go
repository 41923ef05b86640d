// Package idlelearn learns how long an upstream server keeps an idle
// keepalive connection open, so that the proxy can retire its pooled
// connections a margin before the upstream closes them, instead of meeting
// the close on a reused connection (the stale keepalive race: Node closes
// idle connections after 5s, Puma after 20s, while proxies keep them 60s).
//
// Two sources feed it:
//
//   - The upstream's own word: a response's "Keep-Alive: timeout=N" header
//     (RFC 9112 appendix C.2.2; Node and others send it). The latest value
//     counts, up or down.
//   - Observation: the idle age at which a pooled connection was found
//     closed (FIN or RST), by the peek before reuse or by a reuse that
//     failed. An upstream that closes after T is always found closed at an
//     age of T or more, so observations are upper bounds of T, and the
//     smaller ones are the better estimates.
//
// The rule, chosen so that one early close (an upstream restart, a close
// for some other reason) does not shrink the figure for good:
//
//  1. A lower observation is taken only when a second one agrees with it
//     (the two within a factor of 3/2 of each other); the learned timeout is
//     then the smaller of the two. Observations at or above the learned
//     timeout confirm it.
//  2. Evidence keeps coming without risk: the proxy keeps watching a few
//     connections it retired by the learned limit (never handing them
//     out). The upstream closing one confirms the figure; one still open
//     at twice its age proves the figure too low (a restart, a timeout that
//     grew), and it is raised to that age at once (Alive).
//  3. Without any evidence for RelearnAfter (no traffic), the learned
//     timeout grows by a quarter (relearning upward slowly), until it
//     reaches the upper bound and is forgotten. An upstream that still
//     closes at the old figure is found closed again past it and brings it
//     straight back down.
//  4. Connections are kept at most the timeout minus a tenth
//     (Keep: 5.0s → 4.5s), and never longer than the configured upper bound
//     (the upstream block's keepalive_timeout).
//
// A Learner is safe for concurrent use; Keep is a single atomic load, for
// the request path. The zero value is not usable: use New.
package idlelearn

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// RelearnAfter is how long a learned timeout holds without an observation
// before it grows by a quarter (rule 2).
const RelearnAfter = time.Minute

// MinObserved is the shortest idle age taken as an idle timeout: a
// connection found closed sooner was closed for another reason (a
// keepalive_requests limit, a close racing the request).
const MinObserved = 50 * time.Millisecond

// How says what a learned timeout rests on.
type How uint8

const (
	None   How = iota
	FIN        // connections were found closed with FIN
	RST        // connections were found reset
	Header     // the upstream's Keep-Alive: timeout=N
)

func (h How) String() string {
	switch h {
	case FIN:
		return "FIN"
	case RST:
		return "RST"
	case Header:
		return "Keep-Alive header"
	}
	return "none"
}

// Keep is how long the proxy keeps an idle connection to an upstream that
// closes idle connections after t: a tenth less (5s → 4.5s), so that the
// proxy always lets go first. spillway probe recommends the same figure.
func Keep(t time.Duration) time.Duration { return t - t/10 }

// Message is the notice the proxy logs when it learns (and spillway probe
// prints): "upstream 127.0.0.1:9001 closes idle connections after 5.0s
// (FIN); keeping them at most 4.5s".
func Message(addr string, t time.Duration, how How, keep time.Duration) string {
	return "upstream " + addr + " closes idle connections after " + secs(t) +
		" (" + how.String() + "); keeping them at most " + secs(keep)
}

// ForgetMessage is the notice when a learned timeout has grown back to the
// upper bound (rule 2).
func ForgetMessage(addr string, keep time.Duration) string {
	return "upstream " + addr + " no longer seen closing idle connections early; keeping them at most " + secs(keep)
}

// secs prints d in seconds: "5.0s", and with milliseconds below a second
// ("0.270s"), where a tenth would round a 45ms limit to "0.0s".
func secs(d time.Duration) string {
	prec := 1
	if d < time.Second {
		prec = 3
	}
	return strconv.FormatFloat(d.Seconds(), 'f', prec, 64) + "s"
}

// Learner is one upstream server's idle timeout.
type Learner struct {
	max    time.Duration // upper bound (keepalive_timeout); 0 = none
	on     bool          // keepalive_timeout_learn
	keep   atomic.Int64  // the current Keep limit in ns (0 = no limit)
	hinted atomic.Int64  // hint, readable without mu: most responses repeat it

	mu      sync.Mutex
	hint    time.Duration // Keep-Alive: timeout=N; 0 = none
	learned time.Duration // from observations; 0 = none
	how     How           // FIN or RST, for learned
	pending time.Duration // a lower observation waiting for agreement
	pendHow How
	last    time.Time     // the last observation that set or confirmed learned
	logged  time.Duration // the Keep figure last reported (Event)
}

// New returns a learner bounded by max (0: no bound); with on false it only
// ever keeps connections for max.
func New(max time.Duration, on bool) *Learner {
	l := &Learner{max: max, on: on, logged: max}
	l.keep.Store(int64(max))
	return l
}

// Keep returns how long an idle connection may be kept: the configured
// upper bound, or less once something was learned. 0 means no limit.
func (l *Learner) Keep() time.Duration { return time.Duration(l.keep.Load()) }

// Max returns the upper bound New was given.
func (l *Learner) Max() time.Duration { return l.max }

// Timeout returns the upstream's idle timeout as currently believed (0:
// unknown) and what it rests on.
func (l *Learner) Timeout() (time.Duration, How) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.timeoutLocked()
}

func (l *Learner) timeoutLocked() (time.Duration, How) {
	switch {
	case l.hint > 0 && (l.learned == 0 || l.hint <= l.learned):
		return l.hint, Header
	case l.learned > 0:
		return l.learned, l.how
	}
	return 0, None
}

// Event is a change worth one notice line: Keep moved by a tenth or more
// since the last one reported.
type Event struct {
	Timeout time.Duration // 0: forgotten, back to the upper bound
	How     How
	Keep    time.Duration
}

// Message renders e for the upstream server addr.
func (e Event) Message(addr string) string {
	if e.Timeout == 0 {
		return ForgetMessage(addr, e.Keep)
	}
	return Message(addr, e.Timeout, e.How, e.Keep)
}

// Closed records that a pooled connection idle for age was found closed
// (how: FIN or RST) at now.
func (l *Learner) Closed(age time.Duration, how How, now time.Time) (Event, bool) {
	if !l.on || age < MinObserved {
		return Event{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.learned > 0 && age >= l.learned:
		l.last = now // consistent with what was learned
		l.pending = 0
	case l.pending > 0 && agree(age, l.pending):
		l.learned, l.how = min(age, l.pending), how
		l.pending, l.last = 0, now
	default:
		l.pending, l.pendHow = age, how
	}
	return l.updateLocked()
}

// Alive records that a pooled connection idle for age was still open at
// now: the upstream's timeout is longer than age. A learned timeout that
// age exceeds twice over was wrong (an early close, a restart, a timeout
// that grew) and is raised to age at once. Twice, not just past it: an
// upstream that is late closing on a busy machine is not a longer timeout.
func (l *Learner) Alive(age time.Duration, now time.Time) (Event, bool) {
	if !l.on {
		return Event{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.learned == 0 || age <= 2*l.learned {
		return Event{}, false
	}
	l.learned, l.last, l.pending = age, now, 0
	return l.updateLocked()
}

// agree: two observations within a factor of 3/2 of each other.
func agree(a, b time.Duration) bool {
	lo, hi := min(a, b), max(a, b)
	return hi <= lo+lo/2
}

// Hint records a response's "Keep-Alive: timeout=N" (t = N seconds; 0 when
// the header is absent or has no timeout, which leaves the hint as it was).
func (l *Learner) Hint(t time.Duration) (Event, bool) {
	if !l.on || t <= 0 || int64(t) == l.hinted.Load() {
		return Event{}, false // the hot path: the same header as last time
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t == l.hint {
		return Event{}, false
	}
	l.hint = t
	l.hinted.Store(int64(t))
	return l.updateLocked()
}

// HintOf is what a "Keep-Alive" header value says, as Hint takes it:
// "timeout=5, max=1000" → 5s; 0 when it has no valid timeout.
func HintOf(v []byte) time.Duration {
	for len(v) > 0 {
		var tok []byte
		tok, v, _ = bytes.Cut(v, []byte(","))
		tok = bytes.TrimSpace(tok)
		if len(tok) > 8 && bytes.EqualFold(tok[:8], []byte("timeout=")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(tok[8:])))
			if err != nil || n <= 0 || n > 1<<20 {
				return 0
			}
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

// Tick ages the learned timeout (rule 2); the proxy calls it about once a
// second.
func (l *Learner) Tick(now time.Time) (Event, bool) {
	if !l.on {
		return Event{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.learned == 0 || now.Sub(l.last) < RelearnAfter {
		return Event{}, false
	}
	l.learned += l.learned / 4
	l.last = now
	if l.max > 0 && l.learned >= l.max {
		l.learned, l.how = 0, None
	}
	return l.updateLocked()
}

// updateLocked recomputes Keep and reports an Event when it moved by a
// tenth or more since the last one.
func (l *Learner) updateLocked() (Event, bool) {
	t, how := l.timeoutLocked()
	keep := l.max
	if t > 0 {
		keep = Keep(t)
		if l.max > 0 {
			keep = min(keep, l.max)
		}
	}
	l.keep.Store(int64(keep))
	d := keep - l.logged
	if d < 0 {
		d = -d
	}
	ref := max(l.logged, keep)
	if ref == 0 || d < ref/10 {
		return Event{}, false
	}
	l.logged = keep
	return Event{Timeout: t, How: how, Keep: keep}, true
}

// String is for debugging.
func (l *Learner) String() string {
	t, how := l.Timeout()
	return fmt.Sprintf("idle timeout %v (%v), keep %v", t, how, l.Keep())
}
