package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// proxy_set_body as nginx (nginx-tests' proxy_set_body.t): the upstream
// gets the value, with variables, and its length as the one
// Content-Length, in place of the client's body, which is read and not
// sent.
func TestProxySetBody(t *testing.T) {
	addr, got := rawUpstream(t, false)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /, proxy_pass: "http://{U0}", proxy_set_body: "b=$arg_b m=$request_method"}
`, addr)
	if code, body := r.do("POST", "/x?b=set", []byte("the client's own body")); code != 200 || string(body) != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	req := <-got
	head, body, _ := strings.Cut(req, "\r\n\r\n")
	if body != "b=set m=POST" {
		t.Errorf("upstream body %q, want proxy_set_body's %q", body, "b=set m=POST")
	}
	if n := strings.Count(strings.ToLower(head), "content-length:"); n != 1 || !strings.Contains(head, "\r\nContent-Length: 12") {
		t.Errorf("upstream head has %d Content-Length lines, want one of 12:\n%s", n, head)
	}
}

// With proxy_set_body nginx reads the client's body whole even under
// proxy_request_buffering off (its request_body_no_buffering is set only
// without a body of its own), so client_max_body_size still refuses a
// chunked body too large: 413, and the upstream is never asked. Streamed,
// the client's body would not be read at all.
func TestProxySetBodyReadsClientBodyWhole(t *testing.T) {
	addr, got := rawUpstream(t, false)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  client_max_body_size: 64k
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /, proxy_pass: "http://{U0}", proxy_set_body: "b", proxy_request_buffering: false, proxy_http_version: "1.1"}
`, addr)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// 64 chunks of 4 KiB against a limit of 64k: more than a preread
	// can hold, so only reading the body finds it too large. Written
	// while the answer is read: a proxy that answers first stops reading.
	chunk := "1000\r\n" + strings.Repeat("a", 4<<10) + "\r\n"
	go func() {
		_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"+strings.Repeat(chunk, 64)+"0\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("status %d, want 413 (the client's body read whole against client_max_body_size)", resp.StatusCode)
	}
	select {
	case req := <-got:
		t.Errorf("the upstream was asked:\n%s", req)
	default:
	}
}
