package difftest

import b "spillway/bench/upstreamsim"

// Nested locations (proxy/site.go's locTree): nginx's search order through
// a location's nested ones, what a nested location inherits (add_header,
// root) and what not (proxy_pass), nginx against spillway.
func init() { Scenarios = append(Scenarios, nestedScenarios...) }

var nestedLocations = []Location{
	{"/n/", dirs("proxy_pass", "http://app", "add_header", "X-Outer o", "root", "{DIR}/www")},
	{"~ \\.txt$", dirs("return", `200 "server txt\n"`)},
	{"~ ^/r/", dirs("return", `200 "r\n"`)},
	{"/al/", dirs("alias", "{DIR}/www/n/files/", "return", `200 "al\n"`)},
}

var nestedScenarios = []Scenario{
	{Area: "locations", Name: "nested-locations", Servers: []Server{srv(b.OK())}, Locations: nestedLocations,
		Nested: map[string][]Location{
			"/n/": {
				{"= /n/exact", dirs("return", `200 "exact\n"`)},
				{"~ \\.css$", dirs("return", `200 "css $uri\n"`)},
				{"/n/sub/", dirs("return", `200 "sub\n"`)},
				{"^~ /n/pre/", dirs("return", `200 "pre\n"`)},
				{"/n/files/", dirs("add_header", "X-Inner i")}, // no proxy_pass: files from the inherited root
				{"/n/px/", dirs("proxy_pass", "http://app")},   // nginx's auto_redirect for "/n/px", nested too
			},
			"/n/sub/": {{"~ \\.txt$", dirs("return", `200 "sub txt\n"`)}},
			"~ ^/r/":  {{"~ \\.png$", dirs("return", `200 "png $uri\n"`)}},
			"/al/":    {{"~ \\.html$", dirs("add_header", "X-Al 1")}}, // files with the inherited alias
		},
		Files: map[string]string{"www/n/files/f.html": "<p>f</p>\n", "www/n/a.html": "not served: /n/ proxies\n"},
		Requests: reqs(get("/n/exact"), get("/n/exact/x"), get("/n/a.css"), get("/n/sub/x.txt"), get("/n/sub/y"), get("/n/sub/y.css"),
			get("/n/pre/x.css"), get("/n/pre/x.txt"), get("/n/files/f.html"), get("/n/files/none"), get("/n/a.html"), get("/x.txt"),
			get("/r/a.png"), get("/r/a"), get("/al/f.html"), get("/al/none.html"), get("/al/x"),
			get("/n/px?a=1"), get("/n/px/y"))},
}

// Named captures ((?<name>...), (?P<name>...), (?'name'...)) of location,
// rewrite and if regexes set $name (proxy/rewrite.go setCaptures); one not
// set yet reads "" with no warning, and a regex location nested in another
// sees both its own and the outer one's.
var namedCaptureLocations = []Location{
	{"~ ^/loc/(?<first>[^/]+)/(?P<second>[^/]+)$", dirs("return", `200 "loc $first $second\n"`)},
	{"~ ^/q/(?'quoted'\\w+)", dirs("return", `200 "q $quoted\n"`)},
	{"/rw/", dirs("rewrite", "^/rw/(?<rname>\\w+)(?<opt>-x)?$ /done/$rname")},
	{"/done/", dirs("return", `200 "done $uri rname=$rname opt=[$opt]\n"`)},
	{"/if/", dirs("if", `($uri ~ ^/if/(?<ifname>\w+)) { return 200 "if $ifname\n"; }`, "return", `200 "no if\n"`)},
	{"/before/", dirs("return", `200 "before [$first] [$ifname]\n"`)},
	{"~ ^/nest/(?<outer>\\w+)", dirs("return", `200 "outer $outer\n"`)},
}

func init() {
	Scenarios = append(Scenarios, Scenario{Area: "locations", Name: "named-captures", Servers: []Server{srv(b.OK())},
		Locations: namedCaptureLocations,
		Nested:    map[string][]Location{"~ ^/nest/(?<outer>\\w+)": {{"~ /(?<inner>\\w+)$", dirs("return", `200 "nest $outer $inner\n"`)}}},
		Requests: reqs(get("/loc/a/b"), get("/q/zz"), get("/rw/abc"), get("/rw/abc-x"), get("/if/xyz"), get("/if/"), get("/before/"),
			get("/nest/aa"), get("/nest/aa/bb"))})
}
