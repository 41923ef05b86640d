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

// proxy_cookie_flags sets, replaces and removes Secure, HttpOnly and
// SameSite on the upstream's Set-Cookie as nginx 1.22 does (measured with
// nginx-tests' proxy_cookie_flags.t): a matched cookie is written back with
// "; " between attributes, flags it already has stay as written, a name is
// matched ignoring case, a "~" regex caselessly, only the first matching
// entry counts, flags come from variables and unknown ones are skipped,
// and "off" in a nested location turns the inherited list off.
func TestProxyCookieFlags(t *testing.T) {
	with := func(path string, cookies ...string) bench.Behavior {
		b := bench.OK().At(path)
		for _, c := range cookies {
			b.Header = append(b.Header, "Set-Cookie: "+c)
		}
		return b
	}
	u := upstream(t,
		with("/set", "a=1", "B=2;path=/x", "c=3", "other=4;secure"),
		with("/reset", "a=1;Secure;HttpOnly;SameSite=Lax", "b=2;samesite", "c=3;SameSite=strict"),
		with("/remove", "d=1;secure;httponly;samesite=lax;Path=/"),
		with("/regex", "foobarbaz=1", "first=2"),
		with("/off/", "a=1"),
		with("/var/", "v=1;SameSite=Lax"))
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
        - path: /
          proxy_pass: http://app
          proxy_cookie_flags:
            - a secure httponly samesite=none
            - b secure samesite=lax
            - c samesite=strict bogus
            - d nosecure nohttponly nosamesite
            - ~BAR httponly
            - ~ir bogus
            - first secure
          locations:
            - path: /off/
              proxy_pass: http://app
              proxy_cookie_flags: "off"
        - path: /var/
          proxy_pass: http://app
          proxy_cookie_flags: [[$arg_c, $arg_f1, $arg_f2]]
`, u.Addr())
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/set", []string{"a=1; Secure; HttpOnly; SameSite=None", "B=2; path=/x; Secure; SameSite=Lax", "c=3; SameSite=Strict", "other=4;secure"}},
		{"/reset", []string{"a=1; Secure; HttpOnly; SameSite=None", "b=2; SameSite=Lax; Secure", "c=3; SameSite=strict"}},
		{"/remove", []string{"d=1; Path=/"}},
		{"/regex", []string{"foobarbaz=1; HttpOnly", "first=2"}}, // "~ir" matches first and has no valid flag
		{"/off/", []string{"a=1"}},
		{"/var/?c=V&f1=secure&f2=nosamesite", []string{"v=1; Secure"}},
		{"/var/?c=v&f1=", []string{"v=1;SameSite=Lax"}}, // no valid flag: left as written
	} {
		resp, _ := r.doH("GET", c.path, nil, nil)
		if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, c.want) {
			t.Errorf("GET %s: Set-Cookie %q, want %q", c.path, got, c.want)
		}
	}
	if l := r.elog.String(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}
