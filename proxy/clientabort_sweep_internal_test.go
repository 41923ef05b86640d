package proxy

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// tcpPair is a connected pair of TCP connections on 127.0.0.1: the
// proxy's side, as a clientConn, and the client's.
func tcpPair(t *testing.T) (*clientConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(); _ = sc.Close() })
	return &clientConn{TCPConn: sc.(*net.TCPConn)}, cl
}

// Pooled watches are started and stopped over and over on one pending
// list, their stops racing its sweeps: some stop at once, some within a
// sweep or two, some once armed. A stale entry (a start already stopped,
// its watch started again since) must never arm the watch's next start:
// no watch is armed before clientWatchDelay has passed since its start,
// stop finds every client still there, and once all have stopped the list
// empties and its timer stops.
func TestClientWatchSweepRacesStop(t *testing.T) {
	const watches, rounds = 8, 200
	l := &watchList{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	armed := 0
	for k := range watches {
		cc, _ := tcpPair(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &clientWatch{}
			for i := range rounds {
				started := time.Now()
				w.pend(cc, nil, l)
				switch (i + k) % 5 {
				case 0: // the usual exchange: stopped before any sweep
				case 1:
					time.Sleep(watchSweepEvery / 2)
				case 2:
					time.Sleep(watchSweepEvery + watchSweepEvery/2)
				case 3:
					time.Sleep(clientWatchDelay - time.Millisecond)
				case 4:
					if i%20 == 4 { // now and then, until the sweep arms it
						testutil.Eventually(t, "the watch armed", 10*time.Second, func() bool {
							w.mu.Lock()
							defer w.mu.Unlock()
							return w.state == watchArmed
						})
					}
				}
				w.mu.Lock()
				st := w.state
				w.mu.Unlock()
				if waited := time.Since(started); st == watchArmed && waited < clientWatchDelay {
					t.Errorf("watch %d round %d: armed %v after its start, before clientWatchDelay", k, i, waited)
				}
				if st == watchArmed {
					mu.Lock()
					armed++
					mu.Unlock()
				}
				if w.stop() {
					t.Errorf("watch %d round %d: stop says the client went; it is still there", k, i)
				}
				w.mu.Lock()
				if w.state != watchOff || w.exited != nil || w.cc != nil {
					t.Errorf("watch %d round %d: after stop, state %d, exited %v, cc %v", k, i, w.state, w.exited, w.cc)
				}
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if armed == 0 {
		t.Error("no watch was armed: the sweep never ran")
	}
	testutil.Eventually(t, "the list empty", 10*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.pending) == 0
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer.Stop() { // an empty list's timer is not set: its last sweep did not set it again
		t.Error("the list is empty and its timer still set")
	}
}

// A watch left pending is armed by a sweep, not before clientWatchDelay,
// and then sees its client go: stop reports it gone, with the RST's errno.
func TestClientWatchSweepArms(t *testing.T) {
	l := &watchList{}
	cc, cl := tcpPair(t)
	w := &clientWatch{}
	started := time.Now()
	w.pend(cc, nil, l)
	testutil.Eventually(t, "the watch armed", 10*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.state == watchArmed
	})
	if waited := time.Since(started); waited < clientWatchDelay {
		t.Errorf("armed %v after the start, before clientWatchDelay (%v)", waited, clientWatchDelay)
	}
	_ = cl.(*net.TCPConn).SetLinger(0)
	_ = cl.Close()
	testutil.Eventually(t, "the client seen gone", 10*time.Second, w.gone)
	if w.errno != syscall.ECONNRESET {
		t.Errorf("errno %v, want ECONNRESET", w.errno)
	}
	if !w.stop() {
		t.Error("stop: the client had gone, stop says not")
	}
}
