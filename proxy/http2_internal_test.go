package proxy

import (
	"net/http"
	"testing"
	"time"
)

// The names write takes from h2CommonNames are what http.CanonicalHeaderKey
// would have made of them.
func TestH2CommonNamesCanonical(t *testing.T) {
	for k, v := range h2CommonNames {
		if c := http.CanonicalHeaderKey(k); c != v {
			t.Errorf("%q: %q, CanonicalHeaderKey says %q", k, v, c)
		}
	}
}

// A body frame waiting on an HTTP/2 connection counts as stalled when the
// connection's writes say its client holds it up, not when it waits its
// turn behind the other streams' frames (h2Progress.stalled).
func TestH2ProgressStalled(t *testing.T) {
	const ms = int64(time.Millisecond)
	since := int64(1000 * ms) // the frame was handed over then
	cases := []struct {
		name          string
		writes, mark  uint64
		writing, last int64
		pending       int32
		now           int64
		stalled       bool
	}{
		{"busy connection, frame waiting its turn", 40, 10, 0, since + 19*ms, 8, since + 25*ms, false},
		{"busy connection, a write in progress", 40, 10, since + 24*ms, since + 19*ms, 8, since + 25*ms, false},
		{"socket write blocked for h2StallAfter", 40, 10, since + 4*ms, since + 3*ms, 8, since + 25*ms, true},
		{"others written h2StallWrites times: window closed", 10 + h2StallWrites, 10, 0, since + 24*ms, 8, since + 25*ms, true},
		{"nothing else waiting, nothing written: window closed", 10, 10, 0, since - 5*ms, 1, since + 25*ms, true},
		{"nothing else waiting, a write 10ms ago", 11, 10, 0, since + 15*ms, 1, since + 25*ms, false},
		{"others waiting, quiet for less than h2StallIdle", 10, 10, 0, since - 5*ms, 4, since + 500*ms, false},
		{"others waiting, quiet for h2StallIdle: all windows closed", 10, 10, 0, since - 5*ms, 4, since + 1000*ms, true},
	}
	for _, c := range cases {
		pr := h2Progress{turn: h2StallWrites}
		pr.writes.Store(c.writes)
		pr.writing.Store(c.writing)
		pr.last.Store(c.last)
		pr.pending.Store(c.pending)
		if got := pr.stalled(since, c.mark, c.now); got != c.stalled {
			t.Errorf("%s: stalled %v, want %v", c.name, got, c.stalled)
		}
	}
}
