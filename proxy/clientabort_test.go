package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// heldUpstream is an upstream on a real socket (HTTP or FastCGI alike)
// that reads what the proxy sends and holds the connection: it answers only
// when the test says so, and reports what ended its reading (io.EOF once the
// proxy closed).
type heldUpstream struct {
	ln     net.Listener
	heads  chan struct{} // a connection's first request bytes arrived
	ended  chan error    // a connection's reading ended: io.EOF when the proxy closed
	answer chan string   // the next response to write, on a held connection
	more   chan string   // more bytes to write on the connection that took the answer
	mu     sync.Mutex
	conns  []net.Conn
}

func startHeld(t *testing.T) *heldUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &heldUpstream{ln: ln, heads: make(chan struct{}, 8), ended: make(chan error, 8), answer: make(chan string, 8), more: make(chan string, 8)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go h.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		close(h.answer)
		h.mu.Lock()
		for _, c := range h.conns {
			_ = c.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func (h *heldUpstream) serve(c net.Conn) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		resp, ok := <-h.answer
		if !ok {
			return
		}
		_, _ = io.WriteString(c, resp)
		select {
		case b := <-h.more:
			_, _ = io.WriteString(c, b)
		case <-done:
		}
	}()
	buf := make([]byte, 64<<10)
	for first := true; ; {
		n, err := c.Read(buf)
		if n > 0 && first {
			first = false
			h.heads <- struct{}{}
		}
		if err != nil {
			h.ended <- err
			return
		}
	}
}

func (h *heldUpstream) addr() string { return h.ln.Addr().String() }

// waitClosed waits until a connection's reading ended, and fails unless it
// ended because the proxy closed it (io.EOF); what says why the proxy's
// timeout cannot be the cause.
func (h *heldUpstream) waitClosed(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-h.ended:
		if err != io.EOF {
			t.Fatalf("the upstream's read ended with %v, want EOF (the proxy closing)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the upstream connection was not closed %s", what)
	}
}

const abortTmpl = `
error_log: {path: stderr, level: info}
metrics: {listen: "127.0.0.1:0"}
http:
  proxy_read_timeout: 60s
  proxy_ignore_client_abort: {IGNORE}
  proxy_temp_path: {TMP}/proxy
  upstreams:
    app:
      servers:
        - address: {U0}
        - address: {U1}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {TMP}/access.log
        format: '$status $body_bytes_sent "$request" "$upstream_addr" "$upstream_status"'
      locations:
        - path: /
          proxy_pass: http://app
`

// abortRig is a proxy in front of a held upstream (U0, picked first) and a
// healthy one (U1) that must never be tried.
func abortRig(t *testing.T, ignore string) (*rig, *heldUpstream, *upstreamsim.Upstream, func() string) {
	held := startHeld(t)
	ok := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	conf := strings.NewReplacer("{IGNORE}", ignore, "{TMP}", dir).Replace(abortTmpl)
	r := newRig(t, "info", conf, held.addr(), ok.Addr())
	alog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		return string(b)
	}
	return r, held, ok, alog
}

// sendAndWait sends a GET on a new connection and returns it once the held
// upstream has the request.
func sendAndWait(t *testing.T, addr string, held *heldUpstream) *net.TCPConn {
	return sendPathAndWait(t, addr, "/x", held)
}

func sendPathAndWait(t *testing.T, addr, path string, held *heldUpstream) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.heads:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}
	return c.(*net.TCPConn)
}

// A client that goes away while the upstream has not answered yet: nginx's
// rule (measured on nginx 1.22, difftest's abort-* scenarios). The upstream
// connection is closed at once (the upstream reads EOF long before
// proxy_read_timeout), the access log says 499 with "-" for the attempt,
// the info line names the phase ("sending request" until a response byte
// came) and, after an RST, the errno; no other server is tried and the
// server is not counted as failed.
func TestClientAbortWhileUpstreamWaits(t *testing.T) {
	for _, c := range []struct {
		name      string
		rst       bool
		pipelined bool // a second request waits unread in the socket before the FIN
		errno     string
	}{
		{"fin", false, false, ""},
		{"rst", true, false, " (104: Connection reset by peer)"},
		{"fin behind a pipelined request", false, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, held, ok, alog := abortRig(t, "off")
			cl := sendAndWait(t, r.addr, held)
			if c.rst {
				_ = cl.SetLinger(0)
			}
			if c.pipelined {
				if _, err := io.WriteString(cl, "GET /y HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
			}
			_ = cl.Close()
			held.waitClosed(t, "after the client left (proxy_read_timeout is 60s)")
			testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
			if want := `499 0 "GET /x HTTP/1.1" "U0" "-"` + "\n"; strings.ReplaceAll(alog(), held.addr(), "U0") != want {
				t.Errorf("access log %q, want %q", alog(), want)
			}
			want := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too` +
				c.errno + ` while sending request to upstream, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
			if got := r.log(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
				t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
			}
			if n := ok.Total(); n != 0 {
				t.Errorf("the second server got %d requests, want none", n)
			}
			// The attempt counts (the server read the head), without a failure.
			m := scrape(t, r.p.MetricsAddr())
			if a, f := sumOf(m, "spillway_upstream_attempts_total", held.addr()), sumOf(m, "spillway_upstream_failures_total"); a != 1 || f != 0 {
				t.Errorf("metrics: %v attempts, %v failures; want 1 attempt, no failure", a, f)
			}
		})
	}
}

// proxy_ignore_client_abort on: the exchange goes on after the client left,
// the upstream's response is read whole, and the access log has the
// upstream's status.
func TestClientAbortIgnored(t *testing.T) {
	r, held, ok, alog := abortRig(t, "on")
	cl := sendAndWait(t, r.addr, held)
	_ = cl.Close()
	held.answer <- "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
	testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
	if got := strings.ReplaceAll(alog(), held.addr(), "U0"); !strings.HasPrefix(got, `200 `) || !strings.HasSuffix(got, `"GET /x HTTP/1.1" "U0" "200"`+"\n") {
		t.Errorf("access log %q, want the upstream's 200", got)
	}
	if err := <-held.ended; err != io.EOF {
		t.Errorf("the upstream's read ended with %v, want EOF after its response", err)
	}
	if strings.Contains(r.log(), "epoll_wait()") || ok.Total() != 0 {
		t.Errorf("the abort was acted on:\n%s", r.log())
	}
}

// proxy_ignore_client_abort on, and the answer written to a client that
// has left: nginx's lines (measured on nginx 1.22, difftest's
// abort-ignore-client-abort*). After an RST the write fails; after a FIN
// it goes out, the client's kernel answers it with an RST, and the
// lingering close of a connection not kept alive fails its shutdown(2).
func TestClientAbortIgnoredAnswerLines(t *testing.T) {
	for _, c := range []struct {
		name  string
		rst   bool
		close bool // the request says Connection: close
		line  string
		sent  string // $body_bytes_sent: what the socket took (nginx's c->sent less the head)
	}{
		{"rst", true, false, `writev() failed (104: Connection reset by peer)`, "0"},
		{"rst, connection close", true, true, `writev() failed (104: Connection reset by peer)`, "0"},
		{"fin, connection close", false, true, `shutdown() failed (107: Transport endpoint is not connected)`, "3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, held, _, alog := abortRig(t, "on")
			cl, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			req := "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"
			if c.close {
				req = "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
			}
			if _, err := io.WriteString(cl, req); err != nil {
				t.Fatal(err)
			}
			<-held.heads
			if c.rst {
				_ = cl.(*net.TCPConn).SetLinger(0)
			}
			_ = cl.Close()
			held.answer <- "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
			testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
			if got := alog(); !strings.HasPrefix(got, "200 "+c.sent+" ") {
				t.Errorf("access log %q, want the upstream's 200 and %s body bytes sent", got, c.sent)
			}
			want := `[info] 4242#4242: *1 ` + c.line + ` while sending to client, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
			testutil.Eventually(t, "the error line", 10*time.Second, func() bool { return strings.Contains(r.log(), "\n") })
			if got := r.log(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
				t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
			}
		})
	}
}

// The same lines for FastCGI (fastcgi_ignore_client_abort on), with
// fastcgi:// in the upstream field.
func TestClientAbortIgnoredFastCGI(t *testing.T) {
	held := startHeld(t)
	r := fcgiRig(t, fcgiYAML("/srv", server(held.addr()), "          fastcgi_ignore_client_abort: on"))
	cl := sendPathAndWait(t, r.addr, "/a.php", held)
	_ = cl.SetLinger(0)
	_ = cl.Close()
	held.answer <- string(stdout("Content-Type: text/plain\r\n\r\nok\n")) + string(stdout("")) + string(endRequest())
	testutil.Eventually(t, "the error line", 10*time.Second, func() bool { return strings.Contains(r.elog.String(), "\n") })
	want := `[info] 4242#4242: *1 writev() failed (104: Connection reset by peer) while sending to client, client: 127.0.0.1, server: localhost, request: "GET /a.php HTTP/1.1", upstream: "fastcgi://` + held.addr() + `", host: "localhost"` + "\n"
	if got := r.elog.String(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
	}
}

// The same rule for FastCGI (fastcgi_ignore_client_abort off): the
// application's connection is closed, the line names fastcgi://.
func TestClientAbortFastCGI(t *testing.T) {
	held := startHeld(t)
	r := fcgiRig(t, fcgiYAML("/srv", server(held.addr()), "          fastcgi_next_upstream: off"))
	cl := sendPathAndWait(t, r.addr, "/a.php", held)
	_ = cl.Close()
	held.waitClosed(t, "after the client left (fastcgi_read_timeout is 20s)")
	testutil.Eventually(t, "the info line", 10*time.Second, func() bool { return strings.Contains(r.elog.String(), "epoll_wait()") })
	want := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream, client: 127.0.0.1, server: localhost, request: "GET /a.php HTTP/1.1", upstream: "fastcgi://` + held.addr() + `", host: "localhost"`
	if got := r.elog.String(); !strings.Contains(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
	}
}

// inBackoffPause starts a proxy whose same-server retry waits an hour
// (proxy_next_upstream_backoff) and returns once a request on c is in that
// pause: the first request left a keepalive connection, the second (/boom)
// found it reset, which is retried on a fresh connection after the
// backoff. The access log (alog) has '$status "$upstream_addr"
// "$upstream_status"'; br reads c after the first response.
func inBackoffPause(t *testing.T) (r *rig, u *upstreamsim.Upstream, c net.Conn, br *bufio.Reader, alog func() string) {
	t.Helper()
	u = upstream(t, upstreamsim.Reset().At("/boom"))
	dir := t.TempDir()
	conf := strings.ReplaceAll(backoffTmpl, "proxy_next_upstream_backoff: 50ms", "proxy_next_upstream_backoff: 1h")
	conf = strings.Replace(conf, "      access_log: off", "      access_log: {path: "+dir+"/access.log, format: '$status \"$upstream_addr\" \"$upstream_status\"'}", 1)
	r = newRig(t, "info", conf, u.Addr())
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, "GET /size/10 HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if head := rawHead(t, br); !strings.HasPrefix(string(head), "HTTP/1.1 200") {
		t.Fatalf("first response %q", head)
	}
	if _, err := io.ReadFull(br, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the retry decision", 10*time.Second, func() bool { return strings.Contains(r.elog.String(), "retrying: stale keepalive connection") })
	alog = func() string { b, _ := os.ReadFile(filepath.Join(dir, "access.log")); return string(b) }
	return r, u, c, br, alog
}

// A client that goes away during proxy_next_upstream_backoff's pause before
// a same-server retry ends it: the pause (an hour here) is cut at once.
func TestClientAbortCutsBackoff(t *testing.T) {
	r, u, c, _, alog := inBackoffPause(t)
	_ = c.Close()
	testutil.Eventually(t, "the 499 in the access log", 10*time.Second, func() bool { return strings.Contains(alog(), "499 ") })
	if got := strings.ReplaceAll(alog(), u.Addr(), "U0"); !strings.HasSuffix(got, `499 "U0, U0" "502, -"`+"\n") {
		t.Errorf("access log:\n%s\nwant the reset attempt (502) and the abandoned retry (-)", got)
	}
	if !strings.Contains(r.log(), "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while connecting to upstream") {
		t.Errorf("no abort line in the connect phase:\n%s", r.log())
	}
	if n := u.Hits("GET", "/boom"); n != 1 {
		t.Errorf("the upstream saw /boom %d times, want 1 (no retry once the client left)", n)
	}
}

// stuffedListener is a listening socket whose accept queue is full (backlog
// 0, one connection never accepted): a further connect(2) gets no answer to
// its SYN and waits for proxy_connect_timeout.
func stuffedListener(t *testing.T) string {
	t.Helper()
	// SOCK_CLOEXEC is Linux's: ForkLock keeps a child started meanwhile
	// from inheriting the socket, as in the standard library.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = filler.Close() })
	return addr
}

// A client that goes away while the upstream is being connected to: the
// connect is abandoned at once (proxy_connect_timeout is a minute here),
// nginx's line says "while connecting to upstream", the access log 499.
func TestClientAbortCutsConnect(t *testing.T) {
	addr := stuffedListener(t)
	ok := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	conf := strings.NewReplacer("{IGNORE}", "off", "{TMP}", dir).Replace(abortTmpl)
	conf = strings.Replace(conf, "  proxy_read_timeout: 60s", "  proxy_read_timeout: 60s\n  proxy_connect_timeout: 60s", 1)
	r := newRig(t, "info", conf, addr, ok.Addr())
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the proxy connecting to the stuffed listener", 10*time.Second, func() bool { return synSent(t, addr) })
	_ = c.Close()
	alog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "access.log")); return string(b) }
	testutil.Eventually(t, "the access log line (the connect waits a minute)", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
	if synSent(t, addr) { // the line is written after the dial returned
		t.Error("the dial is still in progress after the request ended")
	}
	if want := `499 0 "GET /x HTTP/1.1" "U0" "-"` + "\n"; strings.ReplaceAll(alog(), addr, "U0") != want {
		t.Errorf("access log %q, want %q", alog(), want)
	}
	want := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
	if got := r.log(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
	}
	if n := ok.Total(); n != 0 {
		t.Errorf("the second server got %d requests, want none", n)
	}
}

// A TLS client that leaves: its close_notify alert arrives before the FIN
// and stays unread; nginx's EPOLLRDHUP sees the FIN anyway, and so does
// spillway.
func TestClientAbortTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	held := startHeld(t)
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  proxy_read_timeout: 60s
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf), held.addr())
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.heads:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}
	_ = c.Close() // close_notify, then FIN
	held.waitClosed(t, "after the TLS client left")
	testutil.Eventually(t, "the info line", 10*time.Second, func() bool { return strings.Contains(r.log(), "epoll_wait()") })
	if !strings.Contains(r.log(), `epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"`) {
		t.Errorf("error log:\n%s", r.log())
	}
}

// proxy_ignore_client_abort on over TLS: the answer written to a client
// that reset the connection is nginx's SSL_write() line (measured, nginx
// 1.22.1).
func TestClientAbortIgnoredTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	held := startHeld(t)
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  proxy_ignore_client_abort: on
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf), held.addr())
	raw, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: ca.pool()})
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-held.heads
	_ = raw.(*net.TCPConn).SetLinger(0)
	_ = raw.Close() // an RST, no close_notify
	held.answer <- "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
	testutil.Eventually(t, "the error line", 10*time.Second, func() bool { return strings.Contains(r.log(), "\n") })
	want := `[info] 4242#4242: *1 SSL_write() failed (104: Connection reset by peer) while sending to client, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
	if got := r.log(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
	}
}

// silentDNS is a DNS server that reads queries and never answers: a lookup
// waits for resolver_timeout. Each query's arrival is sent on queries. The
// test stops it.
func silentDNS(t *testing.T) (addr string, queries <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	q := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case q <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return pc.LocalAddr().String(), q
}

// A client that goes away while the name of a proxy_pass with variables is
// being resolved ends the wait at once (resolver_timeout is five minutes
// here), as nginx, whose check of the client is set before it resolves
// (measured, nginx 1.22): 499 with no upstream, and the line without an
// upstream or an action, with the errno after an RST.
func TestClientAbortCutsResolve(t *testing.T) {
	for _, c := range []struct {
		name  string
		rst   bool
		errno string
	}{
		{"fin", false, ""},
		{"rst", true, " (104: Connection reset by peer)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dns, queries := silentDNS(t)
			dir := t.TempDir()
			r := newRig(t, "info", strings.NewReplacer("{TMP}", dir, "{DNS}", dns).Replace(`
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  resolver: ["{DNS}"]
  resolver_timeout: 5m
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {TMP}/access.log
        format: '$status "$request" "$upstream_addr" "$upstream_status"'
      locations:
        - path: /
          proxy_pass: http://$arg_h:9
`))
			cl, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cl.Close() })
			if _, err := io.WriteString(cl, "GET /x?h=slow.test HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-queries:
			case <-time.After(10 * time.Second):
				t.Fatal("the proxy did not ask the DNS server")
			}
			if c.rst {
				_ = cl.(*net.TCPConn).SetLinger(0)
			}
			_ = cl.Close()
			alog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "access.log")); return string(b) }
			testutil.Eventually(t, "the access log line (the lookup waits five minutes)", 30*time.Second, func() bool { return strings.Contains(alog(), "\n") })
			if want := `499 "GET /x?h=slow.test HTTP/1.1" "-" "-"` + "\n"; alog() != want {
				t.Errorf("access log %q, want %q", alog(), want)
			}
			want := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection` + c.errno +
				`, client: 127.0.0.1, server: localhost, request: "GET /x?h=slow.test HTTP/1.1", host: "localhost"` + "\n"
			if got := r.log(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
				t.Errorf("error log:\n%s\nwant only:\n%s", got, want)
			}
		})
	}
}

// A client that goes away while a reused upstream connection is awaited:
// no wait has made the request's context then (no dial, no pause), so the
// exchange learns it from the watch itself (cancel.go, doneCause). The
// rule is the same as on a fresh connection: the upstream connection is
// closed at once, 499, nginx's info line, nothing retried.
func TestClientAbortOnReusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	second, ended := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		// One connection only (one Accept): the first request is
		// answered and the connection kept, the second, which can only
		// come on it, is held until the proxy closes it.
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for n := 0; ; n++ {
			if _, err := c.Read(buf); err != nil {
				ended <- err
				return
			}
			if n == 0 {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
				continue
			}
			if n == 1 {
				second <- struct{}{}
			}
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	dir := t.TempDir()
	r := newRig(t, "info", strings.ReplaceAll(`
error_log: {path: stderr, level: info}
http:
  proxy_read_timeout: 60s
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  upstreams:
    app:
      keepalive: 4
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {DIR}/access.log
        format: '$status "$request" "$upstream_addr" "$upstream_status"'
      locations:
        - path: /
          proxy_pass: http://app
`, "{DIR}", dir), ln.Addr().String())
	alog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		return strings.ReplaceAll(string(b), ln.Addr().String(), "U0")
	}

	first, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := io.WriteString(first, "GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(first); !strings.HasSuffix(string(b), "\r\n\r\nok\n") {
		t.Fatalf("the first answer was %q", b)
	}
	cl, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(cl, "GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second request did not reach the upstream on the kept connection")
	}
	_ = cl.Close()
	select {
	case err := <-ended:
		if err != io.EOF {
			t.Fatalf("the upstream's read ended with %v, want EOF (the proxy closing)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection was not closed after the client left (proxy_read_timeout is 60s)")
	}
	testutil.Eventually(t, "the second access log line", 10*time.Second, func() bool { return strings.Count(alog(), "\n") == 2 })
	if got, want := alog(), `200 "GET /a HTTP/1.1" "U0" "200"`+"\n"+`499 "GET /b HTTP/1.1" "U0" "-"`+"\n"; got != want {
		t.Errorf("access log %q, want %q", got, want)
	}
	want := `epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream, client: 127.0.0.1, server: localhost, request: "GET /b HTTP/1.1", upstream: "http://U0/b", host: "localhost"` + "\n"
	if got := strings.ReplaceAll(r.log(), ln.Addr().String(), "U0"); !strings.HasSuffix(got, want) {
		t.Errorf("error log:\n%s\nwant it to end with:\n%s", got, want)
	}
}
