package proxy_test

// Request smuggling and parsing (issue #8): hostile request heads and bodies
// sent as raw bytes over 127.0.0.1 to spillway in front of an origin that
// records every byte it received. Each case checks the status spillway
// answers and that the origin got either nothing or exactly one request with
// one framing (Content-Length or chunked, never both) and no leftover bytes
// that could be read as a second request.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingOrigin accepts any number of connections; on each it reads one
// request (Go's parser tells it where the request ends), answers 200 "ok"
// with Connection: close and keeps reading until the proxy closes, so that
// conns holds every byte each connection carried.
type recordingOrigin struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns [][]byte
	// errs holds, for each connection in conns, why it got no answer
	// (Go's parser refused the request, or it did not come whole within
	// the deadline), or nil.
	errs []error
}

func newRecordingOrigin(t *testing.T) *recordingOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &recordingOrigin{ln: ln}
	acceptEach(ln, &o.wg, o.serve)
	t.Cleanup(o.stop)
	return o
}

func (o *recordingOrigin) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	req, err := http.ReadRequest(br)
	if err == nil {
		if _, err = io.Copy(io.Discard, req.Body); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		}
	}
	_, _ = io.Copy(io.Discard, br) // until the proxy closes (or the deadline)
	o.mu.Lock()
	o.conns = append(o.conns, raw.Bytes())
	o.errs = append(o.errs, err)
	o.mu.Unlock()
}

// stop closes the listener and waits for every connection to be recorded.
func (o *recordingOrigin) stop() {
	_ = o.ln.Close()
	o.wg.Wait()
}

func (o *recordingOrigin) received() [][]byte {
	o.stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

// checkOneRequest parses raw strictly: one head ending in CRLFCRLF with CRLF
// lines, at most one framing header, a body matching it exactly and nothing
// after it. It returns the request line and the decoded body.
func checkOneRequest(t *testing.T, raw []byte) (line string, body []byte) {
	t.Helper()
	head, rest, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("upstream got no complete head: %q", raw)
	}
	lines := strings.Split(string(head), "\r\n")
	var cls, tes []string
	for _, l := range lines[1:] {
		if strings.ContainsAny(l, "\r\n\x00") {
			t.Errorf("upstream head line with CR, LF or NUL: %q", l)
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") || l[0] == ' ' || l[0] == '\t' {
			t.Errorf("upstream got an invalid header line: %q", l)
			continue
		}
		switch strings.ToLower(k) {
		case "content-length":
			cls = append(cls, strings.TrimSpace(v))
		case "transfer-encoding":
			tes = append(tes, strings.TrimSpace(v))
		}
	}
	if len(cls) > 0 && len(tes) > 0 {
		t.Fatalf("upstream got both Content-Length %q and Transfer-Encoding %q: %q", cls, tes, raw)
	}
	if len(cls) > 1 || len(tes) > 1 {
		t.Fatalf("upstream got repeated framing headers CL=%q TE=%q: %q", cls, tes, raw)
	}
	switch {
	case len(cls) == 1:
		n, err := strconv.Atoi(cls[0])
		if err != nil || n < 0 {
			t.Fatalf("upstream got Content-Length %q", cls[0])
		}
		if len(rest) != n {
			t.Fatalf("upstream got Content-Length %d and %d body bytes (leftover would be a second request): %q", n, len(rest), raw)
		}
		body = rest
	case len(tes) == 1:
		if !strings.EqualFold(tes[0], "chunked") {
			t.Fatalf("upstream got Transfer-Encoding %q", tes[0])
		}
		r := bufio.NewReader(bytes.NewReader(rest))
		for {
			sz, err := r.ReadString('\n')
			if err != nil || !strings.HasSuffix(sz, "\r\n") {
				t.Fatalf("upstream got a broken chunked body: %q", raw)
			}
			n, err := strconv.ParseUint(strings.TrimSuffix(sz, "\r\n"), 16, 31)
			if err != nil {
				t.Fatalf("upstream got chunk size %q: %q", sz, raw)
			}
			if n == 0 {
				if crlf, _ := r.ReadString('\n'); crlf != "\r\n" {
					t.Fatalf("upstream got a chunked body without final CRLF: %q", raw)
				}
				break
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(r, chunk); err != nil || string(chunk[n:]) != "\r\n" {
				t.Fatalf("upstream got a broken chunk: %q", raw)
			}
			body = append(body, chunk[:n]...)
		}
		if r.Buffered() != 0 {
			left, _ := io.ReadAll(r)
			t.Fatalf("upstream got bytes after the chunked body: %q", left)
		}
	default:
		if len(rest) != 0 {
			t.Fatalf("upstream got %d bytes after a head without framing: %q", len(rest), raw)
		}
	}
	return lines[0], body
}

// smugglingConf sets proxy_ignore_client_abort: sendRaw half-closes the
// connection after its bytes, which nginx (and spillway) otherwise take
// for a client that went away while the upstream is awaited (499).
const smugglingConf = `
error_log: {path: stderr, level: error}
http:
  client_body_temp_path: {TMP}
  proxy_ignore_client_abort: on
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://{U0}
`

// smugglingCase is one hostile request. nginx is nginx 1.22.1's status: as
// measured against a real nginx where that was done, else 400 (the default,
// noted "not in the reference" below). status lists what spillway
// answers on the connection now, in order (none when it closes without an
// answer); forwarded lists the request lines the upstream must see, one per
// connection, each checked by checkOneRequest.
type smugglingCase struct {
	name      string
	req       string
	nginx     int
	status    []int
	forwarded []string
	bodies    map[string]string // request line → decoded body; absent = empty
}

// sendRaw writes req on a new connection, half-closes it (so the proxy sees
// the end of the client's bytes instead of waiting for more) and reads every
// response until the proxy closes: their statuses, or none.
func sendRaw(t *testing.T, addr, req string) []int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // a bound, not a synchronisation
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var got []int
	for {
		if _, err := br.Peek(1); err != nil {
			if err != io.EOF && !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("after %v: %v", got, err)
			}
			return got
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
}

func TestSmuggling(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
	post := "POST /a HTTP/1.1\r\nHost: localhost\r\n"
	cases := []smugglingCase{
		// Controls: a pipelined request after a well-framed one is served
		// as the client's own second request, on its own upstream connection.
		{name: "control-pipelined",
			req:       "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n" + smuggled,
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"GET /a HTTP/1.0", "GET /smuggled HTTP/1.0"}},
		{name: "control-chunked-pipelined",
			req:       post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled,
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"POST /a HTTP/1.0", "GET /smuggled HTTP/1.0"},
			bodies:    map[string]string{"POST /a HTTP/1.0": "hello"}},
		// Reference: "client sent \"Content-Length\" and \"Transfer-Encoding\"
		// headers at the same time" (cl-and-te), a 400; spillway the same.
		{name: "cl-and-te",
			req:    post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		{name: "te-and-cl",
			req:    post + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		// Not in the reference (nginx logs "client sent duplicate header
		// line"): 400. Same for the list and the negative length
		// (bad-content-length in the reference).
		{name: "two-content-lengths",
			req:    post + "Content-Length: 5\r\nContent-Length: 44\r\n\r\nhello" + smuggled,
			nginx:  400,
			status: []int{400}},
		{name: "content-length-list",
			req:    post + "Content-Length: 5, 5\r\n\r\nhello",
			nginx:  400,
			status: []int{400}},
		{name: "content-length-negative",
			req:    post + "Content-Length: -1\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		// Not in the reference; nginx: "client sent invalid chunked body", 400.
		{name: "chunk-size-zz",
			req:    post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "chunk-size-negative",
			req:    post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "chunk-size-overflow",
			req:    post + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		// nginx 1.22 measured: 501, `client sent unknown "Transfer-Encoding":
		// "gzip, chunked"` (a coding list is not chunked).
		{name: "te-not-chunked",
			req:    post + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			nginx:  501,
			status: []int{501}},
		// nginx 1.22 measured: a header line that starts with a space or a
		// tab (obs-fold) is 400, `client sent invalid header line:
		// "\x20..."`; spillway refuses it as nginx does (difftest's
		// obs-fold scenarios), never unfolding it into a value.
		{name: "obs-fold",
			req:    "GET /a HTTP/1.1\r\nHost: localhost\r\nX-A: one\r\n two\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "obs-fold-transfer-encoding",
			req:    post + "Content-Length: 5\r\nX-A: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "obs-fold-first-line",
			req:    "GET /a HTTP/1.1\r\n Host: localhost\r\nHost: localhost\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		// Measured with nginx 1.22.1: a head whose lines end in a bare LF is
		// answered (RFC 9112 2.2 allows it), and so is the pipelined request
		// after it. spillway makes each head's bare LFs CRLF before fasthttp
		// parses it (package client's HeadLF), the pipelined bytes read past
		// a request too, so one parser places every head; the body is never
		// touched.
		{name: "bare-lf",
			req:       "GET /a HTTP/1.1\nHost: localhost\nX-A: 1\n\n",
			nginx:     200,
			status:    []int{200},
			forwarded: []string{"GET /a HTTP/1.0"}},
		{name: "bare-lf-pipelined",
			req:       "GET /a HTTP/1.1\nHost: localhost\n\n" + smuggled,
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"GET /a HTTP/1.0", "GET /smuggled HTTP/1.0"}},
		{name: "bare-lf-body-keeps-its-lf",
			req:       "POST /a HTTP/1.1\nHost: localhost\nContent-Length: 3\n\na\nb" + smuggled,
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"POST /a HTTP/1.0", "GET /smuggled HTTP/1.0"},
			bodies:    map[string]string{"POST /a HTTP/1.0": "a\nb"}},
		{name: "bare-lf-leading-empty-line",
			req:       "\nGET /a HTTP/1.0\n\n",
			nginx:     200,
			status:    []int{200},
			forwarded: []string{"GET /a HTTP/1.0"}},
		// A bare LF in a later head of a keep-alive connection, pipelined
		// behind a CRLF one: answered, as nginx.
		{name: "bare-lf-second-head",
			req:       "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b HTTP/1.1\nHost: localhost\n\n",
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"GET /a HTTP/1.0", "GET /b HTTP/1.0"}},
		{name: "bare-lf-in-head-with-cl",
			req:       post + "X-A: 1\nContent-Length: 5\r\n\r\nhello" + smuggled,
			nginx:     200,
			status:    []int{200, 200},
			forwarded: []string{"POST /a HTTP/1.0", "GET /smuggled HTTP/1.0"},
			bodies:    map[string]string{"POST /a HTTP/1.0": "hello"}},
		// Reference: "client sent invalid header line: \"Bad\x20...\""
		// (bad-header-name), 400. Whitespace anywhere in a name, including
		// right before the colon (RFC 9112 5.1: MUST reject), is a 400 too.
		{name: "space-in-name",
			req:    "GET /a HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "space-before-colon-content-length",
			req:    post + "Content-Length : 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		{name: "space-before-colon-transfer-encoding",
			req:    post + "Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled,
			nginx:  400,
			status: []int{400}},
		{name: "space-before-colon-transfer-encoding-alone",
			req:    post + "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "space-before-colon-content-length-alone",
			req:    post + "Content-Length : 5\r\n\r\nhello",
			nginx:  400,
			status: []int{400}},
		{name: "space-before-colon-plain",
			req:    "GET /a HTTP/1.1\r\nHost: localhost\r\nX-A : x\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		{name: "tab-before-colon",
			req:    "GET /a HTTP/1.1\r\nHost: localhost\r\nX-A\t: x\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		// Not in the reference for requests (nginx rejects a NUL in a header: 400).
		{name: "nul-in-value",
			req:    "GET /a HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\x00b\r\n\r\n",
			nginx:  400,
			status: []int{400}},
		// Not in the reference; nginx takes the absolute form (the URI's host
		// chooses the server) and sends the origin form upstream: 200.
		{name: "absolute-form",
			req:       "GET http://elsewhere.example/a?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
			nginx:     200,
			status:    []int{200},
			forwarded: []string{"GET /a?q=1 HTTP/1.0"}},
		// Not in the reference (nginx skips extensions of any length: 200 is
		// likely, unmeasured). spillway skips them and sends the body with a
		// Content-Length, 64 KiB and 4 MiB alike.
		{name: "long-chunk-extension",
			req:       post + "Transfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 64<<10) + "\r\nhello\r\n0\r\n\r\n",
			nginx:     400,
			status:    []int{200},
			forwarded: []string{"POST /a HTTP/1.0"},
			bodies:    map[string]string{"POST /a HTTP/1.0": "hello"}},
		{name: "huge-chunk-extension",
			req:       post + "Transfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 4<<20) + "\r\nhello\r\n0\r\n\r\n",
			nginx:     400,
			status:    []int{200},
			forwarded: []string{"POST /a HTTP/1.0"},
			bodies:    map[string]string{"POST /a HTTP/1.0": "hello"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runSmuggling(t, c) })
	}
}

func runSmuggling(t *testing.T, c smugglingCase) {
	o := newRecordingOrigin(t)
	r := newRig(t, "error", smugglingConf, o.ln.Addr().String())
	status := sendRaw(t, r.addr, c.req)
	// Every client connection ends before the origin is inspected.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got := o.received()
	t.Logf("nginx %d, spillway %v, upstream saw %q", c.nginx, status, got)
	var lines []string
	for _, raw := range got {
		line, _ := checkOneRequest(t, raw)
		lines = append(lines, line)
	}
	sort.Strings(lines)
	if fmt.Sprint(status) != fmt.Sprint(c.status) {
		t.Errorf("statuses %v, want %v", status, c.status)
	}
	want := append([]string(nil), c.forwarded...)
	sort.Strings(want)
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("upstream got requests %q, want %q", lines, want)
	}
	for _, raw := range got {
		if line, body := checkOneRequest(t, raw); string(body) != c.bodies[line] {
			t.Errorf("upstream got %s with body %q, want %q", line, body, c.bodies[line])
		}
	}
}
