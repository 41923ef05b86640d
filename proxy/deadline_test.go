package proxy_test

import (
	"strings"
	"testing"
	"time"

	"spillway/bench"
)

// Deadlines are renewed lazily (within 1/16 of the timeout). A pooled
// connection that sat idle past proxy_read_timeout must still be probed and
// reused (its expired deadline is cleared first), and a slow upstream must
// still time out on the reused connection.
func TestReusedConnectionDeadlines(t *testing.T) {
	u := upstream(t, bench.SlowHeader(400*time.Millisecond).At("/slow"))
	yaml := strings.Replace(keepaliveTmpl, "http:\n", "http:\n  proxy_read_timeout: 100ms\n", 1)
	r := newRig(t, "error", yaml, u.Addr())
	if status, _ := r.do("GET", "/size/10", nil); status != 200 {
		t.Fatalf("first request: %d", status)
	}
	time.Sleep(150 * time.Millisecond)                                  // the workload: idle past proxy_read_timeout
	if status, _ := r.do("POST", "/echo", []byte("x")); status != 200 { // a POST always probes
		t.Fatalf("request on the idle connection: %d\n%s", status, r.elog.String())
	}
	if u.Conns() != 1 {
		t.Fatalf("%d upstream connections, want the first one reused", u.Conns())
	}
	start := time.Now()
	if status, _ := r.do("GET", "/slow", nil); status != 504 {
		t.Fatalf("slow upstream on a reused connection: %d, want 504", status)
	}
	// 504 before the upstream's 400ms proves the timeout fired; not before
	// ~100ms proves it was not a stale deadline left from earlier.
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Fatalf("timed out after %v, want about proxy_read_timeout (100ms)", took)
	}
}
