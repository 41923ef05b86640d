//go:build unix

package idlepark

// Real sockets on 127.0.0.1: a client writes, half-closes, resets (linger
// 0) or stays silent, and the parked server side must wake once, with the
// reason, and stay open. Every test runs on the Poller New gives (epoll on
// Linux) and on the goroutine fallback (the only one elsewhere).

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pollers runs f on each kind of Poller, which the test's cleanup closes.
func pollers(t *testing.T, f func(t *testing.T, p *Poller)) {
	kinds := []struct {
		name string
		new  func() (*Poller, error)
	}{
		{"new", New},
		{"goroutine", func() (*Poller, error) { return newGoroutinePoller(), nil }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			p, err := k.new()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			f(t, p)
		})
	}
}

// listen is a loopback listener the test's cleanup closes.
func listen(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// pair is a connected pair on ln: the server side (the one parked) and the
// client; the test's cleanup closes both.
func pair(t testing.TB, ln *net.TCPListener) (srv, cli *net.TCPConn) {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		_ = c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return s, c
}

// waitEvent is the next event on ch; a broken poller fails the test
// instead of hanging it (the bound is not what is tested).
func waitEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no callback within 30s")
	}
	return 0
}

// readN reads exactly n bytes from c (bounded, in case they never come).
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(b)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func TestReadableWakesOnceWithTheBytes(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		var calls atomic.Int32
		ch := make(chan Event, 4)
		pk, err := p.Park(srv, time.Minute, func(ev Event) { calls.Add(1); ch <- ev })
		if err != nil {
			t.Fatal(err)
		}
		if p.Len() != 1 {
			t.Fatalf("Len %d while parked, want 1", p.Len())
		}
		write(t, cli, "GET / HTTP/1.1\r\n")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		if got := readN(t, srv, 16); got != "GET / HTTP/1.1\r\n" {
			t.Fatalf("read %q", got)
		}
		if pk.Cancel() {
			t.Fatal("Cancel after the callback ran returned true")
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d after the wake, want 0", p.Len())
		}

		// Parked again (the keep-alive connection's next request): the first
		// Park's registration must not deliver a second callback.
		ch2 := make(chan Event, 4)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch2 <- ev }); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "x")
		if ev := waitEvent(t, ch2); ev != Readable {
			t.Fatalf("second park: event %v, want readable", ev)
		}
		if got := readN(t, srv, 1); got != "x" {
			t.Fatalf("read %q", got)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("first callback ran %d times", n)
		}
	})
}

// TestBytesBeforePark: bytes that arrived before Park (the client's next
// request, pipelined or quick) wake it at once.
func TestBytesBeforePark(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		write(t, cli, "early")
		// The bytes are in srv's receive queue once a peek sees them.
		buf := make([]byte, 5)
		rc, _ := srv.SyscallConn()
		_ = rc.Read(func(fd uintptr) bool {
			n, _, _ := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return n == len(buf)
		})
		ch := make(chan Event, 1)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		if got := readN(t, srv, 5); got != "early" {
			t.Fatalf("read %q", got)
		}
	})
}

// TestFINWakes: the client's FIN (its half-close) wakes the parked side,
// whose Read then sees EOF; the connection is still open the other way.
func TestFINWakes(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		ch := make(chan Event, 1)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		if err := cli.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := srv.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read after FIN: %d, %v; want 0, EOF", n, err)
		}
		write(t, srv, "bye")
		if got := readN(t, cli, 3); got != "bye" {
			t.Fatalf("client read %q", got)
		}
	})
}

// TestRSTWakes: a client that resets (SetLinger(0), then Close) wakes the
// parked side, whose Read sees ECONNRESET.
func TestRSTWakes(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		ch := make(chan Event, 1)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		if err := cli.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		_ = cli.Close()
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Read after RST: %v, want ECONNRESET", err)
		}
	})
}

// TestTimeout: a silent connection's callback says Timeout, not before the
// timeout, and the connection is left open (closing it is the caller's):
// bytes still flow both ways, and it parks again.
func TestTimeout(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		const timeout = 50 * time.Millisecond
		ch := make(chan Event, 1)
		var fired time.Time
		start := time.Now()
		if _, err := p.Park(srv, timeout, func(ev Event) { fired = time.Now(); ch <- ev }); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Timeout {
			t.Fatalf("event %v, want timeout", ev)
		}
		if d := fired.Sub(start); d < timeout {
			t.Fatalf("timed out after %v, before the timeout %v", d, timeout)
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d after the timeout", p.Len())
		}
		write(t, cli, "late")
		if got := readN(t, srv, 4); got != "late" {
			t.Fatalf("read %q after the timeout", got)
		}
		write(t, srv, "ok")
		if got := readN(t, cli, 2); got != "ok" {
			t.Fatalf("client read %q", got)
		}

		// Parked again after a timeout (its registration was removed).
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "again")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v after re-park, want readable", ev)
		}
		if got := readN(t, srv, 5); got != "again" {
			t.Fatalf("read %q", got)
		}
	})
}

// TestCancel: a true Cancel gives the connection back with no callback,
// also once it becomes readable: parked again, only the new callback runs.
func TestCancel(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		var calls atomic.Int32
		pk, err := p.Park(srv, time.Minute, func(Event) { calls.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		if !pk.Cancel() {
			t.Fatal("Cancel of a parked connection returned false")
		}
		if pk.Cancel() {
			t.Fatal("second Cancel returned true")
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d after Cancel", p.Len())
		}
		write(t, cli, "next")
		if got := readN(t, srv, 4); got != "next" { // the caller reads it itself
			t.Fatalf("read %q", got)
		}
		ch := make(chan Event, 1)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "x")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("the canceled Park's callback ran %d times", n)
		}
	})
}

// TestCancelRaces: Cancel against a wake (bytes arriving) and against the
// timeout, many times on one connection (so re-parking after each outcome
// is exercised too): each Park ends in exactly one of a true Cancel or one
// callback.
func TestCancelRaces(t *testing.T) {
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		t.Run("readable", func(t *testing.T) {
			calls := make([]atomic.Int32, iters)
			canceled := 0
			for i := range iters {
				ch := make(chan Event, 1)
				pk, err := p.Park(srv, time.Minute, func(ev Event) { calls[i].Add(1); ch <- ev })
				if err != nil {
					t.Fatal(err)
				}
				// Even iterations write first (the wake is on its way when
				// Cancel runs), odd ones concurrently.
				if i%2 == 0 {
					write(t, cli, "r")
				} else {
					go func() { _, _ = cli.Write([]byte{'r'}) }()
				}
				if pk.Cancel() {
					canceled++
				} else if ev := waitEvent(t, ch); ev != Readable {
					t.Fatalf("iteration %d: event %v, want readable", i, ev)
				}
				// Either way the byte is the caller's to read now.
				if got := readN(t, srv, 1); got != "r" {
					t.Fatalf("iteration %d: read %q", i, got)
				}
			}
			for i := range calls {
				if n := calls[i].Load(); n > 1 {
					t.Fatalf("iteration %d: callback ran %d times", i, n)
				}
			}
			if sum := sumCalls(calls); sum+canceled != iters {
				t.Fatalf("%d callbacks + %d true Cancels, want %d in all", sum, canceled, iters)
			}
			t.Logf("%d of %d Cancels won against the bytes", canceled, iters)
		})
		t.Run("timeout", func(t *testing.T) {
			calls := make([]atomic.Int32, iters)
			canceled := 0
			for i := range iters {
				ch := make(chan Event, 1)
				timeout := time.Duration(i%50+1) * time.Microsecond
				start := time.Now()
				pk, err := p.Park(srv, timeout, func(ev Event) { calls[i].Add(1); ch <- ev })
				if err != nil {
					t.Fatal(err)
				}
				// Odd iterations Cancel once the timer is due (it fires
				// meanwhile, or is about to), even ones at once.
				for i%2 == 1 && time.Since(start) < timeout {
				}
				if pk.Cancel() {
					canceled++
				} else if ev := waitEvent(t, ch); ev != Timeout {
					t.Fatalf("iteration %d: event %v, want timeout", i, ev)
				}
			}
			if sum := sumCalls(calls); sum+canceled != iters {
				t.Fatalf("%d callbacks + %d true Cancels, want %d in all", sum, canceled, iters)
			}
			t.Logf("%d of %d Cancels won against the timeout", canceled, iters)
		})
		if p.Len() != 0 {
			t.Fatalf("Len %d after the races", p.Len())
		}
	})
}

func sumCalls(calls []atomic.Int32) int {
	n := 0
	for i := range calls {
		n += int(calls[i].Load())
	}
	return n
}

// TestClose: Close calls back every parked connection with Closed, once,
// and leaves them open; Park fails afterwards.
func TestClose(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		ln := listen(t)
		const n = 50
		srvs, clis := make([]*net.TCPConn, n), make([]*net.TCPConn, n)
		calls := make([]atomic.Int32, n)
		var wg sync.WaitGroup
		wg.Add(n)
		for i := range n {
			srvs[i], clis[i] = pair(t, ln)
			if _, err := p.Park(srvs[i], time.Minute, func(ev Event) {
				if ev != Closed {
					t.Errorf("connection %d: event %v, want closed", i, ev)
				}
				calls[i].Add(1)
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		if p.Len() != n {
			t.Fatalf("Len %d, want %d", p.Len(), n)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		waitGroup(t, &wg)
		if p.Len() != 0 {
			t.Fatalf("Len %d after Close", p.Len())
		}
		for i := range n {
			if c := calls[i].Load(); c != 1 {
				t.Fatalf("connection %d: callback ran %d times", i, c)
			}
			write(t, clis[i], "hi")
			if got := readN(t, srvs[i], 2); got != "hi" {
				t.Fatalf("connection %d: read %q after Close", i, got)
			}
		}
		if _, err := p.Park(srvs[0], time.Minute, func(Event) {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Park after Close: %v, want ErrClosed", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestParkClosedConn: a closed connection is refused, not parked.
func TestParkClosedConn(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, _ := pair(t, listen(t))
		_ = srv.Close()
		if _, err := p.Park(srv, time.Minute, func(Event) { t.Error("callback for a refused Park") }); err == nil {
			t.Fatal("Park of a closed connection succeeded")
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d", p.Len())
		}
	})
}

func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("callbacks missing after 60s")
	}
}

// BenchmarkPark is one keep-alive cycle on a parked connection: Park, the
// client's next request (one byte) arrives, the callback reads it; beside
// it, "blocked-read" is the same cycle with a goroutine blocked in Read
// (fasthttp's design, what parking replaces). cpu-ns/op is the process's
// user+system time per cycle (getrusage), steadier than ns/op on a busy
// machine.
func BenchmarkPark(b *testing.B) {
	for _, k := range []struct {
		name     string
		new      func() (*Poller, error)
		prepared bool // one record (Prepare), parked each cycle: a keep-alive connection's way
	}{
		{"epoll", New, false},
		{"epoll-prepared", New, true},
		{"goroutine", func() (*Poller, error) { return newGoroutinePoller(), nil }, false},
	} {
		b.Run(k.name, func(b *testing.B) {
			p, err := k.new()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			srv, cli := pair(b, listen(b))
			done := make(chan struct{})
			buf := make([]byte, 1)
			cb := func(ev Event) {
				if ev != Readable {
					b.Errorf("event %v", ev)
				}
				if _, err := srv.Read(buf); err != nil {
					b.Error(err)
				}
				done <- struct{}{}
			}
			park := func() error { _, err := p.Park(srv, time.Minute, cb); return err }
			if k.prepared {
				pk, err := p.Prepare(srv, cb)
				if err != nil {
					b.Fatal(err)
				}
				park = func() error { return pk.Park(time.Minute) }
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := park(); err != nil {
					b.Fatal(err)
				}
				if _, err := cli.Write(buf); err != nil {
					b.Fatal(err)
				}
				<-done
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("blocked-read", func(b *testing.B) {
		srv, cli := pair(b, listen(b))
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 1)
			for {
				if _, err := srv.Read(buf); err != nil {
					close(done)
					return
				}
				done <- struct{}{}
			}
		}()
		buf := make([]byte, 1)
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := cli.Write(buf); err != nil {
				b.Fatal(err)
			}
			<-done
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		_ = cli.Close()
		<-done
	})
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkParkCancel is Park and Cancel with nothing to read: a
// connection's cost in and out of the poller, without the wake.
func BenchmarkParkCancel(b *testing.B) {
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	srv, _ := pair(b, listen(b))
	b.Run("park", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pk, err := p.Park(srv, time.Minute, func(Event) {})
			if err != nil {
				b.Fatal(err)
			}
			if !pk.Cancel() {
				b.Fatal("Cancel lost with nothing to read")
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		pk, err := p.Prepare(srv, func(Event) {})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := pk.Park(time.Minute); err != nil {
				b.Fatal(err)
			}
			if !pk.Cancel() {
				b.Fatal("Cancel lost with nothing to read")
			}
		}
	})
	runtime.KeepAlive(srv)
}

// TestParkTwice: a connection parked already is refused; the first Park
// stands.
func TestParkTwice(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		ch := make(chan Event, 2)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Park(srv, time.Minute, func(Event) { t.Error("second Park's callback ran") }); !errors.Is(err, ErrParked) {
			t.Fatalf("second Park: %v, want ErrParked", err)
		}
		write(t, cli, "x")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
	})
}

// TestOwnerClosedWhileParked: a connection closed while parked (against
// the contract) is called back Readable once its fd is parked for another
// connection, whose own Park stands.
func TestOwnerClosedWhileParked(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		ln := listen(t)
		srv, cli := pair(t, ln)
		fdOf := func(c *net.TCPConn) (fd uintptr) {
			rc, _ := c.SyscallConn()
			_ = rc.Control(func(f uintptr) { fd = f })
			return fd
		}
		oldFD := fdOf(srv)
		ch := make(chan Event, 2)
		if _, err := p.Park(srv, time.Minute, func(ev Event) { ch <- ev }); err != nil {
			t.Fatal(err)
		}
		_ = srv.Close()
		// cli's fd, below srv's (dialed first), is free too: the next
		// pair's client takes it, its server side srv's.
		_ = cli.Close()
		// The fallback's goroutine sees the close itself.
		var early Event
		select {
		case early = <-ch:
		default:
		}
		srv2, cli2 := pair(t, ln)
		ch2 := make(chan Event, 1)
		if _, err := p.Park(srv2, time.Minute, func(ev Event) { ch2 <- ev }); err != nil {
			t.Fatal(err)
		}
		if fdOf(srv2) != oldFD && early == 0 {
			t.Skipf("the new connection has fd %d, not the closed one's %d", fdOf(srv2), oldFD)
		}
		if early == 0 {
			early = waitEvent(t, ch)
		}
		if early != Readable {
			t.Fatalf("closed connection's event %v, want readable", early)
		}
		write(t, cli2, "y")
		if ev := waitEvent(t, ch2); ev != Readable {
			t.Fatalf("new connection's event %v, want readable", ev)
		}
		if got := readN(t, srv2, 1); got != "y" {
			t.Fatalf("read %q", got)
		}
	})
}

// BenchmarkParkParallel is BenchmarkPark's cycle on GOMAXPROCS×4
// connections at once (b.RunParallel), against goroutines blocked in Read:
// whether one Poller (one lock, one goroutine taking the events) keeps up
// with every core.
func BenchmarkParkParallel(b *testing.B) {
	b.Run("epoll", func(b *testing.B) {
		p, err := New()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		ln := listen(b)
		var mu sync.Mutex
		b.SetParallelism(4)
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			srv, cli := pair(b, ln)
			mu.Unlock()
			done := make(chan struct{})
			buf := make([]byte, 1)
			cb := func(Event) {
				_, _ = srv.Read(buf)
				done <- struct{}{}
			}
			wb := []byte{1}
			for pb.Next() {
				if _, err := p.Park(srv, time.Minute, cb); err != nil {
					b.Error(err)
					return
				}
				_, _ = cli.Write(wb)
				<-done
			}
		})
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("blocked-read", func(b *testing.B) {
		ln := listen(b)
		var mu sync.Mutex
		b.SetParallelism(4)
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			srv, cli := pair(b, ln)
			mu.Unlock()
			done := make(chan struct{})
			go func() {
				buf := make([]byte, 1)
				for {
					if _, err := srv.Read(buf); err != nil {
						close(done)
						return
					}
					done <- struct{}{}
				}
			}()
			wb := []byte{1}
			for pb.Next() {
				_, _ = cli.Write(wb)
				<-done
			}
			_ = cli.Close()
			<-done
		})
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// TestPreparedReparks: one record (Prepare) parked again and again, as a
// keep-alive connection does, keeps every parking's guarantees: a wake
// once with the bytes, a true Cancel or one callback, and no timeout
// before its own: the timer is shared by the parkings, so the run of an
// earlier, canceled parking's timer (its Stop came too late) must not time
// out a later one.
func TestPreparedReparks(t *testing.T) {
	iters := 1000
	if testing.Short() {
		iters = 100
	}
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		ch := make(chan Event, 1)
		var calls atomic.Int32
		var fired atomic.Int64 // UnixNano of the last callback
		pk, err := p.Prepare(srv, func(ev Event) {
			calls.Add(1)
			fired.Store(time.Now().UnixNano())
			ch <- ev
		})
		if err != nil {
			t.Fatal(err)
		}
		canceled := 0
		for i := range iters {
			// A parking whose timer is due as it is canceled: its run may
			// come during the next parking.
			timeout := time.Duration(i%50+1) * time.Microsecond
			start := time.Now()
			if err := pk.Park(timeout); err != nil {
				t.Fatal(err)
			}
			for time.Since(start) < timeout {
			}
			if pk.Cancel() {
				canceled++
			} else if ev := waitEvent(t, ch); ev != Timeout {
				t.Fatalf("iteration %d: event %v, want timeout", i, ev)
			}
			// The next parking's timeout is far: only the bytes end it.
			if err := pk.Park(time.Minute); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				// What the late run of the earlier parking's timer does,
				// made certain (the race above makes it rare).
				pk.expire()
			}
			if i%2 == 0 {
				if err := pk.Park(time.Minute); !errors.Is(err, ErrParked) {
					t.Fatalf("iteration %d: Park of a parked record: %v, want ErrParked", i, err)
				}
			}
			write(t, cli, "r")
			if ev := waitEvent(t, ch); ev != Readable {
				t.Fatalf("iteration %d: event %v, want readable (a stale timer won?)", i, ev)
			}
			if got := readN(t, srv, 1); got != "r" {
				t.Fatalf("iteration %d: read %q", i, got)
			}
		}
		if n := int(calls.Load()); n+canceled != 2*iters {
			t.Fatalf("%d callbacks + %d true Cancels, want %d in all", n, canceled, 2*iters)
		}
		// A timeout after all that still comes, and not early.
		const timeout = 20 * time.Millisecond
		start := time.Now()
		if err := pk.Park(timeout); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Timeout {
			t.Fatalf("event %v, want timeout", ev)
		}
		if d := time.Unix(0, fired.Load()).Sub(start); d < timeout {
			t.Fatalf("timed out after %v, before the timeout %v", d, timeout)
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d", p.Len())
		}
		t.Logf("%d of %d Cancels won against the timeout", canceled, iters)
	})
}

// TestTimerLeftSet: a woken parking leaves its timer set (no Stop per
// wake, no Reset per Park while it fires before the next deadline), so the
// next parking meets the earlier parking's run: it must not time out then,
// but at its own deadline, which the run sets the timer for. A later
// parking with a nearer deadline sets the timer itself. Release stops it.
func TestTimerLeftSet(t *testing.T) {
	pollers(t, func(t *testing.T, p *Poller) {
		srv, cli := pair(t, listen(t))
		ch := make(chan Event, 1)
		var fired atomic.Int64 // UnixNano of the last callback
		pk, err := p.Prepare(srv, func(ev Event) { fired.Store(time.Now().UnixNano()); ch <- ev })
		if err != nil {
			t.Fatal(err)
		}
		const timeout = 100 * time.Millisecond
		for i := range 3 {
			// Woken before its deadline: the timer stays set for the
			// first one's. The first waits half of it (the workload: the
			// last parking below begins at least that much later than the
			// timer's deadline, which a run taken as its own would show).
			if err := pk.Park(timeout); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				time.Sleep(timeout / 2)
			}
			write(t, cli, "r")
			if ev := waitEvent(t, ch); ev != Readable {
				t.Fatalf("round %d: event %v, want readable", i, ev)
			}
			if got := readN(t, srv, 1); got != "r" {
				t.Fatalf("round %d: read %q", i, got)
			}
		}
		// Parked again at once: the timer fires first at the last
		// parking's deadline, before this one's.
		start := time.Now()
		if err := pk.Park(timeout); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Timeout {
			t.Fatalf("event %v, want timeout", ev)
		}
		if d := time.Unix(0, fired.Load()).Sub(start); d < timeout {
			t.Fatalf("timed out after %v, before the timeout %v (an earlier parking's deadline)", d, timeout)
		}
		// A far deadline left set, then a near one: the near one's comes.
		if err := pk.Park(time.Hour); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "s")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		readN(t, srv, 1)
		start = time.Now()
		if err := pk.Park(20 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if ev := waitEvent(t, ch); ev != Timeout {
			t.Fatalf("event %v, want the near timeout", ev)
		}
		if d := time.Unix(0, fired.Load()).Sub(start); d < 20*time.Millisecond {
			t.Fatalf("timed out after %v, before 20ms", d)
		}
		// Left set by a woken parking, stopped by Release.
		if err := pk.Park(time.Hour); err != nil {
			t.Fatal(err)
		}
		write(t, cli, "u")
		if ev := waitEvent(t, ch); ev != Readable {
			t.Fatalf("event %v, want readable", ev)
		}
		pk.Release()
		if pk.timer.Stop() {
			t.Fatal("the timer was still set after Release")
		}
		if p.Len() != 0 {
			t.Fatalf("Len %d", p.Len())
		}
	})
}
