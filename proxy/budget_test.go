package proxy

import (
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/upstream"
)

type fakeBudget struct{ left, asked int }

func (f *fakeBudget) Spend(time.Time) bool {
	f.asked++
	if f.left == 0 {
		return false
	}
	f.left--
	return true
}

// The budget is asked last, and only when the answer would otherwise be
// yes: a refused retry must not cost a token, and a free stale-connection
// retry (not extra load: the request never reached the upstream) never does.
func TestDecideRetryBudget(t *testing.T) {
	def := config.NextError | config.NextTimeout
	reset := &upstream.Error{Phase: upstream.PhaseReadHeader, Kind: upstream.KindReset, Written: 100}
	empty := &fakeBudget{}
	v := decideRetry(retryInput{Err: reset, Mask: def, Replayable: true, Tries: 1, MaxTries: 2, Budget: empty})
	if v.Retry || v.Why != "retry budget exhausted" || empty.asked != 1 {
		t.Fatalf("empty budget: %+v asked %d", v, empty.asked)
	}
	one := &fakeBudget{left: 1}
	if v := decideRetry(retryInput{Err: reset, Mask: def, Replayable: true, Tries: 1, MaxTries: 2, Budget: one}); !v.Retry {
		t.Fatalf("budget with a token: %+v", v)
	}
	post := &fakeBudget{left: 5}
	if v := decideRetry(retryInput{Err: reset, Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2, Budget: post}); v.Retry || post.asked != 0 {
		t.Fatalf("a POST that is not retried anyway asked the budget: %+v asked %d", v, post.asked)
	}
	stale := &upstream.Error{Phase: upstream.PhaseReadHeader, Kind: upstream.KindReset, Reused: true, Written: 100}
	if v := decideRetry(retryInput{Err: stale, Mask: def, Replayable: true, Tries: 1, MaxTries: 2, Budget: empty}); !v.Retry || !v.Fresh {
		t.Fatalf("stale keepalive retry refused by the budget: %+v", v)
	}
	if v := decideRetry(retryInput{Status: 502, Mask: def | config.NextHTTP502, Replayable: true, Tries: 1, MaxTries: 2, Budget: &fakeBudget{}}); v.Retry || v.Why != "retry budget exhausted" {
		t.Fatalf("http_502 with an empty budget: %+v", v)
	}
}

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		base       time.Duration
		k          int
		elapsed    time.Duration
		maxElapsed time.Duration
		u          float64
		want       time.Duration
	}{
		{10 * ms, 0, 0, 0, 0.5, 5 * ms},                // half of base
		{10 * ms, 2, 0, 0, 0.5, 20 * ms},               // doubles per same-server retry
		{10 * ms, 0, 0, 0, 0, 0},                       // jitter may be nothing
		{100 * ms, 0, 90 * ms, 100 * ms, 0.9, 10 * ms}, // never past proxy_next_upstream_timeout
		{100 * ms, 0, 150 * ms, 100 * ms, 0.9, 0},      // already past it
	}
	for _, c := range cases {
		if got := backoffDelay(c.base, c.k, c.elapsed, c.maxElapsed, c.u); got != c.want {
			t.Errorf("backoffDelay(%v, %d, %v, %v, %v) = %v, want %v", c.base, c.k, c.elapsed, c.maxElapsed, c.u, got, c.want)
		}
	}
}
