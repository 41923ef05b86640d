package difftest

import (
	"strings"
	"time"

	b "spillway/bench/upstreamsim"
)

// error_page, recursive_error_pages and proxy_intercept_errors
// (proxy/errorpage.go): a missing file's 404, a refused upstream's 502, the
// upstream's own errors, each answered by a file, an upstream (after an
// internal redirect or through a named location) or a redirect, with the
// status, headers, error lines and access-log status nginx has.
func init() { Scenarios = append(Scenarios, errpageScenarios()...) }

// errpageFiles are the pages under {DIR}/www.
var errpageFiles = map[string]string{
	"www/404.html":          "custom 404\n",
	"www/50x.html":          "fifty\n",
	"www/400.html":          "four hundred\n",
	"www/intern/page.html":  "internal page\n",
	"www/s/here.html":       "here\n",
	"www/seq/present.html":  "present\n",
	"www/miss/present.html": "present\n",
}

func errpageScenarios() []Scenario {
	www := "{DIR}/www"
	pages := []Location{
		staticLoc("= /404.html", "root", www),
		staticLoc("= /50x.html", "root", www),
		staticLoc("= /400.html", "root", www),
	}
	with := func(locs ...Location) []Location { return append(append([]Location(nil), pages...), locs...) }
	sc := func(name string, servers []Server, ds []Directive, locs []Location, rs ...Request) Scenario {
		return Scenario{Area: "error_page", Name: name, Servers: servers, Directives: ds, Files: errpageFiles, Locations: locs, Requests: rs}
	}
	// The upstream answers 500, 404 and 503 under these paths, 200 elsewhere.
	statuses := srv(b.Behavior{Kind: b.KindStatus, Code: 500, Path: "/e500"}, b.Behavior{Kind: b.KindStatus, Code: 404, Path: "/e404"},
		b.Behavior{Kind: b.KindStatus, Code: 503, Path: "/e503"}, b.OK())
	return []Scenario{
		sc("error_page-static-404", []Server{srv(b.OK())}, dirs("error_page", "404 /404.html"),
			with(staticLoc("/s/", "root", www),
				staticLoc("/s200/", "root", www, "error_page", "404 =200 /404.html"),
				staticLoc("/seq/", "root", www, "error_page", "404 = /x"),
				staticLoc("/miss/", "root", www, "error_page", "404 = @app"),
				staticLoc("@app", "proxy_pass", "http://app"),
				staticLoc("/int/", "root", www, "error_page", "404 /intern/page.html"),
				staticLoc("/intern/", "root", www, "internal", ""),
				staticLoc("= /r404", "return", "404"),
				staticLoc("= /r404t", "return", `404 "gone"`)),
			get("/s/nope"), head("/s/nope"), req("POST", "/s/nope", 10), get("/s/here.html"),
			withHeader(get("/s/nope"), "Range: bytes=0-2"), withHeader(get("/s/nope"), `If-None-Match: "x"`),
			get("/s200/nope"), withHeader(get("/s200/nope"), "Range: bytes=0-2"),
			get("/seq/nope?a=1"), req("POST", "/seq/nope", 10), get("/seq/present.html"),
			get("/miss/nope?b=2"), req("POST", "/miss/nope", 10),
			get("/int/x"), get("/intern/page.html"), get("/r404"), get("/r404t")),
		sc("error_page-upstream-502", []Server{srv(b.Refuse())}, dirs("error_page", "502 /50x.html"), with(),
			get("/x"), head("/x"), req("POST", "/x", 100)),
		sc("error_page-upstream-504", []Server{srv(b.SlowHeader(3 * time.Second))}, dirs("error_page", "504 =503 /50x.html"), with(),
			get("/x")),
		sc("error_page-upstream-502-named", []Server{srv(b.Refuse())}, nil,
			with(staticLoc("/n/", "proxy_pass", "http://app", "error_page", "502 = @down"),
				staticLoc("/s/", "proxy_pass", "http://app", "error_page", "502 =503 @down"),
				staticLoc("@down", "return", `200 "down: $uri $request_method"`)),
			get("/n/x?q=1"), req("POST", "/n/x", 10), get("/s/y")),
		sc("proxy_intercept_errors-on", []Server{statuses}, dirs("proxy_intercept_errors", "on", "error_page", "500 404 /50x.html"), with(),
			get("/e500"), get("/e404"), get("/e503"), get("/x"), head("/e500"), req("POST", "/e404", 10)),
		sc("proxy_intercept_errors-off", []Server{statuses}, dirs("error_page", "500 404 /50x.html"), with(),
			get("/e500"), get("/e404"), get("/e503"), get("/x")),
		func() Scenario {
			// $upstream_status lists the tries of each run through an
			// upstream, the runs separated by " : ".
			s := sc("proxy_intercept_errors-location", []Server{statuses}, dirs("error_page", "500 /50x.html"),
				with(staticLoc("/e500/", "proxy_pass", "http://app", "proxy_intercept_errors", "on", "error_page", "500 =200 /404.html"),
					staticLoc("/e404/", "proxy_pass", "http://app", "proxy_intercept_errors", "on"),
					staticLoc("/e503/", "proxy_pass", "http://app", "proxy_intercept_errors", "on", "error_page", "503 = @app"),
					staticLoc("@app", "proxy_pass", "http://app")),
				get("/e500/a"), get("/e404/a"), get("/e500"), get("/e503/a"), req("POST", "/e503/b", 10))
			s.AccessFormat = `$status "$request" $upstream_status`
			return s
		}(),
		sc("error_page-redirects", []Server{srv(b.OK())}, nil,
			with(staticLoc("/url/", "root", www, "error_page", "404 http://example.com/nf"),
				staticLoc("/url301/", "root", www, "error_page", "404 =301 http://example.com/nf"),
				staticLoc("/url404/", "root", www, "error_page", "404 =404 http://example.com/nf"),
				staticLoc("/urlvar/", "root", www, "error_page", "404 https://example.com$uri?from=$arg_a")),
			get("/url/x"), get("/url301/x"), get("/url404/x"), get("/urlvar/y?a=1"), head("/url/x")),
		sc("error_page-loops", []Server{srv(b.OK())}, nil,
			with(staticLoc("/loop/", "root", www, "error_page", "404 /loop/missing.html"),
				staticLoc("/rloop/", "root", www, "recursive_error_pages", "on", "error_page", "404 /rloop/missing.html"),
				staticLoc("/chain/", "root", www, "recursive_error_pages", "on", "error_page", "404 /s/missing.html"),
				staticLoc("/s/", "root", www, "error_page", "404 =200 /404.html")),
			get("/loop/x"), get("/rloop/x"), get("/chain/x")),
		sc("error_page-413", []Server{srv(b.OK())}, dirs("client_max_body_size", "10", "error_page", "413 /400.html"), with(),
			req("POST", "/x", 100), req("POST", "/x", 5)),
		sc("error_page-request-errors", []Server{srv(b.OK())}, dirs("error_page", "400 405 414 505 /400.html"), with(),
			raw("get / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
			raw("GET /../x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
			raw("GET /%00 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
			raw("TRACE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
			raw("GET / HTTP/2.0\r\nHost: a\r\nConnection: close\r\n\r\n"),
			get("/x")),
		// Access control's refusals: auth_basic's 401 keeps its
		// WWW-Authenticate on the page, deny's 403, limit_req's 503.
		func() Scenario {
			files := map[string]string{}
			for k, v := range errpageFiles {
				files[k] = v
			}
			for k, v := range htpasswdFile {
				files[k] = v
			}
			s := sc("error_page-access", []Server{srv(b.OK())}, dirs("error_page", "401 403 /50x.html"),
				with(Location{"/auth/", join(authDirs, dirs("proxy_pass", "http://app"))},
					staticLoc("/deny/", "deny", "all", "proxy_pass", "http://app", "error_page", "403 =200 /404.html")),
				get("/auth/x"), withAuth(get("/auth/x"), "md5:wrong"), get("/deny/x"))
			s.Files = files
			return s
		}(),
		func() Scenario {
			s := sc("error_page-limit_req", []Server{srv(b.OK())}, dirs("limit_req_zone", "$binary_remote_addr zone=one:1m rate=1r/m"),
				with(staticLoc("/lim/", "limit_req", "zone=one", "proxy_pass", "http://app", "error_page", "503 = @busy"),
					staticLoc("@busy", "return", `429 "slow down"`)),
				get("/lim/x"), get("/lim/x"))
			s.Racy, s.RacyReason = []Aspect{AspectLog}, limitReqRacy
			return s
		}(),
		// auth_request's 401 answered by a page its location does not
		// guard; then satisfy any with auth_basic, both challenges kept.
		func() Scenario {
			s := authScenario("error_page-auth_request", b.Status(401), dirs("error_page", "401 /errp"), reqs(get("/x"), get("/y?a=1")))
			s.Area = "error_page"
			s.Locations = append(s.Locations, Location{"= /errp", dirs("auth_request", "off", "return", `200 "log in"`)})
			return s
		}(),
		func() Scenario {
			s := satisfyAnyBasic("error_page-satisfy-any", b.Status(401))
			s.Area = "error_page"
			s.Directives = append(s.Directives, dirs("error_page", "401 =200 /errp")...)
			s.Locations = append(s.Locations, Location{"= /errp", dirs("auth_request", "off", "allow", "all", "auth_basic", "off", "return", `200 "log in"`)})
			return s
		}(),
		// Requests fasthttp refuses before serve (no Host, a header line
		// over large_client_header_buffers, no request line) get the
		// server's page too (refusedPage).
		{Area: "error_page", Name: "error_page-unparsed-request", Servers: []Server{srv(b.OK())}, Files: errpageFiles, Locations: with(),
			Directives: dirs("error_page", "400 494 /400.html"),
			Requests: reqs(raw("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
				raw("GET / HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("a", 9000)+"\r\nConnection: close\r\n\r\n"),
				raw("GARBAGE\r\n\r\n"), raw("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\nConnection: close\r\n\r\n"))},
	}
}
