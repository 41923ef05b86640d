package proxy_test

import (
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
)

const stormTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_next_upstream: error timeout
  upstreams:
    app:
      retry_budget: {BUDGET}
      retry_budget_min_per_second: 0
      servers:
        - {address: {U0}, max_fails: 0}
        - {address: {U1}, max_fails: 0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// The retry storm: one server of two resets every request and is never
// taken out (max_fails 0). With retry_budget 20% the group's load is at
// most 1.2 × the offered load; without a budget every failure is retried.
func TestRetryBudgetStorm(t *testing.T) {
	const n = 400
	for _, tc := range []struct {
		budget string
		ratio  float64
	}{{"20%", 0.2}, {"off", 0}} {
		t.Run(tc.budget, func(t *testing.T) {
			bad, good := upstream(t, upstreamsim.Reset()), upstream(t, upstreamsim.OK())
			r := newRig(t, "info", strings.Replace(stormTmpl, "{BUDGET}", tc.budget, 1), bad.Addr(), good.Addr())
			ok := 0
			for range n {
				if status, _ := r.do("GET", "/size/10", nil); status == 200 {
					ok++
				}
			}
			attempts := bad.Total() + good.Total()
			retries := attempts - n
			t.Logf("budget %s: %d requests, %d attempts (bad %d, good %d), %d answered 200",
				tc.budget, n, attempts, bad.Total(), good.Total(), ok)
			if tc.ratio == 0 {
				if ok != n {
					t.Fatalf("without a budget %d of %d succeeded; every failure should be retried", ok, n)
				}
				return
			}
			if limit := int(tc.ratio*n) + 1; retries > limit {
				t.Fatalf("%d retries for %d requests, budget allows %d", retries, n, limit)
			}
			if retries < int(tc.ratio*n)-2 {
				t.Fatalf("only %d retries: the budget (%d) was not used", retries, int(tc.ratio*n))
			}
			if ok != n/2+retries {
				t.Fatalf("%d succeeded, want the %d that went to the good server first plus %d retried", ok, n/2, retries)
			}
			if !strings.Contains(r.elog.String(), "not retried: retry budget exhausted") {
				t.Fatal("no `not retried: retry budget exhausted` line in the error log")
			}
		})
	}
}
