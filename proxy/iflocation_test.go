package proxy_test

import (
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
)

const ifLocationTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /tf/
          root: {ROOT}
          try_files: /nope =418
          rewrite: [{if: $arg_x}]
        - path: /crash
          rewrite:
            - set: $true 1
            - {if: $true, proxy_pass: "http://{U0}"}
            - {if: $true}
        - path: /one
          root: {ROOT}
          rewrite: [{if: $arg_x, proxy_pass: "http://{U0}"}]
`

// An if block in a location is a location of its own even when it sets
// nothing but the rewrite module's directives, as in nginx (measured with
// 1.22): when it holds the location's try_files is not the request's;
// and nginx's content handler stays the proxy_pass of an if block matched
// before one that has none, which then finds no upstream: "[alert] no
// upstream configuration" and 500 (nginx-tests' proxy_if.t).
func TestIfBlockIsALocation(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	root := t.TempDir()
	r := newRig(t, "error", strings.ReplaceAll(withTempDirs(t, ifLocationTmpl), "{ROOT}", root), u.Addr())
	for _, c := range []struct {
		path   string
		status int
		hits   int
	}{
		{"/tf/a", 418, 0},
		{"/tf/a?x=1", 404, 0}, // no try_files in the if's location
		{"/crash", 500, 0},
		{"/one", 404, 0},
		{"/one?x=1", 200, 1},
	} {
		before := u.Total()
		resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		cc.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
		if got := u.Total() - before; got != c.hits {
			t.Errorf("%s: the upstream got %d requests, want %d", c.path, got, c.hits)
		}
	}
	log := r.elog.String()
	if !strings.Contains(log, `[alert] 4242#4242: *3 no upstream configuration, client: 127.0.0.1, server: localhost, request: "GET /crash HTTP/1.1", host: "localhost"`) {
		t.Errorf("error log lacks nginx's alert:\n%s", log)
	}
}
