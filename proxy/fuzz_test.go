package proxy_test

// Fuzz tests of the two byte streams spillway takes from strangers (issue
// #8): request heads from clients, and response heads and bodies from
// upstreams. Each fuzz target starts one proxy for the whole run (per fuzz
// worker process) and talks to it over real sockets on 127.0.0.1.
//
// Short CI run (seeds alone run under plain `go test`):
//
//	go test -run='^$' -fuzz='^FuzzRequestHead$' -fuzztime=30s -fuzzminimizetime=1s ./proxy
//	go test -run='^$' -fuzz='^FuzzUpstreamResponse$' -fuzztime=30s -fuzzminimizetime=1s ./proxy
//
// -fuzzminimizetime=1s matters: an execution costs a round trip through the
// proxy (~1 ms), and the default 60s spent minimising each new interesting
// input would eat the whole run (0 execs/s in the log meanwhile).

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// fzProxy starts a proxy from yamlText ({U0} is upstream, {TMP} a temp
// directory with proxy/ and client/ in it) for a fuzz run; its error log,
// at info level so that every client-side line is formatted, is dropped.
func fzProxy(tb testing.TB, yamlText, upstream string) *proxy.Proxy {
	p, _ := fzProxyLog(tb, yamlText, upstream)
	return p
}

// fzLogTail keeps the error log's last lines, for a failure's message.
type fzLogTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *fzLogTail) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 20 {
		l.lines = append(l.lines[:0], l.lines[1:]...)
	}
	l.lines = append(l.lines, string(b))
	return len(b), nil
}

func (l *fzLogTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

// fzProxyLog is fzProxy whose error log's last lines are kept.
func fzProxyLog(tb testing.TB, yamlText, upstream string) (*proxy.Proxy, *fzLogTail) {
	tb.Helper()
	tail := &fzLogTail{}
	dir := tb.TempDir()
	for _, d := range []string{"proxy", "client"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	yamlText = strings.ReplaceAll(yamlText, "{U0}", upstream)
	yamlText = strings.ReplaceAll(yamlText, "{TMP}", dir)
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlText))
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	el := errorlog.New(tail, errorlog.Info, errorlog.Options{PID: 4242})
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: el})
	if err != nil {
		tb.Fatalf("proxy.New: %v", err)
	}
	if err := p.Start(); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p, tail
}

// fzNoLeak waits until the proxy holds no buffer chunk and no temp file.
func fzNoLeak(t *testing.T, p *proxy.Proxy) {
	t.Helper()
	testutil.Eventually(t, "buffer chunks and temp files back to zero", 5*time.Second, func() bool {
		st := p.BufferStats()
		return st.ChunksInUse == 0 && st.FilesOpen == 0
	})
}

// fzExchange writes data on a new connection, half-closes it and returns
// every byte the proxy sent until it closed.
func fzExchange(t *testing.T, addr string, data []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a synchronisation
	_, _ = c.Write(data)                                // the proxy may answer and close before it has read everything
	_ = c.(*net.TCPConn).CloseWrite()
	var got bytes.Buffer
	_, err = io.Copy(&got, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the proxy did not close the connection within 10s; sent %q", got.Bytes())
	}
	return got.Bytes()
}

// fzStatusLine finds the status lines of the responses in what a client got.
var fzStatusLine = regexp.MustCompile(`(?m)^HTTP/1\.[01] (\d{3})[ \r]`)

// fzRequestStatuses are the statuses nginx answers to a request head,
// besides the origin's 200: 400 (bad request, too long header: 494 is
// logged, 400 sent), 405 (CONNECT /path and TRACE: the differential suite's
// connect-origin-form and trace), 408, 411, 413, 414, 501 (unknown Transfer-Encoding),
// 505 (bad version); 100 before a final status for Expect: 100-continue.
var fzRequestStatuses = map[int]bool{100: true, 200: true, 400: true, 405: true, 408: true, 411: true, 413: true, 414: true, 501: true, 505: true}

// proxy_ignore_client_abort: fzExchange half-closes after its bytes,
// which would otherwise end an exchange still waiting for the upstream (499).
const fzRequestConf = `
error_log: {path: stderr, level: info}
http:
  proxy_ignore_client_abort: on
  client_header_timeout: 2s
  client_body_timeout: 2s
  client_max_body_size: 16k
  client_body_buffer_size: 1k
  client_body_temp_path: {TMP}/client
  proxy_temp_path: {TMP}/proxy
  proxy_connect_timeout: 2s
  proxy_read_timeout: 5s
  large_client_header_buffers: 4 2k
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://{U0}
`

// FuzzRequestHead sends arbitrary bytes as a client to a proxy in front of
// the smuggling test's recording origin: the proxy must not panic, must
// answer only with statuses nginx gives (or close without an answer), must
// close the connection once the client has half-closed, and every upstream
// connection must carry exactly one unambiguous request (checkOneRequest),
// as many as the client got 200s for. Nothing may stay held afterwards.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /a?b=c HTTP/1.0\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 3000) + "\r\nhello\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20000\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: localhost\nX: 1\n\n",
		"GET / HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\x00b\r\n\r\n",
		"GET http://elsewhere/a HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"CONNECT /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("b", 3000) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(s))
	}
	o := &recordingOrigin{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	o.ln = ln
	var accepted atomic.Int64
	acceptEach(ln, &o.wg, func(c net.Conn) {
		accepted.Add(1)
		o.serve(c)
	})
	f.Cleanup(o.stop)
	p, elog := fzProxyLog(f, fzRequestConf, ln.Addr().String())
	addr := p.Addrs()[0]
	recorded := func() int {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.conns)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		before := recorded()
		got := fzExchange(t, addr, data)
		var statuses []int
		for _, m := range fzStatusLine.FindAllSubmatch(got, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			statuses = append(statuses, n)
		}
		if len(got) > 0 && len(statuses) == 0 {
			t.Fatalf("the proxy sent something that is not a response: %q", got)
		}
		// The client connection is closed: every upstream connection the
		// request caused has been opened; wait for each to be recorded.
		testutil.Eventually(t, "the origin to record every connection", 10*time.Second, func() bool {
			return int64(recorded()) == accepted.Load()
		})
		o.mu.Lock()
		conns := append([][]byte(nil), o.conns[before:]...)
		errs := append([]error(nil), o.errs[before:]...)
		o.mu.Unlock()
		oks := 0
		for _, s := range statuses {
			if !fzRequestStatuses[s] {
				t.Fatalf("status %d is not one nginx answers to a request head; got %q; the upstream got %q (the origin's parser said %v); the error log's last lines:\n%s", s, got, conns, errs, elog)
			}
			if s == 200 {
				oks++
			}
		}
		for _, raw := range conns {
			checkOneRequest(t, raw)
		}
		// A client that half-closed may be taken for one that went away
		// (nginx: 499) while its last request is upstream: that one may go
		// unanswered, no other.
		if n := len(conns) - oks; n < 0 || n > 1 {
			t.Fatalf("the upstream got %d requests and the client %d answers 200 (%v): %q", len(conns), oks, statuses, conns)
		}
		fzNoLeak(t, p)
	})
}

// fzUpstream is an origin that answers every connection's request with the
// current payload, then closes with a FIN and waits for the proxy to close.
type fzUpstream struct {
	ln      net.Listener
	payload atomic.Pointer[[]byte]
	done    chan struct{}
}

func startFzUpstream(tb testing.TB) *fzUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := &fzUpstream{ln: ln, done: make(chan struct{})}
	conns := make(chan struct{}, 64)
	go func() {
		defer close(u.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for range cap(conns) { // wait for the connections still served
					conns <- struct{}{}
				}
				return
			}
			conns <- struct{}{}
			go func() {
				defer func() { <-conns }()
				u.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); <-u.done })
	return u
}

func (u *fzUpstream) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for { // the request head: GET, no body
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if l == "\r\n" {
			break
		}
	}
	_, _ = c.Write(*u.payload.Load())
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c)
}

// proxy_ignore_client_abort: fzExchange half-closes after its bytes,
// which would otherwise end an exchange still waiting for the upstream (499).
const fzResponseConf = `
error_log: {path: stderr, level: info}
http:
  proxy_ignore_client_abort: on
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  proxy_connect_timeout: 2s
  proxy_read_timeout: 5s
  proxy_buffer_size: 1k
  proxy_buffers: 4 1k
  proxy_busy_buffers_size: 2k
  proxy_temp_file_write_size: 2k
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /b
          proxy_pass: http://{U0}
        - path: /u
          proxy_pass: http://{U0}
          proxy_buffering: false
`

// fzUpstreamStatuses are the statuses an upstream's bytes declare: the
// three digits after "HTTP/1.x " at the start of any line.
var fzUpstreamStatuses = regexp.MustCompile(`(?m)^HTTP/\d\.\d (\d{3})`)

// FuzzUpstreamResponse serves arbitrary bytes as an upstream's response
// (then a FIN) to a proxy with small buffers, buffered (/b, spilling to a
// temp file) or not (/u): the proxy must not panic, must send the client a
// response that parses (net/http), with either a status the upstream's
// bytes declared or its own 502 page, and must hold no buffer chunk and no
// temp file afterwards.
func FuzzUpstreamResponse(f *testing.F) {
	big := strings.Repeat("0123456789abcdef", 1024)
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n" + big,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\n" + big + "\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\n\r\nno framing, until the FIN",
		"HTTP/1.0 404 Not Found\r\nX-A: b\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 2000) + "\r\n\r\n",
		"HTTP/1.1 999 What\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Accel-Buffering: no\r\nContent-Length: 16384\r\n\r\n" + big,
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=b\r\nLocation: /x\r\nConnection: keep-alive, X-A\r\nX-A: drop\r\n\r\n",
		"hello",
		"HTTP/1.1 200 OK\r\nContent-Len",
		"",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	u := startFzUpstream(f)
	p := fzProxy(f, fzResponseConf, u.ln.Addr().String())
	addr := p.Addrs()[0]

	f.Fuzz(func(t *testing.T, payload []byte, buffered bool) {
		u.payload.Store(&payload)
		path := "/u"
		if buffered {
			path = "/b"
		}
		got := fzExchange(t, addr, []byte("GET "+path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
		if len(got) == 0 && bytes.Contains(bytes.ToLower(payload), []byte("chunked")) {
			// A chunked body whose framing is already broken in the bytes
			// that came with the head: nginx sends nothing (respond.go,
			// brokenChunkedHead).
			fzNoLeak(t, p)
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("the client got no well-formed response head (%v): %q", err, got)
		}
		body, _ := io.ReadAll(resp.Body) // a short body is allowed: nginx cuts it too
		declared := map[int]bool{}
		for _, m := range fzUpstreamStatuses.FindAllSubmatch(payload, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			declared[n] = true
		}
		switch {
		case declared[resp.StatusCode]:
		case resp.StatusCode == 502:
			if !bytes.Contains(body, []byte("<title>502 Bad Gateway</title>")) {
				t.Fatalf("502 without the proxy's page: %q", got)
			}
		default:
			t.Fatalf("status %d is neither the upstream's (%v) nor 502: %q", resp.StatusCode, declared, got)
		}
		fzNoLeak(t, p)
	})
}
