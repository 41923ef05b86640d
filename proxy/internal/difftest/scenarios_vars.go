package difftest

import b "spillway/bench/upstreamsim"

// Repeated headers as nginx 1.22 takes them (nginx-tests'
// http_headers_multi.t): a second line of a header it keeps once is a 400
// and its info line, logged by the server chosen so far; the variables of
// repeated request headers ($http_) and response headers
// ($sent_http_cache_control and $sent_http_link joined), and $remote_user
// without auth_basic; $proxy_port for an upstream block; $limit_req_status
// with and without limit_req_dry_run; proxy_method with a variable.
func init() {
	h1 := "GET /x HTTP/1.1\r\nHost: localhost\r\n"
	Scenarios = append(Scenarios,
		Scenario{Area: "bad_request", Name: "duplicate-unique-headers", Servers: []Server{srv(b.OK())},
			Requests: reqs(raw(h1+"If-Match: a\r\nX-A: 1\r\nif-match:  b \r\n\r\n"),
				raw("GET /x HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\nHost: localhost\r\n\r\n"),
				raw(h1+"Expect: a\r\nExpect: b\r\n\r\n"),
				raw(h1+"If-None-Match: a\r\nIf-Range: x\r\nIf-None-Match: b\r\n\r\n"),
				raw(h1+"Transfer-Encoding: foo\r\nTransfer-Encoding: bar\r\n\r\n"))},
		Scenario{Area: "variables", Name: "repeated-headers", Servers: []Server{srv(b.OK())},
			Locations: []Location{
				{"/v", dirs("add_header", "X-UA $http_user_agent", "add_header", "X-Ref $http_referer",
					"add_header", "X-Via $http_via", "add_header", "X-CT $content_type", "add_header", "X-Foo $http_foo",
					"add_header", "X-RU $remote_user", "add_header", "X-Cookie $http_cookie", "return", "204")},
				{"/s", dirs("add_header", "Cache-Control foo", "add_header", "Cache-Control bar",
					"add_header", "Link l1", "add_header", "Link l2", "add_header", "Foo f1", "add_header", "Foo f2",
					"add_header", "X-CC $sent_http_cache_control", "add_header", "X-Link $sent_http_link",
					"add_header", "X-F $sent_http_foo", "return", "204")},
			},
			Requests: reqs(
				raw("GET /v HTTP/1.1\r\nHost: localhost\r\nUser-Agent: u1\r\nReferer: r1\r\nReferer: r2\r\n"+
					"Via: v1\r\nVia: v2\r\nContent-Type: c1\r\nFoo: f1\r\nFoo: f2\r\n"+
					"Authorization: Basic dXNlcjpzZWNyZXQ=\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n"),
				raw("GET /v HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n"),
				get("/s")),
			Headers: []string{"X-UA", "X-Ref", "X-Via", "X-CT", "X-Foo", "X-RU", "X-Cookie", "Cache-Control", "Link", "Foo",
				"X-CC", "X-Link", "X-F"}},
		// Two User-Agent and Content-Type lines: nginx forwards both and
		// its variables have the first; fasthttp's fields keep the last.
		Scenario{Area: "variables", Name: "repeated-user-agent-content-type", Servers: []Server{srv(b.OK())},
			Directives: dirs("add_header", "X-UA $http_user_agent", "add_header", "X-CT $content_type"),
			Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nUser-Agent: u1\r\nContent-Type: c1\r\n" +
				"user-agent: u2\r\nContent-Type: c2\r\nConnection: close\r\n\r\n")),
			Headers: []string{"X-UA", "X-CT"}},
		Scenario{Area: "variables", Name: "proxy_port", Servers: []Server{srv(b.OK())},
			Directives: dirs("add_header", "X-Proxy-Port $proxy_port", "add_header", "X-Proxy-Host $proxy_host"),
			Requests:   reqs(get("/x")), Headers: []string{"X-Proxy-Port", "X-Proxy-Host"}},
		Scenario{Area: "variables", Name: "limit_req_status", Servers: []Server{srv(b.OK())},
			Directives: join(limitDirs("1r/m", "zone=one burst=1"), dirs("limit_req_dry_run", "on",
				"add_header", "X-Req $limit_req_status always")),
			Requests: times(3, get("/x")), Headers: []string{"X-Req"}, Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
		Scenario{Area: "variables", Name: "limit_req_status-rejected", Servers: []Server{srv(b.OK())},
			Directives: join(limitDirs("1r/m", "zone=one"), dirs("add_header", "X-Req $limit_req_status always")),
			Requests:   times(2, get("/x")), Headers: []string{"X-Req"}, Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
		Scenario{Area: "variables", Name: "proxy_method", Servers: []Server{srv(b.OK())},
			Directives: dirs("proxy_method", "$arg_m"),
			Requests:   reqs(get("/x?m=POST"), get("/y?m=DELETE"), req("HEAD", "/z?m=PUT", 0))},
	)
}
