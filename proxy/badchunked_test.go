package proxy_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// An upstream whose chunked body breaks its framing (a chunk-size line that
// is no hex number), measured against nginx 1.22 (difftest's bad_chunked-*):
// nginx logs `upstream sent invalid chunked response` and closes the client
// connection without the last chunk. When the break came with the head,
// the client gets nothing at all and the phase is the header's with
// proxy_buffering off; once the head is out, the client gets a truncated
// chunked body.
func TestBadChunkedUpstreamLikeNginx(t *testing.T) {
	const conf = `
error_log: {path: stderr, level: info}
http:
  proxy_buffering: {BUF}
  proxy_temp_path: {TMP}/proxy
  upstreams:
    app:
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
		name, buffering string
		size            int64
		phase           string
		nothing         bool // the client gets no byte
	}{
		{"buffered with the head", "on", 1000, "reading upstream", true},
		{"unbuffered with the head", "off", 1000, "reading response header from upstream", true},
		{"buffered after 64k", "on", 64 << 10, "reading upstream", false},
		{"unbuffered after 64k", "off", 64 << 10, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := upstream(t, upstreamsim.BadChunked(c.size))
			r := newRig(t, "info", strings.ReplaceAll(conf, "{BUF}", c.buffering), u.Addr())
			got := rawExchange(t, r.addr, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
			switch {
			case c.nothing && len(got) != 0:
				t.Errorf("client got %d bytes, want none: %q", len(got), got[:min(len(got), 200)])
			case !c.nothing && (!bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK\r\n")) || bytes.HasSuffix(got, []byte("\r\n0\r\n\r\n"))):
				t.Errorf("client got %d bytes, want a 200 head and a chunked body without its last chunk: %q...", len(got), got[:min(len(got), 200)])
			}
			log := r.log()
			line := "upstream sent invalid chunked response while " + c.phase
			if c.phase == "" {
				// proxy_buffering off names the client's phase once body
				// bytes went out (nginx too, difftest: racy)
				line = "upstream sent invalid chunked response while "
			}
			if strings.Count(log, "[error] 4242#4242: *") != 1 || !strings.Contains(log, line) ||
				!strings.Contains(log, `, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"`+"\n") {
				t.Errorf("log, want one error line %q:\n%s", line, log)
			}
			if strings.Contains(log, "temporarily disabled") || u.Hits("GET", "/x") != 1 {
				t.Errorf("the upstream got %d requests, want 1, and no failure counted:\n%s", u.Hits("GET", "/x"), log)
			}
		})
	}
}

// rawExchange sends req on a new connection and returns every byte the
// proxy sent until it closed the connection.
func rawExchange(t *testing.T, addr, req string) []byte {
	t.Helper()
	c := rawSend(t, addr, req, 10*time.Second)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	return got
}
