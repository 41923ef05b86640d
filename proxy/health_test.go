package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/closewatch"
	"spillway/proxy/internal/testutil"
	"spillway/proxy/upstream"
)

// hcProxy starts a proxy from yamlText, where {U0}, {U1}... are upstream
// addresses and {TMP} a temp dir; the error log is captured at level.
func hcProxy(t *testing.T, level, yamlText string, addrs ...string) (*Proxy, *testutil.LogBuffer) {
	t.Helper()
	for i, a := range addrs {
		yamlText = strings.ReplaceAll(yamlText, fmt.Sprintf("{U%d}", i), a)
	}
	dir := t.TempDir()
	yamlText = strings.ReplaceAll(yamlText, "{TMP}", dir)
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlText))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yamlText)
	}
	lv, err := config.ParseLevel(level)
	if err != nil {
		t.Fatal(err)
	}
	buf := &testutil.LogBuffer{}
	p, err := New(cfg, Options{ErrorLog: errorlog.New(buf, lv, errorlog.Options{PID: 4242})})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, buf
}

// hcGet sends GET path through the proxy on a fresh connection.
func hcGet(t *testing.T, p *Proxy, path string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.Addrs()[0] + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hcOrigin is an HTTP upstream whose /health answers with a status the test
// sets, and which counts the other requests it serves.
type hcOrigin struct {
	*httptest.Server
	health atomic.Int64 // status of /health
	checks atomic.Int64 // /health requests seen
	hits   atomic.Int64 // other requests
}

func newHCOrigin(t *testing.T, name string) *hcOrigin {
	t.Helper()
	o := &hcOrigin{}
	o.health.Store(200)
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			o.checks.Add(1)
			if ua := r.Header.Get("User-Agent"); ua != "spillway-health" {
				t.Errorf("health check User-Agent %q", ua)
			}
			w.WriteHeader(int(o.health.Load()))
			return
		}
		o.hits.Add(1)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *hcOrigin) addr() string { return o.Listener.Addr().String() }

// peerOf returns the peer of group name with address addr.
func peerOf(t *testing.T, p *Proxy, name, addr string) (*upstream.Group, *upstream.Peer) {
	t.Helper()
	g := p.site.Load().groups[name]
	for _, pr := range g.Peers() {
		if pr.Addr() == addr {
			return g, pr
		}
	}
	t.Fatalf("no peer %s in %s", addr, name)
	return nil, nil
}

const hcTwoTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_connect_timeout: 1s
  proxy_read_timeout: 2s
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      health_check: {uri: /health, interval: 20ms, timeout: 20ms, fails: 2, passes: 3}
      servers:
        - address: {U0}
        - address: {U1}
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// A server whose check fails "fails" times in a row is skipped by requests,
// with nginx-style warn lines both ways; "passes" good checks bring it back.
func TestHealthCheckDownAndUp(t *testing.T) {
	a, b := newHCOrigin(t, "a"), newHCOrigin(t, "b")
	p, elog := hcProxy(t, "info", hcTwoTmpl, a.addr(), b.addr())
	g, pb := peerOf(t, p, "app", b.addr())

	testutil.Eventually(t, "first checks", 5*time.Second, func() bool { return a.checks.Load() > 0 && b.checks.Load() > 0 })
	b.health.Store(503)
	unhealthyLine := fmt.Sprintf(`[warn] 4242#4242: upstream server %s is unhealthy: upstream sent status 503, expected 200-399 during health check, upstream: "app"`, b.addr())
	testutil.Eventually(t, "b marked unhealthy", 5*time.Second, func() bool { return !g.Healthy(pb) })
	testutil.Eventually(t, "the unhealthy line", time.Second, func() bool { return strings.Contains(elog.String(), unhealthyLine) })
	// fails: 2: the first failure is only noted (info), the second marks it
	// down. The first one is the 503, or on a loaded machine a check that
	// passed its 20ms timeout just before: either way the note comes first.
	note := regexp.MustCompile(`\[info\] 4242#4242: upstream server ` + regexp.QuoteMeta(b.addr()) +
		` failed health check 1 of 2: [^\n]+, upstream: "app"\n`)
	if log := elog.String(); note.FindStringIndex(log) == nil || note.FindStringIndex(log)[0] > strings.Index(log, unhealthyLine) {
		t.Errorf("no info line for the first failed check before the unhealthy line:\n%s", log)
	}

	for range 20 {
		if status, body := hcGet(t, p, "/x"); status != 200 || body != "a" {
			t.Fatalf("got %d %q, want 200 from a", status, body)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("the unhealthy server got %d requests", n)
	}
	if n := a.hits.Load(); n != 20 {
		t.Fatalf("a got %d requests, want 20", n)
	}

	checksBefore := b.checks.Load()
	b.health.Store(200)
	healthyLine := fmt.Sprintf(`[warn] 4242#4242: upstream server %s is healthy again, upstream: "app"`, b.addr())
	testutil.Eventually(t, "b healthy again", 5*time.Second, func() bool { return g.Healthy(pb) })
	testutil.Eventually(t, "the healthy line", time.Second, func() bool { return strings.Contains(elog.String(), healthyLine) })
	// passes: 3: it took at least three good checks.
	if n := b.checks.Load() - checksBefore; n < 3 {
		t.Errorf("healthy again after %d checks, want at least 3", n)
	}
	for range 10 {
		hcGet(t, p, "/x")
	}
	if n := b.hits.Load(); n != 5 {
		t.Errorf("b got %d of 10 requests after recovering, want 5 (round-robin)", n)
	}
	if i, j := strings.Index(elog.String(), unhealthyLine), strings.Index(elog.String(), healthyLine); i > j {
		t.Errorf("log order: unhealthy at %d, healthy at %d", i, j)
	}
}

// A lone server is never disabled passively (nginx), but an active check
// that fails takes it out: the request gets 502 and "no live upstreams".
func TestHealthCheckSingleServer(t *testing.T) {
	a := newHCOrigin(t, "a")
	a.health.Store(500)
	p, elog := hcProxy(t, "warn", `
error_log: {path: stderr, level: warn}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      health_check: {uri: /health, interval: 20ms, timeout: 20ms, status: ["200-299"]}
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`, a.addr())
	g, pa := peerOf(t, p, "app", a.addr())
	testutil.Eventually(t, "a marked unhealthy", 5*time.Second, func() bool { return !g.Healthy(pa) })
	status, _ := hcGet(t, p, "/x")
	if status != 502 {
		t.Fatalf("status %d, want 502", status)
	}
	if a.hits.Load() != 0 {
		t.Fatalf("the unhealthy server got a request")
	}
	want := `no live upstreams while connecting to upstream, client: 127.0.0.1, server: , request: "GET /x HTTP/1.1", upstream: "http://app/x"` // no server_name: nginx writes the empty name
	testutil.Eventually(t, "the no live upstreams line", time.Second, func() bool { return strings.Contains(elog.String(), want) })

	a.health.Store(200)
	testutil.Eventually(t, "a healthy again", 5*time.Second, func() bool { return g.Healthy(pa) })
	if status, body := hcGet(t, p, "/x"); status != 200 || body != "a" {
		t.Fatalf("got %d %q after recovery", status, body)
	}
}

// type: tcp only connects: a refused port is unhealthy with nginx's connect
// line, a listening one healthy, whatever it would answer to HTTP.
func TestHealthCheckTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	live := ln.Addr().String()
	go hcServeSilently(ln)
	t.Cleanup(func() { _ = ln.Close() })
	refused := upstreamsim.RefusedAddr(t)

	p, elog := hcProxy(t, "warn", `
error_log: {path: stderr, level: warn}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      health_check: {type: tcp, interval: 500ms, timeout: 500ms}
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`, live, refused)
	g, pr := peerOf(t, p, "app", refused)
	_, pl := peerOf(t, p, "app", live)
	testutil.Eventually(t, "the refused server marked unhealthy", 5*time.Second, func() bool { return !g.Healthy(pr) })
	want := fmt.Sprintf(`[warn] 4242#4242: upstream server %s is unhealthy: connect() failed (111: Connection refused) during health check, upstream: "app"`, refused)
	testutil.Eventually(t, "the connect() line", time.Second, func() bool { return strings.Contains(elog.String(), want) })
	if !g.Healthy(pl) {
		t.Fatal("the listening server is unhealthy")
	}
	if strings.Contains(elog.String(), live) {
		t.Fatalf("a line about the healthy server:\n%s", elog)
	}
}

// hcServeSilently accepts connections and closes each once the peer has
// closed its side, reading whatever it sends.
func hcServeSilently(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}()
	}
}

// Every checker goroutine ends when the proxy closes, including one stuck
// in a check of a server that never answers, and Close does not wait for
// that check's timeout: an hour, so a Close that waited would never return
// within the test (and Shutdown's 5s context would expire).
func TestHealthCheckersStopOnClose(t *testing.T) {
	for _, stop := range []string{"Close", "Shutdown"} {
		t.Run(stop, func(t *testing.T) {
			a := newHCOrigin(t, "a")
			stuck := closewatch.Start(t, "", "") // reads the request, never answers
			refused := upstreamsim.RefusedAddr(t)
			p, _ := hcProxy(t, "warn", `
error_log: {path: stderr, level: warn}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      health_check: {interval: 1h, timeout: 1h}
      servers: [{address: {U0}}, {address: {U1}}, {address: {U2}}, {address: {U3}, down: true}]
    other:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`, a.addr(), stuck.Addr, refused, upstreamsim.RefusedAddr(t))
			if n := p.health.Running(); n != 3 {
				t.Fatalf("%d checkers, want 3 (one per server not down, none for a group without health_check)", n)
			}
			<-stuck.Heads // a check is blocked reading the status line
			testutil.Eventually(t, "a checked", 5*time.Second, func() bool { return a.hits.Load() > 0 })
			var err error
			if stop == "Close" {
				err = p.Close()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err = p.Shutdown(ctx)
				cancel()
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := p.health.Running(); n != 0 {
				t.Fatalf("%d checkers still running after %s", n, stop)
			}
			if s := hcStacks(); strings.Contains(s, "(*checker).run") || strings.Contains(s, "(*checker).check") {
				t.Fatalf("a checker goroutine survived %s:\n%s", stop, s)
			}
			// Even a check cut short by the stop ends with FIN.
			if ended := stuck.HowEnded(t); ended != io.EOF {
				t.Errorf("the stuck upstream saw %v, want EOF", ended)
			}
		})
	}
}

func hcStacks() string {
	b := make([]byte, 1<<20)
	return string(b[:runtime.Stack(b, true)])
}

// A proxy that is never started runs no checker, and Close works.
func TestHealthCheckersNotStartedWithoutStart(t *testing.T) {
	cfg, err := config.LoadBytes("proxy.yaml", []byte(`
error_log: {path: stderr, level: warn}
http:
  upstreams:
    app:
      health_check: {}
      servers: [{address: 127.0.0.1:1}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, Options{ErrorLog: errorlog.New(io.Discard, errorlog.Warn, errorlog.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.health.Start(p.site.Load().groups, p.elog) // after stop: must not start anything
	if n := p.health.Running(); n != 0 {
		t.Fatalf("%d checkers after Close", n)
	}
}
