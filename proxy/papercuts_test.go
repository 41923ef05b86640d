package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
)

// A server block without server_name logs nginx's "server: , request:"
// (the field with the empty name), as nginx 1.22 does for
// `server { listen 127.0.0.1:18477; location / { proxy_pass http://127.0.0.1:1; } }`.
func TestNoServerNameLogsEmptyServer(t *testing.T) {
	refused := upstreamsim.RefusedAddr(t)
	r := newRig(t, "error", `
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, refused)
	if status, _ := r.do("GET", "/x", nil); status != 502 {
		t.Fatalf("status %d, want 502", status)
	}
	want := `[error] 4242#4242: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "PROXY"`
	if !strings.Contains(r.log(), want) {
		t.Errorf("want the line\n%s\nin\n%s", want, r.log())
	}
}

// rawStatusLine sends one request over a fresh connection and returns the
// status line exactly as it came.
func rawStatusLine(t *testing.T, addr, path string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return strings.TrimRight(line, "\r\n")
}

// Through the proxy: an upstream's own reason phrase is relayed as it came
// (nginx relays the upstream's status line: "504 Custom Reason"), and the
// proxy's own 502 and 504 read like nginx's.
func TestStatusLinesThroughTheProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	hold := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.Contains(line, "/slow") {
					<-hold // never answers: proxy_read_timeout
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 504 Custom Reason\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}()
		}
	}()
	t.Cleanup(func() { close(hold) })
	refused := upstreamsim.RefusedAddr(t)
	r := newRig(t, "crit", `
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - {path: /, proxy_pass: "http://{U0}", proxy_read_timeout: 50ms}
        - {path: /refused, proxy_pass: "http://{U1}"}
`, ln.Addr().String(), refused)
	for path, want := range map[string]string{
		"/custom":  "HTTP/1.1 504 Custom Reason",
		"/slow":    "HTTP/1.1 504 Gateway Time-out",
		"/refused": "HTTP/1.1 502 Bad Gateway",
	} {
		if got := rawStatusLine(t, r.addr, path); got != want {
			t.Errorf("GET %s: %q, want %q", path, got, want)
		}
	}
}

// listen ... default_server makes a server that is not the first on its
// address the one an unknown Host goes to (nginx's default server); a
// known name still picks its own server.
func TestDefaultServerTakesUnknownHosts(t *testing.T) {
	first := upstream(t, upstreamsim.OK())
	def := upstream(t, upstreamsim.OK())
	r := newRig(t, "error", `
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [first.test]
      access_log: off
      locations: [{path: /, proxy_pass: "http://{U0}"}]
    - listen: ["127.0.0.1:0 default_server"]
      server_name: [def.test]
      access_log: off
      locations: [{path: /, proxy_pass: "http://{U1}"}]
`, first.Addr(), def.Addr())
	get := func(host string) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /size/1 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
	}
	get("other.test")
	if first.Total() != 0 || def.Total() != 1 {
		t.Fatalf("unknown Host: the first server's origin got %d, the default_server's %d; want 0 and 1", first.Total(), def.Total())
	}
	get("first.test")
	if first.Total() != 1 {
		t.Errorf("Host first.test did not reach its own server")
	}
}
