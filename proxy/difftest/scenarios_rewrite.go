package difftest

import b "spillway/bench"

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

var rewriteScenarios = []Scenario{
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
