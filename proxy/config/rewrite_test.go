package config

import "testing"

// ParseReturn follows ngx_http_rewrite_return: a code, a code and text,
// or a URL (302) that starts with http://, https:// or $scheme.
func TestParseReturn(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Return
		err  bool
	}{
		{in: "403", want: Return{Code: 403}},
		{in: "200 ok", want: Return{Code: 200, Text: "ok", HasText: true}},
		{in: "200 a b", want: Return{Code: 200, Text: "a b", HasText: true}},
		{in: "200 ", want: Return{Code: 200, HasText: true}},
		{in: "301 https://$host$request_uri", want: Return{Code: 301, Text: "https://$host$request_uri", HasText: true}},
		{in: "https://x$uri", want: Return{Code: 302, Text: "https://x$uri", HasText: true}},
		{in: "$scheme://x", want: Return{Code: 302, Text: "$scheme://x", HasText: true}},
		{in: "/x", err: true},
		{in: "1000", err: true},
		{in: "-1", err: true},
		{in: "abc def", err: true},
	} {
		got, err := ParseReturn(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseReturn(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// ParseRewrite takes every form of nginx's rewrite: the redirecting ones
// (a code) and the internal ones (a flag).
func TestParseRewrite(t *testing.T) {
	for _, c := range []struct {
		in          string
		code        int
		flag        RewriteFlag
		replacement string
		addArgs     bool
		err         bool
	}{
		{in: "^/a(.*)$ /b$1 permanent", code: 301, replacement: "/b$1", addArgs: true},
		{in: "^/a /b? redirect", code: 302, replacement: "/b"},
		{in: "^ https://$host$request_uri? permanent", code: 301, replacement: "https://$host$request_uri"},
		{in: "^ $scheme://x", code: 302, replacement: "$scheme://x", addArgs: true},
		{in: "^ http://x last", code: 302, replacement: "http://x", addArgs: true},
		{in: "^/a /b last", flag: FlagLast, replacement: "/b", addArgs: true},
		{in: "^/a /b? break", flag: FlagBreak, replacement: "/b"},
		{in: "^/a /b?x=1", flag: FlagNone, replacement: "/b?x=1", addArgs: true},
		{in: "^/a /b bogus", err: true},
		{in: "^/a", err: true},
		{in: "^/(?!x) http://x", err: true},
	} {
		r, err := ParseRewrite(c.in)
		if (err != nil) != c.err || (!c.err && (r.Code != c.code || r.Flag != c.flag || r.Replacement != c.replacement || r.AddArgs != c.addArgs)) {
			t.Errorf("ParseRewrite(%q) = %+v, %v", c.in, r, err)
		}
	}
}
