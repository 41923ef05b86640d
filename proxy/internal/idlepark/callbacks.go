package idlepark

import "sync"

// maxIdleCallbacks bounds the goroutines a Poller keeps waiting for the
// next wake (callbacks): about what one epoll_wait wakes at once under load
// (its event buffer holds 128), each with a stack of a few KiB.
const maxIdleCallbacks = 128

// callbacks runs the Readable callbacks of the poller's wakes on goroutines
// kept from earlier wakes: a goroutine whose callback returned waits for the
// next one (LIFO: the stack used last is the warmest) instead of exiting.
// A goroutine started per wake cost its start and its end
// (runtime.newproc, gdestroy) and, from a small starting stack, the copies
// of its stack as a request deepened it (runtime.morestack): up to 1.7 µs
// of a 1 KiB GET's 10 µs of user time (docs/measured/cpu-get-2026-12-07.md).
// A kept goroutine has its stack grown already; handing it a callback is a
// channel send. At most maxIdleCallbacks wait; Poller.Close ends them.
type callbacks struct {
	mu     sync.Mutex
	closed bool
	idle   []*callbackG
}

// callbackG is one kept goroutine; next carries its callback (nil: exit).
type callbackG struct{ next chan func() }

// run calls f on a kept goroutine, or on a new one when none waits.
func (cs *callbacks) run(f func()) {
	cs.mu.Lock()
	if n := len(cs.idle); n > 0 && !cs.closed {
		g := cs.idle[n-1]
		cs.idle[n-1] = nil
		cs.idle = cs.idle[:n-1]
		cs.mu.Unlock()
		g.next <- f // buffered: an idle goroutine's is empty
		return
	}
	cs.mu.Unlock()
	g := &callbackG{next: make(chan func(), 1)}
	go g.loop(cs, f)
}

func (g *callbackG) loop(cs *callbacks, f func()) {
	for f != nil {
		f()
		f = nil // not kept alive while waiting
		cs.mu.Lock()
		if cs.closed || len(cs.idle) >= maxIdleCallbacks {
			cs.mu.Unlock()
			return
		}
		cs.idle = append(cs.idle, g)
		cs.mu.Unlock()
		f = <-g.next
	}
}

// close ends the waiting goroutines; a callback running now ends its
// goroutine when it returns.
func (cs *callbacks) close() {
	cs.mu.Lock()
	cs.closed = true
	idle := cs.idle
	cs.idle = nil
	cs.mu.Unlock()
	for _, g := range idle {
		g.next <- nil
	}
}
