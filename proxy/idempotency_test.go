package proxy_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

const idemTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_next_upstream_idempotency_key: {KEY}
  upstreams:
    app:
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// proxy_next_upstream_idempotency_key on: a POST that carries
// Idempotency-Key is retried after the first upstream reset it once sent;
// without the header, or with the key off, it is not (nginx's rule).
func TestIdempotencyKeyMakesPOSTRetryable(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		header    bool
		retried   bool
	}{
		{"on with header", "on", true, true},
		{"on without header", "on", false, false},
		{"off with header", "off", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, good := upstream(t, upstreamsim.Reset()), upstream(t, upstreamsim.OK())
			r := newRig(t, "error", strings.Replace(idemTmpl, "{KEY}", tc.key, 1), bad.Addr(), good.Addr())
			req, _ := http.NewRequest("POST", "http://"+r.addr+"/echo", bytes.NewReader([]byte("order-42")))
			if tc.header {
				req.Header.Set("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
			}
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if bad.Hits("POST", "/echo") != 1 {
				t.Fatalf("first server saw %d POSTs, want 1", bad.Hits("POST", "/echo"))
			}
			want, wantGood := 502, 0
			if tc.retried {
				want, wantGood = 200, 1
			}
			if resp.StatusCode != want || good.Hits("POST", "/echo") != wantGood {
				t.Fatalf("status %d, second server %d POSTs; want %d and %d", resp.StatusCode, good.Hits("POST", "/echo"), want, wantGood)
			}
		})
	}
}
