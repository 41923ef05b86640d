package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// load loads a YAML text as the file "proxy.yaml".
func load(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return LoadBytes("proxy.yaml", []byte(text))
}

// mustLoad loads a YAML text that must be valid.
func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := load(t, text)
	if err != nil {
		t.Fatalf("LoadBytes: %v\n%s", err, text)
	}
	return c
}

// allErrors flattens the errors Load returned.
func allErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T is not a *config.Error: %v", err, err)
		}
		out = append(out, e)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// wantError checks that err has a problem at key on line whose message
// contains msg.
func wantError(t *testing.T, err error, key string, line int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q at %s (line %d)", msg, key, line)
	}
	var first *Error
	if !errors.As(err, &first) {
		t.Fatalf("errors.As(*Error) fails for %v", err)
	}
	for _, e := range allErrors(t, err) {
		if e.Key == key && e.Line == line && strings.Contains(e.Msg, msg) {
			if e.File != "proxy.yaml" {
				t.Errorf("File = %q, want proxy.yaml", e.File)
			}
			return
		}
	}
	t.Fatalf("want %q at %s (line %d); got:\n%v", msg, key, line, err)
}

// base is a valid file whose only location starts at line 8; location
// directives appended by withLocation start at line 10.
const base = `http:
  upstreams:
    app:
      servers: [{address: 127.0.0.1:9001}]
  servers:
    - listen: ["127.0.0.1:8080"]
      locations:
        - path: /
          proxy_pass: http://app
`

// withLocation returns base with directives added to its location, one per
// line from line 10 on.
func withLocation(directives ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, d := range directives {
		b.WriteString("          " + d + "\n")
	}
	return b.String()
}

const loc0 = "http.servers[0].locations[0]"

func TestLoadGoodFile(t *testing.T) {
	c, err := Load("../../testdata/config/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths are joined to the file's directory (the default prefix).
	dir, _ := filepath.Abs("../../testdata/config")
	if c.Source != "../../testdata/config/good.yaml" || c.PID != dir+"/logs/spillway.pid" || c.Prefix != dir ||
		c.ErrorLog != (ErrorLog{Path: dir + "/logs/error.log", Level: LevelNotice}) || c.BufferMemoryLimit != 64<<20 {
		t.Errorf("top level = %q %q %+v %d", c.Source, c.PID, c.ErrorLog, c.BufferMemoryLimit)
	}

	app := c.Upstreams["app"]
	wantApp := &Upstream{Name: "app", Keepalive: 32, KeepaliveTimeout: 60 * time.Second, KeepaliveRequests: 1000, KeepaliveTime: time.Hour, KeepaliveLearn: true,
		RetryBudget: 0.2, RetryBudgetMinPerSecond: 10,
		Servers: []UpstreamServer{
			{Address: "127.0.0.1:9001", Name: "127.0.0.1:9001", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
			{Address: "127.0.0.1:9002", Name: "127.0.0.1:9002", Weight: 1, MaxFails: 2, FailTimeout: 5 * time.Second},
		}}
	if len(c.Upstreams) != 1 || !reflect.DeepEqual(app, wantApp) {
		t.Errorf("upstreams = %+v, want app = %+v", c.Upstreams, wantApp)
	}

	if len(c.Servers) != 1 {
		t.Fatalf("%d servers", len(c.Servers))
	}
	s := c.Servers[0]
	wantServer := Server{
		Listen: []string{"127.0.0.1:8080"}, ServerName: []string{"localhost"},
		AccessLog:           AccessLog{Path: dir + "/logs/access.log", Format: "combined"},
		AccessLogs:          []AccessLog{{Path: dir + "/logs/access.log", Format: "combined"}},
		ClientHeaderTimeout: 60 * time.Second, ClientHeaderBufferSize: 1024,
		LargeClientHeaderBuffers:  Buffers{N: 4, Size: 8 << 10},
		Keepalive:                 Keepalive{Timeout: 75 * time.Second, Requests: 1000, Time: time.Hour, DisableMSIE6: true},
		MergeSlashes:              true, // nginx's default
		ClientMaxBodySize:         1 << 20,
		Redirect:                  Redirect{Absolute: true, Port: true},
		UninitializedVariableWarn: true,
		HTTP2: HTTP2{MaxConcurrentStreams: 128, RecvBufferSize: 256 << 10, BodyPrereadSize: 64 << 10,
			ChunkSize: 8 << 10, IdleTimeout: 75 * time.Second, MaxHeaderBytes: 4 * 8 << 10}, // nginx's defaults
		HTTP3: HTTP3{MaxConcurrentStreams: 128, StreamBufferSize: 64 << 10,
			IdleTimeout: 75 * time.Second, MaxHeaderBytes: 4 * 8 << 10}, // nginx's defaults
	}
	gotServer := *s
	gotServer.Locations = nil
	if !reflect.DeepEqual(gotServer, wantServer) {
		t.Errorf("server = %+v\nwant     %+v", gotServer, wantServer)
	}

	// Every directive of a location with nothing set but what http sets.
	defaults := Location{
		ProxySetHeader:   []Header{{"Host", "$proxy_host"}, {"Connection", "close"}},
		ProxyHTTPVersion: "1.0",
		Upstream: UpstreamConf{
			Module:         "proxy",
			ConnectTimeout: time.Second, // inherited from http
			SendTimeout:    60 * time.Second, ReadTimeout: 60 * time.Second,
			Buffering: true, BufferSize: 4 << 10, Buffers: Buffers{N: 8, Size: 4 << 10},
			BusyBuffersSize: 8 << 10, MaxTempFileSize: 1 << 30, TempFileWriteSize: 8 << 10,
			TempPath: dir + "/temp/proxy", SpillGrace: 50 * time.Millisecond,
			RequestBuffering: true, PassRequestBody: true, PassRequestHeaders: true,
			NextUpstream: NextError | NextTimeout,
		},
		ClientMaxBodySize: 1 << 20, ClientBodyBufferSize: 16 << 10,
		ClientBodyTempPath: dir + "/temp/client", ClientBodyTimeout: 60 * time.Second, SendTimeout: 60 * time.Second, ClientBodyMemoryMax: 1 << 20,
		Root: dir + "/html", Lingering: Lingering{Close: LingerOn, Time: 30 * time.Second, Timeout: 5 * time.Second},
		Redirect:                  Redirect{Absolute: true, Port: true},
		AccessLogs:                []AccessLog{{Path: dir + "/logs/access.log", Format: "combined"}},
		UninitializedVariableWarn: true,
		Resolver:                  Resolver{Timeout: 30 * time.Second},
		Keepalive:                 Keepalive{Timeout: 75 * time.Second, Requests: 1000, Time: time.Hour, DisableMSIE6: true},
	}
	root := defaults
	root.Path, root.Match = "/", MatchPrefix
	root.ProxyPass = ProxyPass{Scheme: "http", Host: "app", Upstream: "app"}
	root.ProxyHTTPVersion = "1.1"
	// proxy_redirect default, as nginx: the upstream's own name becomes "/"
	root.UpstreamHeaders.Redirect = []HeaderRewrite{{Pattern: "http://app/", Replacement: "/"}}
	static := defaults
	static.Path = "/static/"
	static.ProxyPass = ProxyPass{Scheme: "http", Host: "127.0.0.1:9003", URI: "/files/", HasURI: true}
	static.Upstream.Buffers = Buffers{N: 4, Size: 4 << 10} // the location's own value wins
	static.UpstreamHeaders.Redirect = []HeaderRewrite{{Pattern: "http://127.0.0.1:9003/files/", Replacement: "/static/"}}
	for i, want := range []Location{root, static} {
		if got := *s.Locations[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("location %d =\n%+v\nwant\n%+v", i, got, want)
		}
	}
}

func TestInheritance(t *testing.T) {
	c := mustLoad(t, `
http:
  proxy_read_timeout: 10s
  client_max_body_size: 1k
  keepalive_timeout: 5s
  client_header_timeout: 7
  access_log: off
  proxy_buffering: off
  servers:
    - listen: [8080]
      client_max_body_size: 2k
      proxy_read_timeout: 20s
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1"}
        - {path: /b, proxy_pass: "http://127.0.0.1:1", client_max_body_size: 3k, proxy_buffering: "on"}
    - listen: [8081]
      keepalive_timeout: 6s
      access_log: logs/b.log
      locations:
        - {path: /c, proxy_pass: "http://127.0.0.1:1"}
`)
	a, b, cc := c.Servers[0].Locations[0], c.Servers[0].Locations[1], c.Servers[1].Locations[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"server overrides http", a.Upstream.ReadTimeout, 20 * time.Second},
		{"http reaches a location through a server that does not set it", cc.Upstream.ReadTimeout, 10 * time.Second},
		{"client_max_body_size at server level", a.ClientMaxBodySize, int64(2 << 10)},
		{"client_max_body_size at location level", b.ClientMaxBodySize, int64(3 << 10)},
		{"client_max_body_size at http level", cc.ClientMaxBodySize, int64(1 << 10)},
		{"flag from http", a.Upstream.Buffering, false},
		{"flag on in location", b.Upstream.Buffering, true},
		{"server directive from http", c.Servers[0].Keepalive.Timeout, 5 * time.Second},
		{"server directive overridden", c.Servers[1].Keepalive.Timeout, 6 * time.Second},
		{"bare number is seconds", c.Servers[0].ClientHeaderTimeout, 7 * time.Second},
		{"access_log off from http", c.Servers[0].AccessLog, AccessLog{Off: true}},
		{"access_log string form", c.Servers[1].AccessLog, AccessLog{Path: c.Prefix + "/logs/b.log", Format: "combined"}},
		{"listen 8080", c.Servers[0].Listen, []string{"0.0.0.0:8080"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestProxySetHeader(t *testing.T) {
	defaults := []Header{{"Host", "$proxy_host"}, {"Connection", "close"}}
	tests := []struct {
		name string
		http string // proxy_set_header at http level ("" = not set)
		srv  string
		loc  string
		want []Header
	}{
		{"none set anywhere: nginx's defaults", "", "", "", defaults},
		{"set at http: inherited, defaults added",
			`{X-Real-IP: $remote_addr}`, "", "",
			[]Header{{"X-Real-IP", "$remote_addr"}, {"Host", "$proxy_host"}, {"Connection", "close"}}},
		{"set at location: replaces the http list entirely",
			`{X-A: a, X-B: b}`, "", `{X-C: c}`,
			[]Header{{"X-C", "c"}, {"Host", "$proxy_host"}, {"Connection", "close"}}},
		{"set at server: replaces http, reaches the location",
			`{X-A: a}`, `{X-S: s}`, "",
			[]Header{{"X-S", "s"}, {"Host", "$proxy_host"}, {"Connection", "close"}}},
		{"overriding a default by name",
			"", "", `{host: $host, Connection: ""}`,
			[]Header{{"host", "$host"}, {"Connection", ""}}},
		{"mapping keeps file order and case",
			"", "", `{Connection: "", X-Forwarded-For: $proxy_add_x_forwarded_for, Host: $host, x-lower: "1"}`,
			[]Header{{"Connection", ""}, {"X-Forwarded-For", "$proxy_add_x_forwarded_for"}, {"Host", "$host"}, {"x-lower", "1"}}},
		{"list of nginx strings and one-key mappings",
			"", "", `["Host $host", {X-Real-IP: $remote_addr}, "X-Empty \"\"", "X-Two  a b"]`,
			[]Header{{"Host", "$host"}, {"X-Real-IP", "$remote_addr"}, {"X-Empty", ""}, {"X-Two", "a b"}, {"Connection", "close"}}},
		{"an empty list still replaces the inherited list", `{X-A: a}`, "", `[]`, defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "http:\n"
			if tt.http != "" {
				text += "  proxy_set_header: " + tt.http + "\n"
			}
			text += "  servers:\n    - listen: [8080]\n"
			if tt.srv != "" {
				text += "      proxy_set_header: " + tt.srv + "\n"
			}
			text += "      locations:\n        - path: /\n          proxy_pass: http://127.0.0.1:1\n"
			if tt.loc != "" {
				text += "          proxy_set_header: " + tt.loc + "\n"
			}
			text += "        - {path: /other, proxy_pass: \"http://127.0.0.1:1\"}\n"
			c := mustLoad(t, text)
			if got := c.Servers[0].Locations[0].ProxySetHeader; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
			// The sibling location inherits from the server/http only.
			other := c.Servers[0].Locations[1].ProxySetHeader
			if tt.loc != "" && reflect.DeepEqual(other, tt.want) && tt.http == "" && tt.srv == "" {
				t.Errorf("sibling location got the location's headers %v", other)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"top level", "bogus: 1\n" + base, "bogus", 1, `unknown key "bogus"`},
		{"http", strings.Replace(base, "http:\n", "http:\n  proxy_bufers: 4 4k\n", 1),
			"http.proxy_bufers", 2, `unknown key "proxy_bufers"`},
		{"server", strings.Replace(base, `    - listen: ["127.0.0.1:8080"]`+"\n", `    - listen: ["127.0.0.1:8080"]`+"\n      listn: 80\n", 1),
			"http.servers[0].listn", 7, `unknown key "listn"`},
		{"location", withLocation("proxy_bufers: 4 4k"), loc0 + ".proxy_bufers", 10, `unknown key "proxy_bufers"`},
		{"upstream", strings.Replace(base, "    app:\n", "    app:\n      keepalve: 3\n", 1),
			"http.upstreams[app].keepalve", 4, `unknown key "keepalve"`},
		{"upstream server", strings.Replace(base, "{address: 127.0.0.1:9001}", "{address: 127.0.0.1:9001, wieght: 2}", 1),
			"http.upstreams[app].servers[0].wieght", 4, `unknown key "wieght"`},
		{"inside a directive's mapping", withLocation("proxy_buffers: {number: 4, sise: 4k}"),
			loc0 + ".proxy_buffers.sise", 10, `unknown key "sise"`},
		{"inside error_log", "error_log: {path: x,\n  levl: debug}\n" + base, "error_log.levl", 2, `unknown key "levl"`},
		{"directive of another block", withLocation("listen: 8080"), loc0 + ".listen", 10,
			`"listen" directive is not allowed here, only in: server`},
		{"upstream directive in a location", withLocation("max_fails: 3"), loc0 + ".max_fails", 10,
			`"max_fails" directive is not allowed here, only in: upstream server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.text)
			wantError(t, err, tt.key, tt.line, tt.msg)
		})
	}

	// The message reads like the brief's example, exactly.
	_, err := Load("../../testdata/config/unknown-key.yaml")
	want := `unknown key "proxy_bufers" (http.servers[0].locations[1].proxy_bufers) in ../../testdata/config/unknown-key.yaml:13`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestValueErrors(t *testing.T) {
	tests := []struct {
		name, directive string // directive is added to the location at line 10
		key             string // relative to the location
		msg             string
	}{
		{"bad size", "proxy_buffer_size: 8q", "proxy_buffer_size", `"proxy_buffer_size" directive invalid value "8q"`},
		{"negative size", "client_max_body_size: -1", "client_max_body_size", `invalid value "-1"`},
		{"fractional size", "client_max_body_size: 1.5", "client_max_body_size", `invalid value "1.5"`},
		{"bad duration", "proxy_read_timeout: 5x", "proxy_read_timeout", `"proxy_read_timeout" directive invalid value "5x"`},
		{"negative duration", "proxy_read_timeout: -5", "proxy_read_timeout", `invalid value "-5"`},
		{"duration as list", "proxy_read_timeout: [5s]", "proxy_read_timeout", "got a list"},
		{"proxy_buffers one word", `proxy_buffers: "4"`, "proxy_buffers", `invalid value "4": want "number size"`},
		{"proxy_buffers bad number", "proxy_buffers: four 4k", "proxy_buffers", `invalid value "four 4k"`},
		{"proxy_buffers bad size", "proxy_buffers: 4 4q", "proxy_buffers", `invalid value "4q"`},
		{"proxy_buffers zero", "proxy_buffers: 0 4k", "proxy_buffers", `invalid value "0 4k"`},
		{"proxy_buffers mapping without size", "proxy_buffers: {number: 4}", "proxy_buffers", `needs "size"`},
		{"proxy_buffers mapping bad size", "proxy_buffers: {number: 4, size: 4q}", "proxy_buffers.size", `invalid value "4q"`},
		{"proxy_buffers list", "proxy_buffers: [4, 4k]", "proxy_buffers", "got a list"},
		{"bad next_upstream", "proxy_next_upstream: error bogus", "proxy_next_upstream", `invalid value "bogus"`},
		{"bad next_upstream list", "proxy_next_upstream: [error, http_999]", "proxy_next_upstream", `invalid value "http_999"`},
		{"next_upstream tries", "proxy_next_upstream_tries: abc", "proxy_next_upstream_tries",
			`"proxy_next_upstream_tries" directive invalid number`},
		{"negative tries", "proxy_next_upstream_tries: -1", "proxy_next_upstream_tries", "invalid number"},
		{"flag", "proxy_buffering: maybe", "proxy_buffering", `invalid value "maybe", it must be "on" or "off"`},
		{"http version", "proxy_http_version: 3", "proxy_http_version", `invalid value "3", it must be "1.0", "1.1" or "2"`},
		{"string expected", "proxy_temp_path: [a, b]", "proxy_temp_path", "expected a string, got a list"},
		{"empty path", `proxy_temp_path: ""`, "proxy_temp_path", `"proxy_temp_path" must not be empty`},
		{"header name", `proxy_set_header: [": x"]`, "proxy_set_header", `invalid header name ":"`},
		{"headers as a number", `proxy_set_header: 5`, "proxy_set_header", "got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, withLocation(tt.directive))
			wantError(t, err, loc0+"."+tt.key, 10, tt.msg)
		})
	}
}

func TestShapeErrors(t *testing.T) {
	tests := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"a string where the list of servers is expected", "http:\n  servers: foo\n", "http.servers", 2,
			`invalid value for "servers": expected a list, got a string`},
		{"a mapping where the list of locations is expected", strings.Replace(base, "      locations:\n        - path: /\n", "      locations:\n          path: /\n", 1),
			"http.servers[0].locations", 7, `invalid value for "locations": expected a list, got a mapping`},
		{"a list where upstreams are expected", "http:\n  upstreams: [a]\n", "http.upstreams", 2, "expected a mapping, got a list"},
		{"http is a number", "http: 5\n", "http", 1, "expected a mapping, got a number"},
		{"pid is a number", "pid: 5\n" + base, "pid", 1, "expected a string, got a number"},
		{"listen is a mapping", strings.Replace(base, `listen: ["127.0.0.1:8080"]`, `listen: {a: 1}`, 1),
			"http.servers[0].listen", 6, "got a mapping"},
		{"bad level", "error_log: {level: bogus}\n" + base, "error_log.level", 1, `invalid log level "bogus"`},
		{"bad level in string form", "error_log: logs/e.log bogus\n" + base, "error_log", 1, `invalid log level "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.text)
			wantError(t, err, tt.key, tt.line, tt.msg)
		})
	}
}

// TestBufferChecks replays section 8 of nginx-reference.md ("Buffer
// directive validation (nginx -t)"): the same directives, the same verdict
// and nginx's message.
func TestBufferChecks(t *testing.T) {
	const (
		busyLess    = `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer`
		busyGreater = `"proxy_busy_buffers_size" must be equal to or greater than the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`
	)
	tests := []struct {
		name       string
		directives []string
		key        string // "" = valid
		line       int
		msg        string
	}{
		{"conf-busy-too-big", []string{"proxy_buffers: 4 4k", "proxy_busy_buffers_size: 16k"},
			"proxy_busy_buffers_size", 11, busyLess},
		{"conf-busy-too-small", []string{"proxy_buffer_size: 8k", "proxy_buffers: 4 4k", "proxy_busy_buffers_size: 4k"},
			"proxy_busy_buffers_size", 12, busyGreater},
		{"conf-buffers-one", []string{"proxy_buffers: 1 4k"},
			"proxy_buffers", 10, `there must be at least 2 "proxy_buffers"`},
		{"conf-write-size-small", []string{"proxy_buffers: 4 8k", "proxy_temp_file_write_size: 4k"},
			"proxy_temp_file_write_size", 11,
			`"proxy_temp_file_write_size" must be equal to or greater than the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`},
		{"conf-max-temp-small", []string{"proxy_buffers: 4 8k", "proxy_max_temp_file_size: 4k"},
			"proxy_max_temp_file_size", 11,
			`"proxy_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`},
		{"conf-bufsize-bigger-than-buffers", []string{"proxy_buffer_size: 32k", "proxy_buffers: 4 4k"},
			"proxy_buffers", 11, busyLess},
		{"conf-bufsize-bigger-than-buffers-busy", []string{"proxy_buffer_size: 32k", "proxy_buffers: 4 4k", "proxy_busy_buffers_size: 32k"},
			"proxy_busy_buffers_size", 12, busyLess},
		{"conf-valid-small", []string{"proxy_buffer_size: 4k", "proxy_buffers: 4 4k", "proxy_busy_buffers_size: 8k"}, "", 0, ""},
		{"conf-tries-bad", []string{"proxy_next_upstream_tries: abc"},
			"proxy_next_upstream_tries", 10, `"proxy_next_upstream_tries" directive invalid number`},
		{"conf-next-upstream-bad", []string{"proxy_next_upstream: error bogus"},
			"proxy_next_upstream", 10, `invalid value "bogus"`},
		{"conf-next-upstream-off-mixed", []string{"proxy_next_upstream: off error"}, "", 0, ""},
		{"max_temp_file_size 0 disables temp files", []string{"proxy_buffers: 4 8k", "proxy_max_temp_file_size: 0"}, "", 0, ""},
		{"mapping form", []string{"proxy_buffers: {number: 2, size: 4k}", "proxy_busy_buffers_size: 4k"}, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, withLocation(tt.directives...))
			if tt.key == "" {
				if err != nil {
					t.Fatalf("nginx -t accepts it; got %v", err)
				}
				return
			}
			wantError(t, err, loc0+"."+tt.key, tt.line, tt.msg)
			if n := len(allErrors(t, err)); n != 1 {
				t.Errorf("%d errors, want 1 (nginx stops at the first): %v", n, err)
			}
			_ = c
		})
	}

	c := mustLoad(t, withLocation("proxy_next_upstream: off error", "proxy_buffers: 4 8k", "proxy_max_temp_file_size: 0"))
	l := c.Servers[0].Locations[0]
	if l.Upstream.NextUpstream != NextOff || l.Upstream.MaxTempFileSize != 0 || l.Upstream.BusyBuffersSize != 16<<10 || l.Upstream.TempFileWriteSize != 16<<10 {
		t.Errorf("resolved: next %v, max temp %d, busy %d, write %d", l.Upstream.NextUpstream, l.Upstream.MaxTempFileSize, l.Upstream.BusyBuffersSize, l.Upstream.TempFileWriteSize)
	}
	// Busy and write sizes default to twice the larger of proxy_buffer_size and one buffer.
	c = mustLoad(t, withLocation("proxy_buffer_size: 16k", "proxy_buffers: 8 8k"))
	if l := c.Servers[0].Locations[0]; l.Upstream.BusyBuffersSize != 32<<10 || l.Upstream.TempFileWriteSize != 32<<10 {
		t.Errorf("busy %d, write %d; want 32k", l.Upstream.BusyBuffersSize, l.Upstream.TempFileWriteSize)
	}
}

// An error about an inherited value points where the value was written,
// once, however many locations inherit it.
func TestInheritedErrorPointsAtItsLine(t *testing.T) {
	text := `http:
  proxy_buffer_size: 32k
  servers:
    - listen: [8080]
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1"}
        - {path: /b, proxy_pass: "http://127.0.0.1:1"}
`
	_, err := load(t, text)
	wantError(t, err, "http.proxy_buffer_size", 2, `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer`)
	if errs := allErrors(t, err); len(errs) != 1 {
		t.Errorf("%d errors, want 1: %v", len(errs), err)
	}
	if !strings.Contains(err.Error(), "default proxy_busy_buffers_size 64k = 2 × 32k") {
		t.Errorf("the message should say the busy size is a default: %v", err)
	}

	// A location's own value that breaks the inherited one is the culprit.
	text = `http:
  proxy_busy_buffers_size: 16k
  servers:
    - listen: [8080]
      locations:
        - {path: /a, proxy_pass: "http://127.0.0.1:1"}
        - path: /b
          proxy_pass: http://127.0.0.1:1
          proxy_buffers: 4 4k
`
	_, err = load(t, text)
	wantError(t, err, "http.servers[0].locations[1].proxy_buffers", 9, "must be less than the size of all")
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"no http", "pid: x\n", "", 0, `no "http" section`},
		{"no servers", "http:\n  proxy_buffering: on\n", "http", 1, "no servers are defined"},
		{"server without listen", "http:\n  servers:\n    - locations: [{path: /, proxy_pass: \"http://a:1\"}]\n",
			"http.servers[0]", 3, `server has no "listen"`},
		{"server without locations", "http:\n  servers:\n    - listen: [80]\n", "http.servers[0]", 3, "server has no locations"},
		{"location without proxy_pass", "http:\n  servers:\n    - listen: [80]\n      locations: [{path: /}]\n",
			"http.servers[0].locations[0]", 4, `location has no "proxy_pass"`},
		{"location without path", "http:\n  servers:\n    - listen: [80]\n      locations: [{proxy_pass: \"http://a:1\"}]\n",
			"http.servers[0].locations[0]", 4, `location has no "path"`},
		{"unknown upstream", withLocation(), "", 0, ""}, // placeholder replaced below
		{"https verify without CA", strings.Replace(withLocation("proxy_ssl_verify: on"), "http://app", "https://app", 1), loc0 + ".proxy_ssl_verify", 10, "no proxy_ssl_trusted_certificate for proxy_ssl_verify"},
		{"not a URL", strings.Replace(base, "http://app", "app", 1), loc0 + ".proxy_pass", 9, `invalid URL prefix in "app"`},
		{"no such upstream", strings.Replace(base, "http://app", "http://ap", 1), loc0 + ".proxy_pass", 9, `host not found in upstream "ap"`},
		{"port on an upstream name", strings.Replace(base, "http://app", "http://app:8080", 1), loc0 + ".proxy_pass", 9, `upstream "app" may not have port 8080`},
		{"bad port", strings.Replace(base, "http://app", "http://127.0.0.1:99999", 1), loc0 + ".proxy_pass", 9, `invalid port in upstream "127.0.0.1:99999"`},
		{"URI in a regex location", strings.Replace(strings.Replace(base, "path: /", `path: "~ \\.php$"`, 1), "http://app", "http://app/x", 1),
			loc0 + ".proxy_pass", 9, `"proxy_pass" cannot have URI part in location given by regular expression`},
		{"bad regex", strings.Replace(base, "path: /", `path: "~ (a"`, 1), loc0 + ".path", 8, `invalid regular expression "(a"`},
		{"path without slash", strings.Replace(base, "path: /", "path: api", 1), loc0 + ".path", 8, `the path must start with "/"`},
		{"named location with a modifier", strings.Replace(base, "path: /", "path: \"= @fallback\"", 1), loc0 + ".path", 8, "a named location is"},
		{"duplicate location", base + "        - {path: \"^~ /\", proxy_pass: \"http://app\"}\n",
			"http.servers[0].locations[1].path", 10, `duplicate location "^~ /"`},
		{"upstream without servers", strings.Replace(base, "      servers: [{address: 127.0.0.1:9001}]\n", "      keepalive: 2\n", 1),
			"http.upstreams[app]", 3, "no servers are inside upstream"},
		{"empty upstream", strings.Replace(base, "      servers: [{address: 127.0.0.1:9001}]\n", "    other: {}\n      servers: [{address: 127.0.0.1:9001}]\n", 1),
			"", 0, ""}, // placeholder: see below
		{"weight 0", strings.Replace(base, "{address: 127.0.0.1:9001}", "{address: 127.0.0.1:9001, weight: 0}", 1),
			"http.upstreams[app].servers[0].weight", 4, `invalid parameter "weight=0"`},
		{"unix upstream without a path", strings.Replace(base, "{address: 127.0.0.1:9001}", "{address: \"unix:\"}", 1),
			"http.upstreams[app].servers[0].address", 4, "no path in the unix domain socket"},
		{"upstream server without address", strings.Replace(base, "{address: 127.0.0.1:9001}", "{weight: 2}", 1),
			"http.upstreams[app].servers[0]", 4, `upstream server has no "address"`},
		{"duplicate listen", strings.Replace(base, `["127.0.0.1:8080"]`, `["8080", ":8080"]`, 1),
			"http.servers[0].listen[1]", 6, "a duplicate listen 0.0.0.0:8080"},
		{"bad listen port", strings.Replace(base, `["127.0.0.1:8080"]`, `["127.0.0.1:80800"]`, 1),
			"http.servers[0].listen[0]", 6, `invalid port in "127.0.0.1:80800" of the "listen" directive`},
		{"listen parameters", strings.Replace(base, `["127.0.0.1:8080"]`, `"8080 reuseport"`, 1),
			"http.servers[0].listen[0]", 6, `invalid parameter "reuseport" of the "listen" directive: spillway supports ssl, http2, quic (with reuseport) and default_server`},
		{"duplicate default server", strings.Replace(base, `["127.0.0.1:8080"]`, `["127.0.0.1:8080 default_server"]`, 1) + `    - listen: ["127.0.0.1:8080 default"]
      server_name: [b]
      locations: [{path: /, proxy_pass: "http://app"}]
`, "http.servers[1].listen", 10, "a duplicate default server for 127.0.0.1:8080"},
		{"buffer_memory_limit 0", strings.Replace(base, "http:\n", "http:\n  buffer_memory_limit: 0\n", 1),
			"http.buffer_memory_limit", 2, `"buffer_memory_limit" must be greater than 0`},
		{"conflicting server names", base + `    - listen: ["127.0.0.1:8080"]
      locations: [{path: /, proxy_pass: "http://app"}]
`, "http.servers[1].listen", 10, `conflicting server name "" on 127.0.0.1:8080`},
		{"conflicting server names, case-insensitive", strings.Replace(base, "      locations:\n", "      server_name: [Example.com, b]\n      locations:\n", 1) +
			`    - listen: ["127.0.0.1:8080"]
      server_name: example.COM
      locations: [{path: /, proxy_pass: "http://app"}]
`, "http.servers[1].server_name", 12, `conflicting server name "example.com" on 127.0.0.1:8080`},
		{"keys differing in case", "http:\n  servers: []\n  Servers: []\n", "http.Servers", 3, `duplicate key "Servers"`},
		{"YAML syntax", "http:\n  servers: [\n", "", 2, "invalid YAML: did not find expected node content"},
		{"duplicate key", "pid: a\npid: b\n" + base, "pid", 2, `duplicate key "pid", first written at line 1`},
		{"not a mapping", "- a\n", "", 1, "the file must be a mapping"},
	}
	for _, tt := range tests {
		if tt.msg == "" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.text)
			wantError(t, err, tt.key, tt.line, tt.msg)
		})
	}

	// An empty upstream ("other: {}") vanishes in viper; it is still reported.
	_, err := load(t, strings.Replace(base, "  servers:\n", "    other: {}\n  servers:\n", 1))
	wantError(t, err, "http.upstreams[other]", 5, "no servers are inside upstream")
}

func TestValuesResolve(t *testing.T) {
	c := mustLoad(t, `
error_log: stderr debug
http:
  upstreams:
    API.v1:
      keepalive: "4"
      keepalive_timeout: 30
      servers:
        - {address: "10.0.0.1", weight: 3, backup: true}
        - {address: "[::1]:81", down: on, max_fails: 0, fail_timeout: 1m}
  servers:
    - listen: [8080, ":8081", "*:8082", "127.0.0.1:0", "localhost", "[::1]:8083"]
      server_name: "Example.com www.example.com"
      access_log: logs/a.log $remote_addr $request
      large_client_header_buffers: {number: 2, size: 16k}
      locations:
        - path: /a
          proxy_pass: http://api.V1/x
          proxy_http_version: 1.1
          proxy_next_upstream: [error, "timeout http_502"]
          proxy_next_upstream_tries: 3
          proxy_next_upstream_timeout: 1h30m
          proxy_request_buffering: false
          client_body_buffer_size: 65536
        - {path: "= /exact", proxy_pass: "http://127.0.0.1:9000"}
        - {path: "=/attached", proxy_pass: "http://127.0.0.1:9000"}
        - {path: "^~ /static/", proxy_pass: "http://127.0.0.1:9000"}
        - {path: "~ \\.php$", proxy_pass: "http://127.0.0.1:9000"}
        - {path: "~*\\.JPG$", proxy_pass: "http://127.0.0.1:9000"}
`)
	if c.ErrorLog != (ErrorLog{Path: "stderr", Level: LevelDebug}) {
		t.Errorf("error_log = %+v", c.ErrorLog)
	}
	up := c.Upstreams["api.v1"]
	if up == nil {
		t.Fatalf("upstreams = %v; want api.v1 (a dotted, lower-cased name)", c.Upstreams)
	}
	want := []UpstreamServer{
		{Address: "10.0.0.1:80", Name: "10.0.0.1", Weight: 3, MaxFails: 1, FailTimeout: 10 * time.Second, Backup: true},
		{Address: "[::1]:81", Name: "[::1]:81", Weight: 1, MaxFails: 0, FailTimeout: time.Minute, Down: true},
	}
	if up.Keepalive != 4 || up.KeepaliveTimeout != 30*time.Second || !reflect.DeepEqual(up.Servers, want) {
		t.Errorf("upstream = %+v", up)
	}
	s := c.Servers[0]
	wantListen := []string{"0.0.0.0:8080", "0.0.0.0:8081", "0.0.0.0:8082", "127.0.0.1:0", "localhost:80", "[::1]:8083"}
	if !reflect.DeepEqual(s.Listen, wantListen) {
		t.Errorf("listen = %q, want %q", s.Listen, wantListen)
	}
	if !reflect.DeepEqual(s.ServerName, []string{"example.com", "www.example.com"}) {
		t.Errorf("server_name = %q", s.ServerName)
	}
	if s.AccessLog != (AccessLog{Path: c.Prefix + "/logs/a.log", Format: "$remote_addr $request"}) {
		t.Errorf("access_log = %+v", s.AccessLog)
	}
	if s.LargeClientHeaderBuffers != (Buffers{N: 2, Size: 16 << 10}) {
		t.Errorf("large_client_header_buffers = %+v", s.LargeClientHeaderBuffers)
	}
	a := s.Locations[0]
	if a.ProxyPass != (ProxyPass{Scheme: "http", Host: "api.V1", Upstream: "api.v1", URI: "/x", HasURI: true}) {
		t.Errorf("proxy_pass = %+v", a.ProxyPass)
	}
	if a.ProxyHTTPVersion != "1.1" || a.Upstream.NextUpstream != NextError|NextTimeout|NextHTTP502 ||
		a.Upstream.NextUpstreamTries != 3 || a.Upstream.NextUpstreamTimeout != 90*time.Minute ||
		a.Upstream.RequestBuffering || a.ClientBodyBufferSize != 64<<10 {
		t.Errorf("location /a = %+v", a)
	}
	matches := []struct {
		path  string
		kind  MatchKind
		match string // a URI the regex must match
	}{
		{"/a", MatchPrefix, ""}, {"/exact", MatchExact, ""}, {"/attached", MatchExact, ""},
		{"/static/", MatchPreferPrefix, ""}, {`\.php$`, MatchRegex, "/x.php"}, {`\.JPG$`, MatchRegexCaseless, "/x.jpg"},
	}
	for i, m := range matches {
		l := s.Locations[i]
		if l.Path != m.path || l.Match != m.kind || (l.Regex != nil) != (m.match != "") {
			t.Errorf("location %d = %q %v %v, want %q %v", i, l.Path, l.Match, l.Regex, m.path, m.kind)
		}
		if m.match != "" && !l.Regex.MatchString(m.match) {
			t.Errorf("location %q does not match %q", l.Path, m.match)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("SPILLWAY_ERROR_LOG_LEVEL", "debug")
	t.Setenv("SPILLWAY_HTTP_PROXY_READ_TIMEOUT", "5s")
	t.Setenv("SPILLWAY_PID", "/run/spillway.pid")
	t.Setenv("SPILLWAY_HTTP_PROXY_BUFFERS", "4 8k")
	t.Setenv("SPILLWAY_HTTP_UPSTREAMS_APP_KEEPALIVE", "7")
	t.Setenv("SPILLWAY_HTTP_PROXY_BUFFERING", "off")
	c, err := Load("../../testdata/config/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.ErrorLog != (ErrorLog{Path: c.Prefix + "/logs/error.log", Level: LevelDebug}) {
		t.Errorf("error_log = %+v; want the file's path with the variable's level", c.ErrorLog)
	}
	if c.PID != "/run/spillway.pid" {
		t.Errorf("pid = %q", c.PID)
	}
	if c.Upstreams["app"].Keepalive != 7 {
		t.Errorf("keepalive = %d", c.Upstreams["app"].Keepalive)
	}
	root, static := c.Servers[0].Locations[0], c.Servers[0].Locations[1]
	if root.Upstream.ReadTimeout != 5*time.Second || static.Upstream.ReadTimeout != 5*time.Second {
		t.Errorf("proxy_read_timeout = %v, %v; want 5s from the environment", root.Upstream.ReadTimeout, static.Upstream.ReadTimeout)
	}
	if root.Upstream.Buffers != (Buffers{N: 4, Size: 8 << 10}) || root.Upstream.Buffering {
		t.Errorf("root location: buffers %+v buffering %v", root.Upstream.Buffers, root.Upstream.Buffering)
	}
	// The variable sets the http level; the location's own value still wins.
	if static.Upstream.Buffers != (Buffers{N: 4, Size: 4 << 10}) {
		t.Errorf("static location buffers = %+v", static.Upstream.Buffers)
	}
	if root.Upstream.ConnectTimeout != time.Second {
		t.Errorf("proxy_connect_timeout = %v; the file's value must stay", root.Upstream.ConnectTimeout)
	}
}

func TestEnvOverridesMappingForms(t *testing.T) {
	t.Setenv("SPILLWAY_HTTP_PROXY_BUFFERS", "4 8k")
	c := mustLoad(t, strings.Replace(base, "http:\n", "http:\n  proxy_buffers: {number: 2, size: 4k}\n", 1))
	if got := c.Servers[0].Locations[0].Upstream.Buffers; got != (Buffers{N: 4, Size: 8 << 10}) {
		t.Errorf("proxy_buffers = %+v, want 4 8k from the environment", got)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Setenv("SPILLWAY_HTTP_PROXY_CONNECT_TIMEOUT", "5x")
	_, err := load(t, base)
	var e *Error
	if !errors.As(err, &e) || e.Env != "SPILLWAY_HTTP_PROXY_CONNECT_TIMEOUT" || e.Key != "http.proxy_connect_timeout" {
		t.Fatalf("error = %#v", e)
	}
	want := `"proxy_connect_timeout" directive invalid value "5x": want a time like 500ms, 30s, 5m, 1h or 1d; a bare number is seconds (http.proxy_connect_timeout) in environment variable SPILLWAY_HTTP_PROXY_CONNECT_TIMEOUT`
	if err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestEnvOverStringForm(t *testing.T) {
	t.Setenv("SPILLWAY_ERROR_LOG_LEVEL", "debug")
	_, err := load(t, "error_log: logs/error.log warn\n"+base)
	wantError(t, err, "error_log", 1, "SPILLWAY_ERROR_LOG_LEVEL cannot override part of")
}

func TestBareNumbers(t *testing.T) {
	c := mustLoad(t, withLocation("proxy_read_timeout: 30", "proxy_send_timeout: 0", "proxy_buffer_size: 8192",
		"client_max_body_size: 0", "proxy_next_upstream_timeout: 1"))
	l := c.Servers[0].Locations[0]
	if l.Upstream.ReadTimeout != 30*time.Second || l.Upstream.SendTimeout != 0 || l.Upstream.NextUpstreamTimeout != time.Second {
		t.Errorf("a bare number must be seconds: read %v send %v next %v", l.Upstream.ReadTimeout, l.Upstream.SendTimeout, l.Upstream.NextUpstreamTimeout)
	}
	if l.Upstream.BufferSize != 8192 || l.ClientMaxBodySize != 0 {
		t.Errorf("a bare number must be bytes: %d %d", l.Upstream.BufferSize, l.ClientMaxBodySize)
	}
}

// TestProxyHTTPVersion2 is nginx 1.29's proxy_http_version 2, however
// YAML writes it.
func TestProxyHTTPVersion2(t *testing.T) {
	for _, v := range []string{"2", `"2"`, "2.0", `"2.0"`} {
		c := mustLoad(t, withLocation("proxy_http_version: "+v))
		if got := c.Servers[0].Locations[0].ProxyHTTPVersion; got != "2.0" {
			t.Errorf("proxy_http_version: %s resolved to %q, want \"2.0\"", v, got)
		}
	}
}

func TestTestdataFiles(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"good.yaml", ""},
		{"unknown-key.yaml", `unknown key "proxy_bufers" (http.servers[0].locations[1].proxy_bufers) in ../../testdata/config/unknown-key.yaml:13`},
		{"bad-size.yaml", `"proxy_buffer_size" directive invalid value "8q": want a size like 512, 8k, 1m or 1g (http.servers[0].locations[0].proxy_buffer_size) in ../../testdata/config/bad-size.yaml:7`},
		{"bad-duration.yaml", `"proxy_read_timeout" directive invalid value "5x": want a time like 500ms, 30s, 5m, 1h or 1d; a bare number is seconds (http.proxy_read_timeout) in ../../testdata/config/bad-duration.yaml:2`},
	}
	for _, tt := range tests {
		_, err := Load("../../testdata/config/" + tt.file)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: error = %v\nwant %s", tt.file, got, tt.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error = %v", err)
	}
	if want := `open() "testdata/nope.yaml" failed (no such file or directory) in testdata/nope.yaml`; err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestSeveralErrors(t *testing.T) {
	_, err := load(t, withLocation("proxy_read_timeout: 5x", "proxy_buffer_size: 8q", "proxy_bufers: 1"))
	errs := allErrors(t, err)
	if len(errs) != 3 {
		t.Fatalf("%d errors, want 3: %v", len(errs), err)
	}
	for i, line := range []int{10, 11, 12} {
		if errs[i].Line != line {
			t.Errorf("error %d at line %d, want %d (errors come in file order)", i, errs[i].Line, line)
		}
	}
	var first *Error
	if !errors.As(err, &first) || first != errs[0] {
		t.Errorf("errors.As does not give the first error")
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "proxy.yaml", Line: 14, Key: "http.servers[0].locations[1].proxy_bufers", Msg: `unknown key "proxy_bufers"`},
			`unknown key "proxy_bufers" (http.servers[0].locations[1].proxy_bufers) in proxy.yaml:14`},
		{Error{File: "proxy.yaml", Msg: `no "http" section`}, `no "http" section in proxy.yaml`},
		{Error{File: "proxy.yaml", Key: "pid", Msg: "bad", Env: "SPILLWAY_PID"}, `bad (pid) in environment variable SPILLWAY_PID`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestYAMLFeatures(t *testing.T) {
	// Anchors and merge keys work, and errors inside them still find a line.
	c := mustLoad(t, `
http:
  servers:
    - listen: [8080]
      locations:
        - &common {path: /a, proxy_pass: "http://127.0.0.1:1", proxy_read_timeout: 3s}
        - <<: *common
          path: /b
`)
	if l := c.Servers[0].Locations[1]; l.Path != "/b" || l.Upstream.ReadTimeout != 3*time.Second {
		t.Errorf("merged location = %q %v", l.Path, l.Upstream.ReadTimeout)
	}
	_, err := load(t, `
http:
  servers:
    - listen: [8080]
      locations:
        - &common {path: /a, proxy_pass: "http://127.0.0.1:1", proxy_read_timeout: 3x}
        - <<: *common
          path: /b
`)
	wantError(t, err, "http.servers[0].locations[1].proxy_read_timeout", 6, `invalid value "3x"`)
}

// listen accepts default_server (and nginx's older "default") next to ssl,
// as convert writes it from nginx.conf; the address is still normalised.
func TestListenDefaultServer(t *testing.T) {
	text := strings.Replace(base, `["127.0.0.1:8080"]`, `["8080 default_server", "127.0.0.1:8081 default", "127.0.0.1:8082"]`, 1)
	c, err := load(t, text)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Servers[0]
	if !slices.Equal(s.Listen, []string{"0.0.0.0:8080", "127.0.0.1:8081", "127.0.0.1:8082"}) ||
		!slices.Equal(s.ListenDefault, []string{"0.0.0.0:8080", "127.0.0.1:8081"}) {
		t.Errorf("listen %v, default for %v", s.Listen, s.ListenDefault)
	}
}

// nginx's -p and -e: relative paths join the prefix, absolute ones and
// "stderr" stay, and the default error log is -e's when the file sets none.
func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	const yaml = `
pid: run/spillway.pid
http:
  proxy_temp_path: proxy_temp
  client_body_temp_path: /var/tmp/body
  servers:
    - listen: ["127.0.0.1:8080"]
      access_log: stderr
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9001"}]
    - listen: ["127.0.0.1:8081"]
      access_log: logs/b.log
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9001", root: www}]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadPaths(file, Paths{Prefix: "/srv/spillway", ErrorLog: "err.log"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Servers[0], c.Servers[1]
	for _, tt := range []struct{ name, got, want string }{
		{"prefix", c.Prefix, "/srv/spillway"},
		{"pid", c.PID, "/srv/spillway/run/spillway.pid"},
		{"error_log from -e", c.ErrorLog.Path, "/srv/spillway/err.log"},
		{"proxy_temp_path", a.Locations[0].Upstream.TempPath, "/srv/spillway/proxy_temp"},
		{"absolute client_body_temp_path", a.Locations[0].ClientBodyTempPath, "/var/tmp/body"},
		{"access_log stderr", a.AccessLog.Path, "stderr"},
		{"access_log", b.AccessLog.Path, "/srv/spillway/logs/b.log"},
		{"root", b.Locations[0].Root, "/srv/spillway/www"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}

	// No prefix: the file's directory. The file's error_log beats -e.
	if err := os.WriteFile(file, []byte("error_log: {path: e.log, level: info}\n"+yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = LoadPaths(file, Paths{ErrorLog: "err.log"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != dir || c.PID != dir+"/run/spillway.pid" || c.ErrorLog != (ErrorLog{Path: dir + "/e.log", Level: LevelInfo}) {
		t.Errorf("prefix %q, pid %q, error_log %+v", c.Prefix, c.PID, c.ErrorLog)
	}
}

// Certificates are read from the configuration file's directory, as nginx
// reads them from its conf prefix (not from -p, not from the working
// directory).
func TestCertificatePathsFromFileDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	yaml := `
http:
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: certs/a.pem
      ssl_certificate_key: certs/a.key
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9001"}]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPaths(file, Paths{Prefix: "/elsewhere"})
	want := `cannot load certificate "` + dir + `/certs/a.pem"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestEnvOverListForm(t *testing.T) {
	t.Setenv("SPILLWAY_ERROR_LOG_LEVEL", "debug")
	_, err := load(t, "error_log: [logs/error.log warn, logs/notice.log notice]\n"+base)
	wantError(t, err, "error_log", 1, "SPILLWAY_ERROR_LOG_LEVEL cannot override part of")
}

// Several error logs, as nginx's several error_log lines in main: every
// form, in order, each defaulted on its own; the first is also ErrorLog.
func TestErrorLogList(t *testing.T) {
	c := mustLoad(t, "error_log:\n  - logs/error.log\n  - {path: logs/notice.log, level: notice}\n  - stderr debug\n"+base)
	// relative paths join the prefix (the file's directory), every one
	at := func(p string) string { return filepath.Join(c.Prefix, p) }
	want := []ErrorLog{{Path: at("logs/error.log"), Level: LevelError}, {Path: at("logs/notice.log"), Level: LevelNotice}, {Path: "stderr", Level: LevelDebug}}
	if !slices.Equal(c.ErrorLogs, want) || c.ErrorLog != want[0] || !slices.Equal(c.AllErrorLogs(), want) {
		t.Errorf("error logs = %+v (first %+v), want %+v", c.ErrorLogs, c.ErrorLog, want)
	}
	one := mustLoad(t, "error_log: logs/e.log warn\n"+base)
	if w := []ErrorLog{{Path: filepath.Join(one.Prefix, "logs/e.log"), Level: LevelWarn}}; !slices.Equal(one.ErrorLogs, w) || one.ErrorLog != w[0] {
		t.Errorf("single form: %+v, want %+v", one.ErrorLogs, w)
	}
	_, err := load(t, "error_log: []\n"+base)
	wantError(t, err, "error_log", 1, "an empty list")
	_, err = load(t, "error_log: [logs/e.log, logs/n.log loud]\n"+base)
	wantError(t, err, "error_log", 1, `log 2: invalid log level "loud"`)
}

// EnvOverrides names the variables that override a directive (what -T
// prints), not every SPILLWAY_* variable: CI's SPILLWAY_REQUIRE_NGINX
// overrides nothing.
func TestEnvOverridesListsDirectivesOnly(t *testing.T) {
	t.Setenv("SPILLWAY_REQUIRE_NGINX", "1")
	t.Setenv("SPILLWAY_HTTP_PROXY_BUFFERS", "4 8k")
	t.Setenv("SPILLWAY_ERROR_LOG_LEVEL", "info")
	got := EnvOverrides()
	want := []string{"SPILLWAY_ERROR_LOG_LEVEL=info", "SPILLWAY_HTTP_PROXY_BUFFERS=4 8k"}
	if !slices.Equal(got, want) {
		t.Errorf("EnvOverrides() = %q, want %q", got, want)
	}
}

// http.temp_file_limit: none by default, a size when set;
// keepalive_timeout_learn: on by default, off when said.
func TestTempFileLimitAndLearn(t *testing.T) {
	c := mustLoad(t, base)
	if c.TempFileLimit != 0 {
		t.Errorf("default temp_file_limit %d, want 0 (none)", c.TempFileLimit)
	}
	for _, u := range c.Upstreams {
		if !u.KeepaliveLearn {
			t.Errorf("upstream %s: keepalive_timeout_learn off by default", u.Name)
		}
	}
	c = mustLoad(t, strings.Replace(base, "http:\n", "http:\n  temp_file_limit: 8m\n", 1))
	if c.TempFileLimit != 8<<20 {
		t.Errorf("temp_file_limit 8m = %d", c.TempFileLimit)
	}
	c = mustLoad(t, strings.Replace(base, "    app:\n", "    app:\n      keepalive_timeout_learn: off\n", 1))
	if c.Upstreams["app"].KeepaliveLearn {
		t.Errorf("keepalive_timeout_learn: off is on")
	}
}
