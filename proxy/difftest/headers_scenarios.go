package difftest

import b "spillway/bench"

// headerScenarios are add_header and expires (ngx_http_headers_module):
// which statuses get a header with and without "always", variables, an
// empty value, and each expires form, on proxied answers and on the
// proxy's own error pages.
func headerScenarios() []Scenario {
	cmp := []string{"X-A", "X-B", "X-C", "Expires", "Cache-Control"}
	hs := func(name string, servers []Server, d []Directive, rs ...Request) Scenario {
		return Scenario{Area: "headers", Name: name, Servers: servers, Directives: d, Requests: rs, Headers: cmp}
	}
	ok := []Server{srv(b.Status(404).At("/missing"), b.Status(302).At("/moved"), b.OK())}
	return []Scenario{
		hs("add_header-statuses", ok, dirs("add_header", "X-A 1", "add_header", "X-B $uri always", "add_header", `X-C ""`),
			get("/x"), get("/missing"), get("/moved"), req("HEAD", "/x", 0)),
		hs("add_header-error-page", []Server{srv(b.Refuse())}, dirs("add_header", "X-A 1", "add_header", "X-B b always"),
			get("/x")),
		hs("expires-time", ok, dirs("expires", "1h"), get("/x"), get("/missing")),
		hs("expires-negative", ok, dirs("expires", "-1"), get("/x")),
		hs("expires-max", ok, dirs("expires", "max"), get("/x")),
		hs("expires-epoch", ok, dirs("expires", "epoch"), get("/moved")),
		hs("expires-modified", ok, dirs("expires", "modified 2h"), get("/x")),
	}
}

func init() { Scenarios = append(Scenarios, headerScenarios()...) }
