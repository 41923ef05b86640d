package proxy_test

// End-to-end checks of a request's life through the proxy against what nginx
// 1.22.1 does, as measured against a real nginx: the access-log upstream lists of
// a retried request, the non-idempotent retry rule, client_max_body_size,
// upstream failures after the response header, the request head replayed on
// a retry, and Close with a request in flight. Every socket is on 127.0.0.1
// and every test waits on observable state, never on a sleep.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/internal/testutil"
)

// twoServersTmpl is one upstream group of two servers; {ALOG} is the access
// log and {BUFFERING} proxy_buffering.
const twoServersTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_connect_timeout: 1s
  proxy_read_timeout: 1s
  proxy_buffering: {BUFFERING}
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers:
        - address: {U0}
        - address: {U1}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {ALOG}
        format: '$status $body_bytes_sent "$upstream_addr" "$upstream_status" "$upstream_response_time" $request_time'
      locations:
        - path: /
          proxy_pass: http://app
`

// accessRig is a rig whose access log goes to a file in a temp directory.
type accessRig struct {
	*rig
	alog string
}

func newAccessRig(t *testing.T, level, tmpl string, buffering bool, upstreams ...string) *accessRig {
	t.Helper()
	tmpl = withTempDirs(t, tmpl)
	alog := filepath.Join(t.TempDir(), "access.log")
	tmpl = strings.ReplaceAll(tmpl, "{ALOG}", alog)
	tmpl = strings.ReplaceAll(tmpl, "{BUFFERING}", strconv.FormatBool(buffering))
	return &accessRig{rig: newRig(t, level, tmpl, upstreams...), alog: alog}
}

// withTempDirs replaces {TMP} with a directory that has the proxy/ and
// client/ subdirectories: like nginx, which creates proxy_temp_path and
// client_body_temp_path at startup, "spillway serve" creates them
// (ensureDirs); proxy.New leaves that to its caller.
func withTempDirs(t *testing.T, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"proxy", "client"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return strings.ReplaceAll(tmpl, "{TMP}", dir)
}

// accessLog stops the proxy gracefully, which waits for every client
// connection to end (so every request has written its line) and flushes the
// buffered access log, then returns its lines with addresses replaced by
// U0, U1, ...
func (r *accessRig) accessLog() []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		r.t.Fatalf("shutdown: %v", err)
	}
	b, err := os.ReadFile(r.alog)
	if err != nil {
		r.t.Fatal(err)
	}
	out := reAddr.ReplaceAllStringFunc(string(b), func(a string) string {
		if n, ok := r.names[a]; ok {
			return n
		}
		return a
	})
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// wantLog compares the normalised error log with nginx's lines, given
// without the "YYYY/MM/DD HH:MM:SS " prefix.
func wantLog(t *testing.T, r *rig, lines ...string) {
	t.Helper()
	want := ""
	for _, l := range lines {
		want += "YYYY/MM/DD HH:MM:SS " + l + "\n"
	}
	if got := r.log(); got != want {
		t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
	}
}

// rawResult is what a raw client saw: the parsed head, the body bytes that
// arrived, the error that ended the body, and how the connection ended after
// the body when asked (io.EOF for a FIN).
type rawResult struct {
	resp    *http.Response
	body    []byte
	bodyErr error
	conn    net.Conn
	br      *bufio.Reader
}

// rawDo sends req as it is on a new connection and reads one response.
func rawDo(t *testing.T, addr, req string) *rawResult {
	t.Helper()
	return rawDoThen(t, addr, req, "")
}

// rawDoThen is rawDo for an answer that waits for more bytes: it sends req,
// checks that nothing comes back while the proxy has nothing more to read,
// then sends rest and reads one response. With rest "" it is rawDo.
func rawDoThen(t *testing.T, addr, req, rest string) *rawResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if rest != "" {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var b [1]byte
		if n, err := c.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("answered before the rest of the request was sent (%d bytes, %v)", n, err)
		}
		if _, err := io.WriteString(c, rest); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	rec := &recorder{r: c}
	br := bufio.NewReader(rec)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response head: %v; the client received %d bytes: %.200q", err, len(rec.got), rec.got)
	}
	body, berr := io.ReadAll(resp.Body)
	return &rawResult{resp: resp, body: body, bodyErr: berr, conn: c, br: br}
}

// recorder keeps what a raw client received, for failure messages.
type recorder struct {
	r   io.Reader
	got []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

// closedAfter reads past the response: io.EOF means the proxy closed the
// connection with FIN, ECONNRESET with RST, a timeout that it stayed open.
func (r *rawResult) closedAfter(t *testing.T, wait time.Duration) error {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := r.br.ReadByte(); err != nil {
		return err
	}
	return errors.New("more bytes after the response")
}

// nginxPage is nginx's own error page for title (the reference's exact body)
// with spillway's name where nginx puts "nginx/1.22.1".
func nginxPage(title string) string {
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>" + proxy.ServerName + "</center>\r\n</body>\r\n</html>\r\n"
}

var reTimes2 = regexp.MustCompile(`^"\d+\.\d{3}, \d+\.\d{3}" \d+\.\d{3}$`)

// A GET whose first server resets is retried on the second; the access log
// has one line listing both attempts, as nginx's does:
// upstream_addr="A1, A2" upstream_status="502, 200" and two response times.
func TestRetriedGETAccessLogListsBothAttempts(t *testing.T) {
	bad := upstream(t, upstreamsim.Reset())
	good := upstream(t, upstreamsim.OK())
	r := newAccessRig(t, "warn", twoServersTmpl, true, bad.Addr(), good.Addr())
	res := rawDo(t, r.addr, "GET /size/100 HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if res.resp.StatusCode != 200 || len(res.body) != 100 || res.bodyErr != nil {
		t.Fatalf("got %d, %d bytes (%v); want 200 with 100 bytes", res.resp.StatusCode, len(res.body), res.bodyErr)
	}
	if a, b := bad.Hits("GET", "/size/100"), good.Hits("GET", "/size/100"); a != 1 || b != 1 {
		t.Fatalf("upstream hits %d and %d, want 1 and 1", a, b)
	}
	_ = res.conn.Close()
	lines := r.accessLog()
	if len(lines) != 1 {
		t.Fatalf("access log has %d lines, want 1 for one request:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	const head = `200 100 "U0, U1" "502, 200" `
	if !strings.HasPrefix(lines[0], head) || !reTimes2.MatchString(strings.TrimPrefix(lines[0], head)) {
		t.Errorf("access log line\n%s\nwant (nginx) %s\"T1, T2\" T", lines[0], head)
	}
	// nginx: the failed attempt's error line, then its warn; nothing for the retry itself.
	wantLog(t, r.rig,
		`[error] 4242#4242: *1 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET /size/100 HTTP/1.1", upstream: "http://U0/size/100", host: "localhost"`,
		`[warn] 4242#4242: *1 upstream server temporarily disabled while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET /size/100 HTTP/1.1", upstream: "http://U0/size/100", host: "localhost"`,
	)
}

// A POST that the first server reset after receiving it is not passed to the
// second (nginx: POST, LOCK, PATCH are not retried once sent unless
// proxy_next_upstream has non_idempotent): 502 from the first server.
func TestPOSTResetNotRetried(t *testing.T) {
	bad := upstream(t, upstreamsim.Reset())
	good := upstream(t, upstreamsim.OK())
	r := newAccessRig(t, "warn", twoServersTmpl, true, bad.Addr(), good.Addr())
	res := rawDo(t, r.addr, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
	if res.resp.StatusCode != 502 || string(res.body) != nginxPage("502 Bad Gateway") {
		t.Fatalf("got %d %q, want 502 with the error page", res.resp.StatusCode, res.body)
	}
	if n := bad.Hits("POST", "/echo"); n != 1 {
		t.Fatalf("first server saw %d requests, want 1", n)
	}
	if n := good.Total(); n != 0 {
		t.Fatalf("second server saw %d requests, want 0 (POST not retried)", n)
	}
	_ = res.conn.Close()
	lines := r.accessLog()
	want := fmt.Sprintf(`502 %d "U0" "502" `, len(res.body))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("access log\n%s\nwant one line starting %s($body_bytes_sent is the error page's size: nginx logs 502 157 for its page)", strings.Join(lines, "\n"), want)
	}
	// The failure is counted against max_fails although it is not retried.
	wantLog(t, r.rig,
		`[error] 4242#4242: *1 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", upstream: "http://U0/echo", host: "localhost"`,
		`[warn] 4242#4242: *1 upstream server temporarily disabled while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", upstream: "http://U0/echo", host: "localhost"`,
	)
}

// A refused connect sent nothing, so nginx passes even a POST to the next
// server (retry-refused-default-POST: 200, upstreams: 9002).
func TestPOSTRefusedIsRetried(t *testing.T) {
	refused := upstreamsim.RefusedAddr(t)
	good := upstream(t, upstreamsim.OK())
	r := newAccessRig(t, "warn", twoServersTmpl, true, refused, good.Addr())
	res := rawDo(t, r.addr, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
	if res.resp.StatusCode != 200 || string(res.body) != "hello" {
		t.Fatalf("got %d %q, want 200 echoing the body", res.resp.StatusCode, res.body)
	}
	if n := good.Hits("POST", "/echo"); n != 1 {
		t.Fatalf("second server saw %d POSTs, want 1", n)
	}
	_ = res.conn.Close()
	lines := r.accessLog()
	const head = `200 5 "U0, U1" "502, 200" `
	if len(lines) != 1 || !strings.HasPrefix(lines[0], head) || !reTimes2.MatchString(strings.TrimPrefix(lines[0], head)) {
		t.Errorf("access log\n%s\nwant one line %s\"T1, T2\" T", strings.Join(lines, "\n"), head)
	}
	wantLog(t, r.rig,
		`[error] 4242#4242: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", upstream: "http://U0/echo", host: "localhost"`,
		`[warn] 4242#4242: *1 upstream server temporarily disabled while connecting to upstream, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", upstream: "http://U0/echo", host: "localhost"`,
	)
}

const maxBodyTmpl = `
error_log: {path: stderr, level: error}
http:
  client_max_body_size: 1k
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// client_max_body_size: nginx answers 413 with its page and Connection:
// close, logs "client intended to send too large body: N bytes" (no upstream
// field) and never contacts the upstream. For a chunked body the check is
// made on each chunk-size line, before the chunk's data:
// "too large chunked body: A+B bytes", A the bytes of the earlier chunks, B
// the size the new chunk declares.
func TestClientMaxBodySize(t *testing.T) {
	cases := []struct {
		name, req, msg string
	}{
		{"content-length", "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("a", 2048),
			"client intended to send too large body: 2048 bytes"},
		// nginx decides on the header: it does not wait for the body...
		{"content-length head only", "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n",
			"client intended to send too large body: 2048 bytes"},
		// ...and does not invite it with "100 Continue" (curl sends Expect
		// for large bodies and waits for this answer).
		{"content-length expect 100-continue", "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n",
			"client intended to send too large body: 2048 bytes"},
		{"chunked one chunk", "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("a", 2048) + "\r\n0\r\n\r\n",
			"client intended to send too large chunked body: 0+2048 bytes"},
		{"chunked two chunks", "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + strings.Repeat("a", 600) + "\r\n258\r\n" + strings.Repeat("b", 600) + "\r\n0\r\n\r\n",
			"client intended to send too large chunked body: 600+600 bytes"},
		// nginx decides on the chunk-size line: it does not wait for data.
		{"chunked size line only", "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n",
			"client intended to send too large chunked body: 0+2048 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := upstream(t, upstreamsim.OK())
			r := newRig(t, "error", withTempDirs(t, maxBodyTmpl), u.Addr())
			res := rawDoThen(t, r.addr, c.req, "")
			if res.resp.StatusCode == 100 {
				t.Fatalf("got 100 Continue: the proxy invited a body it must refuse; nginx answers 413 at once")
			}
			if res.resp.StatusCode != 413 {
				t.Fatalf("status %d, want 413", res.resp.StatusCode)
			}
			if want := nginxPage("413 Request Entity Too Large"); string(res.body) != want {
				t.Errorf("body %q, want nginx's page %q", res.body, want)
			}
			if !res.resp.Close {
				t.Errorf("413 without Connection: close (nginx closes after 413)")
			}
			if err := res.closedAfter(t, time.Second); !errors.Is(err, io.EOF) {
				t.Errorf("after the 413: %v, want the connection closed with FIN", err)
			}
			if u.Conns() != 0 || u.Total() != 0 {
				t.Errorf("upstream contacted: %d connections, %d requests", u.Conns(), u.Total())
			}
			wantLog(t, r, `[error] 4242#4242: *1 `+c.msg+`, client: 127.0.0.1, server: localhost, request: "POST /upload HTTP/1.1", host: "localhost"`)
		})
	}
}

// Once the response header reached the client nothing is retried: an
// upstream reset or close in the body gives the client the 200 with the
// original Content-Length, a short body and a FIN; the error line is
// "... while reading upstream" (readv() with proxy_buffering on, recv() with
// it off); the access log says 200 and the bytes actually sent; the failure
// does not count against max_fails (no "temporarily disabled").
func TestMidBodyFailureNotRetried(t *testing.T) {
	cases := []struct {
		name      string
		b         upstreamsim.Behavior
		buffering bool
		sent      int // body bytes the upstream sends before breaking off
		msg       string
		exact     bool // nginx delivers every byte read (a FIN flushes them)
	}{
		// Bodies bigger than proxy_buffers (8 x 4k): nginx streams them through.
		{"reset big buffering on", upstreamsim.ResetMidBody(40000), true, 40000, "readv() failed (104: Connection reset by peer)", false},
		{"reset big buffering off", upstreamsim.ResetMidBody(40000), false, 40000, "recv() failed (104: Connection reset by peer)", false},
		{"close big buffering on", upstreamsim.CloseMidBody(40000), true, 40000, "upstream prematurely closed connection", false},
		{"close big buffering off", upstreamsim.CloseMidBody(40000), false, 40000, "upstream prematurely closed connection", true},
		// Bodies that fit the buffers.
		{"reset small buffering on", upstreamsim.ResetMidBody(1000), true, 1000, "readv() failed (104: Connection reset by peer)", false},
		{"close small buffering on", upstreamsim.CloseMidBody(1000), true, 1000, "upstream prematurely closed connection", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bad := upstream(t, c.b)
			good := upstream(t, upstreamsim.OK())
			// proxy_max_temp_file_size 0: the body stays in proxy_buffers
			// (no temp file, no timing-dependent spill), as in nginx.
			tmpl := strings.Replace(twoServersTmpl, "  proxy_buffering:", "  proxy_max_temp_file_size: 0\n  proxy_buffering:", 1)
			r := newAccessRig(t, "warn", tmpl, c.buffering, bad.Addr(), good.Addr())
			res := rawDo(t, r.addr, "GET /file HTTP/1.1\r\nHost: localhost\r\n\r\n")
			declared := int64(2 * c.sent) // bench's default Content-Length: twice what it sends
			if res.resp.StatusCode != 200 || res.resp.ContentLength != declared {
				t.Fatalf("got %d with Content-Length %d, want 200 with %d", res.resp.StatusCode, res.resp.ContentLength, declared)
			}
			if int64(len(res.body)) >= declared {
				t.Fatalf("body complete (%d bytes), want it cut short", len(res.body))
			}
			if c.exact && len(res.body) != c.sent {
				t.Errorf("client got %d body bytes, want all %d the upstream sent before its FIN", len(res.body), c.sent)
			}
			// A short body ended by FIN: Go reports io.ErrUnexpectedEOF; an RST would be ECONNRESET.
			if !errors.Is(res.bodyErr, io.ErrUnexpectedEOF) {
				t.Errorf("body ended with %v, want the connection closed with FIN (unexpected EOF)", res.bodyErr)
			}
			if errors.Is(res.bodyErr, syscall.ECONNRESET) {
				t.Errorf("client connection reset, nginx closes it with FIN")
			}
			if n := bad.Total(); n != 1 {
				t.Errorf("first server saw %d requests, want 1", n)
			}
			if n := good.Total(); n != 0 {
				t.Errorf("second server saw %d requests, want 0 (nothing is retried after the header)", n)
			}
			lines := r.accessLog()
			want := fmt.Sprintf(`200 %d "U0" "200" `, len(res.body))
			if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
				t.Errorf("access log\n%s\nwant one line starting %s(status and body bytes the client got)", strings.Join(lines, "\n"), want)
			}
			wantLog(t, r.rig, `[error] 4242#4242: *1 `+c.msg+` while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /file HTTP/1.1", upstream: "http://U0/file", host: "localhost"`)
		})
	}
}

// rawUpstream is one-connection origin that shows the exact request bytes:
// it reads a head and a Content-Length body, reports them, then resets the
// connection (reset) or answers 200 "ok".
func rawUpstream(t *testing.T, reset bool) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		var sb strings.Builder
		cl := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			sb.WriteString(l)
			if l == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		ch <- sb.String() + string(body)
		if reset {
			_ = c.(*net.TCPConn).SetLinger(0)
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String(), ch
}

// requestBody is the body of a request as rawUpstream reports it.
func requestBody(req string) []byte {
	_, body, _ := strings.Cut(req, "\r\n\r\n")
	return []byte(body)
}

// received waits for what a rawUpstream read.
func received(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(time.Second):
		t.Fatal("the upstream received no request")
		return ""
	}
}

// A retried request reaches the next server with the same head and body as
// the first: the client's headers in the order and case they arrived (nginx
// copies its header list as received), the body replayed in full.
// TestRequestHeadForwarding covers the head of a single attempt.
func TestRetryReplaysClientHeadAndBody(t *testing.T) {
	a0, got0 := rawUpstream(t, true)
	a1, got1 := rawUpstream(t, false)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
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
`, a0, a1)
	// PUT is idempotent for nginx: retried after a reset.
	res := rawDo(t, r.addr, "PUT /up?x=1 HTTP/1.1\r\nHost: localhost\r\nx-lower: 1\r\nX-MiXeD-CaSe: 2\r\n"+
		"Content-Length: 5\r\nAccept: */*\r\nx-dup: a\r\nX-Dup: b\r\nZ-Last: 3\r\n\r\nhello")
	if res.resp.StatusCode != 200 || string(res.body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok from the second server", res.resp.StatusCode, res.body)
	}
	first, second := received(t, got0), received(t, got1)
	if first != second {
		t.Errorf("the retry sent a different request\nfirst  %q\nsecond %q", first, second)
	}
	for i, req := range []string{first, second} {
		head, body, _ := strings.Cut(req, "\r\n\r\n")
		var lines []string
		nCL := 0
		for _, l := range strings.Split(head, "\r\n") {
			if strings.EqualFold(l, "Content-Length: 5") {
				nCL++ // framing: nginx sets its own, its place is not the client's
				continue
			}
			lines = append(lines, l)
		}
		want := []string{"PUT /up?x=1 HTTP/1.0", "Host: app", "Connection: close",
			"x-lower: 1", "X-MiXeD-CaSe: 2", "Accept: */*", "x-dup: a", "X-Dup: b", "Z-Last: 3"}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") || nCL != 1 || body != "hello" {
			t.Errorf("server %d got\n%q\nwant these lines in order\n%q\nplus one Content-Length: 5 and the body hello", i, req, want)
		}
	}
}

// Close "stops at once": a request in flight when it is called gets no
// answer, its connection is closed (nginx's fast shutdown, TERM: the worker
// exits), and nothing the request does afterwards may touch the proxy's
// closed state (run with -race).
func TestCloseWithRequestInFlight(t *testing.T) {
	u := upstream(t, upstreamsim.SlowHeader(5*time.Second))
	r := newRig(t, "error", withTempDirs(t, `
error_log: {path: stderr, level: error}
http:
  proxy_read_timeout: 200ms
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`), u.Addr())
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the request to reach the upstream", 5*time.Second, func() bool { return u.Hits("GET", "/slow") == 1 })
	if err := r.p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	b, err := io.ReadAll(c)
	if len(b) > 0 {
		t.Errorf("after Close the in-flight request was still answered: %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("client connection still open after Close")
	}
}

// rawSend dials addr, gives the connection the deadline wait (none for 0),
// and writes req as it is; the connection is closed when the test ends.
func rawSend(t *testing.T, addr, req string, wait time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if wait > 0 {
		_ = c.SetDeadline(time.Now().Add(wait))
	}
	_, _ = io.WriteString(c, req)
	return c
}

// rawHead reads a response head byte by byte up to its blank line, as it
// arrived, leaving what follows it in br.
func rawHead(t *testing.T, br *bufio.Reader) []byte {
	t.Helper()
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("response head: %v after %q", err, head)
		}
		head = append(head, b)
	}
	return head
}
