package difftest

import b "spillway/bench/upstreamsim"

// X-Accel-Redirect: the upstream names a URI (with its query, percent-
// encoded) or a named location, and the request is internally redirected
// there with the headers nginx carries (Content-Type, Set-Cookie,
// Cache-Control...) and not the others; the method becomes GET; an unsafe
// URI is 404 with nginx's line; a target that redirects again and again is
// the 500 of nginx's internal-redirect limit; proxy_ignore_headers
// X-Accel-Redirect relays the answer as it is.
func init() {
	hdr := func(path string, lines ...string) b.Behavior {
		bh := b.OK().At(path)
		bh.Header = lines
		return bh
	}
	show := `200 "uri=$uri args=$args method=$request_method xar=$upstream_http_x_accel_redirect\n"`
	Scenarios = append(Scenarios,
		Scenario{Area: "x_accel_redirect", Name: "x-accel-redirect",
			Servers: []Server{srv(
				hdr("/go", "X-Accel-Redirect: /files/a%20b?q=1", "Set-Cookie: s=1", "Set-Cookie: t=2",
					"Cache-Control: no-cache", "Content-Disposition: attachment", "X-Other: o"),
				hdr("/named", "X-Accel-Redirect: @n", "X-Other: o"),
				hdr("/unsafe", "X-Accel-Redirect: /files/../x"),
				hdr("/loop", "X-Accel-Redirect: /loop"))},
			Locations: []Location{
				staticLoc("/files/", "internal", "", "return", show),
				staticLoc("@n", "return", show),
				staticLoc("/ign/", "proxy_pass", "http://app/go", "proxy_ignore_headers", "X-Accel-Redirect"),
			},
			Requests: reqs(get("/go?x=1"), req("POST", "/go", 5), head("/go"), get("/named?y=2"), get("/unsafe"),
				get("/loop"), get("/ign/")),
			Headers: []string{"Content-Type", "Set-Cookie", "Cache-Control", "Content-Disposition", "X-Other"}},
		// nginx finds its upstream headers by name in any case, and the
		// first of two is the one it acts on; a present but empty
		// X-Accel-Redirect is a redirect to "" (404).
		Scenario{Area: "x_accel_redirect", Name: "x-accel-redirect-name-case",
			Servers: []Server{srv(
				hdr("/lower", "x-accel-redirect: /files/l"),
				hdr("/mixed", "x-ACCEL-Redirect: @n"),
				hdr("/two", "x-accel-redirect: /files/first", "X-Accel-Redirect: /files/second"),
				hdr("/empty", "X-Accel-Redirect: ", "X-Other: o"),
				hdr("/emptyfirst", "X-Accel-Redirect: ", "X-Accel-Redirect: /files/second"))},
			Locations: []Location{
				staticLoc("/files/", "internal", "", "return", show),
				staticLoc("@n", "return", show),
			},
			Requests: reqs(get("/lower"), get("/mixed"), get("/two"), get("/empty"), get("/emptyfirst")),
			Headers:  []string{"X-Other"}},
	)
}
