package proxy_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

const backoffTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_next_upstream_backoff: 50ms
  upstreams:
    app:
      keepalive: 4
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// A reused connection that fails before any response byte is retried once
// on a fresh connection to the same server; proxy_next_upstream_backoff
// puts a jittered pause before that retry. The retry still happens (the
// upstream sees the request twice). The pause's bound is backoffDelay's,
// checked without a clock in budget_test.go.
func TestBackoffBeforeSameServerRetry(t *testing.T) {
	u := upstream(t, upstreamsim.Reset().At("/boom"))
	r := newRig(t, "info", backoffTmpl, u.Addr())
	c := &http.Client{Timeout: 5 * time.Second} // keepalive on: the second request reuses the connection
	resp, err := c.Get("http://" + r.addr + "/size/10")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("warm-up: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	resp, err = c.Get("http://" + r.addr + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 502 || u.Hits("GET", "/boom") != 2 {
		t.Fatalf("status %d, upstream saw /boom %d times; want 502 after one fresh-connection retry (2)", resp.StatusCode, u.Hits("GET", "/boom"))
	}
	if !strings.Contains(r.elog.String(), "retrying: stale keepalive connection") {
		t.Fatalf("no fresh-connection retry in the log:\n%s", r.elog.String())
	}
}
