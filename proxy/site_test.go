package proxy

import (
	"regexp"
	"testing"

	"spillway/proxy/config"
	"spillway/proxy/internal/nginxuri"
)

func TestLocationMatchOrder(t *testing.T) {
	mk := func(path string, m config.MatchKind) *config.Location {
		l := &config.Location{Path: path, Match: m, ProxyPass: config.ProxyPass{Scheme: "http", Host: "127.0.0.1:1"}}
		if m == config.MatchRegex {
			l.Regex = regexp.MustCompile(path)
		}
		return l
	}
	cfg := &config.Config{Servers: []*config.Server{{Listen: []string{"127.0.0.1:0"}, Locations: []*config.Location{
		mk("/", config.MatchPrefix),
		mk("/images/", config.MatchPreferPrefix),
		mk(`\.(gif|jpg)$`, config.MatchRegex),
		mk("/docs/", config.MatchPrefix),
		mk("/exact", config.MatchExact),
	}}}}
	s, err := buildSite(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vh := s.listeners["127.0.0.1:0"][0]
	// nginx's documented example: "= /" beats all; "^~" stops the regex
	// search; a regex beats an ordinary prefix; else the longest prefix.
	for path, want := range map[string]string{
		"/":               "/",
		"/exact":          "/exact",
		"/exact/x":        "/",
		"/images/a.gif":   "/images/",
		"/docs/a.jpg":     `\.(gif|jpg)$`,
		"/docs/index.htm": "/docs/",
		"/other.gif":      `\.(gif|jpg)$`,
	} {
		if got := vh.match([]byte(path)); got == nil || got.conf.Path != want {
			t.Errorf("%s: got %v, want %s", path, got, want)
		}
	}
}

func TestUpstreamURI(t *testing.T) {
	cases := []struct{ loc, pass, req, want string }{
		{"/", "", "/a?b=1", "/a?b=1"},
		{"/static/", "/files/", "/static/a.png?v=2", "/files/a.png?v=2"},
		{"/static/", "/", "/static/x", "/x"},
		{"/app", "/base", "/app/reset", "/base/reset"},
		// nginx's $uri, not the raw target, once there is a URI part.
		{"/admin/", "/ADMIN/", "//admin/x", "/ADMIN/x"},
		{"/admin/", "/ADMIN/", "/public/../admin/x/y?q=1", "/ADMIN/x/y?q=1"},
		{"/admin/", "/ADMIN/", "/adm%69n/x", "/ADMIN/x"},
		{"/admin/", "/ADMIN/", "/admin/%7E/a%20b%3f?x#f", "/ADMIN/~/a%20b%3F?x"},
		{"/admin/", "/ADMIN/", "/admin/a\\b", "/ADMIN/a\\b"}, // no %-escape: not re-escaped
		{"/admin/", "", "/admin/./x//y", "/admin/./x//y"},
	}
	for _, c := range cases {
		lc := &config.Location{Path: c.loc, ProxyPass: config.ProxyPass{URI: c.pass, HasURI: c.pass != ""}}
		u, err := nginxuri.Parse(nil, []byte(c.req), true)
		if err != nil {
			t.Fatalf("%s: %v", c.req, err)
		}
		if got := string(upstreamURI(nil, lc, []byte(c.req), u)); got != c.want {
			t.Errorf("%s via %s%s: got %s want %s", c.req, c.loc, c.pass, got, c.want)
		}
	}
}

// Nested locations are searched as ngx_http_core_find_location does
// (each expectation measured on nginx 1.22 with the same tree): an exact or
// regex location inside the matched prefix wins; a nested prefix one only
// when no regex of the enclosing level matches, a nested "^~" stopping
// the regexes of its own level only; a regex location's nested ones are
// searched once it matched.
func TestLocationMatchNested(t *testing.T) {
	mk := func(path string, m config.MatchKind, nested ...*config.Location) *config.Location {
		l := &config.Location{Path: path, Match: m, Locations: nested, ProxyPass: config.ProxyPass{Scheme: "http", Host: "127.0.0.1:1"}}
		if m == config.MatchRegex {
			l.Regex = regexp.MustCompile(path)
		}
		return l
	}
	cfg := &config.Config{Servers: []*config.Server{{Listen: []string{"127.0.0.1:0"}, Locations: []*config.Location{
		mk("/", config.MatchPrefix,
			mk("/sw.js", config.MatchExact),
			mk(`\.css$`, config.MatchRegex),
			mk("/sub/", config.MatchPrefix, mk(`\.txt$`, config.MatchRegex)),
			mk("/pre/", config.MatchPreferPrefix),
		),
		mk(`\.txt$`, config.MatchRegex),
		mk(`^/r/`, config.MatchRegex, mk(`\.png$`, config.MatchRegex), mk("^/r/x", config.MatchPrefix)),
	}}}}
	s, err := buildSite(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vh := s.listeners["127.0.0.1:0"][0]
	for path, want := range map[string]string{
		"/sw.js":     "/sw.js",
		"/sw.jsx":    "/",
		"/a.css":     `\.css$`,
		"/sub/x.txt": `\.txt$`, // the one nested in /sub/
		"/sub/x.css": `\.css$`,
		"/sub/y":     "/sub/",
		"/pre/x.css": "/pre/",
		"/pre/x.txt": `\.txt$`, // the server's: "^~" nested in / stops /'s regexes only
		"/x.txt":     `\.txt$`,
		"/r/a.png":   `\.png$`,
		"/r/a":       `^/r/`,
		"/r/x.png":   `\.png$`,
		"/r/xy":      `^/r/`, // a prefix nested in a regex location starts with the regex text: never a URI
	} {
		got := vh.match([]byte(path))
		if got == nil || got.conf.Path != want {
			t.Errorf("%s: got %v, want %s", path, got, want)
			continue
		}
		if path == "/sub/x.txt" && got != vh.prefix[0].nested.prefix[0].nested.regex[0] {
			t.Errorf("%s: got the server's regex, want the one nested in /sub/", path)
		}
	}
}
