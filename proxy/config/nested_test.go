package config

import (
	"strings"
	"testing"
	"time"
)

// A location nested in a prefix location with alias maps URIs with that
// alias in place of the enclosing location's path, as nginx's merge of
// root and alias.
func TestNestedLocationInheritsAlias(t *testing.T) {
	c := mustLoad(t, `
http:
  servers:
    - listen: ["127.0.0.1:8080"]
      locations:
        - path: /a/
          alias: /srv/x/
          locations:
            - path: "~ html"
              locations: [{path: "~ in"}]
`)
	for _, l := range []*Location{c.Servers[0].Locations[0].Locations[0], c.Servers[0].Locations[0].Locations[0].Locations[0]} {
		if l.Static == nil || l.Static.Alias != "/srv/x/" || l.Static.AliasPrefix != "/a/" {
			t.Errorf("%s: static %+v", l.Path, l.Static)
		}
	}
}

// A nested location inherits the enclosing location's directives (which
// inherited the server's), but not proxy_pass nor try_files, as nginx's
// merge_loc_conf.
func TestNestedLocationInherits(t *testing.T) {
	c := mustLoad(t, `
http:
  servers:
    - listen: ["127.0.0.1:8080"]
      root: /srv
      proxy_read_timeout: 5s
      locations:
        - path: /
          proxy_pass: http://127.0.0.1:9000
          client_max_body_size: 2m
          add_header: ["X-A a"]
          try_files: [$uri, =404]
          locations:
            - path: = /sw.js
            - path: /api/
              proxy_pass: http://127.0.0.1:9001
              proxy_read_timeout: 7s
`)
	outer := c.Servers[0].Locations[0]
	sw, api := outer.Locations[0], outer.Locations[1]
	if sw.ProxyPass.Host != "" || sw.Static == nil || len(sw.Static.TryFiles) != 0 || sw.Root != "/srv" {
		t.Errorf("= /sw.js: proxy_pass %q, static %+v, root %q: want files from /srv without try_files", sw.ProxyPass.Host, sw.Static, sw.Root)
	}
	if sw.ClientMaxBodySize != 2<<20 || len(sw.Headers.Add) != 1 || sw.Upstream.ReadTimeout != 5*time.Second {
		t.Errorf("= /sw.js did not inherit: client_max_body_size %d, add_header %v, proxy_read_timeout %v", sw.ClientMaxBodySize, sw.Headers.Add, sw.Upstream.ReadTimeout)
	}
	if api.ProxyPass.Host != "127.0.0.1:9001" || api.Upstream.ReadTimeout != 7*time.Second || api.ClientMaxBodySize != 2<<20 {
		t.Errorf("/api/: proxy_pass %q, proxy_read_timeout %v, client_max_body_size %d", api.ProxyPass.Host, api.Upstream.ReadTimeout, api.ClientMaxBodySize)
	}
}

// nginx's errors for a nesting it refuses, at the nested location's path.
func TestNestedLocationErrors(t *testing.T) {
	for nested, want := range map[string]string{
		`{path: "= /a", return: 204, locations: [{path: /a/b, return: 200}]}`:          `location "/a/b" cannot be inside the exact location "/a" (http.servers[0].locations[0].locations[0].path)`,
		`{path: "@n", return: 204, locations: [{path: /b, return: 200}]}`:              `location "/b" cannot be inside the named location "@n" (http.servers[0].locations[0].locations[0].path)`,
		`{path: /a, return: 204, locations: [{path: "@n", return: 200}]}`:              `named location "@n" can be on the server level only (http.servers[0].locations[0].locations[0].path)`,
		`{path: /a, return: 204, locations: [{path: /b, return: 200}]}`:                `location "/b" is outside location "/a" (http.servers[0].locations[0].locations[0].path)`,
		`{path: "~ x$", return: 204, locations: [{path: /b, return: 200}]}`:            `location "/b" is outside location "x$" (http.servers[0].locations[0].locations[0].path)`,
		`{path: /a, return: 204, locations: [{path: /a/b}, {path: /a/b}], root: /srv}`: `duplicate location "/a/b" (http.servers[0].locations[0].locations[1].path)`,
		`{path: "~ ^/a", alias: /srv/, locations: [{path: "~ b"}]}`:                    `a location nested in a regex location with "alias" needs its own "alias" or "root" in spillway (http.servers[0].locations[0].locations[0].path)`,
	} {
		_, err := load(t, "http:\n  servers:\n    - listen: [\"127.0.0.1:8080\"]\n      locations:\n        - "+nested+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", nested, err, want)
		}
	}
}

// The named captures of map, location, rewrite and if regexes, in the
// three syntaxes PCRE reads, are variables of the file.
func TestCaptureNames(t *testing.T) {
	c := mustLoad(t, `
http:
  servers:
    - listen: ["127.0.0.1:8080"]
      rewrite: ["^/s/(?<srv>.*)$ /x/$srv"]
      locations:
        - path: "~ ^/a/(?<first>[^/]+)/(?P<Second>.*)$"
          return: "200 $first $second"
          locations:
            - path: "~ (?'inner'x)$"
              return: "200 $inner $first"
        - path: /b/
          rewrite: [{if: "$uri ~ ^/b/(?<cond>.*)", return: "200 $cond"}]
`)
	if got := strings.Join(c.Captures, ","); got != "srv,first,second,inner,cond" {
		t.Errorf("captures %s", got)
	}
	if re := c.Servers[0].Locations[0].Locations[0].Regex; re.SubexpNames()[1] != "inner" {
		t.Errorf("(?'inner'x) compiled as %s", re)
	}
	m := mustLoad(t, "http:\n  map: [{map: $uri $m, values: ['~^/(?<mapcap>.*) x']}]\n  servers:\n    - listen: [\"127.0.0.1:8080\"]\n      locations:\n        - {path: /, return: \"200 $mapcap\"}\n")
	if strings.Join(m.Captures, ",") != "mapcap" {
		t.Errorf("a map's named capture: %v", m.Captures)
	}
	for in, want := range map[string]string{
		`^/(?'a'x)(?'b_2'y)`: `^/(?P<a>x)(?P<b_2>y)`,
		`\(?'a'x)`:           `\(?'a'x)`,
		`(?<a>x)`:            `(?<a>x)`,
	} {
		if got := NamedGroupsRE2(in); got != want {
			t.Errorf("NamedGroupsRE2(%s) = %s, want %s", in, got, want)
		}
	}
}
