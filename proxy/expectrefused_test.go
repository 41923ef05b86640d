package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client refused after "Expect: 100-continue" keeps its connection, as
// nginx: the answer says keep-alive, the body the client sends all the
// same is discarded and the next request on the connection is served; a
// client that waits for the "100 Continue" that never comes is closed
// once lingering_timeout passes without a byte (nginx's discarded-body
// timer), without an answer to anything.
func TestExpectRefusedKeepsConnection(t *testing.T) {
	const conf = `
error_log: {path: stderr, level: info}
http:
  access_log: off
  lingering_timeout: 200ms
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - {path: /deny, access: deny all, proxy_pass: "http://127.0.0.1:9"}
        - {path: /, return: "200 yes"}
`
	r := newRig(t, "info", conf)
	const refused = "POST /deny HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
	read := func(br *bufio.Reader) *http.Response {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp
	}

	t.Run("body sent all the same", func(t *testing.T) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, refused); err != nil {
			t.Fatal(err)
		}
		if resp := read(br); resp.StatusCode != 403 || resp.Close {
			t.Fatalf("status %d, close %v; want 403 and the connection kept", resp.StatusCode, resp.Close)
		}
		if _, err := io.WriteString(c, "0123456789GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if resp := read(br); resp.StatusCode != 200 {
			t.Fatalf("next request: status %d, want 200", resp.StatusCode)
		}
	})

	t.Run("body never sent", func(t *testing.T) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // far beyond lingering_timeout: a bound, not the measure
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, refused); err != nil {
			t.Fatal(err)
		}
		if resp := read(br); resp.StatusCode != 403 {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
		if b, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("read %q, %v; want the proxy to close (EOF)", b, err)
		}
	})
}
