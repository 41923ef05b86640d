package config

import (
	"reflect"
	"strings"
	"testing"
)

// access_log at every level: a level that sets it replaces the inherited
// list, "off" in a list turns the level off, a location without it takes
// its server's (and so http's).
func TestAccessLogLevels(t *testing.T) {
	c := mustLoad(t, `
http:
  access_log: [/l/h1.log, {path: /l/h2.log, format: '$status', if: $arg_x}]
  servers:
    - listen: [8080]
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1"}
        - {path: /b, proxy_pass: "http://127.0.0.1:1", access_log: off}
        - {path: /c, proxy_pass: "http://127.0.0.1:1", access_log: [/l/c.log, "off"]}
    - listen: [8081]
      access_log: /l/s.log $uri
      locations:
        - {path: /d, proxy_pass: "http://127.0.0.1:1"}
        - {path: /e, proxy_pass: "http://127.0.0.1:1", access_log: {path: /l/e.log, escape: json}}
`)
	h := []AccessLog{{Path: "/l/h1.log", Format: "combined"}, {Path: "/l/h2.log", Format: "$status", If: "$arg_x"}}
	s0, s1 := c.Servers[0], c.Servers[1]
	off := []AccessLog{{Off: true}}
	for _, tc := range []struct {
		name      string
		got, want []AccessLog
	}{
		{"server inherits http's list", s0.AccessLogs, h},
		{"location inherits it too", s0.Locations[0].AccessLogs, h},
		{"location off", s0.Locations[1].AccessLogs, off},
		{"off in a list", s0.Locations[2].AccessLogs, off},
		{"server's own replaces http's", s1.AccessLogs, []AccessLog{{Path: "/l/s.log", Format: "$uri"}}},
		{"location under it", s1.Locations[0].AccessLogs, []AccessLog{{Path: "/l/s.log", Format: "$uri"}}},
		{"location's own", s1.Locations[1].AccessLogs, []AccessLog{{Path: "/l/e.log", Format: "combined", Escape: "json"}}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
	if s0.AccessLog != h[0] || !reflect.DeepEqual(s0.AllAccessLogs(), h) {
		t.Errorf("Server.AccessLog = %+v, AllAccessLogs = %+v; want the first and all of %+v", s0.AccessLog, s0.AllAccessLogs(), h)
	}
}

// check rejects an unknown variable in a location's log format or if=.
func TestAccessLogUnknownVariables(t *testing.T) {
	for _, tc := range []struct{ log, want string }{
		{`{path: /l/a.log, format: '$nonsense'}`, `unknown "nonsense" variable`},
		{`{path: /l/a.log, if: $nonsense}`, `unknown "nonsense" variable`},
		{`{path: /l/a.log, if: ""}`, `empty "if"`},
		{`[]`, `an empty list`},
	} {
		_, err := load(t, `
http:
  servers:
    - listen: [8080]
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1", access_log: `+tc.log+`}
`)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("access_log %s: error %v, want %q", tc.log, err, tc.want)
		}
	}
}

// An if block's access_log ("if in location") is joined to the prefix like
// the location's, and an if block needs no proxy_pass of its own when its
// location answers with return (nginx takes both).
func TestAccessLogInIfBlock(t *testing.T) {
	c, err := LoadBytesPaths("proxy.yaml", []byte(`
http:
  servers:
    - listen: [8080]
      locations:
        - path: /
          access_log: logs/loc.log
          rewrite:
            - if: $arg_x
              access_log: logs/if.log
          return: "200 d"
`), Paths{Prefix: "/pfx"})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Servers[0].Locations[0]
	ifs := l.IfLocations()
	if len(ifs) != 1 {
		t.Fatalf("%d if locations, want 1", len(ifs))
	}
	if got := ifs[0].AccessLogs; len(got) != 1 || got[0].Path != "/pfx/logs/if.log" {
		t.Errorf("the if block's access logs = %+v, want /pfx/logs/if.log", got)
	}
	if got := l.AccessLogs; len(got) != 1 || got[0].Path != "/pfx/logs/loc.log" {
		t.Errorf("the location's access logs = %+v, want /pfx/logs/loc.log", got)
	}
}
