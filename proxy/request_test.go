package proxy_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
)

// A request body's Content-Length goes upstream as its number, as nginx
// sends its own (ngx_http_proxy_create_request formats content_length_n):
// a client's "007" is "7" upstream, and a length that came in chunks is
// the body's size (request buffering on).
func TestContentLengthForwardedAsNumber(t *testing.T) {
	for _, c := range []struct{ name, req, want string }{
		{"leading zeros", "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 007\r\n\r\nabcdefg",
			"POST /x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 7\r\n\r\nabcdefg"},
		{"chunked", "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			"POST /x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, heads := rawUpstream(t, false)
			r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  upstreams:
    backend:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://backend}
`, addr)
			conn, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = conn.Write([]byte(c.req))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := received(t, heads); got != c.want {
				t.Fatalf("upstream got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}
