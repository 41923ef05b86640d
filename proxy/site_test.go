package proxy

import (
	"regexp"
	"testing"
	"time"

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

// nginx's smooth weighted round-robin: weights 5,1,1 give a a b a c a a.
func TestSmoothWeightedRoundRobin(t *testing.T) {
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{
		{Address: "a", Weight: 5, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Address: "b", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Address: "c", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
	}}, nil)
	got := ""
	for range 7 {
		got += g.Pick(nil).Addr()
	}
	if got != "aabacaa" {
		t.Fatalf("got %s, want aabacaa", got)
	}
}

func TestPassiveHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{
		{Address: "a", Weight: 1, MaxFails: 2, FailTimeout: 10 * time.Second},
		{Address: "b", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
	}}, clock)
	a, b := g.peers[0], g.peers[1]
	if g.Failed(a) {
		t.Fatal("one failure of max_fails=2 must not disable")
	}
	if !g.Failed(a) {
		t.Fatal("second failure must disable")
	}
	for range 4 {
		if p := g.Pick(nil); p != b {
			t.Fatalf("disabled peer picked: %v", p.Addr())
		}
	}
	// All down: no live upstreams.
	g.Failed(b)
	if p := g.Pick(nil); p != nil {
		t.Fatalf("want no live upstreams, got %s", p.Addr())
	}
	// After fail_timeout a disabled peer gets one request again.
	now = now.Add(11 * time.Second)
	if p := g.Pick(nil); p == nil {
		t.Fatal("want a peer after fail_timeout")
	}
	// The tried set is honoured.
	if p := g.Pick([]*Peer{a, b}); p != nil {
		t.Fatalf("tried peers picked: %s", p.Addr())
	}
}

// A single-server group is never disabled (nginx).
func TestSingleServerNeverDisabled(t *testing.T) {
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{{Address: "a", Weight: 1, MaxFails: 1, FailTimeout: time.Hour}}}, nil)
	for range 3 {
		g.Failed(g.peers[0])
		if g.Pick(nil) == nil {
			t.Fatal("single server disabled")
		}
	}
}
