package proxy

import (
	"sync/atomic"
	"time"
)

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
