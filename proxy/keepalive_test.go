package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

const keepaliveTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      keepalive: 8
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

// One upstream connection serves many requests.
func TestKeepaliveReuse(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	r := newRig(t, "error", keepaliveTmpl, u.Addr())
	for i := range 20 {
		status, body := r.do("GET", "/size/1000", nil)
		if status != 200 || len(body) != 1000 {
			t.Fatalf("request %d: %d, %d bytes", i, status, len(body))
		}
	}
	if n := u.Conns(); n != 1 {
		t.Fatalf("upstream saw %d connections for 20 requests, want 1", n)
	}
	if log := r.log(); log != "" {
		t.Fatalf("unexpected error log:\n%s", log)
	}
}

// The upstream connection is not kept when the request sent on it said
// "Connection: close" (proxy_set_header, here from a variable), even when
// the upstream would keep it (this one ignores the header and never says
// close), and is kept again when the next request's header says otherwise.
func TestKeepaliveNotKeptAfterConnectionClose(t *testing.T) {
	addr, conns := keepingUpstream(t)
	tmpl := strings.Replace(keepaliveTmpl, `proxy_set_header: {Connection: ""}`, `proxy_set_header: {Connection: $http_x_conn}`, 1)
	r := newRig(t, "error", tmpl, addr)
	get := func(conn string) {
		t.Helper()
		resp, body := r.doH("GET", "/", nil, map[string]string{"X-Conn": conn})
		if resp.StatusCode != 200 || len(body) != 100 {
			t.Fatalf("X-Conn %s: %d, %d bytes", conn, resp.StatusCode, len(body))
		}
	}
	for range 3 {
		get("close")
	}
	if n := conns(); n != 3 {
		t.Fatalf("upstream saw %d connections for 3 requests with Connection: close, want 3", n)
	}
	for range 3 {
		get("keep-alive")
	}
	if n := conns(); n != 4 {
		t.Fatalf("upstream saw %d connections after 3 keep-alive requests, want 4", n)
	}
}

// keepingUpstream answers every request head (no body) on every connection
// with 200 and 100 bytes, whatever the request's Connection header says,
// and never closes first. conns reports the connections it accepted.
func keepingUpstream(t *testing.T) (addr string, conns func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		open []net.Conn
		n    int
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open, n = append(open, c), n+1
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100))); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// A pooled connection that the upstream closed while it was idle, with FIN
// or with RST (the IIS case), is detected before reuse: the next request
// succeeds on a new connection and nothing is logged.
func TestStaleKeepaliveDetected(t *testing.T) {
	for _, c := range []struct {
		name string
		b    upstreamsim.Behavior
		rst  bool
	}{
		{"fin", upstreamsim.IdleFIN(50 * time.Millisecond), false},
		{"rst", upstreamsim.IdleRST(50 * time.Millisecond), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := upstream(t, upstreamsim.OK(), c.b)
			r := newRig(t, "error", keepaliveTmpl, u.Addr())
			if status, _ := r.do("GET", "/size/10", nil); status != 200 {
				t.Fatalf("first request: %d", status)
			}
			testutil.Eventually(t, "upstream to close the idle connection", 5*time.Second, func() bool { return u.OpenConns() == 0 })
			if status, body := r.do("GET", "/size/10", nil); status != 200 || len(body) != 10 {
				t.Fatalf("second request: %d %q", status, body)
			}
			fin, rst, _, _ := r.p.StaleStats()
			if c.rst && rst != 1 || !c.rst && fin != 1 {
				t.Fatalf("stale counters fin=%d rst=%d", fin, rst)
			}
			if u.Conns() != 2 {
				t.Fatalf("upstream connections %d, want 2", u.Conns())
			}
			if log := r.log(); log != "" {
				t.Fatalf("unexpected error log:\n%s", log)
			}
		})
	}
}

// The client's header order and case reach the upstream; hop-by-hop headers
// and headers named in Connection do not; Host is $proxy_host (nginx's
// default) and X-Forwarded-For is appended when configured.
func TestRequestHeadForwarding(t *testing.T) {
	// A raw upstream shows the exact bytes the proxy sends.
	addr, heads := rawUpstream(t, false)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  upstreams:
    backend:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /static/
          proxy_pass: http://backend/files/
          proxy_set_header:
            Host: $proxy_host
            Connection: close
            X-Forwarded-For: $proxy_add_x_forwarded_for
`, addr)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET /static/a.png?v=2 HTTP/1.1\r\nHost: example.test\r\nx-lower: 1\r\nx-forwarded-for: 10.0.0.1\r\n" +
		"Connection: keep-alive, X-Secret\r\nX-Secret: hop\r\nkeep-alive: 5\r\nte: trailers\r\nUpgrade: h2c\r\nZ-Last: 2\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := received(t, heads)
	want := "GET /files/a.png?v=2 HTTP/1.0\r\n" +
		"Host: backend\r\n" +
		"Connection: close\r\n" +
		"X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n" +
		"x-lower: 1\r\n" +
		"Z-Last: 2\r\n" +
		"\r\n"
	if got != want {
		t.Fatalf("upstream got\n%q\nwant\n%q", got, want)
	}
}

// With proxy_buffering off, the upstream connection goes back to the
// keepalive cache once the upstream's response has been passed to the
// client's socket, not when the client has read it: a second request
// reuses it while the first client has read nothing of the body. nginx
// does the same (measured, nginx 1.22: its non-buffered relay finalizes
// once the last bytes are written to the client's socket); a body larger
// than the client's socket buffers holds the connection in both.
func TestKeepaliveUnbufferedReleasedBeforeClientReads(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	tmpl := strings.Replace(keepaliveTmpl, "      access_log: off\n",
		"      access_log: {path: "+filepath.Join(dir, "access.log")+", format: '$request_uri $status'}\n", 1)
	r := newRig(t, "error", tmpl+"          proxy_buffering: off\n", u.Addr())
	const size = 32 << 10 // more than fasthttp's and the proxy's buffers, less than loopback's socket buffers
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: localhost\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	// The exchange finishes (its access log line) after it released the
	// upstream connection; the client has not read a byte yet.
	alog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "access.log")); return string(b) }
	testutil.Eventually(t, "the first request's access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
	if status, body := r.do("GET", "/size/10", nil); status != 200 || len(body) != 10 {
		t.Fatalf("second request: %d, %d bytes", status, len(body))
	}
	if n := u.Conns(); n != 1 {
		t.Errorf("upstream saw %d connections, want 1: the second request reuses the first's", n)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Errorf("first client read %d bytes, %v; want %d", n, err, size)
	}
}

// A DELETE or POST without Content-Length or Transfer-Encoding has no
// body, and nginx sends none upstream: no Content-Length (measured, nginx
// 1.22.1), where fasthttp's server had made it "Content-Length: 0".
func TestBodylessRequestForwardedWithoutContentLength(t *testing.T) {
	for _, m := range []string{"DELETE", "POST"} {
		t.Run(m, func(t *testing.T) {
			addr, heads := rawUpstream(t, false)
			r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  upstreams:
    backend:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://backend}
`, addr)
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Write([]byte(m + " /x HTTP/1.1\r\nHost: localhost\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := m + " /x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
			if got := received(t, heads); got != want {
				t.Fatalf("upstream got\n%q\nwant\n%q", got, want)
			}
		})
	}
}
