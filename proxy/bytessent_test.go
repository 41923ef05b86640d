package proxy_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// $bytes_sent and $body_bytes_sent, as nginx logs them: the bytes the
// client's socket took for the request (its 100 Continue, head and body)
// and those less the head, written once the answer went out.

const sentTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_read_timeout: 5s
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$status "$request" $bytes_sent $body_bytes_sent'}
      locations:
        - path: /
          proxy_pass: http://app
        - path: /half
          proxy_buffering: false
          proxy_pass: http://app
        - path: /ret
          return: "200 hello"
`

func sentRig(t *testing.T, u *upstreamsim.Upstream) (*rig, string) {
	t.Helper()
	alog := filepath.Join(t.TempDir(), "access.log")
	return newRig(t, "info", strings.ReplaceAll(sentTmpl, "{ALOG}", alog), u.Addr()), alog
}

// readHeadBody reads one response with a Content-Length body from br and
// returns the head's and the body's sizes as they came on the wire.
func readHeadBody(t *testing.T, br *bufio.Reader, headOnly bool) (head, body int) {
	t.Helper()
	h := rawHead(t, br)
	head = len(h)
	if headOnly {
		return head, 0
	}
	for _, l := range strings.Split(string(h), "\r\n") {
		if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length: "); ok {
			n, _ := strconv.Atoi(v)
			if _, err := io.ReadFull(br, make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			return head, n
		}
	}
	t.Fatalf("no Content-Length in %q", h)
	return 0, 0
}

// On one kept-alive connection each request's figures are its own (nginx
// zeroes c->sent per request): a proxied GET, a larger one the spool
// writes to the socket itself, a HEAD, a return, a POST whose 100 Continue
// nginx counts in both figures (measured with nginx 1.22: "HTTP/1.1 100
// Continue\r\n\r\n" adds 25 to each), then a refused request line.
func TestBytesSentPerRequest(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	r, alog := sentRig(t, u)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var want []string
	for _, q := range []struct{ line, req string }{
		{"GET /size/1000 HTTP/1.1", "GET /size/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"GET /size/300000 HTTP/1.1", "GET /size/300000 HTTP/1.1\r\nHost: localhost\r\n\r\n"}, // the spool's own socket writes
		{"HEAD /size/1000 HTTP/1.1", "HEAD /size/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"GET /ret HTTP/1.1", "GET /ret HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{"POST /echo HTTP/1.1", "POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"},
	} {
		if _, err := io.WriteString(c, q.req); err != nil {
			t.Fatal(err)
		}
		cont := 0
		if strings.HasPrefix(q.line, "POST") {
			h := rawHead(t, br)
			if string(h) != "HTTP/1.1 100 Continue\r\n\r\n" {
				t.Fatalf("got %q, want a 100 Continue", h)
			}
			cont = len(h)
			if _, err := io.WriteString(c, "hello"); err != nil {
				t.Fatal(err)
			}
		}
		head, body := readHeadBody(t, br, strings.HasPrefix(q.line, "HEAD"))
		want = append(want, "200 \""+q.line+"\" "+strconv.Itoa(cont+head+body)+" "+strconv.Itoa(cont+body))
	}
	// A request line the parser refuses, on the same connection: its 400
	// page (logged before the loop writes it, as it will be written).
	if _, err := io.WriteString(c, "BAD LINE\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	head, body := readHeadBody(t, br, false)
	want = append(want, `400 "BAD LINE" `+strconv.Itoa(head+body)+" "+strconv.Itoa(body))
	got := readAccessLog(t, alog, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A client that resets the connection midway (a real RST, SO_LINGER 0)
// is logged once the write after it fails, with the bytes it had: the
// head and the first half of the body, and the upstream's 200.
func TestBytesSentClientResetMidway(t *testing.T) {
	const size, half = 64 << 10, 32 << 10
	u := upstream(t, upstreamsim.Behavior{Kind: upstreamsim.KindSlowBody, D: 200 * time.Millisecond, Chunks: 2, Size: size})
	r, alog := sentRig(t, u)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /half HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	head := len(rawHead(t, br))
	if _, err := io.ReadFull(br, make([]byte, half)); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
	got := readAccessLog(t, alog, 1)
	want := `200 "GET /half HTTP/1.1" ` + strconv.Itoa(head+half) + " " + strconv.Itoa(half)
	if len(got) != 1 || got[0] != want {
		t.Errorf("access log %q, want %q", got, want)
	}
	if !strings.Contains(r.log(), "client prematurely closed connection") {
		t.Errorf("no line about the client's reset:\n%s", r.log())
	}
}

// Under TLS the figures are the plain bytes (ngx_ssl_write's count), not
// the records on the wire: a static return and a proxied answer on one
// kept-alive TLS connection.
func TestBytesSentTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cert, key := ca.leaf(t, "localhost").files(t, dir, "l")
	u := upstream(t, upstreamsim.OK())
	alog := filepath.Join(dir, "access.log")
	conf := strings.NewReplacer("{ALOG}", alog, `listen: ["127.0.0.1:0"]`, `listen: ["127.0.0.1:0 ssl"]`,
		"      server_name: [localhost]\n", "      server_name: [localhost]\n      ssl_certificate: "+cert+"\n      ssl_certificate_key: "+key+"\n").Replace(sentTmpl)
	r := newRig(t, "info", conf, u.Addr())
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var want []string
	for _, path := range []string{"/ret", "/size/5000"} {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		head, body := readHeadBody(t, br, false)
		want = append(want, `200 "GET `+path+` HTTP/1.1" `+strconv.Itoa(head+body)+" "+strconv.Itoa(body))
	}
	got := readAccessLog(t, alog, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
