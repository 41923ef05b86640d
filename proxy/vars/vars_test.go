package vars

import (
	"bufio"
	"crypto/tls"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// ex is an Exchange made of values.
type ex struct {
	h    *fasthttp.RequestHeader
	req  Request
	conn Conn
	resp Response
	att  []Attempt
	tls  *tls.ConnectionState
}

func (e *ex) Header() *fasthttp.RequestHeader { return e.h }
func (e *ex) Request() *Request               { return &e.req }
func (e *ex) Conn() *Conn                     { return &e.conn }
func (e *ex) Response() *Response             { return &e.resp }
func (e *ex) Attempts() []Attempt             { return e.att }
func (e *ex) TLS() *tls.ConnectionState       { return e.tls }

func testExchange(t testing.TB) *ex {
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	head := "POST /app/x.php/extra?a=1&Tok=xyz&empty=&flag HTTP/1.1\r\n" +
		"Host: Example.COM:8080\r\n" +
		"x-forwarded-for: 10.0.0.1\r\n" +
		"X-Forwarded-For: 10.0.0.2\r\n" +
		"X-Real-IP: 10.0.0.9\r\n" +
		"Cookie: a=1; Session=abc \r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: 5\r\n" +
		"User-Agent: curl/8\r\n" +
		"Upgrade: websocket\r\n\r\n"
	if err := req.Header.Read(bufioReader(head)); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	resp := &fasthttp.ResponseHeader{}
	resp.DisableNormalizing()
	resp.Set("X-Cache-Status", "HIT")
	resp.Set("Content-Type", "text/html")
	uh := &fasthttp.ResponseHeader{}
	uh.DisableNormalizing()
	uh.Set("X-From-Upstream", "u1")
	return &ex{
		h: &req.Header,
		req: Request{Start: at, Line: "POST /app/x.php/extra?a=1&Tok=xyz&empty=&flag HTTP/1.1", URI: "/app/x.php/extra", Args: "a=1&Tok=xyz&empty=&flag",
			RequestURI: "/app/x.php/extra?a=1&Tok=xyz&empty=&flag",
			Host:       "Example.COM:8080", ServerName: "srv", Scheme: "http", Root: "/var/www", ProxyHost: "backend",
			Length: 321, BodyLength: -1, ScriptName: "/app/x.php", PathInfo: "/extra"},
		conn: Conn{ID: 7, Requests: 3, RemoteAddr: "127.0.0.1", Remote: netip.MustParseAddr("127.0.0.1"), RemotePort: 5555,
			ServerAddr: netip.MustParseAddr("127.0.0.2"), ServerPort: 8080, PID: 42, Hostname: "box"},
		resp: Response{Status: 502, BodyBytesSent: 157, BytesSent: 314, RequestTime: 1234 * time.Millisecond, Header: resp, ContentLength: 157, Upstream: uh},
		att: []Attempt{{Addr: "127.0.0.1:9001", Status: 502, ResponseTime: time.Millisecond, ConnectTime: -1, HeaderTime: -1},
			{Addr: "127.0.0.1:9002", ResponseTime: 2 * time.Millisecond, ConnectTime: -1, HeaderTime: -1}},
	}
}

func TestVariables(t *testing.T) {
	x := testExchange(t)
	for _, c := range []struct{ v, want string }{
		{"$host", "example.com"},
		{"$http_host", "Example.COM:8080"},
		{"$http_x_forwarded_for", "10.0.0.1, 10.0.0.2"},
		{"$http_x_real_ip", "10.0.0.9"},
		{"$http_X_REAL_IP", "10.0.0.9"},
		{"$http_user_agent", "curl/8"},
		{"$http_upgrade", "websocket"},
		{"$http_cookie", "a=1; Session=abc"},
		{"$http_missing", ""},
		{"$cookie_session", "abc"},
		{"$cookie_a", "1"},
		{"$cookie_b", ""},
		{"$arg_tok", "xyz"},
		{"$arg_a", "1"},
		{"$arg_empty", ""},
		{"$arg_flag", ""},
		{"$args", "a=1&Tok=xyz&empty=&flag"},
		{"$query_string", "a=1&Tok=xyz&empty=&flag"},
		{"$is_args", "?"},
		{"$remote_addr", "127.0.0.1"},
		{"$remote_port", "5555"},
		{"$binary_remote_addr", "\x7f\x00\x00\x01"},
		{"$remote_user", ""},
		{"$server_addr", "127.0.0.2"},
		{"$server_port", "8080"},
		{"$server_name", "srv"},
		{"$server_protocol", "HTTP/1.1"},
		{"$scheme", "http"},
		{"$https", ""},
		{"$request", "POST /app/x.php/extra?a=1&Tok=xyz&empty=&flag HTTP/1.1"},
		{"$request_method", "POST"},
		{"$request_uri", "/app/x.php/extra?a=1&Tok=xyz&empty=&flag"},
		{"$uri", "/app/x.php/extra"},
		{"$document_uri", "/app/x.php/extra"},
		{"$request_length", "321"},
		{"$content_type", "text/plain"},
		{"$content_length", "5"},
		{"$document_root", "/var/www"},
		{"$realpath_root", "/var/www"},
		{"$request_filename", "/var/www/app/x.php/extra"},
		{"$proxy_host", "backend"},
		{"$proxy_add_x_forwarded_for", "10.0.0.1, 10.0.0.2, 127.0.0.1"},
		{"$fastcgi_script_name", "/app/x.php"},
		{"$fastcgi_path_info", "/extra"},
		{"$status", "502"},
		{"$body_bytes_sent", "157"},
		{"$bytes_sent", "314"},
		{"$request_time", "1.234"},
		{"$msec", "1795600800.123"},
		{"$time_local", "25/Nov/2026:10:00:00 +0000"},
		{"$time_iso8601", "2026-11-25T10:00:00+00:00"},
		{"$connection", "7"},
		{"$connection_requests", "3"},
		{"$pid", "42"},
		{"$hostname", "box"},
		{"$nginx_version", "1.22.1"},
		{"$ssl_protocol", ""},
		{"$ssl_cipher", ""},
		{"$ssl_server_name", ""},
		{"$ssl_session_reused", ""}, // plain HTTP: nginx finds no value
		{"$sent_http_x_cache_status", "HIT"},
		{"$sent_http_content_type", "text/html"},
		{"$sent_http_nope", ""},
		{"$sent_http_content_length", "157"},
		{"$upstream_http_x_from_upstream", "u1"},
		{"$upstream_http_nope", ""},
		{"$upstream_addr", "127.0.0.1:9001, 127.0.0.1:9002"},
		{"$upstream_status", "502, -"},
		{"$upstream_response_time", "0.001, 0.002"},
		{"$upstream_connect_time", ""},
		{"$upstream_header_time", ""},
		{"a ${host}b $$x", ""}, // "$$x": a '$' alone is not a variable name
		{"text ${uri}.bak", "text /app/x.php/extra.bak"},
	} {
		v, err := Compile(c.v, nil)
		if c.v == "a ${host}b $$x" {
			if err == nil {
				t.Errorf("%q compiled", c.v)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.v, err)
			continue
		}
		if got := string(v.Append(nil, x)); got != c.want {
			t.Errorf("%s = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestVariablesTLSAndFallbacks(t *testing.T) {
	x := testExchange(t)
	x.req.Host, x.req.Scheme, x.req.BodyLength = "", "https", 12
	x.tls = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "example.com"}
	x.conn.Remote = netip.MustParseAddr("::1")
	x.att[0].ConnectTime = 3 * time.Millisecond
	for v, want := range map[string]string{
		"$host": "srv", "$https": "on", "$scheme": "https", "$content_length": "12",
		"$ssl_protocol": "TLSv1.3", "$ssl_cipher": "TLS_AES_128_GCM_SHA256", "$ssl_server_name": "example.com",
		"$ssl_session_reused":    ".",
		"$binary_remote_addr":    string(netip.MustParseAddr("::1").AsSlice()),
		"$upstream_connect_time": "0.003, -",
	} {
		if got := string(mustCompile(t, v, nil).Append(nil, x)); got != want {
			t.Errorf("%s = %q, want %q", v, got, want)
		}
	}
	x.req.Host = "Example.COM.:80"
	if got := string(mustCompile(t, "$host", nil).Append(nil, x)); got != "example.com" {
		t.Errorf("$host drops the port and a trailing dot (nginx): %q", got)
	}
	x.tls.Version, x.tls.CipherSuite = tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	if got := string(mustCompile(t, "$ssl_protocol $ssl_cipher", nil).Append(nil, x)); got != "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256" {
		t.Errorf("TLS 1.2: %q", got)
	}
	x.tls.DidResume = true
	if got := string(mustCompile(t, "$ssl_session_reused", nil).Append(nil, x)); got != "r" {
		t.Errorf("a resumed session: $ssl_session_reused = %q, want r", got)
	}
	// No head at all (a request the parser refused): header variables are empty.
	x.h, x.req.Args = nil, ""
	if got := string(mustCompile(t, "[$http_host][$request_method][$args][$is_args][$cookie_a]", nil).Append(nil, x)); got != "[][][][][]" {
		t.Errorf("no head: %q", got)
	}
}

func TestRequestID(t *testing.T) {
	x := testExchange(t)
	v := mustCompile(t, "$request_id $request_id", nil)
	got := string(v.Append(nil, x))
	a, b, _ := strings.Cut(got, " ")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a) || a != b {
		t.Fatalf("request_id %q: want 32 hex digits, the same within a request", got)
	}
	y := testExchange(t)
	if c := string(mustCompile(t, "$request_id", nil).Append(nil, y)); c == a {
		t.Errorf("two requests got the same id %q", c)
	}
}

func TestCompileErrors(t *testing.T) {
	for in, want := range map[string]string{
		"$nope":      `unknown "nope" variable`,
		"${host":     `the closing bracket in "host" variable is missing`,
		"a $ b":      `invalid variable name`,
		"$1":         `capture variable "$1" is only set by a map's regular expression`,
		"$Bogus_var": `unknown "bogus_var" variable`,
	} {
		_, err := Compile(in, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if err := Check("$connection_upgrade", []string{"$connection_upgrade"}); err != nil {
		t.Errorf("a map variable in scope: %v", err)
	}
	if err := Check("$connection_upgrade", nil); err == nil {
		t.Error("a map variable out of scope passed")
	}
}

func TestMap(t *testing.T) {
	maps, err := CompileMaps([]MapDef{
		{Source: "$http_upgrade", Variable: "connection_upgrade", Default: "upgrade", Entries: []MapEntry{{"", "close"}}},
		{Source: "$http_host", Variable: "$site", Hostnames: true, Default: "default-$server_name", Entries: []MapEntry{
			{"~^(?P<sub>[a-z]+)\\.example\\.com:8080$", "regex-$1"},
			{"*.example.com", "wild"},
			{".example.org", "dotted"},
			{"www.example.*", "tail"},
			{"exact.example.com", "exact"},
			{"~*^MIXED", "ci"},
		}},
		{Source: "$site/$uri", Variable: "chained", Entries: []MapEntry{{"~^wild/(.*)$", "[$1]"}, {"\\~tilde", "lit"}}},
		{Source: "$uri", Variable: "volatile_one", Volatile: true, Default: "$arg_a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	x := testExchange(t)
	eval := func(v string) string { return string(mustCompile(t, v, maps).Append(nil, x)) }
	if got := eval("$connection_upgrade"); got != "upgrade" {
		t.Errorf("upgrade: %q", got)
	}
	x.h.Del("Upgrade")
	if got := eval("$connection_upgrade"); got != "close" {
		t.Errorf("no Upgrade: %q", got)
	}
	for host, want := range map[string]string{
		"exact.example.com":    "exact",     // exact first (and without case)
		"EXACT.example.com.":   "exact",     // hostnames: the trailing dot is dropped
		"a.b.example.com":      "wild",      // then the leading wildcard
		"example.org":          "dotted",    // ".example.org" is the name too
		"x.example.org":        "dotted",    //
		"www.example.net":      "tail",      // then the trailing wildcard
		"abc.example.com:8080": "regex-abc", // then regular expressions in order
		"mixed.case":           "ci",
		"other":                "default-srv",
	} {
		x.h.SetHost(host)
		if got := eval("$site"); got != want {
			t.Errorf("$site for %q = %q, want %q", host, got, want)
		}
	}
	x.h.SetHost("a.example.com")
	if got := eval("$chained"); got != "[/app/x.php/extra]" {
		t.Errorf("a map of a map with a capture: %q", got)
	}
	if got := eval("$volatile_one"); got != "1" {
		t.Errorf("default with a variable: %q", got)
	}
	for _, bad := range [][]MapDef{
		{{Source: "$nope", Variable: "a"}},
		{{Source: "$uri", Variable: "host"}},
		{{Source: "$uri", Variable: "a"}, {Source: "$uri", Variable: "a"}},
		{{Source: "$uri", Variable: "a", Entries: []MapEntry{{"~(", "x"}}}},
		{{Source: "$uri", Variable: "a", Entries: []MapEntry{{"k", "$1"}}}},
		{{Source: "$uri", Variable: "a", Entries: []MapEntry{{"k", "x"}, {"K", "y"}}}},
	} {
		if _, err := CompileMaps(bad); err == nil {
			t.Errorf("%+v compiled", bad)
		}
	}
	// A map that uses itself ends (nginx refuses it at run time too).
	self, err := CompileMaps([]MapDef{{Source: "x$self", Variable: "self", Default: "$self"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = mustCompile(t, "$self", self).Append(nil, x)
}

func TestAppendAllocs(t *testing.T) {
	x := testExchange(t)
	maps, err := CompileMaps([]MapDef{{Source: "$http_upgrade", Variable: "connection_upgrade", Default: "upgrade", Entries: []MapEntry{{"", "close"}}}})
	if err != nil {
		t.Fatal(err)
	}
	v := mustCompile(t, `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" `+
		`$host $http_x_forwarded_for $proxy_add_x_forwarded_for $upstream_addr $upstream_status $upstream_response_time $request_time `+
		`$connection_upgrade $cookie_session $arg_tok $sent_http_x_cache_status $server_port $request_length`, maps)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(200, func() { buf = v.Append(buf[:0], x) }); n != 0 {
		t.Errorf("Append allocates %v times", n)
	}
}

func BenchmarkAppend(b *testing.B) {
	x := testExchange(b)
	v := mustCompile(b, `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $host $proxy_add_x_forwarded_for`, nil)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.Append(buf[:0], x)
	}
}

func mustCompile(t testing.TB, s string, m *Maps) *Value {
	t.Helper()
	v, err := Compile(s, m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestCaptureIsOneDigit(t *testing.T) {
	maps, err := CompileMaps([]MapDef{{Source: "$uri", Variable: "m", Entries: []MapEntry{{"~^/(app)/", "$1x-${1}y"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mustCompile(t, "$m", maps).Append(nil, testExchange(t))); got != "appx-appy" {
		t.Errorf("got %q", got)
	}
}

// TestDocsListEveryVariable keeps docs/config.md's table in step with the
// variable table.
func TestDocsListEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Names() {
		if !strings.Contains(string(b), "`$"+n+"`") {
			t.Errorf("docs/config.md does not list $%s", n)
		}
	}
}

// spillway's own per-attempt connection variables: "1" and the idle age
// for a connection from the keepalive cache, "0" and "-" for a new one,
// "-" for an attempt without a connection; nothing ("-") before any.
func TestConnectionReuseVariables(t *testing.T) {
	e := testExchange(t)
	e.att = []Attempt{
		{Addr: "a", Status: 502, Via: ViaReused, IdleAge: 4980 * time.Millisecond, ConnectTime: -1, HeaderTime: -1},
		{Addr: "b", Status: 200, Via: ViaFresh, ConnectTime: -1, HeaderTime: -1},
		{Addr: "c", Via: ViaNone, ConnectTime: -1, HeaderTime: -1},
	}
	v := mustCompile(t, `"$upstream_connection_reused" "$upstream_idle_age" ${UPSTREAM_IDLE_AGE}`, nil)
	if got := string(v.Append(nil, e)); got != `"1, 0, -" "4.980, -, -" 4.980, -, -` {
		t.Errorf("got %q", got)
	}
	e.att = nil
	v = mustCompile(t, `$upstream_connection_reused $upstream_idle_age`, nil)
	if got := string(v.Append(nil, e)); got != " " {
		t.Errorf("no upstream: %q (the access log prints empty values as -)", got)
	}
}

// A set variable reads its slot; before any set, "" and one report to
// Uninit, or, named like a family, the family's value and no report.
func TestSetVariables(t *testing.T) {
	m, err := CompileVars(nil, []string{"auth"}, []string{"v", "http_x_real_ip", "auth"})
	if err != nil {
		t.Fatal(err)
	}
	v := mustCompile(t, "[$v][$http_x_real_ip][$V]", m)
	x := testExchange(t)
	var told []string
	x.req.Set, x.req.Uninit = make([][]byte, m.Sets()), func(n string) { told = append(told, n) }
	if got := string(v.Append(nil, x)); got != "[][10.0.0.9][]" || len(told) != 1 || told[0] != "v" {
		t.Errorf("unset: %q, told %q", got, told)
	}
	var found []bool
	mustCompile(t, "$auth", m).AppendEscaped(nil, x, func(dst []byte, _ int, f bool) []byte { found = append(found, f); return dst })
	if len(found) != 1 || found[0] || len(told) != 1 {
		t.Errorf("auth_request_set's variable, not set: found %v, told %q", found, told)
	}
	vs, _ := m.SetIndex("v")
	hs, _ := m.SetIndex("$http_x_real_ip")
	x.req.Set[vs], x.req.Set[hs] = []byte("a"), []byte("b")
	if got := string(v.Append(nil, x)); got != "[a][b][a]" {
		t.Errorf("set: %q", got)
	}
	if Builtin("http_x") || !Builtin("uri") {
		t.Errorf("Builtin: a family's name is settable, a variable's is not")
	}
}

// A map regex's named captures set their variables (in scope as set
// slots) when the entry matches, as nginx's ngx_http_regex_exec; a group
// that did not take part reads "".
func TestMapNamedCaptures(t *testing.T) {
	defs := []MapDef{{Source: "$uri", Variable: "m", Default: "none", Entries: []MapEntry{{`~^/(?<word>[a-z]+)(?<num>[0-9]+)?`, "w"}}}}
	m, err := CompileVars(defs, []string{"word", "num"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := mustCompile(t, "$m [$word] [$num]", m)
	x := testExchange(t)
	x.req.Set = make([][]byte, m.Sets())
	x.req.URI = "/abc"
	if got := string(v.Append(nil, x)); got != "w [abc] []" {
		t.Errorf("/abc: %q", got)
	}
	x.req.URI = "/123"
	if got := string(v.Append(nil, x)); got != "none [abc] []" { // no match: the variables keep their values
		t.Errorf("/123: %q", got)
	}
}

// $request_body is what Request.Body gives; without it (no body read, or
// one nginx would not hold in memory) the variable is not found, which a
// log writes as "-", and an empty body is found and empty.
func TestRequestBody(t *testing.T) {
	x := testExchange(t)
	v := mustCompile(t, "[$request_body]", nil)
	found := func() (string, []bool) {
		var fs []bool
		out := v.AppendEscaped(nil, x, func(dst []byte, start int, f bool) []byte { fs = append(fs, f); return dst })
		return string(out), fs
	}
	if got, fs := found(); got != "[]" || len(fs) != 1 || fs[0] {
		t.Errorf("no body: %q found=%v, want [] not found", got, fs)
	}
	x.req.Body = func(dst []byte) ([]byte, bool) { return append(dst, "a=1&b=2"...), true }
	if got, fs := found(); got != "[a=1&b=2]" || !fs[0] {
		t.Errorf("a body in memory: %q found=%v", got, fs)
	}
	x.req.Body = func(dst []byte) ([]byte, bool) { return dst, true }
	if got, fs := found(); got != "[]" || !fs[0] {
		t.Errorf("an empty body: %q found=%v, want found and empty", got, fs)
	}
}

// Repeated headers as nginx 1.22 reads them (measured): $http_NAME is the
// first line's value, except Cookie and X-Forwarded-For, joined (fasthttp
// keeps the last User-Agent and Content-Type: README's table);
// $sent_http_cache_control and $sent_http_link join every line with ", ",
// other $sent_http_ the first; $remote_user is the user of Basic
// credentials, with or without auth_basic.
func TestRepeatedHeadersLikeNginx(t *testing.T) {
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	head := "GET / HTTP/1.1\r\nHost: localhost\r\nReferer: r1\r\nReferer: r2\r\n" +
		"Via: v1\r\nVia: v2\r\nFoo: f1\r\nFoo: f2\r\n" +
		"Authorization: basic   dXNlcjpzZWNyZXQ\r\n\r\n"
	if err := req.Header.Read(bufioReader(head)); err != nil {
		t.Fatal(err)
	}
	resp := &fasthttp.ResponseHeader{}
	resp.DisableNormalizing()
	for _, kv := range [][2]string{{"Cache-Control", "foo"}, {"Link", "l1"}, {"cache-control", "bar"}, {"Foo", "f1"}, {"Link", "l2"}, {"Foo", "f2"}} {
		resp.Add(kv[0], kv[1])
	}
	x := &ex{h: &req.Header, req: Request{BodyLength: -1}, resp: Response{Header: resp}}
	for _, c := range []struct{ v, want string }{
		{"$http_referer", "r1"},
		{"$http_via", "v1"},
		{"$http_foo", "f1"},
		{"$remote_user", "user"},
		{"$sent_http_cache_control", "foo, bar"},
		{"$sent_http_link", "l1, l2"},
		{"$sent_http_foo", "f1"},
	} {
		v, err := Compile(c.v, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.v, err)
		}
		if got := string(v.Append(nil, x)); got != c.want {
			t.Errorf("%s = %q, want %q", c.v, got, c.want)
		}
	}
	for auth, want := range map[string]string{"Basic Onh4": "", "Bearer xyz": "", "Basic dXNlcjpzZWNyZXQ=": "user", "": ""} {
		req.Header.Del("Authorization")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		v, _ := Compile("$remote_user", nil)
		if got := string(v.Append(nil, x)); got != want {
			t.Errorf("Authorization %q: $remote_user %q, want %q", auth, got, want)
		}
	}
}

// A map's value is kept for the request once evaluated (nginx caches the
// variable: after an internal redirect changed its source the value is
// the first one, nginx-tests' map_volatile.t), unless the map is volatile
// or the request keeps no cache.
func TestMapCache(t *testing.T) {
	maps, err := CompileMaps([]MapDef{
		{Source: "$uri", Variable: "cached", Entries: []MapEntry{{"/1/", "/1/redirect"}, {"/1/redirect", "uncached"}}},
		{Source: "$uri", Variable: "fresh", Volatile: true, Entries: []MapEntry{{"/1/", "/1/redirect"}, {"/1/redirect", "uncached"}}},
		{Source: "$uri", Variable: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	x := testExchange(t)
	eval := func(v string) string { return string(mustCompile(t, v, maps).Append(nil, x)) }
	x.req.URI = "/1/"
	if got := eval("$cached $fresh"); got != "/1/redirect /1/redirect" {
		t.Errorf("first: %q", got)
	}
	x.req.URI = "/1/redirect"
	if got := eval("$cached $fresh"); got != "uncached uncached" {
		t.Errorf("without a cache: %q", got)
	}
	x.req.MapCache = make([][]byte, maps.Len())
	x.req.URI = "/1/"
	_ = eval("$cached $fresh $empty")
	x.req.URI = "/1/redirect"
	if got := eval("$cached $fresh"); got != "/1/redirect uncached" {
		t.Errorf("with a cache: %q, want the first value of the map that is not volatile", got)
	}
	if x.req.MapCache[2] == nil {
		t.Error("an empty value is not kept")
	}
}

// ProxyHostOnly is true only for a value that is $proxy_host and nothing
// else: appendHead then copies the request's ProxyHost without Append.
func TestProxyHostOnly(t *testing.T) {
	for src, want := range map[string]bool{
		"$proxy_host": true, "${proxy_host}": true, "$PROXY_HOST": true,
		"$proxy_host:8080": false, "x$proxy_host": false, "$proxy_port": false,
		"$host": false, "proxy_host": false, "": false,
	} {
		v, err := Compile(src, nil)
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		if got := v.ProxyHostOnly(); got != want {
			t.Errorf("Compile(%q).ProxyHostOnly() = %v, want %v", src, got, want)
		}
	}
}
