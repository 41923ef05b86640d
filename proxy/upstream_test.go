package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
	"spillway/proxy/upstream"
)

func allIdle(g *upstream.Group) bool {
	for _, p := range g.Peers() {
		if p.InFlight() != 0 {
			return false
		}
	}
	return true
}

func activeCounts(g *upstream.Group) string {
	var s []string
	for _, p := range g.Peers() {
		s = append(s, fmt.Sprintf("%s=%d", p.Addr(), p.InFlight()))
	}
	return strings.Join(s, " ")
}

// End to end: while the first server holds a slow request, least_conn sends
// every other request to the second one; plain round-robin would send half
// of them to the busy server.
func TestLeastConnAvoidsBusyServer(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var slowHits, fastHits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "slow")
	}))
	defer slow.Close()
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fastHits.Add(1)
		_, _ = io.WriteString(w, "fast")
	}))
	defer fast.Close()
	p, _ := hcProxy(t, "error", `
error_log: {path: stderr, level: error}
http:
  proxy_read_timeout: 10s
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      least_conn: on
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`, slow.Listener.Addr().String(), fast.Listener.Addr().String())
	g := p.site.Load().groups["app"]

	done := make(chan string, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + p.Addrs()[0] + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-entered // nothing in flight anywhere before: the tie goes to the first server
	if got := activeCounts(g); !strings.HasSuffix(got, "=0") || strings.Count(got, "=1") != 1 {
		t.Fatalf("in flight: %s, want 1 on the slow server", got)
	}
	for range 10 {
		if status, body := hcGet(t, p, "/x"); status != 200 || body != "fast" {
			t.Fatalf("got %d %q, want the idle server", status, body)
		}
	}
	close(release)
	if got := <-done; got != "slow" {
		t.Fatalf("slow request: %s", got)
	}
	if slowHits.Load() != 1 || fastHits.Load() != 10 {
		t.Fatalf("hits slow=%d fast=%d, want 1 and 10", slowHits.Load(), fastHits.Load())
	}
	testutil.Eventually(t, "no attempt in flight", 5*time.Second, func() bool { return allIdle(g) })
}

// Every counted attempt is given back, whatever way it ends: success with
// keepalive reuse, a status retried by proxy_next_upstream, a refused
// connect, a close before the header, a streamed body.
func TestInFlightCountsReturnToZero(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = io.WriteString(w, strings.Repeat("x", 256<<10))
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer ok.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
	}))
	defer unavailable.Close()
	closer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	go func() {
		for {
			c, err := closer.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close() // FIN before any response byte
		}
	}()
	p, _ := hcProxy(t, "crit", `
error_log: {path: stderr, level: crit}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_next_upstream: error timeout http_503
  proxy_buffers: 4 4k
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      least_conn: on
      keepalive: 4
      retry_budget: off # every request walks the failing servers
      servers:
        - {address: {U0}, max_fails: 0}
        - {address: {U1}, max_fails: 0}
        - {address: {U2}, max_fails: 0}
        - {address: {U3}, max_fails: 0}
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://app"}]
`, ok.Listener.Addr().String(), unavailable.Listener.Addr().String(), upstreamsim.RefusedAddr(t), closer.Addr().String())
	g := p.site.Load().groups["app"]
	for i := range 40 {
		path := "/x"
		if i%5 == 0 {
			path = "/big"
		}
		if status, _ := hcGet(t, p, path); status != 200 {
			t.Fatalf("request %d: status %d", i, status)
		}
	}
	testutil.Eventually(t, "every attempt given back", 5*time.Second, func() bool { return allIdle(g) })
	if n := g.Peers()[0].Idle().Len(); n == 0 {
		t.Errorf("no keepalive connection cached: the reuse path was not exercised")
	}
}
