package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// prereadUpstream accepts connections on 127.0.0.1 and hands each request it
// reads whole (head and Content-Length body) to answer, with the
// connection; answer's return says whether the connection takes another.
func prereadUpstream(t *testing.T, answer func(c *net.TCPConn, head string, body []byte) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, err := io.ReadAll(req.Body)
					if err != nil {
						return
					}
					if !answer(c.(*net.TCPConn), req.Method+" "+req.RequestURI, body) {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A body that came whole with its head stays in the client connection's
// read buffer (prereadBody): it is sent from there, resent byte-identical
// by a retry after the first upstream reset the connection having read it
// all, is $request_body in the access log, and is not disturbed by the
// pipelined request that came after it in the same segment, whose head the
// connection reads only once the POST is answered.
func TestPrereadBodyReplayedAndPipelined(t *testing.T) {
	body := make([]byte, 3000)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	replayedAndPipelined(t, body, "")
}

// replayedAndPipelined sends a POST of body with a GET pipelined behind it
// in one write, to a group whose first server reads the whole request and
// resets and whose second echoes it (proxy_next_upstream non_idempotent),
// with extra http-level settings: both servers must get the body byte for
// byte, the client both answers, and the access log the body as
// $request_body and the POST's $request_length.
func replayedAndPipelined(t *testing.T, body []byte, extra string) {
	t.Helper()
	got := make(chan []byte, 4)
	reset := prereadUpstream(t, func(c *net.TCPConn, head string, b []byte) bool {
		got <- b
		_ = c.SetLinger(0) // an RST once it read the whole request
		return false
	})
	echo := prereadUpstream(t, func(c *net.TCPConn, head string, b []byte) bool {
		if strings.HasPrefix(head, "POST") {
			got <- b
		}
		resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(head)+1+len(b))+"\r\n\r\n"+head+"\n"), b...)
		_, err := c.Write(resp)
		return err == nil
	})
	dir := t.TempDir()
	yaml := strings.NewReplacer("{TMP}", dir, "{A}", reset, "{B}", echo, "{EXTRA}", extra).Replace(`
error_log: {TMP}/error.log
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
{EXTRA}  upstreams:
    two:
      servers: [{address: "{A}"}, {address: "{B}"}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {TMP}/access.log, format: '$request $status $request_length "$request_body"'}
      locations:
        - path: /
          proxy_pass: http://two
          proxy_next_upstream: error timeout non_idempotent
`)
	p := startErrorLogProxy(t, dir, yaml)

	nc, err := net.Dial("tcp", p.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	post := "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	get := "GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n"
	// One write: the POST's head, its body and the next request's head.
	if _, err := nc.Write([]byte(post + string(body) + get)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	for i, want := range []string{"POST /post\n" + string(body), "GET /after\n"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("response %d: %d %.60q..., %v; want 200 %.60q...", i, resp.StatusCode, b, err, want)
		}
	}
	// The round robin starts with the first server: the POST went to the
	// resetting one, then to the echo one.
	if n := len(got); n != 2 {
		t.Fatalf("%d upstreams got the POST, want 2 (a retry)", n)
	}
	for n := len(got); n > 0; n-- {
		if b := <-got; !bytes.Equal(b, body) {
			t.Errorf("an upstream got a body of %d bytes that is not the client's (%q...)", len(b), b[:min(len(b), 40)])
		}
	}
	lines := readAccessLog(t, filepath.Join(dir, "access.log"), 2)
	wantLog := "POST /post HTTP/1.1 200 " + strconv.Itoa(len(post)+len(body)) + ` "` + string(body) + `"`
	if lines[0] != wantLog {
		t.Errorf("access log: %.80q...; want %.80q...", lines[0], wantLog)
	}
	if lines[1] != `GET /after HTTP/1.1 200 40 "-"` {
		t.Errorf("access log: %q; want %q", lines[1], `GET /after HTTP/1.1 200 40 "-"`)
	}
}

// A body larger than the head's read keeps its first bytes where that read
// put them, in the client connection's read buffer, and reads the rest
// around the buffer into chunks (splitBody): the body sent upstream,
// resent by a retry after the first upstream reset the connection having
// read it all, and logged as $request_body is the client's byte for byte
// (a rest read through the buffer would overwrite the first bytes), and
// the request pipelined behind it in the same write is served after it.
func TestSplitBodyReplayedAndPipelined(t *testing.T) {
	body := make([]byte, 40000) // more than the 32 KiB read buffer holds
	x := uint32(1)
	for i := range body {
		x = x*1664525 + 1013904223
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[x>>27]
	}
	replayedAndPipelined(t, body, "  client_body_buffer_size: 64k\n")
}
