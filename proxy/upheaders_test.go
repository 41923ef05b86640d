package proxy_test

import (
	"slices"
	"testing"

	bench "spillway/bench/upstreamsim"
)

// The upstream's Location, Set-Cookie and other response headers reach the
// client as nginx's proxy module passes them: proxy_redirect's default
// (proxy_pass with a URI part), a prefix with variables, the cookie
// rewrites, proxy_hide_header and proxy_pass_header. (The differential
// scenarios in proxy/internal/difftest compare the same directives with nginx.)
func TestUpstreamResponseHeaders(t *testing.T) {
	with := func(path string, lines ...string) bench.Behavior {
		b := bench.OK().At(path)
		b.Header = lines
		return b
	}
	u := upstream(t,
		with("/inner/a", "Location: http://app/inner/login?x=1", "Refresh: 0; url=http://app/inner/r",
			"Set-Cookie: sid=1; Domain=.Inner.Example; Path=/inner/x;HttpOnly", "Set-Cookie: plain=2",
			"X-Secret: s", "X-Pad: p"),
		with("/b", "Location: http://app/b2"),
		with("/c", "Location: /relative"))
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - path: /app/
          proxy_pass: http://app/inner/
          proxy_cookie_domain: inner.example outer.example
          proxy_cookie_path: ["~^/inner/(.*)$ /app/$1"]
          proxy_hide_header: [X-Secret]
          proxy_pass_header: [Server]
        - path: /vars/
          proxy_pass: http://app/
          proxy_redirect: ["http://$proxy_host/ $scheme://$host/v/"]
        - path: /
          proxy_pass: http://app
`, u.Addr())
	for _, c := range []struct {
		path   string
		header map[string]string // "" = absent
		cookie []string
	}{
		{"/app/a", map[string]string{
			"Location": "http://" + r.addr + "/app/login?x=1", // made absolute, as nginx's header filter does
			"Refresh":  "0; url=/app/r",
			"X-Secret": "", "X-Pad": "", "Server": "spillway-upstream",
		}, []string{"sid=1; Domain=.outer.example; Path=/app/x; HttpOnly", "plain=2"}},
		{"/vars/b", map[string]string{"Location": "http://127.0.0.1/v/b2", "Server": "spillway"}, nil},
		{"/c", map[string]string{"Location": "/relative"}, nil}, // not rewritten: left relative
	} {
		resp, _ := r.doH("GET", c.path, nil, nil)
		for k, want := range c.header {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("GET %s: %s %q, want %q", c.path, k, got, want)
			}
		}
		if got := resp.Header.Values("Set-Cookie"); c.cookie != nil && !slices.Equal(got, c.cookie) {
			t.Errorf("GET %s: Set-Cookie %q, want %q", c.path, got, c.cookie)
		}
	}
	if l := r.elog.String(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}
