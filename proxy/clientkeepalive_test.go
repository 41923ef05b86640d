package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// The client keep-alive directives per location, as nginx's
// http_keepalive.t sets them: the server's keepalive_timeout with a header
// timeout, locations with their own keepalive_requests, keepalive_timeout
// 0, keepalive_time and keepalive_disable.
const clientKeepaliveTmpl = `
error_log: {path: stderr, level: info}
http:
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      keepalive_requests: 2
      keepalive_timeout: 5s 9s
      add_header: ["X-Conn $connection_requests:$connection_time"]
      locations:
        - {path: /, return: 200 ok}
        - {path: /r, return: 200 ok, keepalive_requests: 4, keepalive_timeout: 30s}
        - {path: /zero, return: 200 ok, keepalive_timeout: 0}
        - {path: /time, return: 200 ok, keepalive_time: 1ms}
        - {path: /safari, return: 200 ok, keepalive_disable: safari}
        - {path: /none, return: 200 ok, keepalive_disable: none}
        - {path: /short, return: 200 ok, keepalive_timeout: 100ms}
`

// kaClient is one client connection that sends requests one by one and
// reads each answer.
type kaClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialKeepalive(t *testing.T, addr string) *kaClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &kaClient{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends one request (lines without their CRLFs) and returns the answer.
func (k *kaClient) do(lines ...string) *http.Response {
	k.t.Helper()
	if _, err := io.WriteString(k.c, strings.Join(lines, "\r\n")+"\r\n\r\n"); err != nil {
		k.t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.t.Fatalf("%s: %v", lines[0], err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.Close { // net/http takes "Connection: close" out of the header
		resp.Header.Set("Connection", "close")
	}
	return resp
}

// closed says the proxy closed the connection: the next read is the end.
func (k *kaClient) closed() bool {
	_, err := k.br.ReadByte()
	return err == io.EOF
}

// Each answer says what becomes of the connection as nginx's header filter
// does: "Connection: keep-alive" (and "Keep-Alive: timeout=9" from
// keepalive_timeout's second argument) on HTTP/1.1 and on an HTTP/1.0
// request that asked for it, "Connection: close" when the proxy closes,
// which it then does.
func TestClientKeepaliveHeaders(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	for _, c := range []struct {
		name      string
		req       []string
		keep      bool
		keepAlive string
	}{
		{"HTTP/1.1", []string{"GET / HTTP/1.1", "Host: localhost"}, true, "timeout=9"},
		{"HTTP/1.0", []string{"GET / HTTP/1.0"}, false, ""},
		{"HTTP/1.0 keep-alive", []string{"GET / HTTP/1.0", "Connection: keep-alive"}, true, "timeout=9"},
		{"Connection: close", []string{"GET / HTTP/1.1", "Host: localhost", "Connection: close"}, false, ""},
		{"keepalive_timeout 0", []string{"GET /zero HTTP/1.1", "Host: localhost"}, false, ""},
		{"location without a header timeout", []string{"GET /r HTTP/1.1", "Host: localhost"}, true, ""},
		{"a 404 is kept", []string{"GET /nope HTTP/1.1", "Host: localhost"}, true, "timeout=9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := dialKeepalive(t, r.addr)
			resp := k.do(c.req...)
			want := "close"
			if c.keep {
				want = "keep-alive"
			}
			if got := resp.Header.Get("Connection"); got != want {
				t.Errorf("Connection: %q, want %q", got, want)
			}
			if got := resp.Header.Get("Keep-Alive"); got != c.keepAlive {
				t.Errorf("Keep-Alive: %q, want %q", got, c.keepAlive)
			}
			if !c.keep && !k.closed() {
				t.Errorf("the connection stayed open after Connection: close")
			}
			if c.keep {
				if again := k.do(c.req...); again.StatusCode != resp.StatusCode {
					t.Errorf("second request on the kept connection: %d, the first %d", again.StatusCode, resp.StatusCode)
				}
			}
		})
	}
}

// keepalive_requests is the request's location's (nginx merges it per
// location): the server's 2 for "/", the location's 4 for "/r"; the
// answer to the last one says close, and the proxy closes.
func TestClientKeepaliveRequestsPerLocation(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	for _, c := range []struct {
		path string
		n    int
	}{{"/", 2}, {"/r", 4}} {
		k := dialKeepalive(t, r.addr)
		for i := 1; i <= c.n; i++ {
			resp := k.do("GET "+c.path+" HTTP/1.1", "Host: localhost")
			want := "keep-alive"
			if i == c.n {
				want = "close"
			}
			if got := resp.Header.Get("Connection"); got != want {
				t.Fatalf("%s request %d: Connection %q, want %q", c.path, i, got, want)
			}
			if got, want := resp.Header.Get("X-Conn"), regexp.MustCompile(`^`+string(rune('0'+i))+`:\d+\.\d{3}$`); !want.MatchString(got) {
				t.Errorf("%s request %d: X-Conn %q, want %s", c.path, i, got, want)
			}
		}
		if !k.closed() {
			t.Errorf("%s: open after %d requests", c.path, c.n)
		}
	}
}

// keepalive_disable: msie6 (the default) closes after a POST from MSIE 4
// to 6, not after its GET nor after a newer MSIE's POST; safari closes
// after any request from Safari on Mac OS X; none keeps them all.
func TestClientKeepaliveDisable(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	for _, c := range []struct {
		method, path, ua string
		keep             bool
	}{
		{"POST", "/", "MSIE 5.0", false},
		{"GET", "/", "MSIE 5.0", true},
		{"POST", "/", "MSIE 7.0", true},
		{"POST", "/", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", true},
		{"GET", "/", "Mac OS X Safari/7534.48.3", true},
		{"GET", "/safari", "Mac OS X Safari/7534.48.3", false},
		{"GET", "/safari", "Mac OS X Chrome/120 Safari/537.36", true},
		{"POST", "/none", "MSIE 5.0", true},
	} {
		k := dialKeepalive(t, r.addr)
		resp := k.do(c.method+" "+c.path+" HTTP/1.1", "Host: localhost", "User-Agent: "+c.ua, "Content-Length: 0")
		want := "close"
		if c.keep {
			want = "keep-alive"
		}
		if got := resp.Header.Get("Connection"); got != want {
			t.Errorf("%s %s %q: Connection %q, want %q", c.method, c.path, c.ua, got, want)
		}
	}
}

// keepalive_time: a request on a connection older than the location's
// keepalive_time is its last; $connection_time is the connection's age.
func TestClientKeepaliveTime(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	k := dialKeepalive(t, r.addr)
	if resp := k.do("GET / HTTP/1.1", "Host: localhost"); resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("first request: Connection %q", resp.Header.Get("Connection"))
	}
	// The connection is older than keepalive_time 1ms by the next request:
	// the pause is a lower bound on its age (accepted before the first
	// answer), whatever the machine's load.
	time.Sleep(5 * time.Millisecond)
	resp := k.do("GET /time HTTP/1.1", "Host: localhost")
	if got := resp.Header.Get("Connection"); got != "close" {
		t.Errorf("Connection %q on a connection older than keepalive_time", got)
	}
	if got := resp.Header.Get("X-Conn"); !regexp.MustCompile(`^2:0\.(00[5-9]|0[1-9]\d|[1-9]\d\d)$|^2:[1-9]\d*\.\d{3}$`).MatchString(got) {
		t.Errorf("X-Conn %q: want the second request at 0.005 s or later", got)
	}
	if !k.closed() {
		t.Errorf("open after keepalive_time")
	}
}

// nginx's info line for a client that closes its kept connection, with
// a FIN or with an RST, and none when keepalive_timeout closes it.
func TestClientClosedKeepaliveLine(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	fin := dialKeepalive(t, r.addr)
	fin.do("GET / HTTP/1.1", "Host: localhost")
	_ = fin.c.Close()
	finLine := regexp.MustCompile(`(?m)^\S+ \S+ \[info\] 4242#4242: \*\d+ client 127\.0\.0\.1 closed keepalive connection$`)
	testutil.Eventually(t, "the FIN's line", 10*time.Second, func() bool { return finLine.MatchString(r.elog.String()) })

	rst := dialKeepalive(t, r.addr)
	rst.do("GET / HTTP/1.1", "Host: localhost")
	_ = rst.c.(*net.TCPConn).SetLinger(0)
	_ = rst.c.Close()
	rstLine := regexp.MustCompile(`(?m)^\S+ \S+ \[info\] 4242#4242: \*\d+ client 127\.0\.0\.1 closed keepalive connection \(104: Connection reset by peer\)$`)
	testutil.Eventually(t, "the RST's line", 10*time.Second, func() bool { return rstLine.MatchString(r.elog.String()) })

	idle := dialKeepalive(t, r.addr)
	idle.do("GET /short HTTP/1.1", "Host: localhost")
	if !idle.closed() {
		t.Fatal("open past keepalive_timeout 100ms")
	}
	// A line would be written before the close the client just saw.
	if n := strings.Count(r.elog.String(), "closed keepalive connection"); n != 2 {
		t.Errorf("%d closed-keepalive lines, want 2:\n%s", n, r.elog.String())
	}
}

// upstream keepalive_time: a connection older than it goes no more to
// the cache after its response, so the next request opens another; with
// the default (1h) the connection serves both.
func TestUpstreamKeepaliveTime(t *testing.T) {
	for _, c := range []struct {
		name  string
		time  string
		conns int
	}{{"default", "", 1}, {"10ms", "      keepalive_time: 10ms\n", 2}} {
		t.Run(c.name, func(t *testing.T) {
			u := upstream(t, upstreamsim.SlowHeader(30*time.Millisecond)) // every answer comes after the connection is 30 ms old
			tmpl := strings.Replace(keepaliveTmpl, "      keepalive: 8\n", "      keepalive: 8\n"+c.time, 1)
			r := newRig(t, "error", tmpl, u.Addr())
			for i := range 2 {
				if status, _ := r.do("GET", "/", nil); status != 200 {
					t.Fatalf("request %d: %d", i, status)
				}
			}
			if n := u.Conns(); n != c.conns {
				t.Errorf("upstream saw %d connections, want %d", n, c.conns)
			}
		})
	}
}

// A client that closed its kept connection just before a drain gets its
// line all the same, once: nginx's worker handles the close it already
// has before the shutdown closes its idle connections.
func TestClientClosedKeepaliveBeforeDrain(t *testing.T) {
	r := newRig(t, "info", clientKeepaliveTmpl)
	k := dialKeepalive(t, r.addr)
	k.do("GET / HTTP/1.1", "Host: localhost")
	_ = k.c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(r.elog.String(), "client 127.0.0.1 closed keepalive connection\n"); n != 1 {
		t.Errorf("%d closed-keepalive lines, want 1:\n%s", n, r.elog.String())
	}
}
