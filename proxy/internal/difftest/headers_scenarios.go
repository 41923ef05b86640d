package difftest

import b "spillway/bench/upstreamsim"

// headerScenarios are add_header and expires (ngx_http_headers_module):
// which statuses get a header with and without "always", variables, an
// empty value, and each expires form (also with variables), on proxied answers and on the
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
		// $request_body: the body read for proxy_pass when it is in
		// memory; not found without a body (no header, "-" in the log).
		func() Scenario {
			s := hs("add_header-request_body", ok, dirs("add_header", "X-A $request_body", "add_header", "X-B [$request_body]"),
				req("POST", "/x", 10), get("/x"), req("POST", "/x", 0), req("PUT", "/missing", 100))
			s.AccessFormat = accessFormat + ` "$request_body"`
			return s
		}(),
		hs("expires-time", ok, dirs("expires", "1h"), get("/x"), get("/missing")),
		hs("expires-negative", ok, dirs("expires", "-1"), get("/x")),
		hs("expires-max", ok, dirs("expires", "max"), get("/x")),
		hs("expires-epoch", ok, dirs("expires", "epoch"), get("/moved")),
		hs("expires-modified", ok, dirs("expires", "modified 2h"), get("/x")),
		// with variables: each form read per response; a value that does
		// not parse, "off" or an empty one leave the headers alone.
		hs("expires-variables", ok, dirs("expires", "$arg_e"), get("/x?e=max"), get("/x?e=epoch"), get("/x?e=-1"),
			get("/x?e=1h"), get("/x?e=bad"), get("/x"), get("/x?e=off"), get("/missing?e=max")),
		hs("expires-modified-variables", ok, dirs("expires", "modified $arg_e"), get("/x?e=2h"), get("/x?e=epoch"), get("/x?e=@1h")),
	}
}

// gzipScenarios are the gzip filter on proxied answers: which responses
// are compressed (the body is compared decompressed; Content-Encoding,
// Vary and ETag as headers, the framing by the end aspect).
func gzipScenarios() []Scenario {
	cmp := []string{"Content-Encoding", "Vary", "ETag", "Accept-Ranges", "Content-Length"}
	gz := func(name string, servers []Server, d []Directive, rs ...Request) Scenario {
		d = join(dirs("gzip", "on", "gzip_vary", "on", "gzip_types", "application/octet-stream text/plain"), d)
		return Scenario{Area: "gzip", Name: name, Servers: servers, Directives: d, Requests: rs, Headers: cmp}
	}
	ae := func(r Request, more ...string) Request {
		r.Header = append(append(r.Header, "Accept-Encoding: gzip, deflate"), more...)
		return r
	}
	ok := []Server{srv(b.Status(404).At("/missing"), b.Status(502).At("/bad"), b.OK())}
	return []Scenario{
		// HTTP/1.9 is 1.1 to nginx: over gzip_http_version 1.1, the answer
		// chunked on a kept connection, and the next request on it.
		gz("gzip-http-1.9", ok, nil, raw("GET /size/64k HTTP/1.9\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n"),
			raw("GET /size/4k HTTP/1.9\r\nHost: localhost\r\n\r\n")),
		gz("gzip-64k", ok, nil, ae(get("/size/64k")), get("/size/64k"), ae(get("/size/19")), ae(get("/size/20")),
			ae(req("HEAD", "/size/64k", 0)), ae(get("/missing")), ae(get("/bad"))),
		gz("gzip-accept-encoding", ok, nil, withHeader(get("/size/4k"), "Accept-Encoding: gzip;q=0"),
			withHeader(get("/size/4k"), "Accept-Encoding: br, gzip;q=0.5"), withHeader(get("/size/4k"), "Accept-Encoding: x-gzip")),
		gz("gzip-proxied-off", ok, nil, ae(get("/size/4k"), "Via: 1.1 cdn")),
		gz("gzip-proxied-any", ok, dirs("gzip_proxied", "any"), ae(get("/size/4k"), "Via: 1.1 cdn")),
		gz("gzip-http10", ok, nil, closing(Request{Raw: "GET /size/4k HTTP/1.0\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n"})),
		gz("gzip-disable", ok, dirs("gzip_disable", `"^curl/"`), ae(get("/size/4k"), "User-Agent: curl/8.0"), ae(get("/size/4k"), "User-Agent: Mozilla/5.0")),
		gz("gzip-unbuffered", ok, dirs("proxy_buffering", "off"), ae(get("/size/300k"))),
		gz("gzip-comp-level-9", ok, dirs("gzip_comp_level", "9", "gzip_min_length", "1k"), ae(get("/size/1k")), ae(get("/size/1023"))),
		gz("gzip-spill", ok, dirs("proxy_buffers", "4 4k", "proxy_max_temp_file_size", "1m"), func() Request {
			r := ae(get("/size/2m"))
			r.SlowRead = true
			return r
		}()),
	}
}

func init() { Scenarios = append(Scenarios, append(headerScenarios(), gzipScenarios()...)...) }
