package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// withUpstream returns base with directives added to upstream "app", one
// per line from line 4 on (its servers move down).
func withUpstream(directives ...string) string {
	var b strings.Builder
	for _, d := range directives {
		b.WriteString("      " + d + "\n")
	}
	return strings.Replace(base, "    app:\n", "    app:\n"+b.String(), 1)
}

const app = "http.upstreams[app]"

func TestUpstreamDefaults(t *testing.T) {
	c := mustLoad(t, base)
	u := c.Upstreams["app"]
	if u.RetryBudget != 0.2 || u.RetryBudgetMinPerSecond != 10 || u.LeastConn || u.HealthCheck != nil {
		t.Errorf("upstream = %+v; want retry_budget 20%%, min 10/s, least_conn off, no health_check", u)
	}
	if c.Servers[0].Locations[0].ProxyNextUpstreamIdempotencyKey {
		t.Errorf("proxy_next_upstream_idempotency_key defaults to on")
	}
}

func TestRetryBudget(t *testing.T) {
	tests := []struct {
		value string
		want  float64
	}{
		{`"20%"`, 0.2}, {"20%", 0.2}, {`"12.5%"`, 0.125}, {`"0%"`, 0}, {`"100%"`, 1},
		{"off", 0}, {"false", 0}, {`"OFF"`, 0},
	}
	for _, tt := range tests {
		c := mustLoad(t, withUpstream("retry_budget: "+tt.value, "retry_budget_min_per_second: 3", "least_conn: on"))
		u := c.Upstreams["app"]
		if u.RetryBudget != tt.want || u.RetryBudgetMinPerSecond != 3 || !u.LeastConn {
			t.Errorf("retry_budget: %s → %v, min %d, least_conn %v; want %v, 3, true",
				tt.value, u.RetryBudget, u.RetryBudgetMinPerSecond, u.LeastConn, tt.want)
		}
	}
	c := mustLoad(t, withUpstream("retry_budget_min_per_second: 0", "least_conn: off"))
	if u := c.Upstreams["app"]; u.RetryBudgetMinPerSecond != 0 || u.LeastConn {
		t.Errorf("min %d least_conn %v", u.RetryBudgetMinPerSecond, u.LeastConn)
	}
}

func TestIdempotencyKeyInherited(t *testing.T) {
	c := mustLoad(t, `
http:
  proxy_next_upstream_idempotency_key: on
  servers:
    - listen: [8080]
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1"}
        - {path: /b, proxy_pass: "http://127.0.0.1:1", proxy_next_upstream_idempotency_key: off}
    - listen: [8081]
      proxy_next_upstream_idempotency_key: false
      locations:
        - {path: /c, proxy_pass: "http://127.0.0.1:1"}
        - {path: /d, proxy_pass: "http://127.0.0.1:1", proxy_next_upstream_idempotency_key: true}
`)
	got := []bool{
		c.Servers[0].Locations[0].ProxyNextUpstreamIdempotencyKey,
		c.Servers[0].Locations[1].ProxyNextUpstreamIdempotencyKey,
		c.Servers[1].Locations[0].ProxyNextUpstreamIdempotencyKey,
		c.Servers[1].Locations[1].ProxyNextUpstreamIdempotencyKey,
	}
	if want := []bool{true, false, false, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("proxy_next_upstream_idempotency_key = %v, want %v", got, want)
	}
}

func TestHealthCheckValues(t *testing.T) {
	defaults := HealthCheck{Type: HealthCheckHTTP, URI: "/", Interval: 5 * time.Second, Timeout: time.Second,
		Fails: 1, Passes: 1, Status: []StatusRange{{200, 399}}}
	with := func(f func(h *HealthCheck)) *HealthCheck {
		h := defaults
		h.Status = append([]StatusRange(nil), h.Status...)
		f(&h)
		return &h
	}
	tests := []struct {
		name  string
		block []string // lines of the upstream
		want  *HealthCheck
	}{
		{"no block", nil, nil},
		{"empty block: every default", []string{"health_check: {}"}, &defaults},
		{"block form", []string{"health_check:", "        type: http"}, &defaults},
		{"tcp", []string{"health_check: {type: tcp, interval: 2s, timeout: 2s}"},
			with(func(h *HealthCheck) { h.Type, h.Interval, h.Timeout = HealthCheckTCP, 2*time.Second, 2*time.Second })},
		{"every key", []string{"health_check:", "        type: HTTP", "        uri: /healthz?full=1", "        interval: 10",
			"        timeout: 500ms", "        fails: 3", "        passes: 2", `        status: ["200-299", 301, "404"]`, "        host: app.internal:8080"},
			with(func(h *HealthCheck) {
				h.URI, h.Interval, h.Timeout, h.Fails, h.Passes = "/healthz?full=1", 10*time.Second, 500*time.Millisecond, 3, 2
				h.Status = []StatusRange{{200, 299}, {301, 301}, {404, 404}}
				h.Host = "app.internal:8080"
			})},
		{"status as words", []string{`health_check: {status: "200 204-206"}`},
			with(func(h *HealthCheck) { h.Status = []StatusRange{{200, 200}, {204, 206}} })},
		{"status as one number", []string{`health_check: {status: 204}`},
			with(func(h *HealthCheck) { h.Status = []StatusRange{{204, 204}} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, withUpstream(tt.block...))
			if got := c.Upstreams["app"].HealthCheck; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("health_check = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHealthCheckMatch(t *testing.T) {
	h := &HealthCheck{Status: []StatusRange{{200, 299}, {304, 304}}}
	for code, want := range map[int]bool{199: false, 200: true, 250: true, 299: true, 300: false, 304: true, 305: false, 503: false} {
		if h.Match(code) != want {
			t.Errorf("Match(%d) = %v, want %v", code, !want, want)
		}
	}
}

func TestUpstreamKeyErrors(t *testing.T) {
	hc := app + ".health_check"
	tests := []struct {
		name  string
		lines []string // added to upstream app from line 4
		key   string
		line  int
		msg   string
	}{
		{"budget as a bare number", []string{"retry_budget: 20"}, app + ".retry_budget", 4,
			`"retry_budget" directive invalid value "20": want a percentage like "20%" (0% to 100%), or off`},
		{"budget over 100%", []string{`retry_budget: "120%"`}, app + ".retry_budget", 4, `invalid value "120%"`},
		{"negative budget", []string{`retry_budget: "-5%"`}, app + ".retry_budget", 4, `invalid value "-5%"`},
		{"budget without a number", []string{`retry_budget: "%"`}, app + ".retry_budget", 4, `invalid value "%"`},
		{"budget word", []string{`retry_budget: some`}, app + ".retry_budget", 4, `invalid value "some"`},
		{"budget on", []string{`retry_budget: true`}, app + ".retry_budget", 4, `invalid value "true"`},
		{"budget list", []string{`retry_budget: ["20%"]`}, app + ".retry_budget", 4, "got a list"},
		{"negative minimum", []string{"retry_budget_min_per_second: -1"}, app + ".retry_budget_min_per_second", 4,
			`"retry_budget_min_per_second" directive invalid number "-1"`},
		{"minimum word", []string{"retry_budget_min_per_second: many"}, app + ".retry_budget_min_per_second", 4, `invalid number "many"`},
		{"least_conn word", []string{"least_conn: maybe"}, app + ".least_conn", 4, `invalid value "maybe", it must be "on" or "off"`},
		{"hash with a third word", []string{"hash: $uri consistent x"}, app + ".hash", 4, `invalid parameter "x"`},
		{"hash not consistent", []string{"hash: $uri sticky"}, app + ".hash", 4, `invalid parameter "sticky"`},
		{"random least_conn without two", []string{"random: least_conn"}, app + ".random", 4, `invalid parameter "least_conn"`},
		{"random two foo", []string{"random: two foo"}, app + ".random", 4, `invalid parameter "foo"`},
		{"ip_hash word", []string{"ip_hash: maybe"}, app + ".ip_hash", 4, `invalid value "maybe", it must be "on" or "off"`},
		{"two methods", []string{"ip_hash: on", "hash: $uri"}, app + ".hash", 5, `load balancing method redefined: "ip_hash" and "hash" are both set`},
		{"health_check not a mapping", []string{"health_check: on"}, hc, 4, `expected a mapping, got a string`},
		{"unknown key in health_check", []string{"health_check: {intreval: 1s}"}, hc + ".intreval", 4, `unknown key "intreval"`},
		{"bad type", []string{"health_check: {type: udp}"}, hc + ".type", 4, `"health_check.type" directive invalid value "udp", it must be "tcp" or "http"`},
		{"uri without slash", []string{"health_check: {uri: health}"}, hc + ".uri", 4, `invalid "health_check.uri" "health": it must start with "/"`},
		{"uri with a space", []string{`health_check: {uri: "/a b"}`}, hc + ".uri", 4, `invalid "health_check.uri" "/a b"`},
		{"uri for tcp", []string{"health_check: {type: tcp, uri: /x}"}, hc + ".uri", 4, `"health_check.uri" is only for "type: http" health checks`},
		{"status for tcp", []string{"health_check: {type: tcp, status: 200}"}, hc + ".status", 4, `"health_check.status" is only for "type: http" health checks`},
		{"host for tcp", []string{"health_check: {type: tcp, host: a}"}, hc + ".host", 4, `"health_check.host" is only for "type: http" health checks`},
		{"bad host", []string{`health_check: {host: "a b"}`}, hc + ".host", 4, `invalid "health_check.host" "a b"`},
		{"interval 0", []string{"health_check: {interval: 0}"}, hc + ".interval", 4, `"health_check.interval" must be greater than 0`},
		{"bad interval", []string{"health_check: {interval: 5x}"}, hc + ".interval", 4, `"health_check.interval" directive invalid value "5x"`},
		{"timeout 0", []string{"health_check: {timeout: 0}"}, hc + ".timeout", 4, `"health_check.timeout" must be greater than 0`},
		{"timeout over the default interval", []string{"health_check: {timeout: 6s}"}, hc + ".timeout", 4,
			`"health_check.timeout" 6s must not be greater than "health_check.interval" 5s`},
		{"timeout over interval, interval written last", []string{"health_check:", "        timeout: 2s", "        interval: 1s"},
			hc + ".interval", 6, `"health_check.timeout" 2s must not be greater than "health_check.interval" 1s`},
		{"fails 0", []string{"health_check: {fails: 0}"}, hc + ".fails", 4, `"health_check.fails" must be 1 or more`},
		{"passes 0", []string{"health_check: {passes: 0}"}, hc + ".passes", 4, `"health_check.passes" must be 1 or more`},
		{"negative fails", []string{"health_check: {fails: -2}"}, hc + ".fails", 4, `invalid number "-2"`},
		{"status below 100", []string{"health_check: {status: 99}"}, hc + ".status", 4, `invalid value "99": want a status code`},
		{"status above 599", []string{`health_check: {status: ["200-600"]}`}, hc + ".status", 4, `invalid value "200-600"`},
		{"reversed range", []string{`health_check: {status: "400-300"}`}, hc + ".status", 4, `invalid value "400-300"`},
		{"status class", []string{`health_check: {status: 2xx}`}, hc + ".status", 4, `invalid value "2xx"`},
		{"open range", []string{`health_check: {status: "200-"}`}, hc + ".status", 4, `invalid value "200-"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, withUpstream(tt.lines...))
			wantError(t, err, tt.key, tt.line, tt.msg)
		})
	}
}

func TestUpstreamKeysNotAllowedElsewhere(t *testing.T) {
	tests := []struct{ directive, msg string }{
		{"least_conn: on", `"least_conn" directive is not allowed here, only in: upstream`},
		{"retry_budget: 10%", `"retry_budget" directive is not allowed here, only in: upstream`},
		{"health_check: {}", `"health_check" directive is not allowed here, only in: upstream`},
		{"interval: 1s", `"interval" directive is not allowed here, only in: health_check`},
	}
	for _, tt := range tests {
		_, err := load(t, withLocation(tt.directive))
		key := loc0 + "." + tt.directive[:strings.IndexByte(tt.directive, ':')]
		wantError(t, err, key, 10, tt.msg)
	}
	_, err := load(t, withLocation("proxy_next_upstream_idempotency_key: maybe"))
	wantError(t, err, loc0+".proxy_next_upstream_idempotency_key", 10, `invalid value "maybe", it must be "on" or "off"`)
}

func TestBalancingMethods(t *testing.T) {
	for _, tt := range []struct {
		line string
		want Upstream
	}{
		{"hash: $request_uri", Upstream{Hash: "$request_uri"}},
		{"hash: $arg_id$remote_addr consistent", Upstream{Hash: "$arg_id$remote_addr", HashConsistent: true}},
		{"ip_hash: on", Upstream{IPHash: true}},
		{"random: on", Upstream{Random: true}},
		{"random: two", Upstream{Random: true, RandomTwo: true}},
		{"random: two least_conn", Upstream{Random: true, RandomTwo: true}},
		{"random: [two, least_conn]", Upstream{Random: true, RandomTwo: true}},
		{"random: off", Upstream{}},
	} {
		u := mustLoad(t, withUpstream(tt.line)).Upstreams["app"]
		got := Upstream{Hash: u.Hash, HashConsistent: u.HashConsistent, IPHash: u.IPHash, Random: u.Random, RandomTwo: u.RandomTwo}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

// nginx refuses backup servers with hash, ip_hash and random, with the
// same words (nginx -t: "balancing method does not support parameter").
func TestBalancingMethodBackup(t *testing.T) {
	for _, m := range []string{"hash: $uri", "ip_hash: on", "random: two"} {
		conf := strings.Replace(withUpstream(m), "servers: [{address: 127.0.0.1:9001}]",
			"servers: [{address: 127.0.0.1:9001}, {address: 127.0.0.1:9002, backup: on}]", 1)
		_, err := load(t, conf)
		wantError(t, err, app+".servers[1].backup", 5, `balancing method does not support parameter "backup"`)
	}
	mustLoad(t, strings.Replace(withUpstream("least_conn: on"), "servers: [{address: 127.0.0.1:9001}]",
		"servers: [{address: 127.0.0.1:9001}, {address: 127.0.0.1:9002, backup: on}]", 1))
}

// resolve and service= (nginx 1.27.3) with their checks: a zone and a
// resolver (the upstream's own, else http's), service= only with resolve and
// a name without a port; an IP address is never resolved.
func TestUpstreamResolve(t *testing.T) {
	srv := func(s string) string {
		return strings.Replace(base, "servers: [{address: 127.0.0.1:9001}]", "servers: ["+s+"]", 1)
	}
	c := mustLoad(t, strings.Replace(withUpstream("zone: [z, 1m]", "resolver: [127.0.0.1:5353, valid=5s]", "resolver_timeout: 2s"),
		"servers: [{address: 127.0.0.1:9001}]", "servers: [{address: app.test:8080, resolve: on}, {address: 10.0.0.1, resolve: on}, {address: svc.test, resolve: on, service: http}]", 1))
	u := c.Upstreams["app"]
	if u.Zone != "z" || len(u.Resolver.Servers) != 1 || u.Resolver.Valid != 5*time.Second || u.Resolver.Timeout != 2*time.Second {
		t.Fatalf("zone %q, resolver %+v", u.Zone, u.Resolver)
	}
	if s := u.Servers; !s[0].Resolve || s[1].Resolve || !s[2].Resolve || s[2].Service != "http" || s[2].Address != "svc.test:80" {
		t.Fatalf("servers %+v", s)
	}
	// http's resolver serves an upstream without its own
	c = mustLoad(t, strings.Replace(srv("{address: app.test:8080, resolve: on}"), "    app:\n", "    app:\n      zone: [z]\n", 1)+"  resolver: [127.0.0.1]\n")
	if r := c.Upstreams["app"].Resolver; len(r.Servers) != 1 || r.Timeout != 30*time.Second {
		t.Fatalf("inherited resolver %+v", r)
	}
	_, err := load(t, srv("{address: app.test:8080, resolve: on}")+"  resolver: [127.0.0.1]\n")
	wantError(t, err, app+".servers[0].resolve", 4, `resolving names at run time requires upstream "app" to be in shared memory`)
	_, err = load(t, strings.Replace(srv("{address: app.test:8080, resolve: on}"), "    app:\n", "    app:\n      zone: [z]\n", 1))
	wantError(t, err, app+".servers[0].resolve", 5, `no resolver defined to resolve names at run time in upstream "app"`)
	_, err = load(t, srv("{address: svc.test, service: http}"))
	wantError(t, err, app+".servers[0].service", 4, `service upstream "svc.test" requires "resolve" parameter`)
	_, err = load(t, strings.Replace(srv("{address: 'svc.test:80', resolve: on, service: http}"), "    app:\n", "    app:\n      zone: [z]\n", 1)+"  resolver: [127.0.0.1]\n")
	wantError(t, err, app+".servers[0].service", 5, `service upstream "svc.test:80" may not have port`)
}

// sticky cookie (NGINX Plus) and its parameters; route and learn, and hash
// with sticky, are refused rather than ignored.
func TestUpstreamSticky(t *testing.T) {
	u := mustLoad(t, withUpstream("sticky: [cookie, srv, expires=1h3m, domain=$host, path=/, samesite=lax, secure, httponly]")).Upstreams["app"]
	want := Sticky{Cookie: "srv", Expires: time.Hour + 3*time.Minute, Domain: "$host", Path: "/", SameSite: "lax", Secure: true, HTTPOnly: true}
	if u.Sticky == nil || !reflect.DeepEqual(*u.Sticky, want) {
		t.Fatalf("sticky %+v", u.Sticky)
	}
	if u := mustLoad(t, withUpstream("sticky: cookie srv expires=max")).Upstreams["app"]; u.Sticky.Expires != MaxExpires {
		t.Fatalf("expires=max: %v", u.Sticky.Expires)
	}
	if u := mustLoad(t, withUpstream("sticky: learn create=$upstream_cookie_sid lookup=$cookie_sid zone=s:1m timeout=2 header")).Upstreams["app"]; u.Sticky.Learn == nil ||
		!reflect.DeepEqual(*u.Sticky.Learn, StickyLearn{Create: []string{"$upstream_cookie_sid"}, Lookup: []string{"$cookie_sid"}, Zone: "s", Size: 1 << 20, Timeout: 2 * time.Second, Header: true}) {
		t.Fatalf("sticky learn: %+v", u.Sticky.Learn)
	}
	if u := mustLoad(t, withUpstream("sticky: route $cookie_route $arg_route")).Upstreams["app"]; u.Sticky.Cookie != "" || strings.Join(u.Sticky.Route, " ") != "$cookie_route $arg_route" {
		t.Fatalf("sticky route: %+v", u.Sticky)
	}
	for line, msg := range map[string]string{
		"sticky: cookie":                    `invalid number of arguments in "sticky" directive`,
		"sticky: cookie srv samesite=rare":  `invalid parameter "samesite=rare"`,
		"sticky: cookie srv expires=soon":   `invalid parameter "expires=soon"`,
		"sticky: route cookie_route":        `invalid variable name "cookie_route"`,
		"sticky: learn create=$a":           `zone must be defined`,
		"sticky: learn zone=z:1m lookup=$a": `create must be defined`,
	} {
		_, err := load(t, withUpstream(line))
		wantError(t, err, app+".sticky", 4, msg)
	}
	_, err := load(t, withUpstream("hash: $uri", "sticky: cookie srv"))
	wantError(t, err, app+".sticky", 5, `"sticky" with "hash" is not implemented: the cookie takes the place of the hash key`)
}
