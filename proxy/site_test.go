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
