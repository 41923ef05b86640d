package proxy_test

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"
)

// Access logs at every level, as nginx: the server's two access_log lines
// (one with if=), a location's own log, a location with access_log off, a
// try_files that ends in another location (that location's log), a 400
// before any location (the server's logs), and ReopenLogs reopening a
// location's file.
func TestAccessLogsPerLocation(t *testing.T) {
	refused := bench.RefusedAddr(t)
	dir := t.TempDir()
	yaml := strings.NewReplacer("{TMP}", dir, "{U0}", refused).Replace(`
error_log: {TMP}/error.log
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  map:
    - map: $uri $loggable
      default: "1"
      values: ['/quiet 0', '/empty ""']
  access_log: {TMP}/http.log
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      root: {TMP}
      access_log:
        - {path: {TMP}/all.log, format: 'all $request $status'}
        - {path: {TMP}/cond.log, format: 'cond $request $status', if: $loggable}
      locations:
        - {path: /, proxy_pass: http://{U0}}
        - path: /loc/
          proxy_pass: http://{U0}
          access_log: {path: {TMP}/loc.log, format: 'loc $uri $status'}
        - {path: /off/, proxy_pass: http://{U0}, access_log: off}
        - {path: /tf/, try_files: $uri /loc/fallback}
`)
	p := startErrorLogProxy(t, dir, yaml)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(path string) {
		t.Helper()
		resp, err := c.Get("http://" + p.Addrs()[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Fatalf("%s: status %d, want 502", path, resp.StatusCode)
		}
	}
	// Each line is written once its answer went out, maybe after the client
	// read it: the test waits for it before the next request, for the order.
	for _, q := range []struct {
		path, log string
		lines     int
	}{{"/a", "all.log", 1}, {"/quiet", "all.log", 2}, {"/empty", "all.log", 3}, {"/loc/x", "loc.log", 1}, {"/off/x", "", 0}, {"/tf/x", "loc.log", 2}} {
		get(q.path)
		if q.log != "" {
			readAccessLog(t, filepath.Join(dir, q.log), q.lines)
		}
	}
	// A request line nginx refuses: answered 400 by the server, before
	// any location, so logged by the server's logs.
	nc, err := net.Dial("tcp", p.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GARBAGE\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := bufio.NewReader(nc).ReadString('\n'); err != nil || !strings.Contains(st, " 400 ") {
		t.Fatalf("status line %q, %v; want 400", st, err)
	}

	want := map[string]string{
		"all.log":  "all GET /a HTTP/1.1 502\nall GET /quiet HTTP/1.1 502\nall GET /empty HTTP/1.1 502\nall GARBAGE 400\n",
		"cond.log": "cond GET /a HTTP/1.1 502\ncond GARBAGE 400\n",
		"loc.log":  "loc /loc/x 502\nloc /loc/fallback 502\n",
	}
	for name, w := range want {
		got := strings.Join(readAccessLog(t, filepath.Join(dir, name), strings.Count(w, "\n")), "\n") + "\n"
		if got != w {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, w)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "http.log")); err == nil {
		t.Errorf("http.log, replaced at the server level, was written:\n%s", b)
	}

	// USR1 after logrotate: the location's file is reopened too.
	if err := os.Rename(filepath.Join(dir, "loc.log"), filepath.Join(dir, "loc.log.1")); err != nil {
		t.Fatal(err)
	}
	if err := p.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	get("/loc/y")
	if got := readAccessLog(t, filepath.Join(dir, "loc.log"), 1); len(got) != 1 || got[0] != "loc /loc/y 502" {
		t.Errorf("reopened loc.log = %q, want the one line of /loc/y", got)
	}
}

// An if block's access_log, as nginx's "if in location": a relative path
// is the prefix's, like the location's, and the requests for which the
// condition holds are logged there (measured, nginx 1.22), the others to
// the location's log; an if block without access_log logs to the one it
// inherits.
func TestAccessLogInIf(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("{TMP}", dir).Replace(`
error_log: {TMP}/error.log
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          root: {TMP}
          access_log: {path: logs/loc.log, format: 'loc $request_uri'}
          rewrite:
            - if: $arg_x
              access_log: {path: logs/if.log, format: 'if $request_uri'}
            - if: $arg_y
              add_header: ["X-Y y"]
`)
	for _, name := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("d"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startErrorLogProxy(t, dir, yaml)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, path := range []string{"/a?x=1", "/b", "/b?y=1"} {
		resp, err := c.Get("http://" + p.Addrs()[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, want 200", path, resp.StatusCode)
		}
	}
	if err := p.Close(); err != nil { // flushes the access logs
		t.Fatal(err)
	}
	// Each request's line is written when its body is done, which is
	// after the client has it: the next request, on its own connection,
	// may log first. The lines are compared as a set.
	for name, want := range map[string]string{"logs/if.log": "if /a?x=1\n", "logs/loc.log": "loc /b\nloc /b?y=1\n"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		lines := strings.SplitAfter(string(b), "\n")
		sort.Strings(lines)
		if err != nil || strings.Join(lines, "") != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}
