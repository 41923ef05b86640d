package proxy_test

import (
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
)

// An upstream that sends more body bytes than its Content-Length (found by
// the differential suite, proxy/internal/difftest): the client gets the declared
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
		// racy: the body spans several segments, and whether the extra
		// bytes have arrived when the last body byte is read depends on
		// when the kernel delivers the upstream's last segment; nginx's
		// warning is just as racy (difftest's length_mismatch-64k). The
		// connection is still never reused: the keepalive probe finds the
		// extra bytes before a reuse.
		racy bool
	}{
		{"buffered", "on", "/x", 16, "reading upstream", false},
		{"buffered spooled", "on", "/size/64k", 64 << 10, "reading upstream", true},
		{"unbuffered preread", "off", "/x", 16, "reading response header from upstream", false},
		{"unbuffered streamed", "off", "/size/64k", 64 << 10, "sending to client", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := upstream(t, upstreamsim.LengthMismatch(10))
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
			warns, lines := strings.Count(log, line), strings.Count(log, "\n")
			if strings.Count(log, "[warn"+want) != warns || lines != warns {
				t.Errorf("log, want only this warning:\n%s\n--- log\n%s", line, log)
			}
			if warns != 2 && !(c.racy && warns < 2) {
				t.Errorf("%d warnings, want 2:\n%s", warns, log)
			}
		})
	}
}
