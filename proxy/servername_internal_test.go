package proxy

import (
	"strings"
	"testing"

	"spillway/proxy/config"
)

// vhostFor chooses as nginx's ngx_http_find_virtual_server (measured by
// nginx-tests' http_server_name.t): an exact name, "" for a request
// without Host, then the longest leading wildcard, then the longest
// trailing one, then the first regex in file order (caseless, on the host
// lower-cased), else the default server; a regex that chose the server
// gives its captures.
func TestVhostForOrder(t *testing.T) {
	names := [][]string{
		{"localhost"},
		{""},
		{"www.example.com"},
		{`~^EXAMPLE\.COM$`},
		{`~^(?P<name>[a-z]+)\Q.example.com\E$`},
		{`~^(?P<name>www\p{N}+)\.example\.com$`},
		{"many.example.com", "many2.example.com"},
		{"*.wc.example.com"},
		{"*.pref.wc.example.com"},
		{"wc2.example.*"},
		{"wc2.example.com.*"},
		{".dot.example.com"},
		{"~^www\\.wc\\.example\\.com$"}, // an exact or wildcard name comes first
	}
	cfg := &config.Config{}
	for _, ns := range names {
		cfg.Servers = append(cfg.Servers, &config.Server{Listen: []string{"127.0.0.1:0"}, ServerName: ns,
			Locations: []*config.Location{{Path: "/", ProxyPass: config.ProxyPass{Scheme: "http", Host: "127.0.0.1:1"}}}})
	}
	s, err := buildSite(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vhosts := s.listeners["127.0.0.1:0"]
	for host, want := range map[string]string{
		"xxx":                     "localhost",
		"":                        "",
		"www.example.com":         "www.example.com",
		"WWW.EXAMPLE.COM:8080":    "www.example.com",
		"www.example.com.":        "www.example.com",
		"example.com":             `~^EXAMPLE\.COM$`,
		"blah.example.com":        `~^(?P<name>[a-z]+)\Q.example.com\E$`,
		"WWW01.EXAMPLE.COM":       `~^(?P<name>www\p{N}+)\.example\.com$`,
		"many2.example.com":       "many.example.com",
		"www.wc.example.com":      "*.wc.example.com",
		"www.pref.wc.example.com": "*.pref.wc.example.com",
		"wc2.example.net":         "wc2.example.*",
		"wc2.example.com.pref":    "wc2.example.com.*",
		"www.dot.example.com":     "dot.example.com",
		"dot.example.com":         "dot.example.com",
	} {
		if got := vhostFor(vhosts, []byte(host)).name; got != want {
			t.Errorf("Host %q: server %q, want %q", host, got, want)
		}
	}
	for host, want := range map[string]string{"BLAH.EXAMPLE.COM": "blah", "www01.example.com": "www01", "example.com": ""} {
		vh := vhostFor(vhosts, []byte(host))
		re, src, m := vh.names.regexMatch([]byte(host))
		got := ""
		if re != nil && re.SubexpIndex("name") > 0 {
			i := re.SubexpIndex("name")
			got = src[m[2*i]:m[2*i+1]]
		}
		if got != want || re == nil {
			t.Errorf("Host %q: $name %q (regex %v), want %q", host, got, re, want)
		}
	}
	both, err := newServerNames([]string{"*.wc.example.com", `~^(?<name>www)\.`})
	if err != nil {
		t.Fatal(err)
	}
	if re, _, _ := both.regexMatch([]byte("www.wc.example.com")); re != nil {
		t.Error("a server chosen by its wildcard name has the captures of its regex")
	}
	cfg.Servers[3].ServerName = []string{"~(?<=a)b"}
	if _, err := buildSite(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Errorf("a regex RE2 cannot run: %v", err)
	}
}
