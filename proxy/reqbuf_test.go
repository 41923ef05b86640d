package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
)

// proxy_request_buffering off still reads a body whole before the first
// upstream, and so resends it on a retry, when nginx does (found by the
// differential suite): when it came with the head within
// client_header_buffer_size, or fits client_body_buffer_size. A larger
// body is streamed and not resent (TestRequestBufferingOff).
func TestRequestBufferingOffSmallBodyRetried(t *testing.T) {
	cases := []struct {
		name    string
		http    []string
		size    int
		retried bool
	}{
		{"with the head", []string{"client_body_buffer_size: 100"}, 600, true},
		{"fits client_body_buffer_size", nil, 8 << 10, true},
		{"over client_body_buffer_size", []string{"client_body_buffer_size: 1k"}, 4 << 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a0, got0 := rawUpstream(t, true) // reads the request, then RST
			u1 := upstream(t, upstreamsim.OK())
			d := newBTDirs(t)
			lines := append([]string{"proxy_request_buffering: off", "proxy_next_upstream: error timeout non_idempotent"}, c.http...)
			r := newRig(t, "warn", btYAML(d, 2, false, lines...), a0, u1.Addr())
			body := btRandom(c.size)
			// In one write: nginx takes the body it finds there when it
			// has read the head, and so does spillway (net/http's client
			// writes an 8k body after its head, in parts that may come
			// later on a loaded machine, and nginx would stream it too).
			status, got := doOneWrite(t, r.addr, "POST", "/echo", body)
			if first := requestBody(received(t, got0)); !bytes.Equal(first, body) {
				t.Errorf("the first server got %d different bytes", len(first))
			}
			if !c.retried {
				if status != 502 || u1.Total() != 0 {
					t.Fatalf("status %d, second server got %d requests; want 502 and none (a streamed body is not resent)", status, u1.Total())
				}
				return
			}
			if status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("status %d, %d bytes back; want 200 and the body from the second server", status, len(got))
			}
			if bs := u1.Bodies("POST", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
				t.Errorf("the second server did not get the body")
			}
			if log := r.log(); strings.Contains(log, "temporary file") {
				t.Errorf("the body went to a temp file:\n%s", log)
			}
			btEmptyDir(t, d.client)
		})
	}
}

// An answer whose status proxy_next_upstream lists (http_502) is not
// passed to the next server once a streamed body went with the request:
// the body cannot be sent again, and nginx (u->request_sent with
// request_body_no_buffering) gives the client the first server's answer.
// The same body buffered is passed on (the control).
func TestRequestBufferingOffListedStatusNotRetried(t *testing.T) {
	for _, c := range []struct {
		name      string
		buffering string
		retried   bool
	}{
		{"streamed", "off", false},
		{"buffered", "on", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			u0 := upstream(t, upstreamsim.Status(502))
			u1 := upstream(t, upstreamsim.OK())
			d := newBTDirs(t)
			r := newRig(t, "info", btYAML(d, 2, false, "proxy_request_buffering: "+c.buffering, "proxy_next_upstream: error timeout http_502"), u0.Addr(), u1.Addr())
			body := btRandom(64 << 10)
			status, _ := r.do("PUT", "/echo", body)
			if bs := u0.Bodies("PUT", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
				t.Fatalf("the first server did not get the whole body")
			}
			if c.retried {
				if status != 200 || u1.Total() != 1 {
					t.Fatalf("status %d, second server got %d requests; want 200 from it", status, u1.Total())
				}
				return
			}
			if status != 502 || u1.Total() != 0 {
				t.Fatalf("status %d, second server got %d requests; want the first server's 502 and none", status, u1.Total())
			}
			if want := "not retried: request body not buffered (upstream sent 502)"; !strings.Contains(r.log(), want) {
				t.Errorf("error log:\n%s\nwant the decision %q", r.log(), want)
			}
		})
	}
}

// doOneWrite sends a request with its body in one write(2) and reads the
// answer.
func doOneWrite(t *testing.T, addr, method, path string, body []byte) (int, []byte) {
	t.Helper()
	c := btDial(t, addr)
	req := method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), body...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
