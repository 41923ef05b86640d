package proxy_test

import (
	"testing"

	bench "spillway/bench/upstreamsim"
)

// proxy_method as nginx (nginx-tests' proxy_method.t): the upstream
// request's method, a constant or with variables, inherited by a nested
// location; without it the client's.
func TestProxyMethod(t *testing.T) {
	u := upstream(t, bench.OK())
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /const, proxy_pass: "http://{U0}", proxy_method: POST}
        - {path: /var, proxy_pass: "http://{U0}", proxy_method: $arg_m}
        - path: /parent
          proxy_method: PUT
          return: "204"
          locations:
            - {path: /parent/child, proxy_pass: "http://{U0}"}
        - {path: /, proxy_pass: "http://{U0}"}
`, u.Addr())
	for _, p := range []string{"/const", "/var?m=DELETE", "/parent/child", "/plain"} {
		if code, _ := r.do("GET", p, nil); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	for _, c := range []struct{ method, path string }{{"POST", "/const"}, {"DELETE", "/var"}, {"PUT", "/parent/child"}, {"GET", "/plain"}} {
		if n := u.Hits(c.method, c.path); n != 1 {
			t.Errorf("upstream got %s %s %d times, want 1", c.method, c.path, n)
		}
	}
}
