package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"spillway/proxy/fastcgi"
)

// stepUpstream is an upstream the test drives step by step: it accepts one
// connection and reads from it only when asked (readUntil), so that a test
// can tell what the proxy sent before the client sent more.
type stepUpstream struct {
	t    *testing.T
	ln   net.Listener
	conn chan net.Conn
	c    net.Conn
	got  []byte // everything read so far
}

func newStepUpstream(t *testing.T) *stepUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &stepUpstream{t: t, ln: ln, conn: make(chan net.Conn, 1)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(u.conn)
			return
		}
		u.conn <- c
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		if u.c != nil {
			_ = u.c.Close()
		}
	})
	return u
}

func (u *stepUpstream) addr() string { return u.ln.Addr().String() }

// readUntil reads until what the upstream got ends with suffix, and
// returns it all. The socket's deadline only bounds a proxy that never
// sends: what is asserted is the bytes.
func (u *stepUpstream) readUntil(suffix string) string {
	u.t.Helper()
	if u.c == nil {
		c, ok := <-u.conn
		if !ok {
			u.t.Fatal("the proxy never connected")
		}
		u.c = c
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(u.got, []byte(suffix)) {
		n, err := u.c.Read(buf)
		u.got = append(u.got, buf[:n]...)
		if err != nil {
			u.t.Fatalf("upstream got %q, then %v; want it to end with %q", u.got, err, suffix)
		}
	}
	return string(u.got)
}

// proxy_request_buffering off (nginx's proxy_request_buffering.t and
// proxy_request_buffering_chunked.t, "no preread", "preread" and
// "chunks"): the upstream is contacted at once with what of the body the
// client sent with its head (nginx's preread), and gets every later part as
// the client sends it. A chunked body goes chunked with proxy_http_version
// 1.1, what was ready making one chunk; one that came whole goes with a
// Content-Length, as a buffered one.
func TestRequestBufferingOffStreamsAsItComes(t *testing.T) {
	cases := []struct {
		name    string
		http    []string
		head    string // the client's head
		parts   []string
		want    []string // what the upstream has after each part: its body so far
		wantHdr string   // a line the upstream head has
	}{
		{name: "no preread", head: "Content-Length: 10",
			parts: []string{"", "01234", "56789"}, want: []string{"", "01234", "0123456789"}, wantHdr: "Content-Length: 10"},
		{name: "preread", head: "Content-Length: 10",
			parts: []string{"01234", "56789"}, want: []string{"01234", "0123456789"}, wantHdr: "Content-Length: 10"},
		{name: "chunked no preread", http: []string{`proxy_http_version: "1.1"`}, head: "Transfer-Encoding: chunked",
			parts: []string{"", "5\r\n01234\r\n", "5\r\n56789\r\n0\r\n\r\n"},
			want:  []string{"", "5\r\n01234\r\n", "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"}, wantHdr: "Transfer-Encoding: chunked"},
		{name: "chunked chunks", http: []string{`proxy_http_version: "1.1"`}, head: "Transfer-Encoding: chunked",
			parts: []string{"5\r\n01234\r\n4\r\nmany\r\n", "5;ext=1\r\n56789\r\n4\r\nmany\r\n0\r\nTrailer: x\r\n\r\n"},
			want:  []string{"9\r\n01234many\r\n", "9\r\n01234many\r\n9\r\n56789many\r\n0\r\n\r\n"}, wantHdr: "Transfer-Encoding: chunked"},
		{name: "chunked whole", http: []string{`proxy_http_version: "1.1"`}, head: "Transfer-Encoding: chunked",
			parts: []string{"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"}, want: []string{"0123456789"}, wantHdr: "Content-Length: 10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := newStepUpstream(t)
			d := newBTDirs(t)
			r := newRig(t, "warn", btYAML(d, 1, false, append([]string{"proxy_request_buffering: off"}, c.http...)...), u.addr())
			cl := btDial(t, r.addr)
			head := "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + c.head + "\r\n\r\n"
			for i, part := range c.parts {
				out := part
				if i == 0 {
					out = head + part
				}
				if _, err := io.WriteString(cl, out); err != nil {
					t.Fatal(err)
				}
				got := u.readUntil("\r\n\r\n" + c.want[i])
				if i == 0 && !strings.Contains(got, "\r\n"+c.wantHdr+"\r\n") {
					t.Errorf("upstream head:\n%s\nwant %q", got, c.wantHdr)
				}
				if _, body, _ := strings.Cut(got, "\r\n\r\n"); body != c.want[i] {
					t.Fatalf("after part %d the upstream has the body %q, want %q", i, body, c.want[i])
				}
			}
			if _, err := io.WriteString(u.c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(cl), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "OK" {
				t.Errorf("client got %d %q, want 200 OK", resp.StatusCode, b)
			}
			if log := r.log(); log != "" {
				t.Errorf("error log:\n%s", log)
			}
		})
	}
}

// A return discards the request body, and nginx reads what the client
// already sent of it first (ngx_http_discard_request_body): a chunked body
// whose framing is broken there is answered 400 with nginx's error line
// (measured: nginx 1.22 with body_chunked.t's "runaway chunk discard"); a
// return with an error code and no text keeps its status and logs the line;
// a body whose error comes only later gets the return's answer.
func TestReturnDiscardsBrokenChunkedBody(t *testing.T) {
	const conf = `
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - {path: /discard, return: "200 TEST"}
        - {path: /gone, return: 410}
`
	const line = `[error] 4242#4242: *1 client sent invalid chunked body, client: 127.0.0.1, server: localhost, request: "GET %s HTTP/1.1", host: "localhost"`
	cases := []struct {
		path, body string
		status     int
		logged     bool
	}{
		{"/discard", "4\r\nSEE-THIS\r\n0\r\n\r\n", 400, true},
		{"/gone", "4\r\nSEE-THIS\r\n0\r\n\r\n", 410, true},
		{"/discard", "4\r\nSEE", 200, false}, // nothing wrong yet
		{"/discard", "4\r\nSEE!\r\n0\r\n\r\n", 200, false},
	}
	for _, c := range cases {
		t.Run(c.path+" "+strings.ReplaceAll(c.body, "\r\n", "|"), func(t *testing.T) {
			r := newRig(t, "info", conf)
			cl := btDial(t, r.addr)
			req := "GET " + c.path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + c.body
			if _, err := io.WriteString(cl, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(cl), nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			want := ""
			if c.logged {
				want = btLogLine(fmt.Sprintf(line, c.path))
			}
			if got := r.log(); got != want {
				t.Errorf("error log\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

// A chunked body streamed with proxy_request_buffering off that passes
// client_max_body_size once the upstream has its head is answered 413 with
// nginx's line, "while sending request to upstream" with the upstream
// (measured on nginx 1.22: "49152+4096 bytes while sending request to
// upstream" for 4 KiB chunks past 48k).
func TestRequestBufferingOffChunkedTooLarge(t *testing.T) {
	u := newStepUpstream(t)
	d := newBTDirs(t)
	r := newRig(t, "info", btYAML(d, 1, false, "proxy_request_buffering: off", `proxy_http_version: "1.1"`, "client_max_body_size: 16"), u.addr())
	cl := btDial(t, r.addr)
	if _, err := io.WriteString(cl, "POST /p HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n"); err != nil {
		t.Fatal(err)
	}
	u.readUntil("\r\n\r\n5\r\n01234\r\n")
	if _, err := io.WriteString(cl, "10\r\n0123456789abcdef\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(cl), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	want := btLogLine(`[error] 4242#4242: *1 client intended to send too large chunked body: 5+16 bytes while sending request to upstream, client: 127.0.0.1, server: localhost, request: "POST /p HTTP/1.1", upstream: "http://U0/p", host: "localhost"`)
	if got := r.log(); got != want {
		t.Errorf("error log\n--- got\n%s--- want\n%s", got, want)
	}
}

// An empty chunked body ("0\r\n\r\n") reaches a FastCGI application as
// one empty STDIN record, the end of the stream, as from nginx
// (fastcgi_body.t "fastcgi empty chunked"); spillway sent two.
func TestFastCGIEmptyChunkedBodyOneStdinEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ends := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ends <- -1
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		n := 0
		for {
			var h [fastcgi.HeaderLen]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				ends <- n // the proxy closed the connection (no fastcgi_keep_conn)
				return
			}
			clen := int(h[4])<<8 | int(h[5])
			if _, err := br.Discard(clen + int(h[6])); err != nil {
				ends <- n
				return
			}
			if h[1] == fastcgi.TypeStdin && clen == 0 {
				if n++; n == 1 {
					_, _ = c.Write(append(stdout("Content-Type: text/plain\r\n\r\nok"), append(stdout(""), endRequest()...)...))
				}
			}
		}
	}()
	r := fcgiRig(t, fcgiYAML("/srv", server(ln.Addr().String())))
	c := btDial(t, r.addr)
	if _, err := io.WriteString(c, "POST /a.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if n := <-ends; n != 1 {
		t.Errorf("the application got %d empty STDIN records, want 1", n)
	}
}

// An empty chunked body is read whole, and a uwsgi application gets
// CONTENT_LENGTH 0 for it, as from nginx (uwsgi_body.t "uwsgi empty
// chunked"); spillway left it empty, as for a request without a body.
func TestUwsgiEmptyChunkedBodyLength(t *testing.T) {
	f := startFakeUwsgi(t, func(p uwsgiPacket) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	r := uwsgiRig(t, uwsgiYAML(server(f.addr)))
	c := btDial(t, r.addr)
	if _, err := io.WriteString(c, "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if cl, ok := f.last(t).get("CONTENT_LENGTH"); resp.StatusCode != 200 || !ok || cl != "0" {
		t.Errorf("status %d, CONTENT_LENGTH %q (%v); want 200 and \"0\"", resp.StatusCode, cl, ok)
	}
}
