// Package idlepark holds idle keep-alive connections without a goroutine
// each. A goroutine blocked in Read to learn that the client's next request
// has come costs its stack: 2 KiB at the least, about 4 KiB once it has
// served a request (more until GC shrinks the stack it grew), a large part
// of what an idle client connection may cost (issue #23, goal 1: at most
// 4 KiB each; nginx holds about 1 KiB).
// A parked connection instead costs a registration in one epoll set shared
// by all of them (Linux), a runtime timer for its timeout and a small record,
// about 0.3 KiB (memory_linux_test.go measures it); a goroutine starts only
// when something happens: the connection becomes readable, its timeout
// passes, or the Poller closes.
//
// The connection stays in Go's own netpoller as well (an fd may be in
// several epoll sets): the goroutine a wake starts reads with the ordinary
// net.Conn, and sees the request's bytes, EOF or the reset that woke it.
//
// On systems other than Linux (darwin and freebsd are vetted in CI), Park
// falls back to a goroutine per parked connection that waits for
// readability without reading (poll(2), in the runtime's poller); the API
// and its guarantees are the same, the memory is not.
//
// Connections whose reader may hold bytes the kernel no longer has (a
// tls.Conn's buffered records, a bufio.Reader with bytes left, a PROXY
// protocol header reader) must not be parked: their next request could be
// in user space already, where no poller sees it.
package idlepark

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Event tells a parked connection's callback why it runs.
type Event uint8

const (
	// Readable: a Read on the connection will not block. Bytes, EOF (the
	// client's FIN) or an error (RST) are waiting.
	Readable Event = iota + 1
	// Timeout: the timeout given to Park passed with nothing to read. The
	// connection is open: closing it (nginx's keepalive_timeout) is the
	// callback's business.
	Timeout
	// Closed: the Poller was closed (Close) while the connection was
	// parked. The connection is open.
	Closed
)

func (e Event) String() string {
	switch e {
	case Readable:
		return "readable"
	case Timeout:
		return "timeout"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Park's errors: after Close; for a connection parked already.
var (
	ErrClosed = errors.New("idlepark: poller closed")
	ErrParked = errors.New("idlepark: connection parked already")
)

// Conn is what Park takes: a socket (*net.TCPConn, *net.UnixConn). The read
// deadline is used by the fallback of systems other than Linux only, which
// clears it.
type Conn interface {
	syscall.Conn
	SetReadDeadline(time.Time) error
}

// Poller parks connections. Its methods are safe for concurrent use. One
// Poller serves any number of connections (one goroutine and one epoll set
// on Linux); the proxy runs one per P, up to 8 (proxy/idlepollers.go), so
// that two cores do not take turns at one lock. Close stops it.
type Poller struct {
	ep *epoll // nil: a goroutine per parked connection (the fallback)

	mu     sync.Mutex
	closed bool
	gen    uint32 // registrations so far: tells a stale epoll event from a current one
	slots  []slot // by fd; only for fds parked now or parked before

	n atomic.Int64 // parked now
	// sweep counts the poller's epoll_waits (run): a parking that began
	// after the one that reported its event began may be woken by an edge
	// of bytes its owner read before parking (take looks).
	sweep atomic.Uint64

	epoch time.Time // the deadlines' origin (its monotonic reading)

	cbs callbacks // the goroutines run's wakes call back on (callbacks.go)
}

type slot struct {
	pk *Parked // parked now, or nil
	// tag is the fd's registration in the epoll set (0: none), the gen of
	// the record that made it: a registration stays from the first parking
	// to the connection's close (which removes it), a timeout or a Cancel,
	// edge-triggered, so that a keep-alive connection parks with no
	// epoll_ctl. It is a hint: the fd may have been closed and reused.
	tag uint32
	// pending: an edge (bytes, FIN, an error) came while the fd was
	// registered and not parked: the next parking looks before it waits,
	// as no new edge may come for what is there.
	pending bool
}

// Parked is one connection's parking record, made once (Prepare) and parked
// again for each wait (Park): its raw conn, its timer and the functions it
// hands the runtime are allocated with it, so a parking allocates nothing
// on Linux. Of each parking exactly one of its callback (once, on a
// goroutine of its own) and a true Cancel happens.
type Parked struct {
	p     *Poller
	conn  Conn
	rc    syscall.RawConn
	fd    int
	gen   uint32
	fn    func(Event)
	timer *time.Timer // made at the first Park with a timeout
	// timerAt is when timer fires (the Poller's clock; 0: not set), under
	// p.mu. A parking leaves a timer alone that fires at or before its own
	// deadline, and that run sets it again for the rest (expire): a
	// keep-alive connection that parks at every request moves its timer
	// about once per timeout, not twice per request (a Reset at Park, a
	// Stop at the wake).
	timerAt int64
	// state is the parking's sequence number (<<2) and where it is
	// (parked, fired, canceled): a stale timer callback, from an earlier
	// parking whose Stop came too late, cannot win the current one.
	state atomic.Uint64
	// deadline: the current parking's timeout, in the Poller's monotonic
	// clock (noDeadline: none); written before state marks it parked.
	deadline atomic.Int64

	// Made once (method values), so parking makes no closure.
	control  func(fd uintptr) // Park's, under the fd's lock
	disarmFn func(fd uintptr) // release's
	readable func()           // the poller's callback goroutine
	expireFn func()           // the timer's
	timeout  time.Duration    // Park's argument, for control
	perr     error            // control's result
	sweep    uint64           // p.sweep when parked

	done chan struct{} // the fallback's waiting goroutine has returned
}

const (
	parked uint64 = iota
	fired         // a callback won: Readable, Timeout or Closed
	canceled
	stateMask uint64 = 3
)

const noDeadline = int64(1<<63 - 1)

// win moves the current parking from parked to to: false if it is not
// parked (a callback or a Cancel won).
func (pk *Parked) win(to uint64) bool {
	s := pk.state.Load()
	return s&stateMask == parked && pk.state.CompareAndSwap(s, s&^stateMask|to)
}

// New starts a Poller: epoll on Linux, a goroutine per parked connection
// elsewhere.
func New() (*Poller, error) {
	ep, err := newEpoll()
	if err != nil {
		return nil, err
	}
	p := &Poller{ep: ep, epoch: time.Now()}
	if ep != nil {
		go p.run()
	}
	return p, nil
}

// newGoroutinePoller is the fallback, on any Unix: the tests run it on
// Linux too.
func newGoroutinePoller() *Poller { return &Poller{epoch: time.Now()} }

// Park hands c to the poller until it becomes readable (bytes, EOF or an
// error are waiting), timeout passes (timeout <= 0: never), the Poller
// closes, or Cancel. fn then runs exactly once, with the reason, on a
// goroutine started for it; after a true Cancel it never runs.
//
// The caller must not read from c, or close it, while it is parked: fn, or
// a true Cancel, gives it back. (A connection closed while parked is not
// seen by epoll: its callback runs, Readable, only when its fd is parked
// again for another connection, or at its timeout.) c must have no bytes
// buffered above the socket (see the package doc). fn must not be nil. A
// connection may be parked again once it is given back, on this Poller or
// another. On Linux Park leaves c's read deadline alone (the fallback
// clears it): the woken side sets the one its next Read needs.
//
// Park makes a record each time: a connection that waits again and again
// (keep-alive) takes one from Prepare and parks it with its Park instead.
func (p *Poller) Park(c Conn, timeout time.Duration, fn func(Event)) (*Parked, error) {
	pk, err := p.Prepare(c, fn)
	if err != nil {
		return nil, err
	}
	if err := pk.Park(timeout); err != nil {
		return nil, err
	}
	return pk, nil
}

// Prepare makes c's parking record, for its owner to park as often as c
// waits (pk.Park), with the same callback fn each time, on this Poller.
// Poller.Park's contract holds for each parking.
func (p *Poller) Prepare(c Conn, fn func(Event)) (*Parked, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	pk := &Parked{p: p, conn: c, rc: rc, fn: fn, fd: -1}
	pk.state.Store(fired) // not parked
	pk.control = pk.parkFD
	pk.disarmFn = pk.disarm
	pk.readable = pk.callReadable
	pk.expireFn = pk.expire
	return pk, nil
}

// Park parks pk's connection once more (see Poller.Park) once its callback
// has run or a Cancel took it back; the first time right after Prepare.
// Only its owner parks it, one Park at a time.
func (pk *Parked) Park(timeout time.Duration) error {
	if pk.p.ep == nil {
		// The fallback's wait ends with a read deadline: none may be set.
		if err := pk.conn.SetReadDeadline(time.Time{}); err != nil {
			return err
		}
	}
	pk.timeout, pk.perr = timeout, nil
	if err := pk.rc.Control(pk.control); err != nil {
		return err
	}
	err := pk.perr
	pk.perr = nil
	return err
}

// parkFD is Park's, with the fd locked.
func (pk *Parked) parkFD(fd uintptr) { pk.perr = pk.p.park(pk, int(fd), pk.timeout) }

// callReadable is the poller's callback goroutine.
func (pk *Parked) callReadable() { pk.fn(Readable) }

func (p *Poller) park(pk *Parked, fd int, timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if fd >= len(p.slots) {
		p.slots = append(p.slots, make([]slot, fd+1-len(p.slots))...)
	}
	if pk.state.Load()&stateMask == parked {
		return ErrParked
	}
	if old := p.slots[fd].pk; old != nil {
		// fd is parked: the same connection parked twice, or the fd of a
		// connection its owner closed while parked (against Park's
		// contract: the kernel dropped it from the set, unseen), now
		// another connection's.
		if old.rc.Control(func(uintptr) {}) == nil {
			return ErrParked
		}
		p.evict(old)
	}
	pk.fd = fd
	if timeout > 0 {
		pk.deadline.Store(int64(time.Since(p.epoch) + timeout))
	} else {
		pk.deadline.Store(noDeadline)
	}
	// Parked from here: the poller's take, Close and evict hold p.mu, the
	// timer is armed below and Cancel needs Park's return.
	seq := pk.state.Load()&^stateMask + stateMask + 1
	pk.state.Store(seq) // state bits 0: parked
	if p.ep != nil {
		sl := &p.slots[fd]
		if sl.tag == 0 || sl.tag != pk.gen {
			// Registered (with ADD, or MOD over an earlier record's):
			// bytes there already queue an event at once.
			if p.gen++; p.gen == 0 {
				p.gen++
			}
			if err := p.ep.arm(fd, p.gen, sl.tag != 0); err != nil {
				sl.tag = 0
				pk.state.Store(seq | canceled)
				return err
			}
			pk.gen, sl.tag, sl.pending = p.gen, p.gen, false
		} else if sl.pending {
			sl.pending = false
			if readable(uintptr(fd)) {
				// Came while it was not parked: no edge will say so.
				pk.state.Store(seq | fired)
				go pk.readable()
				return nil
			}
		}
		pk.sweep = p.sweep.Load()
	} else {
		pk.done = make(chan struct{})
		go pk.wait()
	}
	p.slots[fd].pk = pk
	// Set under p.mu, after the fd is armed: the timer's run (expire)
	// takes p.mu, as every other stop of it (Cancel's after Park's return).
	if timeout > 0 {
		dl := pk.deadline.Load()
		switch {
		case pk.timer == nil:
			pk.timer = time.AfterFunc(timeout, pk.expireFn)
			pk.timerAt = dl
		case pk.timerAt == 0 || pk.timerAt > dl:
			pk.timer.Reset(timeout)
			pk.timerAt = dl
		}
	}
	p.n.Add(1)
	return nil
}

// evict calls back, with Readable, a parked connection whose owner closed
// it (its Read fails at once); p.mu is held.
func (p *Poller) evict(pk *Parked) {
	p.slots[pk.fd].pk = nil
	if !pk.win(fired) {
		return // a timeout or a Cancel won, and finishes
	}
	if pk.timer != nil {
		pk.timer.Stop()
		pk.timerAt = 0
	}
	p.n.Add(-1)
	go pk.readable()
}

// Cancel takes the connection back from its current parking: true if no
// callback has run or will run, and the connection is out of the poller
// (for a shutdown that closes idle connections itself, or a reload that
// hands them over); false if a callback won the race and runs (or ran), or
// the connection is not parked.
func (pk *Parked) Cancel() bool {
	if !pk.win(canceled) {
		return false
	}
	pk.release(true)
	return true
}

// expire is the timer's run. The timer serves every parking of pk and is
// left set when a parking ends, so the run may come during a later parking
// (set for an earlier one's deadline, or its Stop came too late) or while
// pk is not parked: the current parking's deadline tells, and an early run
// sets the timer again for the rest. A parking that begins later sees
// timerAt 0 and sets it itself; p.mu orders the two.
func (pk *Parked) expire() {
	p := pk.p
	p.mu.Lock()
	pk.timerAt = 0
	s := pk.state.Load()
	if s&stateMask != parked {
		p.mu.Unlock()
		return // not parked: the next Park sets the timer
	}
	if now, dl := int64(time.Since(p.epoch)), pk.deadline.Load(); now < dl {
		if dl != noDeadline && pk.timer != nil {
			pk.timer.Reset(time.Duration(dl - now))
			pk.timerAt = dl
		}
		p.mu.Unlock()
		return
	}
	won := pk.state.CompareAndSwap(s, s&^stateMask|fired)
	p.mu.Unlock()
	if !won {
		return // a wake or a Cancel won
	}
	pk.release(false) // the timer has fired: nothing to stop
	pk.fn(Timeout)    // the timer's own goroutine
}

// Release stops pk's timer, which a parking leaves set: its owner parks it
// no more (the connection ends), and the timer's run would otherwise hold
// pk, and what its callback holds, until the last parking's deadline. pk
// must not be parked.
func (pk *Parked) Release() {
	p := pk.p
	p.mu.Lock()
	if pk.timer != nil {
		pk.timer.Stop()
	}
	pk.timerAt = 0
	p.mu.Unlock()
}

// release takes pk out of the poller after a Cancel or a timeout won: the
// readable path's winner (the poller, or the fallback's goroutine) does its
// own.
func (pk *Parked) release(stopTimer bool) {
	p := pk.p
	if stopTimer && pk.timer != nil {
		pk.timer.Stop()
	}
	if p.ep == nil {
		pk.interrupt()
	} else {
		// Control: the fd is still c's (a misused, closed connection's fd
		// may be another's by now, and is left alone).
		_ = pk.rc.Control(pk.disarmFn)
	}
	p.mu.Lock()
	if stopTimer {
		pk.timerAt = 0
	}
	if pk.fd < len(p.slots) && p.slots[pk.fd].pk == pk {
		p.slots[pk.fd].pk = nil
	}
	p.mu.Unlock()
	p.n.Add(-1)
}

// disarm is release's, with the fd locked: the registration goes with
// the parking, so that a connection given back stays out of the poller.
func (pk *Parked) disarm(fd uintptr) {
	p := pk.p
	p.mu.Lock()
	if !p.closed {
		p.ep.disarm(int(fd))
		p.slots[fd].tag, p.slots[fd].pending = 0, false
	}
	p.mu.Unlock()
}

// Len is the number of connections parked now.
func (p *Poller) Len() int { return int(p.n.Load()) }

// Close stops the poller. Every connection parked then gets its callback
// with Closed (unless a Cancel or another event wins), each on its own
// goroutine; Close does not wait for them. The connections stay open. Park
// fails with ErrClosed afterwards. Close is idempotent.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var pks []*Parked
	for i := range p.slots {
		if pk := p.slots[i].pk; pk != nil {
			pks = append(pks, pk)
		}
	}
	p.slots = nil
	p.mu.Unlock()
	var err error
	if p.ep != nil {
		err = p.ep.close() // waits for run to return
		p.cbs.close()      // after run: no wake hands it a callback any more
	}
	for _, pk := range pks {
		if !pk.win(fired) {
			continue
		}
		if pk.timer != nil {
			pk.timer.Stop()
		}
		if p.ep == nil {
			pk.interrupt()
		}
		p.n.Add(-1)
		go pk.fn(Closed)
	}
	return err
}
