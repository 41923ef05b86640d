package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// proxy_pass with variables keeps its value for the request to evaluate;
// resolver and resolver_timeout inherit as nginx's core module merges them.
func TestPassVariablesAndResolver(t *testing.T) {
	c := mustLoad(t, `http:
  resolver: [127.0.0.53, "[::1]:5353", "localhost:5300", valid=30s, ipv6=off]
  resolver_timeout: 5s
  upstreams:
    app: {servers: [{address: "127.0.0.1:9000"}]}
  servers:
    - listen: ["127.0.0.1:8080"]
      locations:
        - path: /a/
          rewrite: [{set: $up app}]
          proxy_pass: http://$up
        - path: "~ ^/b/(.*)$"
          proxy_pass: http://127.0.0.1:$arg_port/$1
        - path: /c/
          proxy_pass: $scheme://app
          resolver: [10.0.0.2]
        - path: /d/
          fastcgi_pass: $arg_fpm
        - path: /e/
          uwsgi_pass: uwsgi://$arg_u
`)
	ls := c.Servers[0].Locations
	for i, want := range []ProxyPass{
		{Value: "http://$up", Scheme: "http"},
		{Value: "http://127.0.0.1:$arg_port/$1", Scheme: "http"}, // a URI part in a regex location: allowed with variables
		{Value: "$scheme://app"},
		{Value: "$arg_fpm", Scheme: "fastcgi"},
		{Value: "uwsgi://$arg_u", Scheme: "uwsgi"},
	} {
		if got := ls[i].ProxyPass; got != want {
			t.Errorf("location %s: ProxyPass = %+v, want %+v", ls[i].Path, got, want)
		}
	}
	if len(ls[0].UpstreamHeaders.Redirect) != 0 {
		t.Errorf("proxy_redirect default applied to a proxy_pass with variables: %+v", ls[0].UpstreamHeaders.Redirect)
	}
	// localhost is resolved at load: 127.0.0.1, and ::1 where /etc/hosts says so
	got := ls[0].Resolver
	if !slices.Contains(got.Servers, netip.MustParseAddrPort("127.0.0.1:5300")) {
		t.Errorf("resolver localhost:5300 = %v, want 127.0.0.1:5300 among them", got.Servers)
	}
	got.Servers = got.Servers[:2]
	http := Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.53:53"), netip.MustParseAddrPort("[::1]:5353")},
		Valid: 30 * time.Second, IPv4: true, Timeout: 5 * time.Second}
	if !reflect.DeepEqual(got, http) {
		t.Errorf("inherited resolver = %+v, want %+v", got, http)
	}
	own := Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:53")}, IPv4: true, IPv6: true, Timeout: 5 * time.Second}
	if got := ls[2].Resolver; !reflect.DeepEqual(got, own) {
		t.Errorf("location's resolver = %+v, want %+v", got, own)
	}
}

func TestPassVariablesAndResolverRefused(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{`{path: /, proxy_pass: "http://$nosuch"}`, `proxy_pass: unknown "nosuch" variable`},
		{`{path: /, fastcgi_pass: "$nosuch:9000"}`, `fastcgi_pass: unknown "nosuch" variable`},
		{`{path: /, proxy_pass: "http://$host", proxy_redirect: default}`, `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`},
		{`{path: /, proxy_pass: "http://$host", resolver: [nosuch.invalid]}`, `host not found in resolver "nosuch.invalid"`},
		{`{path: /, proxy_pass: "http://$host", resolver: ["a/b"]}`, `invalid resolver address "a/b"`},
		{`{path: /, proxy_pass: "http://$host", resolver: ["127.0.0.1:0"]}`, `invalid port in resolver "127.0.0.1:0"`},
		{`{path: /, proxy_pass: "http://$host", resolver: [127.0.0.1, valid=x]}`, `invalid parameter: valid=x`},
		{`{path: /, proxy_pass: "http://$host", resolver: [127.0.0.1, ipv4=off, ipv6=off]}`, `"ipv4" and "ipv6" cannot both be "off"`},
		{`{path: /, proxy_pass: "http://$host", resolver_timeout: 0s}`, `"resolver_timeout" must be greater than 0`},
		{`{path: /, proxy_pass: "http://127.0.0.1:9000", set_real_ip_from: [nosuch.invalid]}`, `host not found in set_real_ip_from "nosuch.invalid"`},
	} {
		_, err := load(t, "http:\n  servers:\n    - listen: [\"127.0.0.1:8080\"]\n      locations:\n        - "+tc.loc+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.loc, err, tc.want)
		}
	}
}

// set_real_ip_from NAME trusts every address the name resolves to, looked
// up once at load (nginx: at start, with getaddrinfo).
func TestRealIPFromHostName(t *testing.T) {
	c := mustLoad(t, `http:
  set_real_ip_from: [localhost, 10.0.0.0/8]
  servers:
    - listen: ["127.0.0.1:8080"]
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9000"}]
`)
	r := c.Servers[0].Locations[0].RealIP
	if !r.Trusted(netip.MustParseAddr("127.0.0.1")) || !r.Trusted(netip.MustParseAddr("10.1.2.3")) {
		t.Errorf("set_real_ip_from localhost: From = %v, want 127.0.0.1 and 10.0.0.0/8 trusted", r.From)
	}
	if r.Trusted(netip.MustParseAddr("127.0.0.2")) {
		t.Errorf("set_real_ip_from localhost trusts 127.0.0.2: From = %v", r.From)
	}
}
