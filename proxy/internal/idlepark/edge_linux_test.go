//go:build linux

package idlepark

// The edge-triggered registration (epoll_linux.go): registered at a
// record's first parking and kept, so an edge may come while the
// connection is not parked, and one may be of bytes its owner read since.

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// peeked reports whether bytes (or EOF, or an error) wait on c, without
// reading them or waiting.
func peeked(fd int) bool {
	return readable(uintptr(fd))
}

// TestEdgeBetweenParkings: bytes that come between two parkings of one
// record wake the next parking at once, if they are still there, and do
// not wake it if the owner read them: every callback finds bytes waiting.
func TestEdgeBetweenParkings(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	srv, cli := pair(t, listen(t))
	var fd int
	rc, _ := srv.SyscallConn()
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	ch := make(chan Event, 1)
	pk, err := p.Prepare(srv, func(ev Event) {
		if !peeked(fd) {
			t.Error("woken with nothing to read")
		}
		ch <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	// pendingSet waits until the poller has taken the edge of bytes that
	// came while pk was not parked.
	pendingSet := func() {
		t.Helper()
		for i := 0; ; i++ {
			p.mu.Lock()
			set := p.slots[fd].pending
			p.mu.Unlock()
			if set {
				return
			}
			if i > 1e6 {
				t.Fatal("the poller never took the edge")
			}
			runtime.Gosched()
		}
	}
	if err := pk.Park(time.Minute); err != nil {
		t.Fatal(err)
	}
	write(t, cli, "a")
	if ev := waitEvent(t, ch); ev != Readable {
		t.Fatalf("event %v", ev)
	}
	readN(t, srv, 1)
	for i := range 200 {
		// Bytes between parkings, left for the next request.
		write(t, cli, "b")
		pendingSet()
		if err := pk.Park(time.Minute); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("round %d: event %v", i, ev)
		}
		if got := readN(t, srv, 1); got != "b" {
			t.Fatalf("round %d: read %q", i, got)
		}
		// Bytes between parkings, read before the next: their edge must
		// not wake it.
		write(t, cli, "c")
		pendingSet()
		readN(t, srv, 1)
		if err := pk.Park(time.Minute); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "d")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("round %d: event %v", i, ev)
		}
		if got := readN(t, srv, 1); got != "d" {
			t.Fatalf("round %d: read %q", i, got)
		}
	}
}

// TestSweepRace: an event that an epoll_wait begun before the parking
// reported (pk.sweep >= the sweep) is looked at again: no wake when the
// bytes were read, a wake when they are there.
func TestSweepRace(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	srv, cli := pair(t, listen(t))
	var fd int
	rc, _ := srv.SyscallConn()
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	ch := make(chan Event, 1)
	pk, err := p.Prepare(srv, func(ev Event) { ch <- ev })
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Park(time.Minute); err != nil {
		t.Fatal(err)
	}
	ev := unix.EpollEvent{Fd: int32(fd), Pad: int32(pk.gen)}
	sweep := pk.sweep // as if that epoll_wait began before the parking
	if won := p.take([]unix.EpollEvent{ev}, sweep, nil); len(won) != 0 {
		t.Fatal("woken by an edge of bytes read before the parking")
	}
	if won := p.take([]unix.EpollEvent{ev}, sweep+1, nil); len(won) != 1 {
		// Reported by a later epoll_wait: the kernel looked after the
		// parking (not a real event here: take believes it).
		t.Fatalf("a later sweep's event woke %d", len(won))
	}
	// The record was taken (woken) by that event, as run takes it: park
	// it again.
	p.n.Add(-1)
	if err := pk.Park(time.Minute); err != nil {
		t.Fatal(err)
	}
	write(t, cli, "x")
	for !peeked(fd) {
		runtime.Gosched()
	}
	// The poller may take the real edge first: either way one wake.
	won := p.take([]unix.EpollEvent{{Fd: int32(fd), Pad: int32(pk.gen)}}, pk.sweep, nil)
	if len(won) == 0 {
		if e := waitEvent(t, ch); e != Readable {
			t.Fatalf("event %v", e)
		}
	}
	if got := readN(t, srv, 1); got != "x" {
		t.Fatalf("read %q", got)
	}
}
