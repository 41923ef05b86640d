//go:build linux

package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A spooled response's head goes to the client with the body's first
// bytes (client.SocketWriter.Hold, clientConn.holder), which must hold
// back nothing the upstream already sent, and alone when no body byte
// comes.

const spoolHeadTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_read_timeout: 5s
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      keepalive: 4
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
          proxy_http_version: "1.1"
          proxy_set_header: {Connection: ""}
`

// stepOrigin answers each request on a kept-alive connection with a
// Content-Length body of size bytes (btPattern) in steps: the head and
// the first first bytes in one write, then, once the test sends on
// proceed, the rest (none when cut: the connection closes instead).
func stepOrigin(t *testing.T, size, first int, cut bool, proceed <-chan struct{}) string {
	t.Helper()
	body := []byte(strings.Repeat(btPattern, size/len(btPattern)+1)[:size])
	return keptAliveOrigin(t, 10*time.Second, nil, func(c net.Conn) bool {
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
		if _, err := c.Write(append([]byte(head), body[:first]...)); err != nil {
			return false
		}
		select {
		case <-proceed:
		case <-time.After(10 * time.Second):
			return false
		}
		if cut {
			return false
		}
		_, err := c.Write(body[first:])
		return err == nil
	})
}

// The head and the bytes that came with it reach the client while the
// upstream waits before the rest (it waits for the client to have them:
// a proxy that held them back for more would time out here), then the
// rest; twice on one connection, so the framing stays right.
func TestSpooledHeadNotHeldBack(t *testing.T) {
	const size, first = 200 << 10, 1000 // over proxy_buffers (8 x 4k): the spool's direct path
	proceed := make(chan struct{})
	r := newRig(t, "info", spoolHeadTmpl, stepOrigin(t, size, first, false, proceed))
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		head := string(rawHead(t, br))
		if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || !strings.Contains(head, "Content-Length: "+strconv.Itoa(size)+"\r\n") {
			t.Fatalf("request %d: head %q", i, head)
		}
		v := &btBodyCheck{}
		if _, err := io.CopyN(v, br, first); err != nil {
			t.Fatalf("request %d: the first %d body bytes: %v", i, first, err)
		}
		proceed <- struct{}{}
		if _, err := io.CopyN(v, br, size-first); err != nil {
			t.Fatalf("request %d: the rest of the body: %v after %d bytes", i, err, v.n)
		}
	}
}

// An upstream that closes after its head, before any body byte: the
// client still gets the head (nginx sends it before reading the body),
// then the connection ends (FIN) with no body byte.
// (The file is Linux-only for buffering_test.go's btPattern and btBodyCheck.)
func TestSpooledHeadAloneWhenUpstreamFails(t *testing.T) {
	proceed := make(chan struct{})
	close(proceed)
	r := newRig(t, "info", spoolHeadTmpl, stepOrigin(t, 100<<10, 0, true, proceed))
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	head := string(rawHead(t, br))
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || !strings.Contains(head, "Content-Length: 102400\r\n") {
		t.Fatalf("head %q", head)
	}
	rest, err := io.ReadAll(br)
	if len(rest) != 0 || err != nil {
		t.Fatalf("after the head: %d bytes, %v; want the connection closed (FIN) with nothing more", len(rest), err)
	}
	if !bytes.Contains([]byte(r.elog.String()), []byte("upstream prematurely closed connection while reading upstream")) {
		t.Errorf("error log:\n%s\nwant nginx's premature close line", r.elog.String())
	}
}
