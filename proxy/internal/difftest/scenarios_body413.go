package difftest

import b "spillway/bench/upstreamsim"

// nginx refuses a declared body over client_max_body_size in its
// find-config phase (proxy/body.go declaredTooLarge): before the
// location's return and rewrites, before auto_redirect's 301 and before
// files are looked for; after a rewrite ... last, with the new location's
// limit. The upstream is never reached.
var body413Locations = []Location{
	{"/r", dirs("return", `200 "r\n"`)},
	{"/dir/", dirs("proxy_pass", "http://app")},
	{"/rw/", dirs("client_max_body_size", "0", "rewrite", "^ /big/ last")},
	{"/big/", dirs("return", `200 "big\n"`)},
	{"/static/", dirs("root", "{DIR}/www")},
}

func init() {
	big := func(path string) Request { return req("POST", path, 2048) }
	Scenarios = append(Scenarios,
		Scenario{Area: "client_body", Name: "too-large-413-before-rewrite", Servers: []Server{srv(b.OK())},
			Directives: dirs("client_max_body_size", "1k"), Locations: body413Locations,
			Files:    map[string]string{"www/static/f.txt": "f\n"},
			Requests: reqs(big("/r"), req("POST", "/r", 100), big("/dir"), big("/rw/x"), req("POST", "/rw/x", 100), big("/static/f.txt"))},
		Scenario{Area: "client_body", Name: "too-large-expect-413-before-return", Servers: []Server{srv(b.OK())},
			Directives: dirs("client_max_body_size", "1k"), Locations: body413Locations,
			Requests: reqs(Request{Method: "POST", Path: "/r", Body: 2048, Header: []string{"Expect: 100-continue"}},
				Request{Method: "POST", Path: "/dir", Body: 2048, Header: []string{"Expect: 100-continue"}})},
	)
}
