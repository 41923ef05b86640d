package proxy_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Header names nginx ignores (found by the differential suite,
// proxy/internal/difftest): with underscores_in_headers off (the default) a name
// with '_', and with any setting a name with another token character
// nginx does not take ('.', '!', ...), is logged at info with the whole
// line and not forwarded; the request goes on. host is logged only when
// the Host line came first.
func TestInvalidHeaderNamesIgnoredLikeNginx(t *testing.T) {
	const conf = `
http:
  underscores_in_headers: {UND}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://{U0}
`
	const inf = ` while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1"`
	cases := []struct {
		name, underscores, req string
		logs                   []string // info lines after "*1 "
		forwarded, dropped     []string // header lines the upstream must / must not see
	}{
		{"underscore", "off", "GET /x HTTP/1.1\r\nHost: localhost\r\nX_Under: 1\r\nX-Ok: 2\r\n\r\n",
			[]string{`client sent invalid header line: "X_Under: 1"` + inf + `, host: "localhost"`},
			[]string{"X-Ok: 2"}, []string{"X_Under"}},
		{"before host", "off", "GET /x HTTP/1.1\r\nX_Under: 1  \r\nX.Dot: 2\r\nHost: localhost\r\n\r\n",
			[]string{`client sent invalid header line: "X_Under: 1"` + inf, `client sent invalid header line: "X.Dot: 2"` + inf},
			nil, []string{"X_Under", "X.Dot"}},
		{"underscores on", "on", "GET /x HTTP/1.1\r\nHost: localhost\r\nX_Under: 1\r\nX.Dot: 2\r\n\r\n",
			[]string{`client sent invalid header line: "X.Dot: 2"` + inf + `, host: "localhost"`},
			[]string{"X_Under: 1"}, []string{"X.Dot"}},
		// Bytes fasthttp's parser refuses in a name: cut out before it
		// reads the head (client.HeadLF), logged as sent.
		{"at, paren, 8-bit", "on", "GET /x HTTP/1.1\r\nX@y: 1\r\nHost: localhost\r\nA(b: 2\r\n\xc3\xa9t: 3\r\nX-Ok: 4@(\r\n\r\n",
			[]string{`client sent invalid header line: "X@y: 1"` + inf, `client sent invalid header line: "A(b: 2"` + inf + `, host: "localhost"`,
				"client sent invalid header line: \"\xc3\xa9t: 3\"" + inf + `, host: "localhost"`},
			[]string{"X-Ok: 4@("}, []string{"X@y", "X.y", "A(b", "A.b", "\xc3\xa9t", "..t"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newRecordingOrigin(t)
			r := newRig(t, "info", strings.ReplaceAll(conf, "{UND}", c.underscores), o.ln.Addr().String())
			res := rawDo(t, r.addr, c.req)
			if res.resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", res.resp.StatusCode)
			}
			_ = res.conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := r.p.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			got := o.received()
			if len(got) != 1 {
				t.Fatalf("upstream got %d connections, want 1", len(got))
			}
			head := string(got[0])
			for _, h := range c.forwarded {
				if !strings.Contains(head, "\r\n"+h+"\r\n") {
					t.Errorf("upstream did not get %q: %q", h, head)
				}
			}
			for _, h := range c.dropped {
				if strings.Contains(head, "\r\n"+h) {
					t.Errorf("upstream got %q: %q", h, head)
				}
			}
			var lines []string
			for _, l := range strings.Split(r.log(), "\n") {
				// The client's close may come before the drain closes the
				// kept connection, or after: nginx's line for it is not
				// this test's (TestClientClosedKeepaliveLine).
				if _, msg, ok := strings.Cut(l, "4242#4242: *1 "); ok && !strings.HasSuffix(msg, "closed keepalive connection") {
					lines = append(lines, msg)
				}
			}
			if strings.Join(lines, "\n") != strings.Join(c.logs, "\n") {
				t.Errorf("log lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(c.logs, "\n"))
			}
		})
	}
}

// Request heads that fasthttp refuses itself, or that nginx refuses and
// fasthttp takes ("get"): nginx's 400 and its own info line for each, with
// the request line it saw (found by the differential suite).
func TestParseErrorsLogLikeNginx(t *testing.T) {
	u := upstream(t)
	const conf = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://{U0}
`
	const cl = `, client: 127.0.0.1, server: localhost, request: `
	cases := []struct{ name, req, log string }{
		{"bad method", "G@T /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
			`client sent invalid method while reading client request line` + cl + `"G@T /x HTTP/1.1"`},
		{"lower-case method", "get /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
			`client sent invalid method while reading client request line` + cl + `"get /x HTTP/1.1"`},
		{"bad method, long head", "G@T /x HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + strings.Repeat("a", 600) + "\r\n\r\n",
			`client sent invalid method while reading client request line` + cl + `"G@T /x HTTP/1.1"`},
		{"garbage", "hello\r\n\r\n",
			`client sent invalid method while reading client request line` + cl + `"hello"`},
		{"bad version", "GET /x HTTX/1.1\r\nHost: localhost\r\n\r\n",
			`client sent invalid request while reading client request line` + cl + `"GET /x HTTX/1.1"`},
		{"bad uri", "GET x HTTP/1.1\r\nHost: localhost\r\n\r\n",
			`client sent invalid request while reading client request line` + cl + `"GET x HTTP/1.1"`},
		{"no host", "GET /x HTTP/1.1\r\n\r\n",
			`client sent HTTP/1.1 request without "Host" header while reading client request headers` + cl + `"GET /x HTTP/1.1"`},
		{"bad content-length", "POST /echo HTTP/1.1\r\nContent-Length: abc\r\nHost: localhost\r\n\r\n",
			`client sent invalid "Content-Length" header while reading client request headers` + cl + `"POST /echo HTTP/1.1", host: "localhost"`},
		{"duplicate content-length", "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
			`client sent duplicate header line: "Content-Length: 6", previous value: "Content-Length: 5" while reading client request headers` + cl + `"POST /echo HTTP/1.1", host: "localhost"`},
		{"duplicate host", "GET /x HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n",
			`client sent duplicate host header: "Host: other", previous value: "Host: localhost" while reading client request headers` + cl + `"GET /x HTTP/1.1", host: "localhost"`},
		{"nul in a value", "GET /x HTTP/1.1\r\nX-Foo: a\x00b\r\nHost: localhost\r\n\r\n",
			`client sent invalid header line: "X-Foo: a\x00..." while reading client request headers` + cl + `"GET /x HTTP/1.1"`},
		{"obs-fold", "GET /x HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n",
			`client sent invalid header line: "\x20..." while reading client request headers` + cl + `"GET /x HTTP/1.1", host: "localhost"`},
		{"obs-fold with a tab, bare LFs", "GET /x HTTP/1.0\nHost: localhost\nX-A: a\n\tb\n\n",
			`client sent invalid header line: "\x09..." while reading client request headers` + cl + `"GET /x HTTP/1.0", host: "localhost"`},
		{"obs-fold before host", "GET /x HTTP/1.1\r\n Host: localhost\r\nHost: localhost\r\n\r\n",
			`client sent invalid header line: "\x20..." while reading client request headers` + cl + `"GET /x HTTP/1.1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "info", conf, u.Addr())
			res := rawDo(t, r.addr, c.req)
			if res.resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", res.resp.StatusCode)
			}
			if log := r.log(); !strings.Contains(log, "] 4242#4242: *1 "+c.log+"\n") {
				t.Fatalf("log:\n%s\nwant the line:\n%s", log, c.log)
			}
		})
	}
	if n := u.Total(); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
}
