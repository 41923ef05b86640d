package proxy_test

import (
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// Every request the parser refuses or gives up on gets nginx's access-log
// line and is counted (stub_status "requests"), as a proxied one is:
// fail2ban's nginx-bad-request filter and every log-based alert read these
// lines. The $request values are nginx 1.22's, measured with the same
// bytes: the raw request line up to its CR or LF, escaped; for a head cut
// off by client_header_timeout, what came of its first line. A connection
// that sends nothing is no request: no line, no count.
func TestRefusedRequestsLoggedAndCounted(t *testing.T) {
	const conf = `
error_log: {path: stderr, level: info}
http:
  client_header_timeout: 300ms
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {ALOG}
        format: '$status "$request"'
      locations:
        - {path: /, proxy_pass: "http://{U0}"}
        - {path: /status, stub_status: on}
`
	u := upstream(t)
	r := newAccessRig(t, "info", conf, true, u.Addr())
	cases := []struct {
		name, req string
		status    int    // 0: no answer
		line      string // the access-log line, "" for none
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400, `400 "GARBAGE"`},
		{"space in the uri", "GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, `400 "GET /a b HTTP/1.1"`},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, `400 "GET / HTTP/1.1"`},
		{"control byte in the uri", "GET /x\x01y HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, `400 "GET /x\x01y HTTP/1.1"`},
		{"bad version", "GET / FOO/1.1\r\nHost: localhost\r\n\r\n", 400, `400 "GET / FOO/1.1"`},
		{"tls to a plain port", "\x16\x03\x01\x00\x05hello\r\n", 400, `400 "\x16\x03\x01\x00\x05hello"`},
		{"bad content-length", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n", 400, `400 "POST / HTTP/1.1"`},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, `400 "GET / HTTP/1.1"`},
		{"duplicate content-length", "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, `400 "POST / HTTP/1.1"`},
		{"nul in a value", "GET / HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\x00b\r\n\r\n", 400, `400 "GET / HTTP/1.1"`},
		{"lower-case method", "get / HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, `400 "get / HTTP/1.1"`},
		{"head cut off", "GET /slow HTTP/1.1\r\nHo", 0, `408 "GET /slow HTTP/1.1"`},
		{"line cut off", "GET /slo", 0, `408 "GET /slo"`},
		{"nothing sent", "", 0, ""},
	}
	requests := func() int {
		t.Helper()
		status, body := r.do("GET", "/status", nil)
		m := regexp.MustCompile(`\n \d+ \d+ (\d+) \n`).FindStringSubmatch(string(body))
		if status != 200 || m == nil {
			t.Fatalf("stub_status: %d %q", status, body)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// Each line is written after its answer went out: the next request
	// waits for it, so that the log's order is the requests' order.
	logged := func(n int) {
		t.Helper()
		testutil.Eventually(t, strconv.Itoa(n)+" access-log lines", 10*time.Second, func() bool {
			b, _ := os.ReadFile(r.alog) // accessLog would shut the proxy down
			return strings.Count(string(b), "\n") >= n
		})
	}
	before := requests()
	var want []string
	want = append(want, `200 "GET /status HTTP/1.1"`)
	logged(len(want))
	counted := 0
	for _, c := range cases {
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, c.req); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn) // the proxy closes after each of these
		_ = conn.Close()
		if err != nil {
			t.Fatalf("%s: %v after %q", c.name, err, got)
		}
		status := 0
		if len(got) > 0 {
			if _, after, ok := strings.Cut(string(got), "HTTP/1.1 "); ok && len(after) >= 3 {
				status, _ = strconv.Atoi(after[:3])
			}
		}
		if status != c.status {
			t.Errorf("%s: answered %d (%q), want %d", c.name, status, got, c.status)
		}
		if c.line != "" {
			want = append(want, c.line)
			counted++
			logged(len(want))
		}
	}
	// The second stub_status request counts itself, as nginx's does.
	if after := requests(); after != before+counted+1 {
		t.Errorf("stub_status requests went from %d to %d, want %d more (the refused requests and this one)", before, after, counted+1)
	}
	want = append(want, `200 "GET /status HTTP/1.1"`)
	if got := r.accessLog(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log\n%s\nwant (nginx)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
