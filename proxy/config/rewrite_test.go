package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

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

// ParseCond reads nginx's if conditions: the value after an operator is
// the rest of the string, quotes removed; a regex compiles as a
// location's.
func TestParseCond(t *testing.T) {
	for _, c := range []struct {
		in, op, left, right string
		err                 bool
	}{
		{in: "($x)", left: "$x"},
		{in: "$http_x = \"a b\"", op: "=", left: "$http_x", right: "a b"},
		{in: "$x != ''", op: "!=", left: "$x"},
		{in: "$http_user_agent ~* ^(curl|Go )", op: "~*", left: "$http_user_agent", right: "^(curl|Go )"},
		{in: "( !-f $document_root/x y )", op: "!-f", left: "$document_root/x y"},
		{in: "-x $request_filename", op: "-x", left: "$request_filename"},
		{in: "x", err: true},
		{in: "$x == y", err: true},
		{in: "$x ~ (?!a)", err: true},
		{in: "-f", err: true},
	} {
		got, err := ParseCond(c.in)
		if (err != nil) != c.err || (!c.err && (got.Op != c.op || got.Left != c.left || got.Right != c.right)) {
			t.Errorf("ParseCond(%q) = %+v, %v", c.in, got, err)
		}
	}
}

// The rewrite list keeps nginx's order of rewrite, set, if, break and
// return; an if in a location with keys of its own is a location that
// inherits the rest; a server's if takes no location key; set cannot
// change spillway's own variables or a map's.
func TestScript(t *testing.T) {
	c := mustLoad(t, `
http:
  map: [{map: "$http_x $m", default: "0"}]
  servers:
    - listen: ["127.0.0.1:8080"]
      rewrite:
        - if: -f /srv/maintenance
          rewrite: ["^ /maintenance last", {break: true}]
      locations:
        - path: /
          proxy_pass: http://127.0.0.1:9000/base/
          proxy_read_timeout: 7s
          rewrite:
            - set: $a "x y"
            - ^/old/(.*)$ /new/$1 break
            - if: $a
              add_header: ["X-A $a"]
              rewrite: [{set: $b 1}, {return: 204}]
            - {break: true}
      return: "403"
`)
	s := c.Servers[0]
	if len(s.Script) != 2 || s.Script[0].Kind != StmtIf || s.Script[1].Kind != StmtReturn || len(s.Script[0].If.Body) != 2 || s.Script[0].If.Location != nil {
		t.Fatalf("server script %+v", s.Script)
	}
	l := s.Locations[0]
	kinds := []StmtKind{StmtSet, StmtRewrite, StmtIf, StmtBreak}
	if len(l.Script) != len(kinds) {
		t.Fatalf("location script %+v", l.Script)
	}
	for i, k := range kinds {
		if l.Script[i].Kind != k {
			t.Errorf("statement %d is %v, want %v", i, l.Script[i].Kind, k)
		}
	}
	if st := l.Script[0].Set; st.Var != "a" || st.Value != "x y" {
		t.Errorf("set %+v", st)
	}
	if r := l.Script[1].Rewrite; r.Flag != FlagBreak || r.Redirects() {
		t.Errorf("rewrite %+v", r)
	}
	in := l.Script[2].If
	if in.Location == nil || in.Location.ProxyPass.Host != "127.0.0.1:9000" || in.Location.Upstream.ReadTimeout != 7*time.Second ||
		len(in.Location.Headers.Add) != 1 || len(in.Body) != 2 || in.Body[1].Return.Code != 204 || in.Location.Path != "/" {
		t.Errorf("if location %+v, body %+v", in.Location, in.Body)
	}
	if got := c.SetVars; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("set variables %q", got)
	}
	for _, bad := range []struct{ yaml, want string }{
		{`rewrite: [{if: $x, proxy_pass: "http://127.0.0.1:9"}]`, `"proxy_pass" is not allowed in an if block of a server`},
		{`rewrite: [{set: $uri x}]`, `the duplicate "uri" variable`},
		{`rewrite: [{set: $m x}]`, `the duplicate "m" variable`},
		{`rewrite: [{set: "$a"}]`, `invalid number of arguments in "set"`},
		{`rewrite: [{break: false}]`, `write "break: true"`},
		{`rewrite: [{bogus: 1}]`, `unknown key "bogus"`},
		{`rewrite: [{if: "$x =~ y"}]`, `unexpected "=~" in condition`},
	} {
		_, err := load(t, `
http:
  map: [{map: "$http_x $m", default: "0"}]
  servers:
    - listen: ["127.0.0.1:8080"]
      `+bad.yaml+`
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9"}]
`)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.yaml, err, bad.want)
		}
	}
}
