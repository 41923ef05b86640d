package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// error_log at the http, server and location levels: inherited downward
// as a whole (a level's list replaces its parent's), relative paths made
// absolute, and nil where no level below the main one sets any (the
// main error_log applies).
func TestErrorLogLevels(t *testing.T) {
	c := mustLoad(t, `
error_log: main.log
http:
  error_log: http.log info
  servers:
    - listen: ["127.0.0.1:8080"]
      error_log: [server.log warn, {path: stderr, level: debug}]
      locations:
        - {path: /, proxy_pass: http://127.0.0.1:9000}
        - {path: /own/, proxy_pass: http://127.0.0.1:9000, error_log: /var/log/own.log crit}
        - path: /if/
          proxy_pass: http://127.0.0.1:9000
          rewrite:
            - {if: $arg_x, proxy_read_timeout: 5s}
    - listen: ["127.0.0.1:8081"]
      locations:
        - {path: /, proxy_pass: http://127.0.0.1:9000}
`)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	server := []ErrorLog{{at("server.log"), LevelWarn}, {"stderr", LevelDebug}}
	http := []ErrorLog{{at("http.log"), LevelInfo}}
	checks := []struct {
		what      string
		got, want []ErrorLog
	}{
		{"main", c.ErrorLogs, []ErrorLog{{at("main.log"), LevelError}}},
		{"server 0", c.Servers[0].ErrorLogs, server},
		{"server 0, /", c.Servers[0].Locations[0].ErrorLogs, server},
		{"server 0, /own/", c.Servers[0].Locations[1].ErrorLogs, []ErrorLog{{"/var/log/own.log", LevelCrit}}},
		{"server 0, /if/'s if block", c.Servers[0].Locations[2].Script[0].If.Location.ErrorLogs, server},
		{"server 1", c.Servers[1].ErrorLogs, http},
		{"server 1, /", c.Servers[1].Locations[0].ErrorLogs, http},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: error_log = %+v, want %+v", ck.what, ck.got, ck.want)
		}
	}

	none := mustLoad(t, base)
	if got := none.Servers[0].ErrorLogs; got != nil {
		t.Errorf("no level error_log: server's = %+v, want nil (the main one)", got)
	}
	if got := none.Servers[0].Locations[0].ErrorLogs; got != nil {
		t.Errorf("no level error_log: location's = %+v, want nil (the main one)", got)
	}
}

// syslog: and memory: are refused at every level, and error_log in an if
// block as nginx refuses it.
func TestErrorLogRefused(t *testing.T) {
	tests := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"syslog at the top", "error_log: syslog:server=127.0.0.1\n" + base, "error_log", 1,
			`unsupported error log "syslog:server=127.0.0.1": spillway writes error logs to files or stderr`},
		{"memory in a list at http", strings.Replace(base, "http:\n", "http:\n  error_log: [e.log, memory:32m debug]\n", 1),
			"http.error_log[1]", 2, `unsupported error log "memory:32m"`},
		{"syslog in a location", withLocation("error_log: syslog:server=unix:/dev/log"), loc0 + ".error_log", 10,
			`unsupported error log "syslog:server=unix:/dev/log"`},
		{"in an if block", withLocation("rewrite: [{if: $arg_x, error_log: x.log}]"), loc0 + ".rewrite", 10,
			`"error_log" is not allowed in an if block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.text)
			wantError(t, err, tt.key, tt.line, tt.msg)
		})
	}
}

// A nested location inherits its enclosing location's error_log, or sets
// its own; relative paths are made absolute at every depth.
func TestErrorLogNestedLocations(t *testing.T) {
	c := mustLoad(t, `
error_log: main.log
http:
  servers:
    - listen: ["127.0.0.1:8080"]
      locations:
        - path: /a/
          proxy_pass: http://127.0.0.1:9000
          error_log: a.log info
          locations:
            - {path: /a/in/, proxy_pass: http://127.0.0.1:9000}
            - {path: /a/own/, proxy_pass: http://127.0.0.1:9000, error_log: own.log warn}
`)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	outer := c.Servers[0].Locations[0]
	if len(outer.Locations) != 2 {
		t.Fatalf("nested locations: %d, want 2", len(outer.Locations))
	}
	want := []ErrorLog{{filepath.Join(dir, "a.log"), LevelInfo}}
	if got := outer.Locations[0].ErrorLogs; !reflect.DeepEqual(got, want) {
		t.Errorf("/a/in/: error_log = %+v, want %+v (inherited)", got, want)
	}
	want = []ErrorLog{{filepath.Join(dir, "own.log"), LevelWarn}}
	if got := outer.Locations[1].ErrorLogs; !reflect.DeepEqual(got, want) {
		t.Errorf("/a/own/: error_log = %+v, want %+v", got, want)
	}
}
