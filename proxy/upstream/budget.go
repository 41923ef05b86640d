package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// RetryBudget caps the retries an upstream group may add to its load
// (retry_budget, retry_budget_min_per_second; Linkerd's and Envoy's idea,
// which nginx lacks): every request earns the group `ratio` of a retry, every
// retry spends one, and a floor of minPerSecond retries a second is always
// allowed so that a quiet group can still retry. A failing server then
// multiplies the load on the others by at most 1 + ratio. The request path
// costs one atomic add; the lock is taken only to retry.
type RetryBudget struct {
	ratioMilli   int64 // milli-tokens earned per request; 0 = no budget
	capMilli     int64 // the most saved up: bounds a burst after a quiet spell
	minPerSecond int

	tokens atomic.Int64 // milli-tokens

	mu   sync.Mutex
	sec  int64 // the second the floor counts in
	used int   // floor retries used in sec
}

// retryBudgetBurst is how many requests' worth of tokens may be saved.
const retryBudgetBurst = 100

func newRetryBudget(ratio float64, minPerSecond int) *RetryBudget {
	b := &RetryBudget{ratioMilli: int64(ratio*1000 + 0.5), minPerSecond: minPerSecond}
	b.capMilli = max(b.ratioMilli*retryBudgetBurst, 1000)
	return b
}

// Earn is called once per request that reaches the group.
func (b *RetryBudget) Earn() {
	if b == nil || b.ratioMilli == 0 {
		return
	}
	if b.tokens.Load() < b.capMilli {
		b.tokens.Add(b.ratioMilli)
	}
}

// Spend reports whether one more retry fits the budget, and takes it.
func (b *RetryBudget) Spend(now time.Time) bool {
	if b == nil || b.ratioMilli == 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := now.Unix(); s != b.sec {
		b.sec, b.used = s, 0
	}
	if b.used < b.minPerSecond {
		b.used++
		return true
	}
	if b.tokens.Add(-1000) >= 0 {
		return true
	}
	b.tokens.Add(1000)
	return false
}
