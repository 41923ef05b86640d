//go:build linux

//lint:file-ignore SA1019 the tests speak HTTP/2 with x/net/http2's Transport and Framer on purpose: net/http's client would hide the frames and settings they check

package proxy_test

// HTTP/2 to clients (issue 21): each stream through the same lifecycle as an
// HTTP/1.1 request, ALPN h2 and http/1.1 on one TLS socket, prior
// knowledge (h2c) on a plain address, flow control composed with response
// buffering, GOAWAY on reload, and the abuse bounds. Real clients on real
// sockets: Go's HTTP/2 transports, the raw framer, and curl when it has
// HTTP/2.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
	"spillway/proxy/internal/testutil"
)

// h2Rig is a proxy with one "ssl http2" address in front of origin.
type h2Rig struct {
	*rig
	ca   *testCA
	alog string
	yaml string // the configuration, for reload
}

const h2Tmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_buffers: 4 8k
  upstreams:
    app:
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0 ssl http2"]
      server_name: [localhost]
      ssl_certificate: {CERT}
      ssl_certificate_key: {KEY}
      access_log: {path: {ALOG}, format: '"$request" $server_protocol $status $body_bytes_sent $scheme $connection'}
      locations:
        - path: /
          proxy_pass: http://app
          proxy_next_upstream: error timeout
        - path: /gone
          return: 444
        - path: /lit
          return: 200 literal
`

func newH2Rig(t *testing.T, tmpl string, upstreams ...string) *h2Rig {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	alog := filepath.Join(dir, "access.log")
	tmpl = strings.NewReplacer("{CERT}", cf, "{KEY}", kf, "{ALOG}", alog, "{TMP}", dir).Replace(tmpl)
	yaml := tmpl
	for i, u := range upstreams {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("{U%d}", i), u)
	}
	return &h2Rig{rig: newRig(t, "info", tmpl, upstreams...), ca: ca, alog: alog, yaml: yaml}
}

// reload applies the rig's configuration with old replaced by new.
func (r *h2Rig) reload(old, new string) {
	r.t.Helper()
	if !strings.Contains(r.yaml, old) {
		r.t.Fatalf("reload: no %q in the configuration", old)
	}
	cfg, err := config.LoadBytes(filepath.Join(r.t.TempDir(), "proxy.yaml"), []byte(strings.Replace(r.yaml, old, new, 1)))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		r.t.Fatal(err)
	}
}

// client is Go's HTTP/2 transport, h2 by ALPN.
func (r *h2Rig) client() *http.Client {
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost"}}
	r.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func (r *h2Rig) accessLog() string {
	b, _ := os.ReadFile(r.alog)
	return string(b)
}

// resettingUpstream reads a request's first bytes and resets the
// connection (RST): a failure before any response, which nginx retries.
func resettingUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// echoOrigin answers with what it was sent, and with an Upgrade header that
// an HTTP/1.1 client is passed (nginx) but an HTTP/2 one must never get.
func echoOrigin(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header()["Content-Type"] = nil // no sniffing: only what the cases say
		switch r.URL.Path {
		case "/lower": // a name in lower case
			w.Header()["content-type"] = []string{"application/x-test"}
		case "/typed":
			w.Header()["Content-Type"] = []string{"text/x-test"}
		}
		w.Header().Set("Upgrade", "foo")
		w.Header().Set("X-Origin", "echo")
		fmt.Fprintf(w, "%s %s host=%s x=%s cl=%d body=%s", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Test"), r.ContentLength, b)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// streamLifecycle sends what HTTP/2 and HTTP/3 (proto) answer alike, on
// one connection of c: a PUT whose buffered body is replayed after the
// first upstream (resettingUpstream) reset the connection, with the
// response's connection-level fields dropped; a literal return; return 444,
// which resets the stream while the connection lives on. It returns the
// PUT's answer, for the access-log checks.
func streamLifecycle(t *testing.T, r *h2Rig, c *http.Client, base string, proto int) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", base+"/a?q=1", strings.NewReader("hello body"))
	req.Header.Set("X-Test", "yes")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != proto {
		t.Fatalf("protocol %s, want HTTP/%d.0", resp.Proto, proto)
	}
	// The first server reset the connection; the buffered body was replayed
	// to the second, with its length; :authority became Host.
	want := "PUT /a?q=1 host=app x=yes cl=10 body=hello body"
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, b, want)
	}
	if resp.Header.Get("Upgrade") != "" || resp.Header.Get("X-Origin") != "echo" || resp.Header.Get("Server") != "spillway" {
		t.Errorf("headers %v: want X-Origin and Server, no Upgrade", resp.Header)
	}
	if !strings.Contains(r.elog.String(), "recv() failed (104: Connection reset by peer) while reading response header from upstream") {
		t.Errorf("error log lacks the reset upstream's line:\n%s", r.elog.String())
	}
	// A literal return and a request for nothing: no upstream involved.
	if resp, body := getBody(t, c, base+"/lit"); resp.StatusCode != 200 || body != "literal" {
		t.Errorf("/lit: %d %q", resp.StatusCode, body)
	}
	// return 444: the stream is reset (HTTP/2's INTERNAL_ERROR, HTTP/3's
	// H3_INTERNAL_ERROR), the connection lives on.
	if _, err := c.Get(base + "/gone"); err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Errorf("/gone: err %v, want the stream reset", err)
	}
	getBody(t, c, base+"/lit")
	return want
}

func getBody(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// One stream goes through routing, request-body buffering and replay after
// a reset upstream, the response, and the access log with HTTP/2.0 as the
// protocol; return 444 resets the stream; ALPN http/1.1 on the same socket
// is the HTTP/1.1 path.
func TestHTTP2Lifecycle(t *testing.T) {
	r := newH2Rig(t, h2Tmpl, resettingUpstream(t), echoOrigin(t))
	c := r.client()
	want := streamLifecycle(t, r, c, "https://"+r.addr, 2)

	// Content-Type as the upstream sent it, in any case, and none when it
	// sent none (http2 would sniff one).
	for path, want := range map[string][]string{"/typed": {"text/x-test"}, "/lower": {"application/x-test"}, "/untyped": nil} {
		resp, err := c.Get("https://" + r.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("Content-Type"); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}

	// ALPN http/1.1 on the same address: the HTTP/1.1 path.
	tc, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("ALPN http/1.1 offered: negotiated %q", p)
	}
	if status, body := roundTrip(t, tc, "/lit"); status != 200 || body != "literal" {
		t.Errorf("HTTP/1.1 on the h2 address: %d %q", status, body)
	}
	tc.Close()

	testutil.Eventually(t, "the access log", 5*time.Second, func() bool { return strings.Count(r.accessLog(), "\n") >= 8 })
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.accessLog()), "\n") {
		if !strings.Contains(l, "typed ") && !strings.Contains(l, "/lower ") {
			lines = append(lines, l) // not the Content-Type requests, in map order
		}
	}
	conn := strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1]
	wantLog := []string{
		`"PUT /a?q=1 HTTP/2.0" HTTP/2.0 200 ` + fmt.Sprint(len(want)) + ` https ` + conn,
		`"GET /lit HTTP/2.0" HTTP/2.0 200 7 https ` + conn, // one connection, one $connection
		`"GET /gone HTTP/2.0" HTTP/2.0 444 0 https ` + conn,
		`"GET /lit HTTP/2.0" HTTP/2.0 200 7 https ` + conn,
	}
	for i, w := range wantLog {
		if lines[i] != w {
			t.Errorf("access log line %d = %q, want %q", i, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[4], `"GET /lit HTTP/1.1" HTTP/1.1 200 7 https`) {
		t.Errorf("access log line 4 = %q, want the HTTP/1.1 request", lines[4])
	}
}

// Prior knowledge on a plain "listen ... http2" (nginx 1.22 serves h2c
// there); an HTTP/1.1 client on the same address still gets HTTP/1.1.
func TestHTTP2PriorKnowledge(t *testing.T) {
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      http2: on
      locations: [{path: /, proxy_pass: "http://{U0}", proxy_set_header: {Host: $host}}]
`, echoOrigin(t))
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+r.addr+"/p", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(b) != "POST /p host=127.0.0.1 x= cl=3 body=abc" { // :authority is the Host: $host
		t.Errorf("h2c: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
	// A head larger than a page (fasthttp parses the stream's head in one
	// buffer): up to large_client_header_buffers' 4 × 8k.
	long := strings.Repeat("v", 6000)
	req, _ := http.NewRequest("GET", "http://"+r.addr+"/long", nil)
	req.Header.Set("X-Test", long)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), " x="+long+" ") {
		t.Errorf("a 6000-byte header: %d %.80q", resp.StatusCode, b)
	}
	status, body := r.do("GET", "/q", nil)
	if status != 200 || !strings.HasPrefix(string(body), "GET /q ") {
		t.Errorf("HTTP/1.1 on the h2c address: %d %q", status, body)
	}
}

// bigOrigin serves /big: n bytes of a known pattern with Content-Length,
// and records when it has written them all; any other path gets "small".
type bigOrigin struct {
	addr string
	done atomic.Bool // /big was written to the end: the upstream is free
}

func newBigOrigin(t *testing.T, n int) *bigOrigin {
	t.Helper()
	o := &bigOrigin{}
	body := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if _, err := w.Write(body); err == nil {
			o.done.Store(true)
		}
	}))
	t.Cleanup(s.Close)
	o.addr = s.Listener.Addr().String()
	return o
}

// A stream whose window is closed is a slow client: its buffered response
// spills to a temp file after proxy_spill_grace and the upstream is
// released, while another stream on the same connection is served.
func TestHTTP2SlowStreamSpills(t *testing.T) {
	const size = 4 << 20
	o := newBigOrigin(t, size)
	r := newH2Rig(t, h2Tmpl, o.addr, o.addr)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost"},
		ForceAttemptHTTP2: true,
		// The stream's window: 64k, what the client has not read yet.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 4 << 20},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	streamSpills(t, r, o, c, "https://"+r.addr, 2, size)
}

// streamSpills: a stream whose window is closed (c's client reads
// nothing of /big, size bytes from o) is a slow client: its buffered
// response spills to a temp file after proxy_spill_grace and the upstream
// is released, while another stream on the same connection is served
// (HTTP/2 and HTTP/3 alike: proto).
func streamSpills(t *testing.T, r *h2Rig, o *bigOrigin, c *http.Client, base string, proto, size int) {
	t.Helper()
	big, err := c.Get(base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer big.Body.Close()
	if big.ProtoMajor != proto || big.ContentLength != int64(size) {
		t.Fatalf("/big: %s, Content-Length %d", big.Proto, big.ContentLength)
	}
	// Not a byte read: the stream's window closes at 64k, the spool's 32k
	// of memory fill, and after the grace the rest goes to a temp file
	// while the upstream sends it all.
	testutil.Eventually(t, "the spill and the upstream's last byte", 20*time.Second, func() bool {
		return o.done.Load() && strings.Contains(r.elog.String(), "an upstream response is buffered to a temporary file")
	})
	// The other stream on the same connection is not held up.
	if small, b := getBody(t, c, base+"/small"); small.StatusCode != 200 || b != "small" {
		t.Errorf("/small: %d %q", small.StatusCode, b)
	}
	all, err := io.ReadAll(big.Body)
	if err != nil || len(all) != size || !bytes.Equal(all[size-16:], []byte("0123456789abcdef")) {
		t.Fatalf("/big: %d bytes, err %v", len(all), err)
	}
	testutil.Eventually(t, "two access-log lines", 5*time.Second, func() bool { return strings.Count(r.accessLog(), "\n") == 2 })
	lines := strings.Split(strings.TrimSpace(r.accessLog()), "\n")
	f0, f1 := strings.Fields(lines[0]), strings.Fields(lines[1])
	if f0[len(f0)-1] != f1[len(f1)-1] {
		t.Errorf("the two streams came on different connections:\n%s", r.accessLog())
	}
	if want := fmt.Sprintf(`"GET /big HTTP/%d.0" HTTP/%d.0 200 %d `, proto, proto, size); !strings.HasPrefix(lines[1], want) {
		t.Errorf("access log: %q, want %s...", lines[1], want)
	}
}

// h2Raw is an HTTP/2 client made of the raw framer, for what Go's
// transport would not send or does not show (SETTINGS, frame sizes,
// GOAWAY, floods).
type h2Raw struct {
	t    *testing.T
	c    net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

// dialH2Raw connects to addr: over TLS with ALPN h2 when ca is set, else
// with prior knowledge; it sends the preface and settings.
func dialH2Raw(t *testing.T, addr string, ca *testCA, settings ...http2.Setting) *h2Raw {
	t.Helper()
	var c net.Conn
	var err error
	if ca != nil {
		var tc *tls.Conn
		tc, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), ServerName: "localhost", NextProtos: []string{"h2"}})
		if err == nil && tc.ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatalf("ALPN: %q", tc.ConnectionState().NegotiatedProtocol)
		}
		c = tc
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2Raw{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return h
}

// block encodes header fields given as name, value pairs.
func (h *h2Raw) block(kv ...string) []byte {
	h.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), h.hbuf.Bytes()...)
}

// get opens stream id with a GET of path.
func (h *h2Raw) get(id uint32, authority, path string) {
	h.t.Helper()
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true,
		BlockFragment: h.block(":method", "GET", ":scheme", "https", ":authority", authority, ":path", path)})
	if err != nil {
		h.t.Fatal(err)
	}
}

// next reads the next frame, acknowledging the server's SETTINGS; it
// returns nil once the connection is closed.
func (h *h2Raw) next(d time.Duration) http2.Frame {
	h.t.Helper()
	_ = h.c.SetReadDeadline(time.Now().Add(d))
	f, err := h.fr.ReadFrame()
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			h.t.Fatalf("no frame within %v", d)
		}
		return nil
	}
	if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
		_ = h.fr.WriteSettingsAck()
	}
	return f
}

// TestHTTP2Settings: nginx's directives become the connection's SETTINGS,
// and http2_chunk_size the size of a body's DATA frames.
func TestHTTP2Settings(t *testing.T) {
	o := newBigOrigin(t, 64<<10)
	r := newH2Rig(t, strings.Replace(h2Tmpl, "  proxy_buffers: 4 8k\n", `  proxy_buffers: 4 8k
  http2_max_concurrent_streams: 7
  http2_body_preread_size: 32k
  http2_chunk_size: 4k
  large_client_header_buffers: 2 4k
`, 1), o.addr, o.addr)
	h := dialH2Raw(t, r.addr, r.ca, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	_ = h.fr.WriteWindowUpdate(0, 1<<20)
	f := h.next(5 * time.Second)
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	want := map[http2.SettingID]uint32{http2.SettingMaxConcurrentStreams: 7, http2.SettingInitialWindowSize: 32 << 10}
	for id, v := range want {
		if got, ok := sf.Value(id); !ok || got != v {
			t.Errorf("SETTINGS %v = %d (%v), want %d", id, got, ok, v)
		}
	}
	// The header list limit: large_client_header_buffers' 2 × 4k, plus
	// http2's allowance for the fields' 32-byte overhead.
	if got, ok := sf.Value(http2.SettingMaxHeaderListSize); !ok || got < 8<<10 || got > 8<<10+1024 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d (%v), want about 8k", got, ok)
	}
	h.get(1, "localhost", "/big")
	total, frames := 0, 0
	for total < 64<<10 {
		f := h.next(10 * time.Second)
		if f == nil {
			t.Fatalf("connection closed after %d body bytes", total)
		}
		if d, ok := f.(*http2.DataFrame); ok {
			if len(d.Data()) > 4<<10 {
				t.Errorf("a DATA frame of %d bytes, over http2_chunk_size 4k", len(d.Data()))
			}
			total += len(d.Data())
			frames++
		}
	}
	if frames < 16 {
		t.Errorf("64k in %d DATA frames, want 16 or more", frames)
	}
}

// slowOrigin holds each request until release is closed.
func slowOrigin(t *testing.T) (addr string, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan struct{}, 16), make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return s.Listener.Addr().String(), arrived, release
}

// Reload and graceful quit send GOAWAY at once, and the stream in flight
// still gets its whole answer before the connection closes (nginx).
func TestHTTP2GoAway(t *testing.T) {
	for _, how := range []string{"reload", "quit"} {
		t.Run(how, func(t *testing.T) {
			addr, arrived, release := slowOrigin(t)
			dir := t.TempDir()
			yaml := `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: ` + dir + `
  client_body_temp_path: ` + dir + `
  servers:
    - listen: ["127.0.0.1:0 http2"]
      locations: [{path: /, proxy_pass: "http://` + addr + `"}]
`
			r := newRig(t, "info", yaml)
			h := dialH2Raw(t, r.addr, nil)
			h.get(1, "localhost", "/slow")
			<-arrived
			stopped := make(chan error, 1)
			if how == "reload" {
				cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(strings.Replace(yaml, "level: info", "level: warn", 1)))
				if err != nil {
					t.Fatal(err)
				}
				if err := r.p.Reload(cfg); err != nil {
					t.Fatal(err)
				}
			} else {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					stopped <- r.p.Shutdown(ctx)
				}()
			}
			var goaway *http2.GoAwayFrame
			for goaway == nil {
				f := h.next(10 * time.Second)
				if f == nil {
					t.Fatal("closed before GOAWAY")
				}
				goaway, _ = f.(*http2.GoAwayFrame)
			}
			if goaway.ErrCode != http2.ErrCodeNo || goaway.LastStreamID != 1 {
				t.Errorf("GOAWAY %v last stream %d, want NO_ERROR and 1", goaway.ErrCode, goaway.LastStreamID)
			}
			close(release)
			var status, body string
			ended := false
			for !ended {
				switch f := h.next(10 * time.Second).(type) {
				case nil:
					t.Fatalf("closed before the stream ended (status %q, body %q)", status, body)
				case *http2.MetaHeadersFrame:
					status = f.PseudoValue("status")
				case *http2.DataFrame:
					body += string(f.Data())
					ended = f.StreamEnded()
				}
			}
			if status != "200" || body != "late" {
				t.Errorf("stream 1: %q %q, want 200 \"late\"", status, body)
			}
			for f := h.next(10 * time.Second); f != nil; f = h.next(10 * time.Second) {
			}
			if how == "quit" {
				if err := <-stopped; err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}
		})
	}
}

// countingOrigin holds each request until release is closed or the proxy
// closes the connection, and keeps the most requests it held at once.
type countingOrigin struct {
	addr          string
	release       chan struct{}
	now, max, all atomic.Int64
}

func newCountingOrigin(t *testing.T) *countingOrigin {
	t.Helper()
	o := &countingOrigin{release: make(chan struct{})}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.all.Add(1)
		n := o.now.Add(1)
		defer o.now.Add(-1)
		for m := o.max.Load(); n > m && !o.max.CompareAndSwap(m, n); m = o.max.Load() {
		}
		select {
		case <-o.release:
			io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		select {
		case <-o.release:
		default:
			close(o.release)
		}
	})
	o.addr = s.Listener.Addr().String()
	return o
}

func h2cRig(t *testing.T, origin string, extra string) (*rig, string) {
	t.Helper()
	dir := t.TempDir()
	alog := filepath.Join(dir, "access.log")
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: `+dir+`
  client_body_temp_path: `+dir+`
`+extra+`
  servers:
    - listen: ["127.0.0.1:0 http2"]
      access_log: {path: `+alog+`, format: '"$request" $status'}
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, origin)
	return r, alog
}

// A client that resets its stream while the upstream is awaited ends the
// exchange at once: 499, the upstream connection closed (nginx).
func TestHTTP2ClientReset(t *testing.T) {
	o := newCountingOrigin(t)
	r, alog := h2cRig(t, o.addr, "")
	h := dialH2Raw(t, r.addr, nil)
	h.get(1, "localhost", "/slow")
	testutil.Eventually(t, "the request upstream", 5*time.Second, func() bool { return o.now.Load() == 1 })
	if err := h.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the upstream connection closed", 5*time.Second, func() bool { return o.now.Load() == 0 })
	testutil.Eventually(t, "the access log", 5*time.Second, func() bool {
		b, _ := os.ReadFile(alog)
		return string(b) == "\"GET /slow HTTP/2.0\" 499\n"
	})
	// The connection goes on.
	close(o.release)
	h.get(3, "localhost", "/next")
	for {
		f := h.next(5 * time.Second)
		if f == nil {
			t.Fatal("connection closed")
		}
		if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == 3 {
			if s := m.PseudoValue("status"); s != "200" {
				t.Errorf("stream 3: %s", s)
			}
			break
		}
	}
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// drainFrames reads frames until the connection closes or d passes
// without one, and reports the GOAWAY seen, if any.
func (h *h2Raw) drainFrames(d time.Duration) (goaway *http2.GoAwayFrame, closed bool) {
	for {
		_ = h.c.SetReadDeadline(time.Now().Add(d))
		f, err := h.fr.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return goaway, false
			}
			return goaway, true
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			goaway = g
		}
	}
}

// Rapid reset (CVE-2023-44487): thousands of HEADERS each followed by
// RST_STREAM. The upstream never sees more requests at once than
// http2_max_concurrent_streams, the proxy's memory and goroutines come
// back, and other clients are served throughout.
func TestHTTP2RapidReset(t *testing.T) {
	o := newCountingOrigin(t)
	const keepaliveRequests = 1000
	r, _ := h2cRig(t, o.addr, fmt.Sprintf("  http2_max_concurrent_streams: 8\n  keepalive_requests: %d\n", keepaliveRequests))
	baseG, baseHeap := runtime.NumGoroutine(), heapInUse()
	h := dialH2Raw(t, r.addr, nil)
	const streams = 5000
	start := time.Now()
	sent := make(chan int, 1)
	go func() {
		n := 0
		for id := uint32(1); n < streams; id += 2 {
			blk := h.block(":method", "GET", ":scheme", "http", ":authority", "localhost", ":path", "/r")
			if h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true, BlockFragment: blk}) != nil ||
				h.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	goaway, _ := h.drainFrames(2 * time.Second)
	n := <-sent
	how := "none"
	if goaway != nil {
		how = fmt.Sprintf("%v after stream %d", goaway.ErrCode, goaway.LastStreamID)
	}
	t.Logf("%d HEADERS+RST_STREAM in %v; upstream saw %d requests, at most %d at once; GOAWAY %s",
		n, time.Since(start), o.all.Load(), o.max.Load(), how)
	if m := o.max.Load(); m > 8 {
		t.Errorf("the upstream held %d requests at once, over http2_max_concurrent_streams 8", m)
	}
	// Two ends are right: http2 cuts the flood off (ENHANCE_YOUR_CALM) when
	// reset streams' handlers queue up, or, when the handlers keep up (a
	// scheduling matter), the 1000th stream reaches keepalive_requests and
	// the connection ends gracefully (NO_ERROR), as nginx's does.
	switch {
	case goaway == nil, goaway.ErrCode == http2.ErrCodeEnhanceYourCalm:
	case goaway.ErrCode == http2.ErrCodeNo && goaway.LastStreamID >= 2*keepaliveRequests-1:
	default:
		t.Errorf("GOAWAY %v, last stream %d", goaway.ErrCode, goaway.LastStreamID)
	}
	h.c.Close()
	close(o.release)
	if s, b := r.do("GET", "/", nil); s != 200 || string(b) != "late" { // another client, after
		t.Errorf("after the flood: %d %q", s, b)
	}
	testutil.Eventually(t, "the upstream requests ended", 10*time.Second, func() bool { return o.now.Load() == 0 })
	testutil.Eventually(t, "the goroutines back", 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+10 })
	if grown := int64(heapInUse()) - int64(baseHeap); grown > 16<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
}

// A CONTINUATION flood (CVE-2024-27316 family): one header block that
// never ends, CONTINUATION after CONTINUATION. The proxy stops reading it
// once it passes the header list limit (large_client_header_buffers) and
// closes the connection, without holding the block in memory.
func TestHTTP2ContinuationFlood(t *testing.T) {
	o := newCountingOrigin(t)
	r, _ := h2cRig(t, o.addr, "")
	baseHeap := heapInUse()
	h := dialH2Raw(t, r.addr, nil)
	first := h.block(":method", "GET", ":scheme", "http", ":authority", "localhost", ":path", "/c")
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first}); err != nil {
		t.Fatal(err)
	}
	var frag []byte
	for i := range 200 { // distinct literal fields, 16k a frame
		h.hbuf.Reset()
		_ = h.enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-flood-%d", i), Value: strings.Repeat("v", 64), Sensitive: true})
		frag = append(frag, h.hbuf.Bytes()...)
	}
	frag = frag[:16<<10]
	const limit = 256 << 20 // what the flood would send if nothing stopped it
	sent := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sent < limit && h.fr.WriteContinuation(1, false, frag) == nil {
			sent += len(frag)
		}
	}()
	goaway, closed := h.drainFrames(10 * time.Second)
	h.c.Close()
	<-done
	t.Logf("closed %v after %d bytes of CONTINUATION; GOAWAY %v", closed, sent, goaway)
	if !closed || sent >= limit {
		t.Fatalf("the connection took %d bytes of one header block and stayed open (%v)", sent, closed)
	}
	if o.all.Load() != 0 {
		t.Errorf("%d requests reached the upstream", o.all.Load())
	}
	if grown := int64(heapInUse()) - int64(baseHeap); grown > 16<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
}

// An HPACK bomb: one 4k field put in the dynamic table, then referred to
// thousands of times at one byte each (16k on the wire, 40M decoded). The
// decoded list passes the header limit after a few references: in one
// HEADERS frame, the request is refused (431) without decoding the rest and
// the connection goes on; spread over CONTINUATION frames, the connection
// is closed at the first one after the limit (PROTOCOL_ERROR). No request
// reaches the upstream, and the heap does not grow with the decoded size.
func TestHTTP2HPACKBomb(t *testing.T) {
	for _, tc := range []struct {
		name  string
		refs  int
		split bool
	}{{"one frame", 10000, false}, {"continuations", 40000, true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := newCountingOrigin(t)
			close(o.release)
			r, _ := h2cRig(t, o.addr, "")
			baseHeap := heapInUse()
			h := dialH2Raw(t, r.addr, nil)
			h.hbuf.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", "/b"}} {
				_ = h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			bomb := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
			for range tc.refs {
				_ = h.enc.WriteField(bomb)
			}
			blk := append([]byte(nil), h.hbuf.Bytes()...)
			for first := true; len(blk) > 0; first = false {
				k := min(len(blk), 16<<10)
				var err error
				if first {
					err = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: k == len(blk), BlockFragment: blk[:k]})
				} else {
					err = h.fr.WriteContinuation(1, k == len(blk), blk[:k])
				}
				if err != nil {
					break // closed under us
				}
				blk = blk[k:]
			}
			status := ""
			for status == "" {
				switch f := h.next(10 * time.Second).(type) {
				case nil:
					status = "closed"
				case *http2.GoAwayFrame:
					status = "GOAWAY " + f.ErrCode.String()
				case *http2.MetaHeadersFrame:
					status = f.PseudoValue("status")
				case *http2.RSTStreamFrame:
					status = "RST " + f.ErrCode.String()
				}
			}
			want := "431"
			if tc.split {
				want = "GOAWAY PROTOCOL_ERROR"
			}
			if status != want {
				t.Errorf("the bomb: %s, want %s", status, want)
			}
			if o.all.Load() != 0 {
				t.Errorf("%d requests reached the upstream", o.all.Load())
			}
			if grown := int64(heapInUse()) - int64(baseHeap); grown > 16<<20 {
				t.Errorf("heap grew by %d bytes", grown)
			}
			if tc.split {
				return
			}
			// The connection goes on. The encoder's table is the
			// server's: the next block refers to what both hold.
			h.get(3, "localhost", "/after")
			for {
				f := h.next(5 * time.Second)
				if f == nil {
					t.Fatal("connection closed")
				}
				if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == 3 {
					if s := m.PseudoValue("status"); s != "200" {
						t.Errorf("stream 3: %s", s)
					}
					return
				}
			}
		})
	}
}

// curlFeature returns a runner of the installed curl (-sS, 10s at most),
// and skips the test when curl's feature list (curl -V) lacks feature.
func curlFeature(t *testing.T, feature string) func(args ...string) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	if v, err := exec.Command(curl, "-V").Output(); err != nil || !bytes.Contains(v, []byte(feature)) {
		t.Skipf("the installed curl lacks %s (curl -V does not list it)", feature)
	}
	return func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

// curlPost POSTs with curl (flag: --http2, --http3-only) to localhost at
// addr's port, trusting r's CA, and returns the body, the HTTP version
// and the status.
func curlPost(t *testing.T, run func(...string) string, r *h2Rig, flag, addr string) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, r.ca.pem)
	_, port, _ := net.SplitHostPort(addr)
	return run(flag, "--cacert", ca, "--resolve", "localhost:"+port+":127.0.0.1",
		"-w", " %{http_version} %{response_code}", "-d", "posted", "https://localhost:"+port+"/c")
}

// curl, when it speaks HTTP/2: ALPN h2 over TLS, and prior knowledge.
func TestHTTP2Curl(t *testing.T) {
	run := curlFeature(t, "HTTP2")
	r := newH2Rig(t, h2Tmpl, echoOrigin(t), echoOrigin(t))
	if got := curlPost(t, run, r, "--http2", r.addr); got != "POST /c host=app x= cl=6 body=posted 2 200" {
		t.Errorf("curl --http2: %q", got)
	}

	h2c, _ := h2cRig(t, echoOrigin(t), "")
	got := run("--http2-prior-knowledge", "-w", " %{http_version} %{response_code}", "http://"+h2c.addr+"/d")
	if !strings.HasPrefix(got, "GET /d host=") || !strings.HasSuffix(got, " cl=0 body= 2 200") {
		t.Errorf("curl --http2-prior-knowledge: %q", got)
	}
}

// h2NginxConf is one nginx.conf served by real nginx 1.22 and, converted,
// by spillway: HTTP/2 with prior knowledge on a plain address.
const h2NginxConf = `
daemon off; master_process on; worker_processes 1; USERLINE
error_log ERRLOG info; pid PIDFILE;
events {}
http {
  client_body_temp_path TMP/client; proxy_temp_path TMP/proxy;
  fastcgi_temp_path TMP/fastcgi; NGINXONLY
  log_format h2 '"$request" $status $server_protocol $scheme';
  client_max_body_size 1k;
  server {
    listen LISTEN http2;
    server_name h2.test;
    access_log LOG h2;
    location / { proxy_pass http://UPSTREAM; }
    location /down { proxy_pass http://127.0.0.1:1; }
    location /gone { return 444; }
    location = /lit { return 200 "literal"; }
  }
}
`

// TestHTTP2LikeNginx sends the same HTTP/2 requests (prior knowledge)
// through real nginx and through spillway running the converted file:
// statuses, resets, the access-log lines and the upstream error line must
// be the same.
func TestHTTP2LikeNginx(t *testing.T) {
	bin := varsNginxBin(t)
	up := plainOrigin(t, "O")
	dir := t.TempDir()
	conf := func(side, listen string) string {
		only, user := "", ""
		if side == "ng" && os.Geteuid() == 0 {
			user = "user root;"
		}
		if side == "ng" {
			only = "uwsgi_temp_path " + filepath.Join(dir, side, "tmp", "uwsgi") + "; scgi_temp_path " + filepath.Join(dir, side, "tmp", "scgi") + ";"
		}
		return strings.NewReplacer("USERLINE", user, "NGINXONLY", only, "LISTEN", listen, "UPSTREAM", up,
			"LOG", filepath.Join(dir, side, "access.log"), "ERRLOG", filepath.Join(dir, side, "error.log"),
			"PIDFILE", filepath.Join(dir, side, "nginx.pid"), "TMP", filepath.Join(dir, side, "tmp")).Replace(h2NginxConf)
	}
	for _, side := range []string{"sp", "ng"} {
		if err := os.MkdirAll(filepath.Join(dir, side, "tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	type result struct{ answers, access, errlog string }
	send := func(addr string) string {
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		var out []string
		for _, rq := range []struct{ method, path, body string }{
			{"GET", "/ok", ""}, {"GET", "/lit", ""}, {"GET", "/gone", ""}, {"GET", "/down", ""},
			{"POST", "/ok", strings.Repeat("x", 2000)}, {"GET", "/lit", ""},
		} {
			var body io.Reader
			if rq.body != "" {
				body = strings.NewReader(rq.body)
			}
			req, _ := http.NewRequest(rq.method, "http://"+addr+rq.path, body)
			resp, err := c.Do(req)
			if err != nil {
				e := err.Error()
				if i := strings.Index(e, "stream error"); i >= 0 {
					e = e[i:] // the stream's reset, without the URL
				}
				out = append(out, rq.path+" "+e)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b = nil // error pages differ in their footer (nginx/1.22.1, spillway)
			}
			out = append(out, fmt.Sprintf("%s %s %d %s", rq.path, resp.Proto, resp.StatusCode, b))
		}
		return strings.Join(out, "\n")
	}
	norm := func(s, addr string) string {
		_, port, _ := net.SplitHostPort(addr)
		s = strings.ReplaceAll(s, ":"+port, ":PORT")
		s = regexp.MustCompile(`stream error: stream ID \d+`).ReplaceAllString(s, "stream error: stream ID N")
		// return 444 resets the stream: nginx with PROTOCOL_ERROR,
		// spillway with http2's INTERNAL_ERROR (the handler's abort; http2
		// lets a handler choose no other code). README lists it.
		return strings.Replace(s, "; INTERNAL_ERROR;", "; PROTOCOL_ERROR;", 1)
	}
	errLine := func(path string) string {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.Index(l, "connect() failed"); i >= 0 {
				return regexp.MustCompile(`\*\d+ `).ReplaceAllString(l[i:], "")
			}
		}
		return ""
	}
	var got [2]result
	{
		cfgText := conf("sp", "127.0.0.1:0")
		ds, err := nginxconf.Parse("h2.conf", []byte(cfgText))
		if err != nil {
			t.Fatal(err)
		}
		res, err := nginxconf.Convert(ds, nginxconf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.LoadBytes(filepath.Join(dir, "sp", "h2.yaml"), res.YAML)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.YAML)
		}
		p, err := proxy.New(cfg, proxy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		addr := p.Addrs()[0]
		got[0].answers = norm(send(addr), addr)
		_ = p.Close()
		got[0].access = strings.Join(readLines(t, filepath.Join(dir, "sp", "access.log")), "\n")
		got[0].errlog = norm(errLine(filepath.Join(dir, "sp", "error.log")), addr)
	}
	addr, _, stop := startNginx(t, bin, filepath.Join(dir, "ng"), func(listen string) string { return conf("ng", listen) })
	got[1].answers = norm(send(addr), addr)
	stop()
	got[1].access = strings.Join(readLines(t, filepath.Join(dir, "ng", "access.log")), "\n")
	got[1].errlog = norm(errLine(filepath.Join(dir, "ng", "error.log")), addr)

	if got[0].answers != got[1].answers {
		t.Errorf("answers:\nspillway:\n%s\nnginx:\n%s", got[0].answers, got[1].answers)
	}
	if got[0].access != got[1].access {
		t.Errorf("access logs:\nspillway:\n%s\nnginx:\n%s", got[0].access, got[1].access)
	}
	if got[0].errlog != got[1].errlog || got[1].errlog == "" {
		t.Errorf("the upstream's error line:\nspillway: %s\nnginx:    %s", got[0].errlog, got[1].errlog)
	}
}

// keepalive_requests bounds the streams of one connection: the last one's
// response comes with GOAWAY, then the connection closes (nginx 1.19.7+).
func TestHTTP2KeepaliveRequests(t *testing.T) {
	o := newCountingOrigin(t)
	close(o.release)
	r, _ := h2cRig(t, o.addr, "  keepalive_requests: 2\n")
	h := dialH2Raw(t, r.addr, nil)
	var events []string
	for _, id := range []uint32{1, 3} {
		h.get(id, "localhost", "/k")
		for ended := false; !ended; {
			switch f := h.next(10 * time.Second).(type) {
			case nil:
				t.Fatalf("closed; so far %v", events)
			case *http2.GoAwayFrame:
				events = append(events, fmt.Sprintf("GOAWAY %d %v", f.LastStreamID, f.ErrCode))
			case *http2.MetaHeadersFrame:
				events = append(events, fmt.Sprintf("%d %s", f.StreamID, f.PseudoValue("status")))
				ended = f.StreamEnded()
			case *http2.DataFrame:
				ended = f.StreamEnded()
			}
		}
	}
	goaway, closed := h.drainFrames(10 * time.Second)
	if goaway != nil {
		events = append(events, fmt.Sprintf("GOAWAY %d %v", goaway.LastStreamID, goaway.ErrCode))
	}
	got := strings.Join(events, ", ")
	if want := "1 200, 3 200, GOAWAY 3 NO_ERROR"; !strings.HasPrefix(got, "1 200, ") || !strings.Contains(got, "GOAWAY 3 NO_ERROR") || !closed {
		t.Errorf("frames: %s (closed %v), want %s and the connection closed", got, closed, want)
	}
}
