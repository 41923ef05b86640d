package difftest

import b "spillway/bench/upstreamsim"

// The upstream's response headers on their way to the client:
// proxy_redirect (nginx's default, explicit prefixes with variables,
// regexes, off) on Location and Refresh, proxy_cookie_domain and
// proxy_cookie_path on Set-Cookie, proxy_cookie_flags (set, replace,
// remove, regex, variables), proxy_hide_header and proxy_pass_header.
func init() {
	// hdr answers 200 at path with the given extra header lines.
	hdr := func(path string, lines ...string) b.Behavior {
		bh := b.OK().At(path)
		bh.Header = lines
		return bh
	}
	// redirects answers /a.. /f (under prefix, where proxy_pass's URI
	// puts them) with a Location or Refresh to rewrite, or not.
	redirects := func(prefix string) []b.Behavior {
		return []b.Behavior{
			hdr(prefix+"/a", "Location: http://app/inner/login?a=1"),
			hdr(prefix+"/b", "Location: http://app/login"),
			hdr(prefix+"/c", "Location: http://other.example/inner/x"),
			hdr(prefix+"/d", "Location: /inner/relative"),
			hdr(prefix+"/e", "Refresh: 3; URL=http://app/inner/r"),
			hdr(prefix+"/f", "Location: http://APP/inner/case"),
		}
	}
	paths := reqs(get("/a"), get("/b"), get("/c"), get("/d"), get("/e"), get("/f"))
	loc := []string{"Location", "Refresh"}
	cookies := []b.Behavior{
		hdr("/a", "Set-Cookie: sid=1; Domain=.Inner.Example; Path=/inner/x;HttpOnly"),
		hdr("/b", "Set-Cookie: plain=1"),
		hdr("/c", "Set-Cookie: x=y;path=/other ; domain=other.example"),
		hdr("/d", "Set-Cookie: noequals; path=/inner/"),
		hdr("/e", "Set-Cookie: a=1; Path=/inner/; Domain=inner.example", "Set-Cookie: b=2;  path = /inner/y"),
	}
	cpaths := reqs(get("/a"), get("/b"), get("/c"), get("/d"), get("/e"))
	Scenarios = append(Scenarios,
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-default-uri", Servers: []Server{srv(redirects("/inner")...)},
			ProxyPassURI: "/inner/", Requests: paths, Headers: loc},
		// The rewritten Location made absolute with an absolute-form
		// target's host, not the Host line's (nginx's headers_in.server).
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-absolute-target", Servers: []Server{srv(redirects("/inner")...)},
			ProxyPassURI: "/inner/", Requests: reqs(raw("GET http://Other.Example:81/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
				raw("GET http://127.0.0.1/e HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")), Headers: loc},
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-default-no-uri", Servers: []Server{srv(redirects("")...)},
			Requests: paths, Headers: loc},
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-location-uri", Servers: []Server{srv(redirects("/inner")...)},
			Locations: []Location{{Path: "/sub/", Directives: dirs("proxy_pass", "http://app/inner/")}},
			Requests:  reqs(get("/sub/a"), get("/sub/c"), get("/sub/e")), Headers: loc},
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-explicit", Servers: []Server{srv(redirects("")...)},
			Directives: dirs("proxy_redirect", `~^http://other\.example/(.*)$ /re/$1?h=$host`,
				"proxy_redirect", "http://app/inner/ http://$host:8080/v/",
				"proxy_redirect", "~*^http://app/INNER/c(.*) /ci$1"),
			Requests: paths, Headers: loc},
		Scenario{Area: "upstream_headers", Name: "proxy_redirect-off", Servers: []Server{srv(redirects("/inner")...)},
			ProxyPassURI: "/inner/", Directives: dirs("proxy_redirect", "off"), Requests: paths, Headers: loc},
		Scenario{Area: "upstream_headers", Name: "proxy_cookie", Servers: []Server{srv(cookies...)},
			Directives: dirs("proxy_cookie_domain", "inner.example outer.example",
				"proxy_cookie_path", "/inner/ /app/"),
			Requests: cpaths, Headers: []string{"Set-Cookie"}},
		Scenario{Area: "upstream_headers", Name: "proxy_cookie-regex", Servers: []Server{srv(cookies...)},
			Directives: dirs("proxy_cookie_domain", `~^(.*)\.example$ $1.test`,
				"proxy_cookie_path", `~*^/INNER/(.*)$ /v/$1`),
			Requests: cpaths, Headers: []string{"Set-Cookie"}},
		Scenario{Area: "upstream_headers", Name: "proxy_cookie_flags",
			Servers: []Server{srv(
				hdr("/set", "Set-Cookie: a=1", "Set-Cookie: B=2;path=/x", "Set-Cookie: c=3", "Set-Cookie: other=4;secure"),
				hdr("/reset", "Set-Cookie: a=1;Secure;HttpOnly;SameSite=Lax", "Set-Cookie: b=2;samesite", "Set-Cookie: c=3;SameSite=strict"),
				hdr("/remove", "Set-Cookie: d=1;secure;httponly;samesite=lax;Path=/", "Set-Cookie: noequals;secure"),
				hdr("/regex", "Set-Cookie: foobarbaz=1", "Set-Cookie: first=2"),
				hdr("/var", "Set-Cookie: v=1;SameSite=Lax", "Set-Cookie: a=2; Domain=.inner.example"))},
			Directives: dirs("proxy_cookie_flags", "a secure httponly samesite=none",
				"proxy_cookie_flags", "b secure samesite=lax",
				"proxy_cookie_flags", "c samesite=strict bogus",
				"proxy_cookie_flags", "d nosecure nohttponly nosamesite",
				"proxy_cookie_flags", "~BAR httponly",
				"proxy_cookie_flags", "~ir bogus",
				"proxy_cookie_flags", "$arg_c $arg_f1 $arg_f2",
				"proxy_cookie_domain", "inner.example outer.example"),
			Requests: reqs(get("/set"), get("/reset"), get("/remove"), get("/regex"),
				get("/var?c=V&f1=secure&f2=nosamesite"), get("/var?c=v&f1=")),
			Headers: []string{"Set-Cookie"}},
		Scenario{Area: "upstream_headers", Name: "proxy_hide_header-pass_header",
			Servers:    []Server{srv(hdr("/", "X-Secret: s", "X-Other: o", "X-Accel-Expires: 10", "X-Pad: p"))},
			Directives: dirs("proxy_hide_header", "X-Secret", "proxy_pass_header", "Server", "proxy_pass_header", "X-Accel-Expires"),
			Requests:   reqs(get("/x")), Headers: []string{"X-Secret", "X-Other", "Server", "X-Accel-Expires", "X-Pad"}},
	)
}
