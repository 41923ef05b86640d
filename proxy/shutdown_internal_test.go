package proxy

import (
	"sync"
	"testing"
)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// The in-flight counter's channel is closed by the end that brings the
// count to zero, and only then; with nothing in flight it is closed at once.
func TestInflightIdle(t *testing.T) {
	var f inflight
	if !closed(f.idleCh()) {
		t.Fatal("nothing in flight: the channel is not closed")
	}
	f.begin()
	f.begin()
	idle := f.idleCh()
	if closed(idle) {
		t.Fatal("closed with two requests in flight")
	}
	f.end()
	if closed(idle) {
		t.Fatal("closed with one request in flight")
	}
	f.begin() // a request that begins while a stop waits is waited for too
	f.end()
	if closed(idle) {
		t.Fatal("closed with one request in flight")
	}
	if again := f.idleCh(); again != idle {
		t.Fatal("a second waiter got another channel")
	}
	f.end()
	if !closed(idle) {
		t.Fatal("not closed after the last request ended")
	}
}

// Ends racing with a waiter never lose the wake-up (run with -race).
func TestInflightIdleRace(t *testing.T) {
	for range 200 {
		var f inflight
		const n = 8
		for range n {
			f.begin()
		}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); f.end() }()
		}
		<-f.idleCh() // never blocks forever: the last end closes it, or it comes closed
		wg.Wait()
	}
}
