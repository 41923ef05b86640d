package difftest

import b "spillway/bench/upstreamsim"

// The rewrite module's return (proxy/return.go): every form, at location
// and server level, before access control, with a regex location's
// captures. None of these requests reaches the upstream but "/x".
func init() { Scenarios = append(Scenarios, rewriteScenarios...) }

var returnLocations = []Location{
	{"= /health", []Directive{{"return", `200 "ok"`}}},
	{"= /empty", []Directive{{"return", "200"}}},
	{"= /nc", []Directive{{"return", "204"}}},
	{"= /forbid", []Directive{{"return", "403"}}},
	{"= /ftext", []Directive{{"return", `403 "no\n"`}}},
	{"= /rel", []Directive{{"return", "302 /target?x=$arg_a"}}},
	{"= /url", []Directive{{"return", "https://example.com$uri"}}},
	{"= /gone", []Directive{{"return", "410"}}},
	{"= /tea", []Directive{{"return", "418"}}},
	{"= /r303", []Directive{{"return", "303 /three"}}},
	{"= /r307", []Directive{{"return", "307 /seven"}}},
	{"= /r308", []Directive{{"return", "308 http://h/eight"}}},
	{"= /close", []Directive{{"return", "444"}}},
	{"= /denied", []Directive{{"deny", "all"}, {"return", `200 "through"`}}},
	{"~ ^/old/(.*)$", []Directive{{"return", "301 /new/$1"}}},
	{"~ ^/cap/(.*)$", []Directive{{"return", `200 "[$1]"`}}},
}

// redirectLocations have a relative return and a proxying "location
// /dir/" (nginx's auto_redirect for "/dir"): both Locations are made
// absolute by absolute_redirect, server_name_in_redirect, port_in_redirect.
var redirectLocations = []Location{
	{"= /rel", []Directive{{"return", "302 /target?x=$arg_a"}}},
	{"/dir/", []Directive{{"proxy_pass", "http://app"}}},
}

// redirectRequests: the Host line's name, none (HTTP/1.0: the local
// address), another name.
var redirectRequests = reqs(get("/rel?a=1"), get("/dir?q"), raw("GET /rel HTTP/1.0\r\n\r\n"),
	raw("GET /dir HTTP/1.1\r\nHost: Other.Test:8000\r\nConnection: close\r\n\r\n"))

// rewriteLocations redirect with rewrite (proxy/rewrite.go): flags,
// arguments, captures escaped or not, a rewrite that does not match
// falling through to the return.
var rewriteLocations = []Location{
	{"/rw/", []Directive{{"rewrite", "^/rw/(.*)$ /new/$1 permanent"}, {"rewrite", "^ /never permanent"}, {"return", "403"}}},
	{"/rq/", []Directive{{"rewrite", "^/rq/(.*)$ /new?c=$1 redirect"}}},
	{"/rt/", []Directive{{"rewrite", "^/rt/(.*)$ /new/$1? redirect"}}},
	{"/rh/", []Directive{{"rewrite", "^/rh/(.*)$ https://ex.org/$1"}}},
	{"/rs/", []Directive{{"rewrite", "^/rs/(.*)$ $scheme://ex.org/$1 permanent"}}},
	{"/rn/", []Directive{{"rewrite", "^/rn/x$ /nope permanent"}, {"return", `200 "fell"`}}},
}

var rewriteRequests = reqs(get("/rw/a%20b%3F?q=1&r=2"), get("/rq/a%20b&c?q=1"), get("/rt/a?q=1"), get("/rh/a%20b?q=1"),
	get("/rs/x"), get("/rn/y"), get("/rn/x"), get("/rt/a&b'x"), get("/rq/a&b"), get("/rt/a+b&c"), get("/rt/a%41&b"), get("/rq/a+b%26"),
	get("/rt/%3B%2B%23%25%3F%7E%22%27%3C%3E%5C%5E%60%7B%7C%7D%2C%3D%40%24%21%2A%28%29%5B%5D%3A%C3%A9%01%09"),
	get("/rq/%3B%2B%23%25%3F%7E%22%27%3C%3E%5C%5E%60%7B%7C%7D%2C%3D%40%24%21%2A%28%29%5B%5D%3A%C3%A9%01%09%26%2F"), get("/x"))

var rewriteScenarios = []Scenario{
	{Area: "rewrite", Name: "rewrite-redirects", Servers: []Server{srv(b.OK())}, Locations: rewriteLocations, Requests: rewriteRequests},
	{Area: "rewrite", Name: "rewrite_log", Servers: []Server{srv(b.OK())}, Locations: rewriteLocations,
		Requests: append(append([]Request(nil), rewriteRequests[:12]...), get("/x")), Directives: []Directive{{"rewrite_log", "on"}}},
	{Area: "rewrite", Name: "rewrite_log-control-bytes", Servers: []Server{srv(b.OK())}, Locations: rewriteLocations,
		Requests: rewriteRequests[12:14], Directives: []Directive{{"rewrite_log", "on"}},
		Diff: &Difference{Aspects: []Aspect{AspectLog}, Reason: "deliberate (proxy/errorlog): rewrite_log quotes the decoded `$uri`, whose control bytes (`%01`, `%09`) nginx writes raw; spillway writes them as `\\x01`, `\\x09` so that one entry is always one line"}},
	{Area: "rewrite", Name: "rewrite-server-redirect", Servers: []Server{srv(b.OK())}, ServerRewrite: "^ https://$host$request_uri? permanent",
		Directives: []Directive{{"rewrite_log", "on"}},
		Requests:   reqs(raw("GET /a%20b?b=1 HTTP/1.1\r\nHost: Redirect.TEST\r\n\r\n"), get("/x"))},
	{Area: "rewrite", Name: "redirect-defaults", Servers: []Server{srv(b.OK())}, Locations: redirectLocations, Requests: redirectRequests},
	{Area: "rewrite", Name: "absolute_redirect-off", Servers: []Server{srv(b.OK())}, Locations: redirectLocations, Requests: redirectRequests,
		Directives: []Directive{{"absolute_redirect", "off"}}},
	{Area: "rewrite", Name: "server_name_in_redirect-on", Servers: []Server{srv(b.OK())}, Locations: redirectLocations, Requests: redirectRequests,
		Directives: []Directive{{"server_name_in_redirect", "on"}}},
	{Area: "rewrite", Name: "port_in_redirect-off", Servers: []Server{srv(b.OK())}, Locations: redirectLocations, Requests: redirectRequests,
		Directives: []Directive{{"port_in_redirect", "off"}}},
	{Area: "rewrite", Name: "return-location-forms", Servers: []Server{srv(b.OK())}, Locations: returnLocations,
		Requests: reqs(get("/health"), get("/empty"), get("/nc"), get("/forbid"), get("/ftext"), get("/rel?a=1"),
			get("/url"), get("/gone"), get("/tea"), get("/r303"), get("/r307"), get("/r308"), get("/close"),
			get("/denied"), get("/old/a%20b?q=1"), get("/cap/a%20b%0a"), get("/x"))},
	{Area: "rewrite", Name: "return-head-and-body", Servers: []Server{srv(b.OK())}, Locations: returnLocations,
		Requests: reqs(Request{Method: "HEAD", Path: "/health"}, Request{Method: "POST", Path: "/health", Body: 1000},
			Request{Method: "POST", Path: "/rel", Body: 1000})},
	{Area: "rewrite", Name: "return-server-redirect", Servers: []Server{srv(b.OK())}, ServerReturn: "301 https://$host$request_uri",
		Requests: reqs(raw("GET /a?b=1 HTTP/1.1\r\nHost: Redirect.TEST\r\n\r\n"), raw("GET /x HTTP/1.1\r\nHost: redirect.test\r\nConnection: close\r\n\r\n"), get("/x"))},
}
