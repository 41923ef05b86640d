package proxy_test

// lingering_close on a real socket: a client that sends a 2 MiB body to a
// location with client_max_body_size 1m, and reads only once it has sent
// everything, gets the 413 (spillway read and discarded the rest); with
// lingering_close off the same client meets a reset instead.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sendAllThenRead writes a POST with a 2 MiB body in full and only then
// reads the answer. It returns the status (0 for none) and what failed.
func sendAllThenRead(t *testing.T, addr string) (status int, writeErr, readErr error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A fixed send buffer (no autotuning up to megabytes): the body cannot
	// all sit in kernel buffers, so the client is still sending when the
	// answer comes, as over a real network.
	if err := c.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a bound on a broken test, not a timing
	const size = 2 << 20
	head := "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2097152\r\n\r\n"
	body := bytes.Repeat([]byte("x"), size)
	_, writeErr = c.Write(append([]byte(head), body...))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, writeErr, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, writeErr, err
}

func lingerYAML(mode string) string {
	return `
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_max_body_size: 1m
  lingering_close: ` + mode + `
  lingering_timeout: 5s
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - {path: /, proxy_pass: "http://127.0.0.1:9"}
`
}

func TestLingeringCloseDeliversThe413(t *testing.T) {
	for _, mode := range []string{"on", "always"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, "info", lingerYAML(mode))
			status, werr, rerr := sendAllThenRead(t, r.addr)
			if status != 413 || werr != nil || rerr != nil {
				t.Fatalf("status %d, write error %v, read error %v; want the 413 after the whole body", status, werr, rerr)
			}
			if !strings.Contains(r.elog.String(), "client intended to send too large body: 2097152 bytes") {
				t.Errorf("no 413 line:\n%s", r.elog.String())
			}
		})
	}
}

func TestLingeringCloseOffResets(t *testing.T) {
	r := newRig(t, "info", lingerYAML("off"))
	status, werr, rerr := sendAllThenRead(t, r.addr)
	// The client cannot finish sending its request: the connection was
	// reset under it (a client that gives up on a write error, as most do,
	// never reads the 413).
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Errorf("want the body's write reset, got status %d, write error %v, read error %v", status, werr, rerr)
	}
	t.Logf("lingering_close off: status %d, write error %v, read error %v", status, werr, rerr)
}

// The lingering close of an answer that closes the connection (nginx's
// ngx_http_set_lingering_close from ngx_http_finalize_connection): a client
// that sent more than the request (here 64 KiB past it, unread when the
// answer is done) gets the answer and then the end of the stream (FIN:
// spillway shut down writing and drained the rest) with lingering_close on;
// with off, the close with unread bytes is a reset, as in nginx.
func TestLingeringCloseAfterAnswer(t *testing.T) {
	for _, c := range []struct {
		mode string
		end  error
	}{
		{"on", io.EOF},
		{"always", io.EOF},
		{"off", syscall.ECONNRESET},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  lingering_close: `+c.mode+`
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - {path: /, return: 200 ok}
`)
			cl, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_ = cl.SetDeadline(time.Now().Add(20 * time.Second)) // a bound on a broken test, not a timing
			req := "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
			if _, err := cl.Write(append([]byte(req), bytes.Repeat([]byte("x"), 64<<10)...)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(cl)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "ok" || err != nil {
				t.Fatalf("status %d, body %q, %v; want 200 and ok", resp.StatusCode, body, err)
			}
			if _, err := br.ReadByte(); !errors.Is(err, c.end) {
				t.Errorf("after the answer: %v, want %v", err, c.end)
			}
			if got := r.elog.String(); got != "" {
				t.Errorf("error log:\n%s\nwant nothing", got)
			}
		})
	}
}
