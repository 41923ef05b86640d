package proxy_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// Two error_log entries, as nginx's `error_log logs/error.log;` beside
// `error_log logs/info.log info;`: each file gets the lines at or above its
// own level, and ReopenLogs (SIGUSR1) reopens both.
func TestSeveralErrorLogs(t *testing.T) {
	refused := upstreamsim.RefusedAddr(t)
	dir := t.TempDir()
	errPath, infoPath := filepath.Join(dir, "error.log"), filepath.Join(dir, "info.log")
	yaml := strings.NewReplacer("{TMP}", dir, "{U0}", refused).Replace(`
error_log:
  - {TMP}/error.log
  - {TMP}/info.log info
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app:
      servers: [{address: "{U0}"}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`)
	p := startErrorLogProxy(t, dir, yaml)
	get := func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + p.Addrs()[0] + "/x")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
	}
	read := func(path string) string { b, _ := os.ReadFile(path); return string(b) }
	// Lines are written with one write(2) before the response is sent.
	check := func(when string) {
		t.Helper()
		errLog, infoLog := read(errPath), read(infoPath)
		if n := strings.Count(errLog, "\n"); n != 1 || !strings.Contains(errLog, "[error] ") || !strings.Contains(errLog, "connect() failed (111: Connection refused) while connecting to upstream") {
			t.Errorf("%s: error.log, want the one [error] line:\n%s", when, errLog)
		}
		var infos, errs int
		for _, l := range strings.Split(strings.TrimSuffix(infoLog, "\n"), "\n") {
			switch {
			case strings.Contains(l, "[info] "):
				infos++
			case strings.Contains(l, "[error] "):
				errs++
			default:
				t.Errorf("%s: info.log has a line of another level: %s", when, l)
			}
		}
		if errs != 1 || infos == 0 {
			t.Errorf("%s: info.log, want the [error] line and the [info] ones:\n%s", when, infoLog)
		}
	}
	get()
	check("before the rotation")
	for _, path := range []string{errPath, infoPath} {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	get()
	check("after ReopenLogs")
}
