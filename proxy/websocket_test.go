package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/internal/testutil"
)

// wsOrigin is a WebSocket echo origin on 127.0.0.1 (coder/websocket, a real
// implementation of RFC 6455): every message comes back as it came, except
// "abort", on which the origin drops the connection without a close
// handshake. It records the Upgrade header each request arrived with and
// how each connection ended.
type wsOrigin struct {
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	upgrades []string // the Upgrade header of each request
	ends     []error  // how each WebSocket connection ended
}

func newWSOrigin(t testing.TB, certs ...tls.Certificate) *wsOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) > 0 { // an https:// (wss) origin
		ln = tls.NewListener(ln, &tls.Config{Certificates: certs})
	}
	o := &wsOrigin{ln: ln}
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve)}
	go func() { _ = o.srv.Serve(ln) }()
	t.Cleanup(func() { _ = o.srv.Close() })
	return o
}

func (o *wsOrigin) addr() string { return o.ln.Addr().String() }

func (o *wsOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.upgrades = append(o.upgrades, r.Header.Get("Upgrade"))
	o.mu.Unlock()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered (426 without "Connection: upgrade")
	}
	c.SetReadLimit(4 << 20)
	ctx := context.Background()
	var end error
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			end = err
			break
		}
		if string(msg) == "abort" {
			_ = c.CloseNow()
			end = errors.New("aborted")
			break
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			end = err
			break
		}
	}
	o.mu.Lock()
	o.ends = append(o.ends, end)
	o.mu.Unlock()
}

func (o *wsOrigin) ended() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.ends...)
}

const wsTmpl = `
error_log: {path: stderr, level: info}
{METRICS}
{WST}
http:
  proxy_http_version: "1.1"
  proxy_read_timeout: {PRT}
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      keepalive: 8
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent'}
      locations:
        - path: /ws
          proxy_pass: http://app
          proxy_set_header: {Upgrade: $http_upgrade, Connection: "upgrade"}
        - path: /plain
          proxy_pass: http://app
`

type wsRig struct {
	*rig
	o    *wsOrigin
	alog string
	yaml string
	dir  string
}

func newWSRig(t *testing.T, readTimeout, shutdownTimeout string) *wsRig {
	t.Helper()
	o := newWSOrigin(t)
	dir := t.TempDir()
	alog := filepath.Join(dir, "access.log")
	wst := ""
	if shutdownTimeout != "" {
		wst = "worker_shutdown_timeout: " + shutdownTimeout
	}
	yaml := strings.NewReplacer("{ALOG}", alog, "{PRT}", readTimeout, "{WST}", wst,
		"{METRICS}", `metrics: {listen: "127.0.0.1:0"}`).Replace(wsTmpl)
	r := newRig(t, "info", yaml, o.addr())
	return &wsRig{rig: r, o: o, alog: alog, yaml: strings.ReplaceAll(yaml, "{U0}", o.addr()), dir: dir}
}

func (r *wsRig) dial(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+r.addr+path, &websocket.DialOptions{Host: "localhost"})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial %s: status %d", path, resp.StatusCode)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// echo sends msg and wants it back.
func echo(t *testing.T, c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	gt, got, err := c.Read(ctx)
	if err != nil || gt != typ || !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes: type %v, %d bytes, %v", len(msg), gt, len(got), err)
	}
}

// tunnels is spillway_tunnels_open now.
func (r *wsRig) tunnels(t *testing.T) float64 {
	t.Helper()
	v, ok := scrape(t, r.p.MetricsAddr())["spillway_tunnels_open"]
	if !ok {
		t.Fatal("no spillway_tunnels_open")
	}
	return v
}

// A WebSocket application works behind spillway configured as nginx's
// documentation says: the Upgrade request is passed on, the 101 turns the
// connection into a two-way tunnel (small and large messages, ping/pong,
// the close handshake), the open tunnel is counted, and the access-log
// line is written when it closes, with status 101 and the bytes the origin
// sent through it.
func TestWebSocketTunnel(t *testing.T) {
	r := newWSRig(t, "60s", "")
	c := r.dial(t, "/ws")
	if n := r.tunnels(t); n != 1 {
		t.Errorf("spillway_tunnels_open %v during the tunnel, want 1", n)
	}
	echo(t, c, websocket.MessageText, []byte("hello"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, many reads each way
	echo(t, c, websocket.MessageBinary, big)

	// Ping waits for a reader to see the pong.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	read := make(chan string, 1)
	go func() {
		_, m, err := c.Read(ctx)
		if err != nil {
			read <- err.Error()
			return
		}
		read <- string(m)
	}()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if got := <-read; got != "after ping" {
		t.Fatalf("read %q after the ping", got)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	testutil.Eventually(t, "the origin saw the close", 10*time.Second, func() bool { return len(r.o.ended()) == 1 })
	if s := websocket.CloseStatus(r.o.ended()[0]); s != websocket.StatusNormalClosure {
		t.Errorf("origin ended with %v, want a normal closure", r.o.ended()[0])
	}
	lines := readAccessLog(t, r.alog, 1)
	var status, n int
	if _, err := fmt.Sscanf(lines[0], `"GET /ws HTTP/1.1" %d %d`, &status, &n); err != nil || status != 101 || n < len(big)+5 {
		t.Errorf("access log %q: want GET /ws, 101 and at least %d body bytes", lines[0], len(big)+5)
	}
	testutil.Eventually(t, "the tunnel gauge back to 0", 10*time.Second, func() bool { return r.tunnels(t) == 0 })
	if got := r.o.upgrades; len(got) != 1 || !strings.EqualFold(got[0], "websocket") {
		t.Errorf("origin saw Upgrade %q", got)
	}
	if l := r.log(); strings.Contains(l, "[error]") {
		t.Errorf("error log:\n%s", l)
	}
}

// nginx never forwards the hop-by-hop Upgrade and Connection headers on its
// own: without proxy_set_header the origin sees a plain GET and refuses
// the handshake (426 here), which the client gets as it came.
func TestWebSocketNeedsProxySetHeader(t *testing.T) {
	r := newWSRig(t, "60s", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws://"+r.addr+"/plain", &websocket.DialOptions{Host: "localhost"})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("dial /plain: %v %v, want the origin's 426", err, resp)
	}
	if got := r.o.upgrades; len(got) != 1 || got[0] != "" {
		t.Errorf("origin saw Upgrade %q, want none", got)
	}
}

// proxy_read_timeout is the tunnel's idle timeout: nothing moving either
// way for that long ends it with nginx's line; the logged status stays 101.
func TestWebSocketIdleTimeout(t *testing.T) {
	r := newWSRig(t, "1s", "")
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("hello"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("read on an idle tunnel: %v (context %v), want the tunnel closed", err, ctx.Err())
	}
	want := `[info] 4242#4242: *1 upstream timed out (110: Connection timed out) while proxying upgraded connection, client: 127.0.0.1, server: localhost, request: "GET /ws HTTP/1.1", upstream: "http://U0/ws", host: "localhost"`
	testutil.Eventually(t, "the timeout line", 10*time.Second, func() bool { return strings.Contains(r.log(), want) })
	if got := readAccessLog(t, r.alog, 1); !strings.HasPrefix(got[0], `"GET /ws HTTP/1.1" 101 `) {
		t.Errorf("access log %q", got)
	}
}

// A client that goes away without a close handshake ends the tunnel: the
// origin's connection is closed, nothing is logged above info, the access
// log says 101.
func TestWebSocketClientAbort(t *testing.T) {
	r := newWSRig(t, "60s", "")
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("hello"))
	_ = c.CloseNow()
	testutil.Eventually(t, "the origin's connection closed", 10*time.Second, func() bool { return len(r.o.ended()) == 1 })
	if got := readAccessLog(t, r.alog, 1); got[0] != `"GET /ws HTTP/1.1" 101 7` {
		t.Errorf("access log %q, want 101 and the 7 bytes of the echo frame", got)
	}
	testutil.Eventually(t, "the tunnel gauge back to 0", 10*time.Second, func() bool { return r.tunnels(t) == 0 })
	if l := r.log(); strings.Contains(l, "[error]") {
		t.Errorf("error log:\n%s", l)
	}
}

// An origin that drops the connection ends the tunnel for the client.
func TestWebSocketUpstreamAbort(t *testing.T) {
	r := newWSRig(t, "60s", "")
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("hello"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte("abort")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("read after the origin dropped: %v (context %v)", err, ctx.Err())
	}
	if got := readAccessLog(t, r.alog, 1); got[0] != `"GET /ws HTTP/1.1" 101 7` {
		t.Errorf("access log %q", got)
	}
	if l := r.log(); strings.Contains(l, "[error]") {
		t.Errorf("error log:\n%s", l)
	}
}

// A reload keeps an open tunnel: it goes on carrying messages under the
// old configuration while new connections get the new one.
func TestWebSocketSurvivesReload(t *testing.T) {
	r := newWSRig(t, "60s", "")
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("before"))
	cfg, err := config.LoadBytes(filepath.Join(r.dir, "proxy.yaml"), []byte(strings.ReplaceAll(r.yaml, "{TMP}", r.dir)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	c2 := r.dial(t, "/ws") // the new configuration
	echo(t, c2, websocket.MessageText, []byte("new"))
	echo(t, c, websocket.MessageText, []byte("after"))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close handshake after the reload: %v", err)
	}
	if err := c2.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	lines := readAccessLog(t, r.alog, 2)
	for _, l := range lines {
		if !strings.HasPrefix(l, `"GET /ws HTTP/1.1" 101 `) {
			t.Errorf("access log %q", lines)
		}
	}
}

// QUIT (Shutdown) waits for an open tunnel, which keeps working, until
// worker_shutdown_timeout; then the tunnel is closed and logged.
func TestWebSocketQuitWaitsForTunnel(t *testing.T) {
	r := newWSRig(t, "60s", "3s")
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("before"))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- r.p.Shutdown(ctx)
	}()
	// The listener closes at once; the tunnel stays.
	testutil.Eventually(t, "the listener closed", 10*time.Second, func() bool {
		nc, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	echo(t, c, websocket.MessageText, []byte("during the shutdown"))
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("read after worker_shutdown_timeout: %v (context %v)", err, ctx.Err())
	}
	if got := readAccessLog(t, r.alog, 1); !strings.HasPrefix(got[0], `"GET /ws HTTP/1.1" 101 `) {
		t.Errorf("access log %q", got)
	}
}

// The tunnel at the byte level, as measured against nginx 1.22.1: what the
// client sends right behind its request head reaches the upstream after
// the 101; a client's FIN ends the tunnel at once (no half-close: nginx's
// upgraded handler finalizes on the first EOF), so what the upstream says
// after it never arrives; the access log counts the bytes the upstream sent
// through the tunnel.
func TestTunnelEarlyBytesAndClientFIN(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		early := make([]byte, 5)
		if _, err := io.ReadFull(br, early); err != nil {
			return false
		}
		_, _ = io.WriteString(c, "E:"+string(early))
		rest, _ := io.ReadAll(br) // "more", then the proxy's close
		_, _ = io.WriteString(c, "late:"+string(rest))
		return false
	})
	r := newAccessRig(t, "info", strings.NewReplacer("proxy_read_timeout: 1s", "proxy_read_timeout: 60s").Replace(switchTmpl), false, o.addr())
	c := rawSend(t, r.addr, "GET /t HTTP/1.1\r\nHost: localhost\r\nUpgrade: test\r\nConnection: upgrade\r\n\r\nearly", 20*time.Second)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	got := make([]byte, 7)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "E:early" {
		t.Fatalf("got %q, %v; want the upstream's answer to the early bytes", got, err)
	}
	_, _ = io.WriteString(c, "more")
	_ = c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the client's FIN: %q, %v; want the tunnel closed", rest, err)
	}
	if got := readAccessLog(t, r.alog, 1); got[0] != `"GET /t HTTP/1.1" 101 7` {
		t.Errorf("access log %q", got)
	}
	if l := r.log(); strings.Contains(l, "[error]") {
		t.Errorf("error log:\n%s", l)
	}
}

// Resets inside a tunnel are logged as nginx's recv() logs them: [error]
// for the upstream's, [info] for the client's. The status stays 101.
func TestTunnelResets(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       string
	}{
		{"upstream", "/rst", `[error] 4242#4242: *1 recv() failed (104: Connection reset by peer) while proxying upgraded connection, client: 127.0.0.1, server: localhost, request: "GET /rst HTTP/1.1", upstream: "http://U0/rst", host: "localhost"`},
		{"client", "/wait", `[info] 4242#4242: *1 recv() failed (104: Connection reset by peer) while proxying upgraded connection, client: 127.0.0.1, server: localhost, request: "GET /wait HTTP/1.1", upstream: "http://U0/wait", host: "localhost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
				if line == "GET /rst" {
					_, _ = br.ReadByte() // the client's "x": the tunnel is up
					_ = c.(*net.TCPConn).SetLinger(0)
					return false
				}
				_, _ = io.Copy(io.Discard, br)
				return false
			})
			r := newAccessRig(t, "info", strings.NewReplacer("proxy_read_timeout: 1s", "proxy_read_timeout: 60s").Replace(switchTmpl), false, o.addr())
			c := rawSend(t, r.addr, "GET "+tc.path+" HTTP/1.1\r\nHost: localhost\r\nUpgrade: test\r\nConnection: upgrade\r\n\r\n", 20*time.Second)
			br := bufio.NewReader(c)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("%v %v", resp, err)
			}
			if tc.name == "client" {
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
			} else {
				_, _ = io.WriteString(c, "x")
				if rest, err := io.ReadAll(br); len(rest) != 0 {
					t.Errorf("after the upstream's reset: %q, %v", rest, err)
				}
			}
			testutil.Eventually(t, "the reset's line", 10*time.Second, func() bool { return strings.Contains(r.log(), tc.want) })
			if got := readAccessLog(t, r.alog, 1); got[0] != `"GET `+tc.path+` HTTP/1.1" 101 0` {
				t.Errorf("access log %q", got)
			}
		})
	}
}

// Over a TLS front and to an https:// upstream the tunnel is the same:
// wss:// from the client, TLS on both of spillway's sides.
func TestWebSocketOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	fc, fk := ca.leaf(t, "localhost").files(t, dir, "front")
	o := newWSOrigin(t, ca.leaf(t, "localhost").pair)
	caFile := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	alog := filepath.Join(dir, "access.log")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  proxy_http_version: "1.1"
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_ssl_verify: on
  proxy_ssl_trusted_certificate: %s
  proxy_ssl_name: localhost
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_certificate: %s
      ssl_certificate_key: %s
      access_log: {path: %s, format: '"$request" $status $body_bytes_sent $scheme'}
      locations:
        - path: /ws
          proxy_pass: https://{U0}
          proxy_set_header: {Upgrade: $http_upgrade, Connection: "upgrade"}
`, caFile, fc, fk, alog), o.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"}}}
	c, resp, err := websocket.Dial(ctx, "wss://"+r.addr+"/ws", &websocket.DialOptions{HTTPClient: hc, Host: "localhost"})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	echo(t, c, websocket.MessageText, []byte("hello"))
	echo(t, c, websocket.MessageBinary, bytes.Repeat([]byte{0xa5}, 1<<20))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	if got := readAccessLog(t, alog, 1); !strings.HasPrefix(got[0], `"GET /ws HTTP/1.1" 101 `) || !strings.HasSuffix(got[0], " https") {
		t.Errorf("access log %q", got)
	}
	if l := r.log(); strings.Contains(l, "[error]") {
		t.Errorf("error log:\n%s", l)
	}
}

// BenchmarkWebSocketEcho is the round trip of one 64 KiB binary message
// through a tunnel (client → spillway → echo origin and back).
//
//	go test -run '^$' -bench WebSocketEcho -benchmem ./proxy/
func BenchmarkWebSocketEcho(b *testing.B) {
	o := newWSOrigin(b)
	dir := b.TempDir()
	yaml := strings.NewReplacer("{ALOG}", filepath.Join(dir, "access.log"), "{PRT}", "60s", "{WST}", "", "{METRICS}", "",
		"{TMP}", dir, "{U0}", o.addr(), "level: info", "level: error").Replace(wsTmpl)
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws://"+p.Addrs()[0]+"/ws", &websocket.DialOptions{Host: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	msg := bytes.Repeat([]byte{0x5a}, 64<<10)
	b.SetBytes(int64(2 * len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || len(got) != len(msg) {
			b.Fatalf("%d bytes, %v", len(got), err)
		}
	}
}

// A side that stops reading ends the tunnel when the write to it has waited
// its timeout, with nginx's lines (measured against 1.22.1, both at
// [info]): send_timeout for the client ("client timed out"),
// proxy_send_timeout for the upstream ("upstream timed out"). The access
// log counts what reached the client.
func TestTunnelSendTimeouts(t *testing.T) {
	for _, tc := range []struct{ name, path, want string }{
		{"client", "/flood", `[info] 4242#4242: *1 client timed out (110: Connection timed out) while proxying upgraded connection, client: 127.0.0.1, server: localhost, request: "GET /flood HTTP/1.1", upstream: "http://U0/flood", host: "localhost"`},
		{"upstream", "/deaf", `[info] 4242#4242: *1 upstream timed out (110: Connection timed out) while proxying upgraded connection, client: 127.0.0.1, server: localhost, request: "GET /deaf HTTP/1.1", upstream: "http://U0/deaf", host: "localhost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
				if line == "GET /flood" {
					chunk := bytes.Repeat([]byte("x"), 64<<10)
					for {
						if _, err := c.Write(chunk); err != nil {
							return false
						}
					}
				}
				<-stop // deaf: reads nothing until the test ends
				return false
			})
			defer close(stop)
			r := newAccessRig(t, "info", strings.NewReplacer("proxy_read_timeout: 1s",
				"proxy_read_timeout: 60s\n  proxy_send_timeout: 1s\n  send_timeout: 1s").Replace(switchTmpl), false, o.addr())
			c := rawSend(t, r.addr, "GET "+tc.path+" HTTP/1.1\r\nHost: localhost\r\nUpgrade: test\r\nConnection: upgrade\r\n\r\n", 0)
			br := bufio.NewReader(c)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("%v %v", resp, err)
			}
			if tc.name == "upstream" {
				go func() { // until the tunnel is closed under it
					chunk := bytes.Repeat([]byte("y"), 64<<10)
					for {
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
				}()
			}
			testutil.Eventually(t, "the timeout's line", 20*time.Second, func() bool { return strings.Contains(r.log(), tc.want) })
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, _ := io.Copy(io.Discard, br)
			if got := readAccessLog(t, r.alog, 1); got[0] != fmt.Sprintf(`"GET %s HTTP/1.1" 101 %d`, tc.path, n) {
				t.Errorf("access log %q, want 101 and the %d bytes the client got", got, n)
			}
		})
	}
}

// spillway upstream's websocket behaviour (bench) is an origin for manual
// and load tests of tunnels: it works behind spillway as the test origin does.
func TestWebSocketBenchOrigin(t *testing.T) {
	u := upstream(t, upstreamsim.WebSocket())
	dir := t.TempDir()
	yaml := strings.NewReplacer("{ALOG}", filepath.Join(dir, "access.log"), "{PRT}", "60s", "{WST}", "", "{METRICS}", "").Replace(wsTmpl)
	r := &wsRig{rig: newRig(t, "info", yaml, u.Addr())}
	c := r.dial(t, "/ws")
	echo(t, c, websocket.MessageText, []byte("hello"))
	echo(t, c, websocket.MessageBinary, bytes.Repeat([]byte{7}, 1<<20))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

const wsMapConf = `
daemon off; master_process on; worker_processes 1; USERLINE
error_log ERRLOG info; pid PIDFILE;
events {}
http {
  client_body_temp_path TMP/client; proxy_temp_path TMP/proxy;
  fastcgi_temp_path TMP/fastcgi; NGINXONLY
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  log_format ws '$status "$request" $body_bytes_sent $connection_upgrade';
  server {
    listen LISTEN;
    server_name localhost;
    access_log LOG ws;
    location / {
      proxy_pass http://UPSTREAM;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
  }
}
`

// The usual nginx.conf, with map $http_upgrade $connection_upgrade, through
// real nginx and through spillway running the converted file: a WebSocket
// session (messages, the close handshake) and a plain request on the same
// location give the same statuses, messages and access-log lines.
func TestWebSocketMapLikeNginx(t *testing.T) {
	bin := varsNginxBin(t)
	dir := t.TempDir()
	conf := func(side, listen, origin string) string {
		only, user := "", ""
		if side == "ng" && os.Geteuid() == 0 {
			user = "user root;"
		}
		if side == "ng" {
			only = "uwsgi_temp_path " + filepath.Join(dir, side, "tmp", "uwsgi") + "; scgi_temp_path " + filepath.Join(dir, side, "tmp", "scgi") + ";"
		}
		return strings.NewReplacer("USERLINE", user, "NGINXONLY", only, "LISTEN", listen, "UPSTREAM", origin,
			"LOG", filepath.Join(dir, side, "access.log"), "ERRLOG", filepath.Join(dir, side, "error.log"),
			"PIDFILE", filepath.Join(dir, side, "nginx.pid"), "TMP", filepath.Join(dir, side, "tmp")).Replace(wsMapConf)
	}
	for _, d := range []string{"sp", "ng", "ng/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	session := func(addr string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var out []string
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Host: "localhost"})
		if err != nil {
			return append(out, fmt.Sprintf("dial: %v", err))
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		out = append(out, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Connection"), resp.Header.Get("Upgrade")))
		for _, m := range []string{"hello", strings.Repeat("x", 70000)} {
			_ = c.Write(ctx, websocket.MessageText, []byte(m))
			_, got, err := c.Read(ctx)
			out = append(out, fmt.Sprintf("echo %d: %d bytes, same %v, %v", len(m), len(got), string(got) == m, err))
		}
		out = append(out, fmt.Sprintf("close: %v", c.Close(websocket.StatusNormalClosure, "")))
		res, err := http.Get("http://" + addr + "/plain")
		if err != nil {
			return append(out, err.Error())
		}
		res.Body.Close()
		return append(out, fmt.Sprintf("plain: %d", res.StatusCode))
	}

	oSp := newWSOrigin(t)
	spAddr, stopSp := startConverted(t, conf("sp", "127.0.0.1:0", oSp.addr()))
	sp := session(spAddr)
	stopSp()
	oNg := newWSOrigin(t)
	ngAddr, ngLogs, stopNg := startNginx(t, bin, filepath.Join(dir, "ng"), func(listen string) string { return conf("ng", listen, oNg.addr()) })
	ng := session(ngAddr)
	stopNg()
	if strings.Join(sp, "\n") != strings.Join(ng, "\n") {
		t.Errorf("sessions differ:\nspillway %q\nnginx    %q\nnginx's log:\n%s", sp, ng, ngLogs())
	}
	spLog, ngLog := readLines(t, filepath.Join(dir, "sp", "access.log")), readLines(t, filepath.Join(dir, "ng", "access.log"))
	// The tunnel's line is written when the tunnel closes, which may come
	// after the plain request's on either side.
	slices.Sort(spLog)
	slices.Sort(ngLog)
	if strings.Join(spLog, "\n") != strings.Join(ngLog, "\n") || len(spLog) != 2 {
		t.Errorf("access logs differ:\nspillway %q\nnginx    %q", spLog, ngLog)
	}
	if testing.Verbose() {
		t.Logf("session %q\naccess %q", sp, spLog)
	}
}

// The 101 head carries the upstream's Upgrade once, however the upstream
// spelled the name, and nginx's "Connection: upgrade".
func TestTunnelHeadUpgradeOnce(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nX-App: 1\r\n\r\n")
		_, _ = io.Copy(io.Discard, br)
		return false
	})
	r := newAccessRig(t, "info", switchTmpl, false, o.addr())
	c := rawSend(t, r.addr, "GET /t HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 10*time.Second)
	br := bufio.NewReader(c)
	head := rawHead(t, br)
	lower := strings.ToLower(string(head))
	if strings.Count(lower, "\r\nupgrade: websocket") != 1 || strings.Count(lower, "\r\nconnection: upgrade") != 1 || !strings.Contains(string(head), "\r\nX-App: 1\r\n") {
		t.Errorf("101 head %q: want Upgrade and Connection once each, and X-App", head)
	}
}
