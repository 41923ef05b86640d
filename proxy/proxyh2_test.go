//go:build linux

package proxy_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// h2Echo answers every request with what it got, as the upstream saw it:
// the protocol, method, :authority, URI, the header fields a proxy must
// not pass on HTTP/2, and the body. /big is 16 MiB of a pattern.
func h2Echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", fmt.Sprint(len(h2Big)))
			_, _ = w.Write(h2Big)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s %s conn=%q te=%q x=%q cl=%d body=%s",
			name, r.Proto, r.Method, r.Host, r.RequestURI, r.Header.Get("Connection"), r.Header.Get("Transfer-Encoding"),
			r.Header.Get("X-Test"), r.ContentLength, body)
	})
}

var h2Big = bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the sockets hold

// startH2c serves h with HTTP/2 over cleartext (prior knowledge), counting
// connections in cl. The server is closed by the test's cleanup.
func startH2c(t *testing.T, cl *countingListener, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl.Listener = ln
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true) // prior knowledge, as proxy_http_version 2 speaks to http://
	s := &http.Server{Handler: h, Protocols: &protos}
	go func() { _ = s.Serve(cl) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

func h2UpRig(t *testing.T, upstreams string, locations string, addrs ...string) *rig {
	t.Helper()
	return newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
`+upstreams+`  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: {TMP}/access.log}
      locations:
`+locations, addrs...)
}

// proxy_http_version 2 to an h2c upstream: GET and POST go through the
// proxy pipeline as HTTP/2 requests (Host as :authority, no Connection or
// Transfer-Encoding, the buffered body with its length), a response larger
// than the buffers is spooled to a temp file and arrives whole, and the
// group's keepalive keeps the one HTTP/2 connection for every request
// (after a HEAD, whose response has no body to read, too).
func TestProxyHTTP2Upstream(t *testing.T) {
	var cl countingListener
	up := startH2c(t, &cl, h2Echo("A"))
	r := h2UpRig(t, "    ka: {keepalive: 2, servers: [{address: \"{U0}\"}]}\n",
		`        - path: /
          proxy_pass: http://ka
          proxy_http_version: 2
          proxy_set_header: ["Host h2.test", "X-Test $arg_x"]
          proxy_buffer_size: 4k
          proxy_buffers: 4 4k
          proxy_busy_buffers_size: 8k
`, up)
	status, body := r.do("GET", "/a?x=1", nil)
	if want := `A HTTP/2.0 GET h2.test /a?x=1 conn="" te="" x="1" cl=0 body=`; status != 200 || string(body) != want {
		t.Fatalf("GET: %d %q, want 200 %q\n%s", status, body, want, r.elog.String())
	}
	status, body = r.do("POST", "/p", []byte("hello h2"))
	if want := `A HTTP/2.0 POST h2.test /p conn="" te="" x="" cl=8 body=hello h2`; status != 200 || string(body) != want {
		t.Fatalf("POST: %d %q, want 200 %q\n%s", status, body, want, r.elog.String())
	}
	// A client that stops reading: the rest of the response goes to a
	// temp file, and the upstream's stream ends while the client waits.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + r.addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatalf("GET /big, first bytes: %v", err)
	}
	testutil.Eventually(t, "the response to be spooled to a temp file", 10*time.Second, func() bool {
		return strings.Contains(r.elog.String(), "an upstream response is buffered to a temporary file")
	})
	rest, err := io.ReadAll(resp.Body)
	if body := append(head, rest...); resp.StatusCode != 200 || err != nil || !bytes.Equal(body, h2Big) {
		t.Fatalf("GET /big: %d, %d bytes, %v; want 200 and %d bytes\n%s", resp.StatusCode, len(body), err, len(h2Big), r.elog.String())
	}
	if status, _ := r.do("HEAD", "/head", nil); status != 200 {
		t.Fatalf("HEAD: %d", status)
	}
	if status, body := r.do("GET", "/again", nil); status != 200 || !strings.HasPrefix(string(body), "A HTTP/2.0 GET h2.test /again") {
		t.Fatalf("GET after /big: %d %q", status, body)
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("upstream connections = %d, want 1 (kept by keepalive)", n)
	}
}

// A reset before the response: proxy_next_upstream error sends the PUT
// (idempotent) to the next server with its body replayed, and nginx's
// error line names the http:// upstream.
func TestProxyHTTP2RetryOnReset(t *testing.T) {
	var cl countingListener
	bad := resettingUpstream(t)
	good := startH2c(t, &cl, h2Echo("B"))
	r := h2UpRig(t, "    two: {servers: [{address: \"{U0}\"}, {address: \"{U1}\"}]}\n",
		`        - {path: /, proxy_pass: http://two, proxy_http_version: "2", proxy_next_upstream: error}
`, bad, good)
	for i := range 2 { // round robin: one of the two meets the resetting server first
		status, body := r.do("PUT", "/r", []byte("replay me"))
		if want := `B HTTP/2.0 PUT two /r conn="" te="" x="" cl=9 body=replay me`; status != 200 || string(body) != want {
			t.Fatalf("PUT %d: %d %q, want 200 %q\n%s", i, status, body, want, r.elog.String())
		}
	}
	l := r.elog.String()
	if !strings.Contains(l, "(104: Connection reset by peer) while ") || !strings.Contains(l, `upstream: "http://`+bad+`/r"`) {
		t.Errorf("no reset line naming the http:// upstream:\n%s", l)
	}
}

// https:// with proxy_http_version 2: TLS with ALPN h2, the certificate
// checked as for HTTP/1.1.
func TestProxyHTTP2TLSUpstream(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	lf := ca.leaf(t, "localhost")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h2Echo("T"), TLSConfig: &tls.Config{Certificates: []tls.Certificate{lf.pair}, NextProtos: []string{"h2"}}}
	go func() { _ = s.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = s.Close() })
	caFile := writeFile(t, filepath.Join(t.TempDir(), "ca.pem"), ca.pem)
	r := h2UpRig(t, "    tls: {servers: [{address: \"{U0}\"}]}\n",
		`        - {path: /, proxy_pass: https://tls, proxy_http_version: 2, proxy_ssl_verify: on, proxy_ssl_name: localhost, proxy_ssl_trusted_certificate: `+caFile+`}
`, ln.Addr().String())
	status, body := r.do("POST", "/s", []byte("sec"))
	if want := `T HTTP/2.0 POST tls /s conn="" te="" x="" cl=3 body=sec`; status != 200 || string(body) != want {
		t.Fatalf("POST over TLS: %d %q, want 200 %q\n%s", status, body, want, r.elog.String())
	}
}

// An https:// server that does not do ALPN (an HTTP/1.1 server): no
// HTTP/1.1 fallback, an SSL error for the server (502 with one server).
func TestProxyHTTP2TLSNoALPN(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	lf := ca.leaf(t, "localhost")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h2Echo("T")}
	go func() { _ = s.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{lf.pair}})) }()
	t.Cleanup(func() { _ = s.Close() })
	caFile := writeFile(t, filepath.Join(t.TempDir(), "ca.pem"), ca.pem)
	r := h2UpRig(t, "    tls: {servers: [{address: \"{U0}\"}]}\n",
		`        - {path: /, proxy_pass: https://tls, proxy_http_version: 2, proxy_ssl_verify: on, proxy_ssl_name: localhost, proxy_ssl_trusted_certificate: `+caFile+`}
`, ln.Addr().String())
	if status, body := r.do("GET", "/s", nil); status != 502 {
		t.Fatalf("GET: %d %q, want 502\n%s", status, body, r.elog.String())
	}
	if l := r.elog.String(); !strings.Contains(l, `upstream SSL: the server did not negotiate ALPN "h2"`) || !strings.Contains(l, `upstream: "https://`+ln.Addr().String()+`/s"`) {
		t.Errorf("no ALPN error line naming the https:// upstream:\n%s", l)
	}
}
