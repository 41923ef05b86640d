//go:build linux

package idlepark

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// epoll is the Poller's epoll set. The set itself waits in Go's own
// netpoller (an epoll fd is pollable: it turns readable when one of its fds
// has an event), so the Poller's goroutine is woken as any goroutine
// blocked in a Read is, with no OS thread of its own blocked in
// epoll_wait, and Close ends its wait by closing the file.
type epoll struct {
	fd   int
	f    *os.File
	rc   syscall.RawConn
	done chan struct{}
}

// parkEvents: readable, and the peer's FIN (EPOLLRDHUP) for the half-close
// a plain EPOLLIN also reports; EPOLLHUP and EPOLLERR (a RST) are always
// reported. Edge-triggered, registered once: a keep-alive connection that
// parks at every request makes no epoll_ctl for it (with EPOLLONESHOT it
// made one, the re-arm, per request). An edge while the connection is not
// parked is remembered (slot.pending) for the next parking to look at;
// one for bytes read since is not reported by epoll_wait, which polls the
// socket again, except in a race that take settles.
const parkEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

func newEpoll() (*epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking: os.NewFile then puts it in the runtime's poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "idlepark-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &epoll{fd: fd, f: f, rc: rc, done: make(chan struct{})}, nil
}

// arm registers fd, or changes its registration to gen's when one stayed
// (reg, a hint: a closed fd's registration went with it).
func (e *epoll) arm(fd int, gen uint32, reg bool) error {
	ev := unix.EpollEvent{Events: parkEvents, Fd: int32(fd), Pad: int32(gen)}
	op, other := unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_MOD
	if reg {
		op, other = other, op
	}
	err := unix.EpollCtl(e.fd, op, fd, &ev)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(e.fd, other, fd, &ev)
	}
	return err
}

// disarm removes fd from the set: it was canceled or timed out, and may
// still become readable.
func (e *epoll) disarm(fd int) {
	_ = unix.EpollCtl(e.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

// close ends run's wait, waits for it to return, and closes the set. The
// Poller is closed (p.closed) already, so no epoll_ctl runs any more.
func (e *epoll) close() error {
	err := e.f.Close() // the fd itself is closed once run's Read has returned
	<-e.done
	return err
}

// run is the Poller's goroutine: it waits in the runtime's poller for the
// set to turn readable, takes every event (epoll_wait without waiting) and
// starts the callback of each connection that became readable.
func (p *Poller) run() {
	e := p.ep
	defer close(e.done)
	events := make([]unix.EpollEvent, 128)
	var won []*Parked
	_ = e.rc.Read(func(fd uintptr) bool {
		for {
			sweep := p.sweep.Add(1)
			n, err := unix.EpollWait(int(fd), events, 0)
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				// Not expected with a valid set and buffer; parked
				// connections still get their timeout or Close.
				return true
			}
			won = p.take(events[:n], sweep, won[:0])
			for i, pk := range won {
				// Its timer stays set: the next parking's run (expire).
				p.n.Add(-1)
				p.cbs.run(pk.readable) // made once: no closure per wake; a kept goroutine (callbacks.go)
				won[i] = nil
			}
			if n < len(events) {
				// Drained. The runtime's poller is edge-triggered: an event
				// after this epoll_wait is a new edge, which wakes this
				// Read again.
				return false
			}
		}
	})
}

// take marks the connections of events woken and returns them in won;
// sweep is the epoll_wait's that reported them.
func (p *Poller) take(events []unix.EpollEvent, sweep uint64, won []*Parked) []*Parked {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return won // Close calls them back
	}
	for _, ev := range events {
		fd := int(ev.Fd)
		if fd >= len(p.slots) {
			continue
		}
		sl := &p.slots[fd]
		if sl.tag != uint32(ev.Pad) {
			// A stale event: of a registration a Cancel, a timeout or a
			// close removed, or an earlier record's.
			continue
		}
		pk := sl.pk
		if pk == nil || pk.state.Load()&stateMask != parked {
			sl.pending = true // between two parkings: the next looks
			continue
		}
		// epoll_wait reports an edge only while the socket is readable,
		// which a parked connection's owner cannot change; but this one
		// may have parked after the epoll_wait looked, having read the
		// bytes since: look again (rare: a parking during a sweep).
		if pk.sweep >= sweep && !readable(uintptr(fd)) {
			continue
		}
		if !pk.win(fired) {
			continue // a timeout or a Cancel won
		}
		sl.pk = nil
		won = append(won, pk)
	}
	return won
}
