package upstream

import (
	"time"
)

// least_time (NGINX Plus): the server with the least average response time
// relative to its weight; among servers with the same, the fewest requests
// in flight relative to the weight (least_conn), then weighted round-robin.
// The response time is the time to the response's head (least_time
// header) or to its last byte (last_byte: from the attempt's start until
// its connection is closed or cached), averaged exponentially over the
// server's responses (each new one counts for a quarter). A server without
// a response yet counts as 0, so a new server is tried soon. With inflight,
// the requests still in flight count too: a server whose requests have been
// waiting longer than its average counts as that slow.

// ltShift is the average's smoothing: a new time counts for 1/2^ltShift.
const ltShift = 2

// ltRecord adds one response time to p's average.
func (p *Peer) ltRecord(d time.Duration) {
	if d <= 0 {
		d = 1
	}
	for {
		old := p.ltAvg.Load()
		avg := int64(d)
		if old > 0 {
			avg = old + (int64(d)-old)>>ltShift
		}
		if p.ltAvg.CompareAndSwap(old, max(avg, 1)) {
			return
		}
	}
}

// ltTime is the time least_time compares for p: its average, or with
// inflight the mean age of its requests in flight when that is longer.
func (g *Group) ltTime(p *Peer, now time.Time) int64 {
	t := p.ltAvg.Load()
	if g.conf.LeastTimeInflight {
		if n := p.active.Load(); n > 0 {
			if age := (now.UnixNano()*n - p.ltStarts.Load()) / n; age > t {
				t = age
			}
		}
	}
	return t
}

// pickLeastTime is least_time among peers: the least time per weight, ties
// by pickLeastConn. The caller holds g.mu.
func (g *Group) pickLeastTime(peers []*Peer, tried []*Peer, now time.Time) *Peer {
	var stack [16]*Peer
	best := stack[:0]
	var bt int64
	var bw int
	for _, p := range peers {
		if p.skip(tried, now) {
			continue
		}
		t, w := g.ltTime(p, now), p.conf.Weight
		switch {
		case len(best) == 0 || float64(t)*float64(bw) < float64(bt)*float64(w):
			best, bt, bw = append(best[:0], p), t, w
		case float64(t)*float64(bw) == float64(bt)*float64(w):
			best = append(best, p)
		}
	}
	if len(best) == 0 {
		return nil
	}
	if len(best) == 1 {
		b := best[0]
		if now.Sub(b.checked) > b.conf.FailTimeout {
			b.checked = now
		}
		return b
	}
	return g.pickLeastConn(best, tried, now)
}

// ltStart counts an attempt on p as in flight since start, for inflight.
func (g *Group) ltStart(p *Peer, start time.Time) {
	if g.method == leastTime {
		p.ltStarts.Add(start.UnixNano())
	}
}

// ltEnd ends what ltStart counted; with last_byte, an attempt that got its
// response's head (answered) records its time.
func (g *Group) ltEnd(p *Peer, start time.Time, answered bool) {
	if g.method != leastTime {
		return
	}
	p.ltStarts.Add(-start.UnixNano())
	if answered && !g.conf.LeastTimeHeader {
		p.ltRecord(time.Since(start))
	}
}

// Answered records that attempt a received its response's head: least_time
// header records the time since the attempt started.
func (a *Attempt) Answered() {
	c := a.Conn
	if c == nil || c.peer.group.method != leastTime {
		return // no atomic store: only least_time reads it (Conn.unhold)
	}
	c.answered.Store(true)
	if c.peer.group.conf.LeastTimeHeader {
		c.peer.ltRecord(time.Since(a.Start))
	}
}
