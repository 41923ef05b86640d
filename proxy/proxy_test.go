package proxy_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// rig is one proxy in front of test upstreams, with its error log captured.
type rig struct {
	t     *testing.T
	p     *proxy.Proxy
	addr  string
	elog  *testutil.LogBuffer
	names map[string]string // address → placeholder, for golden files
}

// fixedNow makes error-log timestamps stable for golden files.
func fixedNow() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.Local) }

// newRig starts a proxy from a YAML config in which {U0}, {U1}, ... stand
// for the upstreams' addresses.
func newRig(t *testing.T, level string, yamlText string, upstreams ...string) *rig {
	t.Helper()
	r := &rig{t: t, elog: &testutil.LogBuffer{}, names: map[string]string{}}
	for i, a := range upstreams {
		ph := fmt.Sprintf("{U%d}", i)
		yamlText = strings.ReplaceAll(yamlText, ph, a)
		r.names[a] = fmt.Sprintf("U%d", i)
	}
	dir := t.TempDir()
	yamlText = strings.ReplaceAll(yamlText, "{TMP}", dir)
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlText))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	lv, err := config.ParseLevel(level)
	if err != nil {
		t.Fatal(err)
	}
	el := errorlog.New(r.elog, lv, errorlog.Options{Now: fixedNow, PID: 4242})
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: el})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	r.p = p
	r.addr = p.Addrs()[0]
	r.names[r.addr] = "PROXY"
	t.Cleanup(func() { _ = p.Close() })
	return r
}

// upstream starts a bench upstream that the test stops.
func upstream(t *testing.T, bs ...upstreamsim.Behavior) *upstreamsim.Upstream {
	t.Helper()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", bs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// do sends one request on a new connection and returns status and body.
func (r *rig) do(method, path string, body []byte) (int, []byte) {
	r.t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(method, "http://"+r.addr+path, bytes.NewReader(body))
	if body == nil {
		req.Body = nil
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var (
	reTime = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)
	reAddr = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// log returns the error log with addresses replaced by placeholders.
func (r *rig) log() string {
	out := reAddr.ReplaceAllStringFunc(r.elog.String(), func(a string) string {
		if n, ok := r.names[a]; ok {
			return n
		}
		return a
	})
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = reTime.ReplaceAllString(l, "YYYY/MM/DD HH:MM:SS")
	}
	return strings.Join(lines, "\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "errorlog", name+".log")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./proxy -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("error log differs from %s\n--- got\n%s--- want\n%s", path, got, want)
	}
}

const singleTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_connect_timeout: 1s
  proxy_read_timeout: 300ms
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`

// Each upstream failure gives nginx's status and nginx's error-log line.
func TestUpstreamFailuresLikeNginx(t *testing.T) {
	refused := upstreamsim.RefusedAddr(t)
	cases := []struct {
		name   string
		addr   func(t *testing.T) string
		status int
	}{
		{"refused", func(*testing.T) string { return refused }, 502},
		{"reset", func(t *testing.T) string { return upstream(t, upstreamsim.Reset()).Addr() }, 502},
		{"close_before_header", func(t *testing.T) string { return upstream(t, upstreamsim.CloseBeforeHeader()).Addr() }, 502},
		{"read_timeout", func(t *testing.T) string { return upstream(t, upstreamsim.SlowHeader(5*time.Second)).Addr() }, 504},
		{"invalid_header", func(t *testing.T) string { return upstream(t, upstreamsim.InvalidHeader()).Addr() }, 502},
		{"huge_header", func(t *testing.T) string { return upstream(t, upstreamsim.HugeHeader(8000)).Addr() }, 502},
		{"no_valid_http", func(t *testing.T) string { return upstream(t, upstreamsim.NoValidHTTP()).Addr() }, 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "error", singleTmpl, c.addr(t))
			status, body := r.do("GET", "/x?y=1", nil)
			if status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if !bytes.Contains(body, []byte(fmt.Sprintf("<title>%d ", c.status))) {
				t.Fatalf("not spillway's error page: %q", body)
			}
			golden(t, "single-"+c.name, r.log())
		})
	}
}

// acceptEach serves every connection that ln accepts with serve, each in
// its own goroutine, until ln is closed; wg counts the accept loop and the
// connections still being served, so that wg.Wait after ln.Close waits for
// them all.
func acceptEach(ln net.Listener, wg *sync.WaitGroup, serve func(net.Conn)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
}

// btLogLine is one expected error-log line as r.log() renders it.
func btLogLine(s string) string { return "YYYY/MM/DD HH:MM:SS " + s + "\n" }
