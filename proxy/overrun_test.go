package proxy_test

import (
	"strings"
	"testing"

	"spillway/bench"
)

// An upstream that sends more body bytes than its Content-Length (found by
// the differential suite, proxy/difftest): the client gets the declared
// bytes, nginx's warning is logged in the phase nginx names, and the
// connection is never reused (two requests, two upstream connections).
func TestUpstreamOverrunLikeNginx(t *testing.T) {
	const conf = `
error_log: {path: stderr, level: warn}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_buffering: {BUF}
  proxy_buffers: 4 4k
  proxy_temp_path: {TMP}/proxy
  upstreams:
    app:
      keepalive: 4
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`
	cases := []struct {
		name, buffering, path string
		size                  int
		phase                 string
	}{
		{"buffered", "on", "/x", 16, "reading upstream"},
		{"buffered spooled", "on", "/size/64k", 64 << 10, "reading upstream"},
		{"unbuffered preread", "off", "/x", 16, "reading response header from upstream"},
		{"unbuffered streamed", "off", "/size/64k", 64 << 10, "sending to client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := upstream(t, bench.LengthMismatch(10))
			r := newRig(t, "warn", strings.ReplaceAll(conf, "{BUF}", c.buffering), u.Addr())
			for i := range 2 {
				status, body := r.do("GET", c.path, nil)
				if status != 200 || len(body) != c.size {
					t.Fatalf("request %d: %d, %d body bytes, want 200, %d", i+1, status, len(body), c.size)
				}
			}
			if n := u.Conns(); n != 2 {
				t.Errorf("upstream accepted %d connections for 2 requests, want 2 (no reuse)", n)
			}
			log := r.log()
			want := `] 4242#4242: *` // then the connection number
			line := ` upstream sent more data than specified in "Content-Length" header while ` + c.phase +
				`, client: 127.0.0.1, server: localhost, request: "GET ` + c.path + ` HTTP/1.1", upstream: "http://U0` + c.path + `", host: "PROXY"` + "\n"
			if strings.Count(log, "[warn"+want) != 2 || strings.Count(log, line) != 2 {
				t.Errorf("log, want this warning twice:\n%s\n--- log\n%s", line, log)
			}
			if n := strings.Count(log, "\n"); n != 2 {
				t.Errorf("%d log lines, want 2:\n%s", n, log)
			}
		})
	}
}
