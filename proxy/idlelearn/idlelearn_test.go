package idlelearn

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)

func TestLearnNeedsAgreement(t *testing.T) {
	l := New(60*time.Second, true)
	if _, ok := l.Closed(5200*time.Millisecond, FIN, t0); ok || l.Keep() != 60*time.Second {
		t.Fatalf("one observation changed Keep to %v", l.Keep())
	}
	ev, ok := l.Closed(5*time.Second, FIN, t0.Add(time.Second))
	if !ok || l.Keep() != Keep(5*time.Second) {
		t.Fatalf("two agreeing observations: event %v %+v, Keep %v", ok, ev, l.Keep())
	}
	if got, want := ev.Message("127.0.0.1:9001"), "upstream 127.0.0.1:9001 closes idle connections after 5.0s (FIN); keeping them at most 4.5s"; got != want {
		t.Fatalf("message\n got %q\nwant %q", got, want)
	}
	// Closer observations refine it, but a single early close (a restart)
	// does not: it waits for agreement, and later observations at the
	// learned figure discard it.
	l.Closed(300*time.Millisecond, RST, t0.Add(2*time.Second))
	if l.Keep() != Keep(5*time.Second) {
		t.Fatalf("a single early close shrank Keep to %v", l.Keep())
	}
	l.Closed(5300*time.Millisecond, FIN, t0.Add(3*time.Second))
	l.Closed(400*time.Millisecond, RST, t0.Add(4*time.Second))
	if l.Keep() != Keep(5*time.Second) {
		t.Fatalf("two early closes separated by a normal one shrank Keep to %v", l.Keep())
	}
}

func TestLearnRelearnsUpward(t *testing.T) {
	l := New(60*time.Second, true)
	now := t0
	l.Closed(time.Second, RST, now)
	l.Closed(time.Second, RST, now)
	if to, how := l.Timeout(); to != time.Second || how != RST {
		t.Fatalf("timeout %v %v", to, how)
	}
	// Nothing observed: a quarter more per RelearnAfter, then forgotten.
	steps := 0
	for l.Keep() < 60*time.Second {
		now = now.Add(RelearnAfter)
		l.Tick(now)
		if steps++; steps > 30 {
			t.Fatalf("never relearned upward: %v", l)
		}
	}
	if to, _ := l.Timeout(); to != 0 {
		t.Fatalf("not forgotten at the bound: %v", l)
	}
	// A Tick before RelearnAfter changes nothing.
	l.Closed(2*time.Second, FIN, now)
	l.Closed(2*time.Second, FIN, now)
	if _, ok := l.Tick(now.Add(RelearnAfter - time.Second)); ok || l.Keep() != Keep(2*time.Second) {
		t.Fatalf("early tick: %v", l)
	}
}

func TestLearnHintAndBound(t *testing.T) {
	l := New(3*time.Second, true)
	if ev, ok := l.Hint(HintOf([]byte("timeout=5, max=1000"))); ok || l.Keep() != 3*time.Second {
		t.Fatalf("a hint above the bound: %v %+v, Keep %v", ok, ev, l.Keep())
	}
	ev, ok := l.Hint(HintOf([]byte(" Max=5 , Timeout=2")))
	if !ok || l.Keep() != 1800*time.Millisecond || ev.How != Header {
		t.Fatalf("hint 2s: %v %+v, Keep %v", ok, ev, l.Keep())
	}
	// Observations below the hint win.
	l.Closed(time.Second, FIN, t0)
	l.Closed(time.Second, FIN, t0)
	if to, how := l.Timeout(); to != time.Second || how != FIN {
		t.Fatalf("observed below the hint: %v %v", to, how)
	}
	off := New(60*time.Second, false)
	off.Hint(5 * time.Second)
	off.Closed(time.Second, FIN, t0)
	off.Closed(time.Second, FIN, t0)
	if off.Keep() != 60*time.Second {
		t.Fatalf("learning off still learned: %v", off)
	}
}

func TestHintOf(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"timeout=5":          5 * time.Second,
		"max=10, timeout=20": 20 * time.Second,
		"timeout=":           0,
		"timeout=-1":         0,
		"timeout=x":          0,
		"max=3":              0,
		"":                   0,
	} {
		if got := HintOf([]byte(in)); got != want {
			t.Errorf("HintOf(%q) = %v, want %v", in, got, want)
		}
	}
}

// A connection still open well past the learned figure proves it too low:
// raised to that age at once. Within the agreement factor it is noise.
func TestLearnAliveRaises(t *testing.T) {
	l := New(60*time.Second, true)
	l.Closed(300*time.Millisecond, RST, t0) // a restart closing two pooled connections
	l.Closed(400*time.Millisecond, RST, t0)
	if to, _ := l.Timeout(); to != 300*time.Millisecond {
		t.Fatalf("timeout %v", to)
	}
	if _, ok := l.Alive(400*time.Millisecond, t0); ok {
		t.Fatalf("open at 400ms raised a 300ms figure: %v", l)
	}
	ev, ok := l.Alive(5*time.Second, t0.Add(time.Second))
	if to, _ := l.Timeout(); !ok || to != 5*time.Second || ev.Keep != Keep(5*time.Second) {
		t.Fatalf("open at 5s: %v %+v, %v", ok, ev, l)
	}
	// Closes at or above it confirm it: no relearning a minute later.
	l.Closed(6*time.Second, FIN, t0.Add(30*time.Second))
	if _, ok := l.Tick(t0.Add(time.Second + RelearnAfter)); ok {
		t.Fatalf("a confirmed figure grew: %v", l)
	}
}
