package difftest

import b "spillway/bench/upstreamsim"

// limit_except (ngx_http_core_module, proxy/config/limitexcept.go): a
// method the block does not list gets the block's configuration in place
// of the location's. The client is 127.0.0.1.
func init() { Scenarios = append(Scenarios, limitExceptScenarios...) }

// limitExcept is an access scenario whose location /lx/ has the
// directives ds (a limit_except among them).
func limitExcept(name string, ds []Directive, rs []Request) Scenario {
	return Scenario{Area: "access", Name: name, Servers: []Server{srv(b.OK())},
		Locations: []Location{{"/lx/", ds}}, Requests: rs}
}

var limitExceptScenarios = []Scenario{
	// GET brings HEAD; any other method, one nginx does not know too, is
	// denied by the block with nginx's 403 and its error line.
	limitExcept("limit-except-deny", dirs("proxy_pass", "http://app", "limit_except", "GET { deny all; }"),
		reqs(get("/lx/a"), req("HEAD", "/lx/a", 0), req("POST", "/lx/a", 100), req("DELETE", "/lx/a", 0), req("FOO", "/lx/a", 0))),
	// The block's allow lets the client in for the other methods, which
	// the location's deny all keeps out of GET.
	limitExcept("limit-except-replaces-access", dirs("proxy_pass", "http://app", "deny", "all", "limit_except", "GET { allow 127.0.0.1; deny all; }"),
		reqs(get("/lx/a"), req("PUT", "/lx/a", 10))),
	// The location's return is not the block's: a POST gets the deny.
	limitExcept("limit-except-return", dirs("return", `200 "ret\n"`, "limit_except", "GET { deny all; }"),
		reqs(get("/lx/a"), req("POST", "/lx/a", 10))),
	// auth_basic in the block asks the other methods only for a password.
	{Area: "access", Name: "limit-except-auth-basic", Servers: []Server{srv(b.OK())}, Files: htpasswdFile, Headers: []string{"WWW-Authenticate"},
		Locations: []Location{{"/lx/", dirs("proxy_pass", "http://app",
			"limit_except", "GET { auth_basic Restricted; auth_basic_user_file {DIR}/htpasswd; }")}},
		Requests: reqs(get("/lx/a"), req("POST", "/lx/a", 10), withAuth(req("POST", "/lx/a", 10), "plain:s3cret"))},
	// The block's own proxy_pass has no URI part: the request's URI goes
	// upstream, where the location's replaces its prefix.
	limitExcept("limit-except-own-proxy-pass", dirs("proxy_pass", "http://app/rep/", "limit_except", "GET { proxy_pass http://app; }"),
		reqs(get("/lx/a"), req("POST", "/lx/a", 10))),
}
