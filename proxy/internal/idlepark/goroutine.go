package idlepark

import (
	"time"

	"golang.org/x/sys/unix"
)

// The fallback: a goroutine per parked connection (systems other than
// Linux; on Linux, the tests' newGoroutinePoller). It waits for readability
// in the runtime's own poller without reading, and a Cancel, a timeout or
// Close ends its wait with a read deadline in the past.

// wait is the parked connection's goroutine.
func (pk *Parked) wait() {
	// rc.Read calls readable, and again each time the runtime's poller
	// reports the fd readable, until it returns true. A poll(2), not the
	// runtime's wait alone: a readiness edge consumed before Park would be
	// missed. Not a recv with MSG_PEEK either: that consumes a pending
	// socket error, and the woken Read must see the RST.
	_ = pk.rc.Read(readable) // an error (a closed connection) is readable too: Read tells
	won := pk.win(fired)
	close(pk.done)
	if !won {
		return // the deadline of interrupt, or a wake that lost the race
	}
	p := pk.p
	p.mu.Lock() // after park's, which set pk.timer
	if pk.fd < len(p.slots) && p.slots[pk.fd].pk == pk {
		p.slots[pk.fd].pk = nil
	}
	p.mu.Unlock()
	p.n.Add(-1) // the timer stays set: the next parking's run (expire)
	pk.fn(Readable)
}

// readable polls fd without waiting: bytes, EOF, a hang-up or an error.
func readable(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// interrupt ends wait after a Cancel, a timeout or Close won, and clears
// the deadline it used.
func (pk *Parked) interrupt() {
	_ = pk.conn.SetReadDeadline(time.Unix(1, 0))
	<-pk.done
	_ = pk.conn.SetReadDeadline(time.Time{})
}
