package proxy

import (
	"sync"
	"time"
)

// A watch that waits for clientWatchDelay (clientabort.go) is no runtime
// timer of its own: a timer per exchange cost a move in the runtime's timer
// heap at start and another at stop, 500 to 1,300 instructions per request
// of a 1 KiB GET (docs/measured/watchsweep-2026-12-07.md), for watches that
// almost never arm. Instead start puts the watch on a pending list with its
// generation, stop only marks the watch off (its entry is dropped at a
// sweep), and the list's one timer sweeps it every watchSweepEvery, and runs
// only while the list is not empty: one timer move per sweep (about 2,900
// instructions with the wake-up), not two per request. Under load that is
// one sweep per 32 requests or more; a lone request pays one sweep.
//
// A watch arms at the watchSweepAge-th sweep after its start: 5 to 7.5 ms
// after it rather than at 5 ms (later still if the timer is late, as a
// timer per watch would be).
const (
	watchSweepEvery = clientWatchDelay / 2
	watchSweepAge   = 3 // sweeps: the first comes 0 to 2.5 ms after the start
)

// watchList is one pending list. The proxy has one per P (at most
// maxIdlePollers of them), and a connection's watches go to the one its id
// picks (watchListFor), so that two Ps seldom take the same list's lock.
type watchList struct {
	mu      sync.Mutex
	pending []pendingWatch // in start order, so the oldest first
	sweeps  uint32         // sweeps so far: the entries' age
	timer   *time.Timer    // runs sweep, set while pending is not empty; made at the first add
}

// pendingWatch is one start of a watch. The watch is pooled with its
// exchange and started again for the next request, maybe before this entry
// is swept: gen, the watch's generation at this start, tells this start's
// entry from the next one's, which only arms the watch it names.
type pendingWatch struct {
	w     *clientWatch
	gen   uint32
	sweep uint32 // l.sweeps at the start
}

// newWatchLists makes n pending lists (at least one, at most maxIdlePollers).
func newWatchLists(n int) []watchList {
	return make([]watchList, min(max(n, 1), maxIdlePollers))
}

// watchListFor is the pending list of cc's watches.
func (p *Proxy) watchListFor(cc *clientConn) *watchList {
	return &p.watches[cc.id%uint64(len(p.watches))]
}

// add puts w's start of generation gen on the list, and sets the timer if
// the list was empty.
func (l *watchList) add(w *clientWatch, gen uint32) {
	l.mu.Lock()
	l.pending = append(l.pending, pendingWatch{w: w, gen: gen, sweep: l.sweeps})
	switch {
	case len(l.pending) > 1: // the timer is set
	case l.timer == nil:
		l.timer = time.AfterFunc(watchSweepEvery, l.sweep)
	default:
		l.timer.Reset(watchSweepEvery)
	}
	l.mu.Unlock()
}

// sweep runs on the timer's goroutine: it arms the watches started
// watchSweepAge sweeps ago and still pending, keeps the younger ones still
// pending, drops the others (stopped, or started again since), and sets
// the timer again unless the list is now empty. Most exchanges end within
// a sweep: dropping their entries at once, not at their age, lets the
// timer stop at the first sweep after a burst of requests.
func (l *watchList) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweeps++
	kept := l.pending[:0]
	for _, e := range l.pending {
		if e.w.due(e.gen, l.sweeps-e.sweep >= watchSweepAge) {
			kept = append(kept, e)
		}
	}
	clear(l.pending[len(kept):]) // no pooled watch kept alive by a dropped entry
	l.pending = kept
	if len(kept) > 0 {
		l.timer.Reset(watchSweepEvery)
	}
}
