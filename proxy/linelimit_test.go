package proxy_test

import (
	"strings"
	"testing"
)

// nginx's request-line rules that fasthttp lacks (found by the
// differential suite, proxy/internal/difftest): one line over a large header
// buffer is 414 / 400 "Request Header Or Cookie Too Large", quoted up to
// the buffer's size; a major version above 1 is 505.
func TestRequestLineLimitsLikeNginx(t *testing.T) {
	u := upstream(t)
	conf := `
http:
  large_client_header_buffers: 4 1k
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://{U0}
`
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	cases := []struct {
		name, req string
		status    int
		log       string // the info line's text after "*N "
	}{
		{"uri", "GET /" + long("u", 2000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 414,
			`client sent too long URI while reading client request line, client: 127.0.0.1, server: localhost, request: "GET /` + long("u", 1019) + `"`},
		{"header", "GET /x HTTP/1.1\r\nHost: localhost\r\nX-Big: " + long("a", 2000) + "\r\n\r\n", 400,
			`client sent too long header line: "X-Big: ` + long("a", 1017) + `..." while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", host: "localhost"`},
		{"header before host", "GET /x HTTP/1.1\r\nX-Big: " + long("a", 2000) + "\r\nHost: localhost\r\n\r\n", 400,
			`client sent too long header line: "X-Big: ` + long("a", 1017) + `..." while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1"`},
		{"version", "GET /x HTTP/2.0\r\nHost: localhost\r\n\r\n", 505,
			`client sent invalid version while reading client request line, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/2.0"`},
		{"lines that fit", "GET /" + long("u", 900) + " HTTP/1.1\r\nHost: localhost\r\nX-A: " + long("a", 900) + "\r\nX-B: " + long("b", 900) + "\r\n\r\n", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "info", conf, u.Addr())
			res := rawDo(t, r.addr, c.req)
			if res.resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.resp.StatusCode, c.status)
			}
			log := r.log()
			if c.log == "" {
				if strings.Contains(log, "client sent") {
					t.Fatalf("unexpected line:\n%s", log)
				}
				return
			}
			if !strings.Contains(log, "] 4242#4242: *1 "+c.log+"\n") {
				t.Fatalf("log:\n%s\nwant the line:\n%s", log, c.log)
			}
		})
	}
}
