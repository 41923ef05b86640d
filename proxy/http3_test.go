//go:build linux

package proxy_test

// HTTP/3 to clients (issue 21): "listen ... quic" beside "listen ... ssl",
// each request stream through the same lifecycle as an HTTP/1.1 or
// HTTP/2 request, with quic-go's HTTP/3 client on 127.0.0.1 UDP.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"

	"spillway/proxy/internal/testutil"
)

const h3Tmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_buffers: 4 8k
  upstreams:
    app:
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0 ssl", "127.0.0.1:0 quic reuseport"]
      server_name: [localhost]
      ssl_certificate: {CERT}
      ssl_certificate_key: {KEY}
      http3_max_concurrent_streams: 8
      add_header: ['Alt-Svc h3=":443"; ma=86400']
      access_log: {path: {ALOG}, format: '"$request" $server_protocol $status $body_bytes_sent $scheme $http3 $connection'}
      locations:
        - path: /
          proxy_pass: http://app
          proxy_next_upstream: error timeout
        - path: /gone
          return: 444
        - path: /lit
          return: 200 literal
`

// h3Client is quic-go's HTTP/3 transport trusting the rig's CA; qc tunes
// QUIC (nil: quic-go's defaults).
func (r *h2Rig) h3Client(qc *quic.Config) (*http.Client, *http3.Transport) {
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost"}, QUICConfig: qc}
	r.t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}, tr
}

func (r *h2Rig) quicAddr() string {
	a := r.p.QUICAddrs()
	if len(a) != 1 {
		r.t.Fatalf("QUIC addresses %v, want one", a)
	}
	return a[0]
}

// A request with a body goes through routing, buffering and its replay
// after a reset upstream (SetLinger(0)), and is logged as HTTP/3.0 with
// $http3 "h3"; return 444 resets the stream and the connection lives on.
func TestHTTP3Lifecycle(t *testing.T) {
	r := newH2Rig(t, h3Tmpl, resettingUpstream(t), echoOrigin(t))
	c, _ := r.h3Client(nil)
	streamLifecycle(t, r, c, "https://"+r.quicAddr(), 3)
	// Alt-Svc is an add_header like any: here on HTTP/3, and on the TLS
	// address over HTTP/1.1, where a browser learns of HTTP/3.
	if resp, _ := getBody(t, c, "https://"+r.quicAddr()+"/lit"); resp.Header.Get("Alt-Svc") != `h3=":443"; ma=86400` {
		t.Errorf("Alt-Svc %q", resp.Header.Get("Alt-Svc"))
	}

	testutil.Eventually(t, "the access-log lines", 5*time.Second, func() bool { return strings.Count(r.accessLog(), "\n") >= 4 })
	lines := strings.Split(strings.TrimSpace(r.accessLog()), "\n")
	if !strings.HasPrefix(lines[0], `"PUT /a?q=1 HTTP/3.0" HTTP/3.0 200 47 https h3 `) {
		t.Errorf("access log: %q", lines[0])
	}
	// One QUIC connection: one $connection for its streams (quic-go's
	// client opens a new connection after a reset stream: the last line).
	conn := func(l string) string { f := strings.Fields(l); return f[len(f)-1] }
	for _, l := range lines[1:3] {
		if conn(l) != conn(lines[0]) || !strings.Contains(l, " HTTP/3.0 ") {
			t.Errorf("line %q: want HTTP/3.0 on connection %s\n%s", l, conn(lines[0]), r.accessLog())
		}
	}
	if !strings.Contains(r.accessLog(), `"GET /gone HTTP/3.0" HTTP/3.0 444 0 `) {
		t.Errorf("no 444 line:\n%s", r.accessLog())
	}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost"}}}
	if resp, err := h1.Get("https://" + r.addr + "/h1"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.Header.Get("Alt-Svc") != `h3=":443"; ma=86400` {
			t.Errorf("TLS address: %s Alt-Svc %q", resp.Proto, resp.Header.Get("Alt-Svc"))
		}
	}
	h1.CloseIdleConnections()
}

// A stream whose flow-control window is closed (the client reads nothing)
// is a slow client: its buffered response spills after proxy_spill_grace
// and the upstream is released, while another stream of the same
// connection is served.
func TestHTTP3SlowStreamSpills(t *testing.T) {
	const size = 4 << 20
	o := newBigOrigin(t, size)
	r := newH2Rig(t, h3Tmpl, o.addr, o.addr)
	c, _ := r.h3Client(&quic.Config{InitialStreamReceiveWindow: 64 << 10, MaxStreamReceiveWindow: 64 << 10})
	base := "https://" + r.quicAddr()

	streamSpills(t, r, o, c, base, 3, size)
}

// h3Conn dials one QUIC connection to the rig and speaks HTTP/3 on it
// alone (no pool, no retry on another connection). The proxy's control
// stream is read here rather than by quic-go's client: goaway yields the
// stream ID of each GOAWAY frame the proxy sends (RFC 9114 7.2.6); the
// client itself never learns of them, so it keeps sending on the
// connection, as a client that has not read the GOAWAY yet would.
func (r *h2Rig) h3Conn() (c *http.Client, cc *http3.RawClientConn, goaway <-chan uint64) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc := &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost", NextProtos: []string{http3.NextProtoH3}}
	qc, err := quic.DialAddr(ctx, r.quicAddr(), tc, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { qc.CloseWithError(0, "") })
	ch := make(chan uint64, 4)
	go func() {
		for {
			str, err := qc.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			go readControlStream(str, ch)
		}
	}()
	cc = (&http3.Transport{}).NewRawClientConn(qc)
	return &http.Client{Transport: cc, Timeout: 20 * time.Second}, cc, ch
}

// readControlStream sends the stream ID of each GOAWAY frame on str to
// goaway, if str is the control stream (type 0x00); frames are type,
// length, payload (RFC 9114 7.1), GOAWAY is type 0x07.
func readControlStream(str *quic.ReceiveStream, goaway chan<- uint64) {
	br := bufio.NewReader(str)
	if typ, err := quicvarint.Read(br); err != nil || typ != 0x00 {
		return
	}
	for {
		typ, err := quicvarint.Read(br)
		if err != nil {
			return
		}
		n, err := quicvarint.Read(br)
		if err != nil {
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if typ == 0x07 {
			id, _, _ := quicvarint.Parse(payload)
			goaway <- id
		}
	}
}

// goAwayID waits for the proxy's GOAWAY on an h3Conn and returns its
// stream ID: the first request stream the proxy will not serve.
func goAwayID(t *testing.T, goaway <-chan uint64) uint64 {
	t.Helper()
	select {
	case id := <-goaway:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no GOAWAY")
		return 0
	}
}

// rejected says whether err is a stream the proxy refused with
// H3_REQUEST_REJECTED (not processed: a client may retry it elsewhere).
func rejected(err error) bool {
	var he *http3.Error
	return errors.As(err, &he) && he.ErrorCode == http3.ErrCodeRequestRejected
}

// A reload sends GOAWAY on the open QUIC connections and lets their
// streams finish under the old configuration, as nginx's old worker does;
// a stream opened after the GOAWAY is rejected, and a new connection gets
// the new configuration. The socket stays.
func TestHTTP3Reload(t *testing.T) {
	addr, arrived, release := slowOrigin(t)
	r := newH2Rig(t, h3Tmpl, addr, addr)
	c, cc, goaway := r.h3Conn()
	base := "https://" + r.quicAddr()
	const oldAltSvc, newAltSvc = `h3=":443"; ma=86400`, `h3=":443"; ma=60`
	if resp, _ := getBody(t, c, base+"/lit"); resp.Header.Get("Alt-Svc") != oldAltSvc {
		t.Fatalf("before the reload: Alt-Svc %q", resp.Header.Get("Alt-Svc"))
	}
	type answer struct {
		altSvc, body string
		err          error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := c.Get(base + "/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp.Header.Get("Alt-Svc"), string(b), err}
	}()
	<-arrived
	r.reload("ma=86400", "ma=60")
	if a := r.p.QUICAddrs(); len(a) != 1 || a[0] != r.quicAddr() {
		t.Errorf("after the reload: QUIC addresses %v", a)
	}
	fresh, _ := r.h3Client(nil)
	if resp, body := getBody(t, fresh, base+"/lit"); resp.Header.Get("Alt-Svc") != newAltSvc || body != "literal" {
		t.Errorf("a new connection after the reload: Alt-Svc %q %q, want the new configuration's %q", resp.Header.Get("Alt-Svc"), body, newAltSvc)
	}
	// Streams 0 (/lit) and 4 (/slow) came before it: 8 is the first the
	// old configuration does not serve.
	if id := goAwayID(t, goaway); id != 8 {
		t.Errorf("GOAWAY stream ID %d, want 8", id)
	}
	if _, err := c.Get(base + "/lit"); !rejected(err) {
		t.Errorf("a stream opened after the GOAWAY: %v, want H3_REQUEST_REJECTED", err)
	}
	close(release)
	if a := <-got; a.err != nil || a.body != "late" || a.altSvc != oldAltSvc {
		t.Errorf("the stream open across the reload: %q Alt-Svc %q (err %v), want \"late\" under the old configuration (%q)", a.body, a.altSvc, a.err, oldAltSvc)
	}
	cc.CloseWithError(0, "") // the client's part once its streams are done (RFC 9114 5.2)
	if _, body := getBody(t, fresh, base+"/lit"); body != "literal" {
		t.Errorf("after the old connection closed: %q", body)
	}
}

// A reload that drops the quic address stops taking connections there
// at once, but the socket stays until the old configuration's connection
// is done: its stream finishes, then the port is free.
func TestHTTP3ReloadDropsAddress(t *testing.T) {
	addr, arrived, release := slowOrigin(t)
	r := newH2Rig(t, h3Tmpl, addr, addr)
	c, cc, goaway := r.h3Conn()
	quicAddr := r.quicAddr()
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("https://" + quicAddr + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-arrived
	r.reload(`, "127.0.0.1:0 quic reuseport"`, "")
	if a := r.p.QUICAddrs(); len(a) != 0 {
		t.Errorf("after the reload: QUIC addresses %v, want none", a)
	}
	if id := goAwayID(t, goaway); id != 4 {
		t.Errorf("GOAWAY stream ID %d, want 4 (after /slow's 0)", id)
	}
	close(release)
	if b := <-got; b != "late" {
		t.Errorf("the stream open across the reload got %q, want \"late\"", b)
	}
	cc.CloseWithError(0, "")
	ua, err := net.ResolveUDPAddr("udp", quicAddr)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the UDP port free", 10*time.Second, func() bool {
		pc, err := net.ListenUDP("udp", ua)
		if err != nil {
			return false
		}
		pc.Close()
		return true
	})
}

// worker_shutdown_timeout bounds the old configuration's QUIC connections
// after a reload: a stream that does not finish in time has its
// connection closed by the proxy.
func TestHTTP3ReloadShutdownTimeout(t *testing.T) {
	addr, arrived, _ := slowOrigin(t)
	r := newH2Rig(t, "worker_shutdown_timeout: 100ms\n"+h3Tmpl, addr, addr)
	c, cc, _ := r.h3Conn()
	failed := make(chan error, 1)
	go func() {
		resp, err := c.Get("https://" + r.quicAddr() + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		failed <- err
	}()
	<-arrived
	r.reload("ma=86400", "ma=60")
	select {
	case <-cc.Context().Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the old configuration's connection outlived worker_shutdown_timeout")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(cc.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Errorf("the connection ended with %v, want the proxy's close", err)
	}
	if err := <-failed; err == nil {
		t.Errorf("the stream cut off by worker_shutdown_timeout ended without an error")
	}
	fresh, _ := r.h3Client(nil)
	if _, body := getBody(t, fresh, "https://"+r.quicAddr()+"/lit"); body != "literal" {
		t.Errorf("a new connection: %q", body)
	}
}

// A new connection's QUIC settings are the configuration's in force when
// it comes: http3_max_concurrent_streams is the stream credit the client
// is given in the handshake (an open connection keeps its own).
func TestHTTP3ReloadSettings(t *testing.T) {
	r := newH2Rig(t, h3Tmpl, echoOrigin(t), echoOrigin(t))
	streams := func() int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tc := &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost", NextProtos: []string{http3.NextProtoH3}}
		qc, err := quic.DialAddr(ctx, r.quicAddr(), tc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer qc.CloseWithError(0, "")
		// Opened streams send nothing until written: the credit alone.
		for n := 0; n < 100; n++ {
			if _, err := qc.OpenStream(); err != nil {
				var le *quic.StreamLimitReachedError
				if !errors.As(err, &le) {
					t.Fatalf("stream %d: %v", n+1, err)
				}
				return n
			}
		}
		return 100
	}
	if n := streams(); n != 8 {
		t.Fatalf("before the reload: %d streams, want http3_max_concurrent_streams 8", n)
	}
	r.reload("http3_max_concurrent_streams: 8", "http3_max_concurrent_streams: 3")
	if n := streams(); n != 3 {
		t.Errorf("after the reload: %d streams, want the new http3_max_concurrent_streams 3", n)
	}
}

// Graceful quit: GOAWAY, the stream in flight gets its whole answer, then
// Shutdown returns and the address answers no more.
func TestHTTP3Quit(t *testing.T) {
	addr, arrived, release := slowOrigin(t)
	r := newH2Rig(t, h3Tmpl, addr, addr)
	c, cc, goaway := r.h3Conn()
	base := "https://" + r.quicAddr()
	getBody(t, c, base+"/lit")
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- r.p.Shutdown(ctx)
	}()
	testutil.Eventually(t, "the QUIC address closed to new connections", 10*time.Second, func() bool { return len(r.p.QUICAddrs()) == 0 })
	if id := goAwayID(t, goaway); id != 8 {
		t.Errorf("GOAWAY stream ID %d, want 8", id)
	}
	close(release)
	if b := <-got; b != "late" {
		t.Errorf("the stream in flight got %q, want \"late\"", b)
	}
	cc.CloseWithError(0, "") // Shutdown waits for the client to close

	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	late, _ := r.h3Client(&quic.Config{HandshakeIdleTimeout: time.Second})
	if _, err := late.Get(base + "/lit"); err == nil {
		t.Errorf("a request after the quit was answered")
	}
}

// keepalive_requests bounds the streams of a QUIC connection: the last
// one's GOAWAY comes as it starts, the client closes the connection once
// the stream is done, and the next request goes on a new connection
// (nginx 1.25's h3_keepalive.t: GOAWAY after keepalive_requests 2).
// Requests sent at once past the bound are rejected and retried
// elsewhere: no connection serves more than keepalive_requests.
func TestHTTP3KeepaliveRequests(t *testing.T) {
	tmpl := strings.Replace(h3Tmpl, "      http3_max_concurrent_streams: 8\n", "      http3_max_concurrent_streams: 8\n      keepalive_requests: 2\n", 1)
	r := newH2Rig(t, tmpl, echoOrigin(t), echoOrigin(t))
	base := "https://" + r.quicAddr()
	c, _, goaway := r.h3Conn()
	for i := 0; i < 2; i++ {
		if _, body := getBody(t, c, base+"/lit"); body != "literal" {
			t.Fatalf("request %d: %q", i+1, body)
		}
	}
	// h3_keepalive.t: "keepalive requests - GOAWAY last stream", 8.
	if id := goAwayID(t, goaway); id != 8 {
		t.Errorf("GOAWAY stream ID %d, want 8 (nginx)", id)
	}
	if _, err := c.Get(base + "/lit"); !rejected(err) {
		t.Errorf("a third request on the connection: %v, want H3_REQUEST_REJECTED", err)
	}

	pool, _ := r.h3Client(nil)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := pool.Get(base + "/lit"); err != nil {
				t.Errorf("one of 4 at once: %v", err)
			} else {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	testutil.Eventually(t, "6 access-log lines", 5*time.Second, func() bool { return strings.Count(r.accessLog(), "\n") == 6 })
	perConn := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(r.accessLog()), "\n") {
		f := strings.Fields(l)
		perConn[f[len(f)-1]]++
	}
	for conn, n := range perConn {
		if n > 2 {
			t.Errorf("connection %s served %d requests, over keepalive_requests 2:\n%s", conn, n, r.accessLog())
		}
	}
}

// Many streams opened and reset at once: quic-go holds each connection to
// http3_max_concurrent_streams (8) open streams, so the upstream never
// holds more, and the goroutines and heap come back.
func TestHTTP3StreamFlood(t *testing.T) {
	o := newCountingOrigin(t)
	r := newH2Rig(t, h3Tmpl, o.addr, o.addr)
	c, _ := r.h3Client(nil)
	base := "https://" + r.quicAddr()
	resp, err := c.Get(base + "/lit") // the connection, before the baseline
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	baseG, baseHeap := runtime.NumGoroutine(), heapInUse()
	const rounds, perRound = 5, 40
	for round := 0; round < rounds; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := 0; i < perRound; i++ {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/r", nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, err := c.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
		// 40 streams asked for, 8 let through to the upstream at once.
		testutil.Eventually(t, "8 requests at the upstream", 10*time.Second, func() bool { return o.now.Load() == 8 })
		cancel() // every stream reset: the 8 open and the 32 waiting
		wg.Wait()
		testutil.Eventually(t, "the upstream requests ended", 10*time.Second, func() bool { return o.now.Load() == 0 })
	}
	t.Logf("%d streams opened and reset; upstream saw %d requests, at most %d at once", rounds*perRound, o.all.Load(), o.max.Load())
	if m := o.max.Load(); m > 8 {
		t.Errorf("the upstream held %d requests at once, over http3_max_concurrent_streams 8", m)
	}
	testutil.Eventually(t, "the goroutines back", 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+10 })
	if grown := int64(heapInUse()) - int64(baseHeap); grown > 16<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
	close(o.release)
	resp, err = c.Get(base + "/lit")
	if err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	resp.Body.Close()
}

// curl --http3-only, where the installed curl has HTTP/3. Debian's curl
// is built without it, so this skips there: quic-go's client is the
// HTTP/3 client of every other test here.
func TestHTTP3Curl(t *testing.T) {
	run := curlFeature(t, "HTTP3")
	r := newH2Rig(t, h3Tmpl, echoOrigin(t), echoOrigin(t))
	if got := curlPost(t, run, r, "--http3-only", r.quicAddr()); got != "POST /c host=app x= cl=6 body=posted 3 200" {
		t.Errorf("curl --http3-only: %q", got)
	}
}
