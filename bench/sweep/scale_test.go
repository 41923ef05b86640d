package sweep

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSourceAddr: past per connections the bench spreads its connections to
// a loopback proxy over 127.0.0.2, 127.0.0.3, ..., per each; below that, or
// to a proxy off loopback, the kernel chooses.
func TestSourceAddr(t *testing.T) {
	for _, c := range []struct {
		addr          string
		i, total, per int
		want          string
	}{
		{"127.0.0.1:80", 5, 20000, 20000, "<nil>"},
		{"127.0.0.1:80", 0, 100000, 20000, "127.0.0.2:0"},
		{"127.0.0.1:80", 19999, 100000, 20000, "127.0.0.2:0"},
		{"127.0.0.1:80", 20000, 100000, 20000, "127.0.0.3:0"},
		{"127.0.0.1:80", 99999, 100000, 20000, "127.0.0.6:0"},
		{"10.0.0.1:80", 0, 100000, 20000, "<nil>"},
		{"[::1]:80", 0, 100000, 20000, "<nil>"},
		{"127.0.0.1:80", 253 * 10, 10000, 10, "<nil>"}, // past 127.0.0.254
	} {
		if got := sourceAddr(c.addr, c.i, c.total, c.per).String(); got != c.want {
			t.Errorf("sourceAddr(%s, %d, %d, %d) = %s, want %s", c.addr, c.i, c.total, c.per, got, c.want)
		}
	}
}

// TestIdleProbeSourcesAndRelease: the idle probe dials connection i from
// src(i), leaves every connection open (after its one request) until
// release, and release closes them all. Real sockets on 127.0.0.x.
func TestIdleProbeSourcesAndRelease(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		sources = map[string]int{}
		closed  = make(chan struct{}, 64)
	)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				mu.Lock()
				sources[host]++
				mu.Unlock()
			case http.StateClosed, http.StateHijacked:
				closed <- struct{}{}
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	const n, per = 30, 10
	addr := ln.Addr().String()
	src := func(i int) *net.TCPAddr { return sourceAddr(addr, i, n+1, per) }
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	bytesPer, release, err := idleConnCost(addr, req, n, os.Getpid(), src, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f bytes per connection in this process", bytesPer)
	mu.Lock()
	got := map[string]int{}
	for k, v := range sources {
		got[k] = v
	}
	mu.Unlock()
	// n connections and the warm-up one (index 0).
	want := map[string]int{"127.0.0.2": 10, "127.0.0.3": 10, "127.0.0.4": 10, "127.0.0.5": 1}
	if len(got) != len(want) {
		t.Errorf("source addresses %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("source addresses %v, want %v", got, want)
			break
		}
	}
	if k := len(closed); k != 0 {
		t.Fatalf("%d connections closed before release", k)
	}
	release()
	for range n + 1 {
		<-closed // the server sees each connection close
	}
}

// TestClientScaleConfigs: the generated configurations fit the client
// connections: nginx's worker_connections and worker_rlimit_nofile cover
// 100,000 connections with 10,000 active, and with --idle-hold both proxies
// keep idle clients 10 minutes; the smaller sweeps' configurations are as
// before.
func TestClientScaleConfigs(t *testing.T) {
	c := BufferConfig{Buffering: true, N: 8, Size: 4 << 10, MaxTemp: -1}
	up := builtinUpstream("127.0.0.1:9")
	big := NginxConf(c, up, "127.0.0.1:8", "/tmp/x", 10000, ClientScale{Idle: 90000, Hold: true})
	for _, s := range []string{"worker_connections 121025;", "worker_rlimit_nofile 122049;", "keepalive_timeout 10m;"} {
		if !strings.Contains(big, s) {
			t.Errorf("nginx.conf for 100,000 connections lacks %q:\n%s", s, big)
		}
	}
	small := NginxConf(c, up, "127.0.0.1:8", "/tmp/x", 8, ClientScale{Idle: 1000})
	if !strings.Contains(small, "worker_connections 4096;") || strings.Contains(small, "keepalive_timeout") {
		t.Errorf("nginx.conf for 1000 idle connections:\n%s", small)
	}
	if y := SpillwayYAML(c, up, "/tmp/x", 10000, ClientScale{Idle: 90000, Hold: true}); !strings.Contains(y, "keepalive_timeout: 10m\n") {
		t.Errorf("spillway's configuration with --idle-hold:\n%s", y)
	}
	if y := SpillwayYAML(c, up, "/tmp/x", 8, ClientScale{Idle: 1000}); strings.Contains(y, "keepalive_timeout") {
		t.Errorf("spillway's configuration without --idle-hold:\n%s", y)
	}
}

// TestIdleHold: with IdleHold the idle connections stay open through the
// load (the proxies accept the generated keepalive_timeout), each cell
// still measures its load and memory per idle connection, and the notes say
// so.
func TestIdleHold(t *testing.T) {
	configs, _, err := GridSpec{Buffers: []string{"8x4k"}}.Configs()
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := ParseClient("fast")
	opts := Options{Configs: configs, Sizes: []int64{1 << 10}, Clients: []ClientSpec{fast}, Concurrency: []int{4},
		Duration: 300 * time.Millisecond, MaxTime: 30 * time.Second, IdleConns: 200, IdleHold: true,
		ProxyCommand: (&childCommand{}).command}
	if _, err := exec.LookPath("nginx"); err == nil {
		opts.Compare = "nginx"
	}
	rep, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rep.Results {
		if r.IdleConns != 200 || r.IdleConnBytes < 0 || r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s: idle %d (%v B each), %d requests, %d errors (%s)", r.Target, r.IdleConns, r.IdleConnBytes, r.Requests, r.Errors, r.FirstErr)
		}
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "--idle-hold") {
		t.Errorf("notes do not mention --idle-hold: %q", rep.Notes)
	}
}
