package upstream

import (
	"testing"
	"time"
)

func TestRetryBudgetTokens(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newRetryBudget(0.2, 0)
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
	b := newRetryBudget(0.2, 3)
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
	b := newRetryBudget(0, 0)
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
