package proxy

import (
	"testing"
	"time"

	"spillway/proxy/config"
)

func TestRetryBudgetTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	b := NewRetryBudget(0.2, 0)
	if b.Spend(now) {
		t.Fatal("a budget that earned nothing allowed a retry")
	}
	for range 10 {
		b.Earn()
	}
	got := 0
	for b.Spend(now) {
		got++
	}
	if got != 2 {
		t.Fatalf("10 requests at 20%% allowed %d retries, want 2", got)
	}
	// The cap: a long quiet spell saves at most retryBudgetBurst requests' worth.
	for range 100000 {
		b.Earn()
	}
	got = 0
	for b.Spend(now) {
		got++
	}
	if want := int(0.2 * retryBudgetBurst); got != want {
		t.Fatalf("after a long run the burst is %d retries, want %d", got, want)
	}
}

func TestRetryBudgetFloor(t *testing.T) {
	b := NewRetryBudget(0.2, 3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !b.Spend(now) {
			t.Fatalf("floor retry %d refused", i+1)
		}
	}
	if b.Spend(now) {
		t.Fatal("a fourth retry in the same second passed the floor of 3 with no tokens")
	}
	if !b.Spend(now.Add(time.Second)) {
		t.Fatal("the floor did not renew in the next second")
	}
}

func TestRetryBudgetOff(t *testing.T) {
	b := NewRetryBudget(0, 0)
	for range 1000 {
		if !b.Spend(time.Unix(1, 0)) {
			t.Fatal("retry_budget off refused a retry")
		}
	}
	var nilBudget *RetryBudget
	nilBudget.Earn()
	if !nilBudget.Spend(time.Unix(1, 0)) {
		t.Fatal("a group without a budget refused a retry")
	}
}

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
	reset := &Error{Phase: PhaseReadHeader, Kind: KindReset, Written: 100}
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
	stale := &Error{Phase: PhaseReadHeader, Kind: KindReset, Reused: true, Written: 100}
	if v := decideRetry(retryInput{Err: stale, Mask: def, Replayable: true, Tries: 1, MaxTries: 2, Budget: empty}); !v.Retry || !v.Fresh {
		t.Fatalf("stale keepalive retry refused by the budget: %+v", v)
	}
	if statusRetry(502, retryInput{Mask: def | config.NextHTTP502, Tries: 1, MaxTries: 2, Budget: &fakeBudget{}}) {
		t.Fatal("http_502 retried with an empty budget")
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
