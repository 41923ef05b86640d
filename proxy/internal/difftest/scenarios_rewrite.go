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
	// An if block is a location even when empty: when it holds the
	// location's try_files is not the request's; a proxy_pass of an if
	// matched before one without stays the content handler, which finds
	// no upstream (nginx-tests' proxy_if.t).
	{Area: "rewrite", Name: "if-block-is-a-location", Servers: []Server{srv(b.OK())}, Files: map[string]string{"www/tf/a": "a"},
		Locations: []Location{
			{"/tf/", dirs("root", "{DIR}/www", "try_files", "/nope =418", "if", "($arg_x) { }")},
			{"/crash", dirs("set", "$true 1", "if", "($true) { proxy_pass http://app; }", "if", "($true) { }")},
		},
		Requests: reqs(get("/tf/a"), get("/tf/a?x=1"), get("/tf/b?x=1"), get("/crash"))},
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

// internalLocations rewrite $uri inside the server: last searches the
// locations again, break stays (and proxy_pass's URI part is left out), a
// rewrite without flag goes on with the next directive and searches again
// after them; the new arguments; $uri, $args and $request_uri after; the
// 10-change limit (nginx's 500 and its line).
var internalLocations = []Location{
	{"/il/", dirs("rewrite", "^/il/(.*)$ /app/$1 last", "return", "403")},
	{"/ib/", dirs("rewrite", "^/ib/(.*)$ /got/$1?k=v break", "proxy_pass", "http://app/base/")},
	{"/in/", dirs("rewrite", "^/in/(.*)$ /nf/$1?", "rewrite", "^/nf/(.*)$ /app/$1")},
	{"/bd/", dirs("rewrite", "^/bd/(.*)$ /shown/$1", "break", "", "proxy_pass", "http://app/base/")},
	{"/ia/", dirs("rewrite", "^/ia/(.*)$ /shown/$1?x=$1 last")},
	{"~ ^/shown/(.*)$", dirs("return", `200 "uri=$uri args=$args is=$is_args req=$request_uri cap=$1\n"`)},
	{"/int/", dirs("internal", "", "return", `200 "internal $uri\n"`)},
	{"/toint/", dirs("rewrite", "^/toint/(.*)$ /int/$1 last")},
	{"/loop/", dirs("rewrite", "^/loop/(.*)$ /loop/$1")},
	{"/ll/", dirs("rewrite", "^/ll/(.*)$ /ll/x$1 last")},
}

var internalRequests = reqs(get("/il/a?q=1"), get("/ib/b?q=2"), get("/bd/b?q=2"), get("/in/c?q=3"), get("/ia/d?q=4"), get("/ia/a%20b"),
	get("/ia/a+b%26c?q"), get("/int/a"), get("/toint/a"), get("/loop/e"), get("/ll/f"), get("/x"))

// ifLocations: set, if with a variable, = and !=, a regex and its
// captures, !~, file tests on a real directory, an uninitialized
// variable, and if in location (add_header, proxy_pass).
var ifLocations = []Location{
	{"/if/", []Directive{
		{"set", "$t none"},
		{"if", `($arg_v) { set $t "v-$arg_v"; }`},
		{"if", `($http_x_k = "a b") { return 200 "eq $t\n"; }`},
		{"if", `($http_x_k != "") { return 200 "ne [$http_x_k]\n"; }`},
		{"if", `($http_x_agent ~* ^(curl|wget)/([0-9]+)) { return 200 "ua $1 $2 $t\n"; }`},
		{"if", `($arg_n !~ ^[0-9]*$) { return 400; }`},
		{"if", `($arg_u) { return 200 "[$never]\n"; }`},
		{"return", `200 "end $t\n"`},
	}},
	{"/file/", []Directive{
		{"if", `(-f {DIR}/www$uri) { return 200 "file\n"; }`},
		{"if", `(-d {DIR}/www$uri) { return 200 "dir\n"; }`},
		{"if", `(-e {DIR}/www$uri) { return 200 "exists\n"; }`},
		{"if", `(!-x {DIR}/www$uri) { return 200 "not executable\n"; }`},
		{"return", `200 "executable\n"`},
	}},
	{"/cors/", []Directive{
		{"if", `($request_method = OPTIONS) { add_header Access-Control-Allow-Origin "*"; add_header Access-Control-Max-Age 1728000; return 204; }`},
		{"proxy_pass", "http://app"}}},
	{"/sa/", dirs("set", `$args "k=v&$args"`, "proxy_pass", "http://app")},
	{"/tf/", dirs("root", "{DIR}/www", "try_files", "$uri /tshown$uri?from=try")},
	{"/tfi/", []Directive{{"root", "{DIR}/www"}, {"try_files", "$uri /tshown$uri"}, {"if", `($arg_x) { add_header X-If x; }`}}},
	{"/hs/", []Directive{{"if", `($http_x_fp = "") { set $http_x_fp $scheme; }`}, {"return", `200 "[$http_x_fp]\n"`}}},
	{"/hn/", []Directive{{"return", `200 "[$http_x_fp]\n"`}}},
	{"/pp/", []Directive{{"proxy_pass", "http://app/base/"}, {"if", `($arg_x) { add_header X-If pp; }`}}},
	{"/tshown/", []Directive{{"set", "$t tried"}, {"return", `200 "$t $uri $args\n"`}}},
	{"/ifl/", []Directive{
		{"if", `($request_method = POST) { add_header X-If post; }`},
		{"if", `($arg_to) { proxy_pass http://app; }`},
		{"set", "$never x"},
		{"proxy_pass", "http://app/base/"},
	}},
}

var ifFiles = map[string]string{"www/file/f.txt": "f\n", "www/file/d/index.html": "d\n", "www/file/run.sh": "#!/bin/sh\n"}

var ifRequests = reqs(get("/if/"), get("/if/?v=1"), Request{Path: "/if/", Header: []string{"X-K: a b"}},
	Request{Path: "/if/?v=2", Header: []string{"X-K: other"}}, Request{Path: "/if/", Header: []string{"X-Agent: Wget/1.21"}},
	get("/if/?n=12"), get("/if/?n=1x"), get("/if/?u=1"),
	get("/file/f.txt"), get("/file/d"), get("/file/missing"), get("/file/run.sh"),
	Request{Method: "POST", Path: "/ifl/p", Body: 10}, get("/ifl/q?to=1"), get("/ifl/r"),
	Request{Method: "OPTIONS", Path: "/cors/x"}, get("/cors/x"), get("/sa/x%20y?a=1"), get("/tf/nofile?q=1"), // try_files's fallback runs the rewrite phases again: the set of its location
	get("/tfi/nofile"), get("/tfi/nofile?x=1"), // an if location has no try_files (nginx's "if is evil")
	get("/hs/"), Request{Path: "/hs/", Header: []string{"X-Fp: https"}}, Request{Path: "/hn/", Header: []string{"X-Fp: h"}}, // set shadows $http_x_fp
	get("/pp/a%20b?x=1"), get("/pp/c"), // proxy_pass's URI part replaces the enclosing location's prefix
	Request{Method: "POST", Path: "/ifl/s?to=1", Body: 10}) // both ifs hold: the last one's location only (no X-If)

// maintenanceServer is the server-level if of Puma's and Rails' configs:
// while a file exists every request gets it.
var maintenanceServer = []Directive{
	{"if", `(-f {DIR}/www/maintenance.html) { rewrite ^(.*)$ /maintenance.html last; }`},
	{"rewrite", "^/srv/(.*)$ /shown/$1"},
}

func init() {
	Scenarios = append(Scenarios,
		Scenario{Area: "rewrite", Name: "rewrite-internal", Servers: []Server{srv(b.OK())}, Locations: internalLocations,
			Requests: internalRequests},
		Scenario{Area: "rewrite", Name: "rewrite-internal-rewrite_log", Servers: []Server{srv(b.OK())}, Locations: internalLocations,
			Requests: reqs(get("/il/a?q=1"), get("/ib/b?q=2"), get("/in/c?q=3"), get("/ia/d?q=4")), Directives: []Directive{{"rewrite_log", "on"}}},
		Scenario{Area: "rewrite", Name: "if-set", Servers: []Server{srv(b.OK())}, Locations: ifLocations, Files: ifFiles,
			Requests: ifRequests, Headers: []string{"X-If", "Access-Control-Allow-Origin", "Access-Control-Max-Age"}},
		Scenario{Area: "rewrite", Name: "if-server-maintenance", Servers: []Server{srv(b.OK())}, Locations: append([]Location{
			{"= /maintenance.html", dirs("return", `503 "maintenance\n"`)}}, internalLocations...),
			ServerDirectives: maintenanceServer, Files: map[string]string{"www/maintenance.html": "m\n"},
			Requests: reqs(get("/x"), get("/il/a"))},
		Scenario{Area: "rewrite", Name: "if-server-rewrite", Servers: []Server{srv(b.OK())},
			Locations:        append([]Location{{"/up/", dirs("proxy_pass", "http://app/base/")}}, internalLocations...),
			ServerDirectives: append(maintenanceServer, Directive{"rewrite", "^/sb/(.*)$ /up/$1 break"}, Directive{"set", "$s server"}),
			Requests:         reqs(get("/x"), get("/srv/a?q=1"), get("/il/a"), get("/sb/b?q=2"), get("/up/c"))},
	)
}
