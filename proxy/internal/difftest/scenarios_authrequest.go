package difftest

import (
	"time"

	b "spillway/bench/upstreamsim"
)

// auth_request (ngx_http_auth_request_module, proxy/authrequest.go): the
// subrequest goes to an internal location that proxies to the same group
// at /auth (oauth2-proxy's and Authelia's guides' shape), so the hits show
// both the subrequests (always GET /auth) and the requests they let
// through. The access log shows the main request's $upstream_status and
// the subrequest's, which auth_request_set copied into $ast.
func init() { Scenarios = append(Scenarios, authRequestScenarios...) }

// authLocation is the internal location the subrequests go to; more are
// added after its own directives.
func authLocation(more ...Directive) []Location {
	return []Location{{"= /auth", append([]Directive{
		{"internal", ""}, {"proxy_pass", "http://app"}, {"proxy_pass_request_body", "off"},
		{"proxy_set_header", `Content-Length ""`}, {"proxy_set_header", "X-Original-URI $request_uri"},
	}, more...)}}
}

var authRequestDirs = dirs("auth_request", "/auth", "auth_request_set", "$ast $upstream_status")

const authRequestFormat = `$status "$request" us=$upstream_status ast=$ast`

// authScenario is a scenario of the auth_request area: one server whose
// /auth answers as at says, everything else 200.
func authScenario(name string, at b.Behavior, ds []Directive, rs []Request) Scenario {
	return Scenario{Area: "auth_request", Name: name, Servers: []Server{srv(at.At("/auth"), b.OK())},
		Directives: join(authRequestDirs, ds), Locations: authLocation(), Requests: rs, AccessFormat: authRequestFormat}
}

// satisfyAnyBasic is an auth_request scenario whose location also has
// auth_basic and "satisfy any; deny all", comparing every WWW-Authenticate;
// the requests come without a password, then with a good one.
func satisfyAnyBasic(name string, at b.Behavior) Scenario {
	s := authScenario(name, at, join(dirs("satisfy", "any", "deny", "all"), authDirs),
		reqs(get("/x"), withAuth(get("/x"), "plain:s3cret")))
	s.Files, s.Headers = htpasswdFile, []string{"WWW-Authenticate"}
	return s
}

// returnTarget is an auth_request scenario whose /auth location answers
// with return ret.
func returnTarget(name, ret string, rs []Request) Scenario {
	return Scenario{Area: "auth_request", Name: name, Servers: []Server{srv(b.OK())},
		Directives: authRequestDirs, AccessFormat: authRequestFormat, Requests: rs,
		Locations: []Location{{"= /auth", []Directive{{"internal", ""}, {"return", ret}}}}}
}

var authRequestScenarios = []Scenario{
	authScenario("allowed", b.OK(), nil,
		reqs(get("/x"), req("POST", "/echo", 100), req("HEAD", "/x", 0), get("/auth"))),
	authScenario("allowed-204", b.Status(204), nil, reqs(get("/x"))),
	authScenario("401", b.Status(401), nil, reqs(get("/x"), req("POST", "/echo", 100))),
	authScenario("403", b.Status(403), nil, reqs(get("/x"))),
	authScenario("unexpected-302", b.Status(302), nil, reqs(get("/x"))),
	authScenario("unexpected-404", b.Status(404), nil, reqs(get("/x"))),
	authScenario("unexpected-500", b.Status(500), nil, reqs(get("/x"))),
	authScenario("auth-upstream-reset", b.Reset(), nil, reqs(get("/x"))),
	authScenario("auth-upstream-timeout", b.SlowHeader(3*time.Second), nil, reqs(get("/x"))),
	// The client goes while the subrequest waits: nginx checks the main
	// connection for its subrequest's upstream too (499, an info line
	// with the subrequest's fields). One abort per scenario: each side
	// notices a close in its own time, so two in one scenario could log
	// in either order.
	authScenario("client-closes-during-subrequest", b.SlowHeader(3*time.Second), nil,
		reqs(Request{Method: "GET", Path: "/x", Abort: AbortFIN})),
	authScenario("client-resets-during-subrequest", b.SlowHeader(3*time.Second), nil,
		reqs(Request{Method: "GET", Path: "/x", Abort: AbortRST})),
	authScenario("expect-100-continue", b.OK(), nil,
		reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n0123456789"))),
	// Checked before "100 Continue": what the subrequest set reaches the
	// request's later lines (its "while sending to client").
	authScenario("expect-100-continue-temp-file", b.Status(204), dirs("client_body_buffer_size", "1k"),
		reqs(Request{Method: "POST", Path: "/echo", Body: 8192, Header: []string{"Expect: 100-continue"}})),
	authScenario("satisfy-any-denied-by-rule", b.OK(), dirs("satisfy", "any", "deny", "all"), reqs(get("/x"))),
	authScenario("satisfy-any-403", b.Status(403), dirs("satisfy", "any", "deny", "all"), reqs(get("/x"))),
	// With auth_basic under satisfy any, each 401 adds its challenge:
	// both go out with a 401, auth_basic's even with auth_request's 500,
	// none when a check lets the request in.
	satisfyAnyBasic("satisfy-any-basic-401", b.Status(401)),
	satisfyAnyBasic("satisfy-any-basic-403", b.Status(403)),
	satisfyAnyBasic("satisfy-any-basic-500", b.Status(500)),
	satisfyAnyBasic("satisfy-any-basic-allowed", b.OK()),
	// The target answers by itself (nginx-tests' auth_request.t shape):
	// its return's status is the answer, no upstream, $upstream_status
	// empty, and no "while sending to client" on the lines after it.
	returnTarget("return-204", "204", reqs(get("/x"))),
	returnTarget("return-401", `401 "no"`, reqs(get("/x"))),
	returnTarget("return-403", "403", reqs(get("/x"))),
	returnTarget("return-302", "302 /login", reqs(get("/x"))),
	{Area: "auth_request", Name: "return-204-body-temp-file", Servers: []Server{srv(b.OK())},
		Directives: join(authRequestDirs, dirs("client_body_buffer_size", "1k")), AccessFormat: authRequestFormat,
		Locations: []Location{{"= /auth", []Directive{{"return", "204"}}}}, Requests: reqs(req("POST", "/echo", 8192))},
	{Area: "auth_request", Name: "proxied-204-body-temp-file", Servers: []Server{srv(b.Status(204).At("/auth"), b.OK())},
		Directives: join(authRequestDirs, dirs("client_body_buffer_size", "1k")), AccessFormat: authRequestFormat,
		Locations: authLocation(), Requests: reqs(req("POST", "/echo", 8192))},
	authScenario("satisfy-all-denied-first", b.OK(), dirs("deny", "all"), reqs(get("/x"))),
	// The first server resets the subrequest: proxy_next_upstream's
	// default error retries it on the second, which allows; the first is
	// then down (max_fails=1) and the main request goes to the second too.
	{Area: "auth_request", Name: "auth-retried-next-server", Servers: []Server{srv(b.Reset().At("/auth"), b.OK()), srv(b.OK())},
		Directives: authRequestDirs, Locations: authLocation(), Requests: reqs(get("/x")), AccessFormat: authRequestFormat},
	// A bodiless answer keeps the upstream connection; nginx reads no body
	// of a subrequest, so an answer with one (allowed-keepalive-body)
	// costs the connection.
	{Area: "auth_request", Name: "allowed-keepalive", Servers: []Server{srv(b.Status(204).At("/auth"), b.OK())}, Keepalive: 2,
		Directives: join(authRequestDirs, keepaliveDirs), Locations: authLocation(Directive{"proxy_set_header", `Connection ""`}),
		Requests: times(3, get("/x")), AccessFormat: authRequestFormat, CompareConns: true},
	{Area: "auth_request", Name: "allowed-keepalive-body", Servers: []Server{srv(b.OK())}, Keepalive: 2,
		Directives: join(authRequestDirs, keepaliveDirs), Locations: authLocation(Directive{"proxy_set_header", `Connection ""`}),
		Requests: times(3, get("/x")), AccessFormat: authRequestFormat, CompareConns: true},
	{Area: "auth_request", Name: "off-in-location", Servers: []Server{srv(b.Status(403).At("/auth"), b.OK())},
		Directives: authRequestDirs, AccessFormat: authRequestFormat,
		Locations: append(authLocation(), Location{"/open/", []Directive{{"auth_request", "off"}, {"proxy_pass", "http://app"}}}),
		Requests:  reqs(get("/x"), get("/open/x"))},
}
