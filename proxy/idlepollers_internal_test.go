//go:build unix

package proxy

import (
	"errors"
	"net"
	"testing"
	"time"

	"spillway/proxy/internal/idlepark"
)

// TestIdlePollers: the connections are spread evenly over the pollers,
// each poller wakes its own when the client writes, and Close calls back
// those still parked in every poller and refuses parkings after.
func TestIdlePollers(t *testing.T) {
	if s, err := newIdlePollers(0); err != nil || len(s.ps) != 1 {
		t.Fatalf("newIdlePollers(0): %v, %v; want one poller", s, err)
	} else {
		_ = s.Close()
	}
	if s, err := newIdlePollers(maxIdlePollers + 1); err != nil || len(s.ps) != maxIdlePollers {
		t.Fatalf("newIdlePollers(%d): %v, %v; want %d pollers", maxIdlePollers+1, s, err, maxIdlePollers)
	} else {
		_ = s.Close()
	}
	const n = 3
	s, err := newIdlePollers(n)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	picks := map[*idlepark.Poller]int{}
	for range 2 * n {
		picks[s.pick()]++
	}
	if len(picks) != n {
		t.Fatalf("%d picks used %d pollers, want %d", 2*n, len(picks), n)
	}
	for pl, k := range picks {
		if k != 2 {
			t.Errorf("poller %p picked %d times of %d, want 2", pl, k, 2*n)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// 2n connections, two in each poller: the first n are woken by a
	// byte, the other n stay parked until Close.
	events := make(chan idlepark.Event, 2*n)
	var clients []net.Conn
	used := map[*idlepark.Poller]int{}
	for range 2 * n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		pl := s.pick()
		used[pl]++
		if _, err := pl.Park(sc.(*net.TCPConn), 0, func(ev idlepark.Event) { events <- ev }); err != nil {
			t.Fatal(err)
		}
	}
	if len(used) != n {
		t.Fatalf("the connections parked in %d pollers, want %d", len(used), n)
	}
	for _, c := range clients[:n] {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if ev := <-events; ev != idlepark.Readable {
			t.Fatalf("event %v before Close, want readable", ev)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if ev := <-events; ev != idlepark.Closed {
			t.Fatalf("event %v at Close, want closed", ev)
		}
	}
	for pl := range used {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if _, err := pl.Park(sc.(*net.TCPConn), time.Hour, func(idlepark.Event) {}); !errors.Is(err, idlepark.ErrClosed) {
			t.Errorf("Park after Close: %v, want %v", err, idlepark.ErrClosed)
		}
	}
}
