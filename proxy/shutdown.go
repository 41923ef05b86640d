package proxy

import (
	"sync"
	"sync/atomic"
)

// inflight counts requests between serve and their access-log line
// (exchange.logged, after the answer's write), so that a stop waits
// for them before it closes the logs they write to. begin and end are the
// request path's (an atomic add each); the lock and the channel are only
// touched once a stop waits.
type inflight struct {
	n       atomic.Int64
	waiting atomic.Bool // a stop has asked for idle: end must tell it
	mu      sync.Mutex
	idle    chan struct{} // closed when n drops to 0; nil when nobody waits
}

func (f *inflight) begin() { f.n.Add(1) }

func (f *inflight) end() {
	if f.n.Add(-1) != 0 || !f.waiting.Load() {
		return
	}
	f.mu.Lock()
	if f.idle != nil && f.n.Load() == 0 {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// idleCh returns a channel closed once no request is in flight (at once
// if none is). waiting is set before n is read, so an end that brings n to
// 0 after that read sees it and closes the channel.
func (f *inflight) idleCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting.Store(true)
	if f.n.Load() == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	return f.idle
}
