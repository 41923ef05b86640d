package idlepark

import (
	"sync"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

func (cs *callbacks) idleNow() []*callbackG {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]*callbackG(nil), cs.idle...)
}

// A callback's goroutine waits for the next callback when its own returns,
// and the next wake is handed to it; a callback that blocks does not hold
// back the next one; at most maxIdleCallbacks wait; close ends them, and a
// callback handed over after close still runs.
func TestCallbacksKept(t *testing.T) {
	var cs callbacks
	ran := make(chan int)
	cs.run(func() { ran <- 1 })
	<-ran
	testutil.Eventually(t, "the goroutine waiting", 5*time.Second, func() bool { return len(cs.idleNow()) == 1 })
	g := cs.idleNow()[0]
	cs.run(func() { ran <- 2 })
	if got := <-ran; got != 2 {
		t.Fatalf("ran %d", got)
	}
	testutil.Eventually(t, "the goroutine waiting again", 5*time.Second, func() bool { return len(cs.idleNow()) == 1 })
	if cs.idleNow()[0] != g {
		t.Fatal("the second callback did not run on the kept goroutine")
	}

	block := make(chan struct{})
	cs.run(func() { <-block })
	cs.run(func() { ran <- 3 }) // on a new goroutine: the kept one is busy
	if got := <-ran; got != 3 {
		t.Fatalf("ran %d", got)
	}
	close(block)
	testutil.Eventually(t, "both waiting", 5*time.Second, func() bool { return len(cs.idleNow()) == 2 })

	var all sync.WaitGroup
	release := make(chan struct{})
	for range maxIdleCallbacks + 5 {
		all.Add(1)
		cs.run(func() { all.Done(); <-release })
	}
	all.Wait() // every one running at once
	close(release)
	testutil.Eventually(t, "the cap waiting", 5*time.Second, func() bool { return len(cs.idleNow()) == maxIdleCallbacks })

	cs.close()
	if n := len(cs.idleNow()); n != 0 {
		t.Fatalf("%d waiting after close", n)
	}
	cs.run(func() { ran <- 4 })
	if got := <-ran; got != 4 {
		t.Fatalf("ran %d", got)
	}
}
