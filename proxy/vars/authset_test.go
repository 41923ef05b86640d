package vars

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// auth_request_set's variables are in scope everywhere once named to
// CompileScope: a slot each, read from Request.Set; one the request never
// set is not found ("-" in a log), one set to "" is found and empty, as
// nginx logs them. A name the table or a map has is refused.
func TestAuthRequestSetVariables(t *testing.T) {
	m, err := CompileScope([]MapDef{{Source: "$host", Variable: "m", Default: "d"}}, []string{"$user", "Email", "user"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Sets() != 2 {
		t.Fatalf("Sets() = %d, want 2 (a repeated name is one slot)", m.Sets())
	}
	user, _ := m.SetIndex("user")
	email, _ := m.SetIndex("$EMAIL")
	v, err := Compile("u=$user e=$email m=$m", m)
	if err != nil {
		t.Fatal(err)
	}
	x := testExchange(t)
	esc := func(dst []byte, start int, found bool) []byte {
		if !found && len(dst) == start {
			return append(dst, '-')
		}
		return dst
	}
	if got := string(v.AppendEscaped(nil, x, esc)); got != "u=- e=- m=d" {
		t.Errorf("nothing set: %q", got)
	}
	x.req.Set = make([][]byte, 2)
	x.req.Set[user] = []byte("alice")
	x.req.Set[email] = []byte{}
	if got := string(v.AppendEscaped(nil, x, esc)); got != "u=alice e= m=d" {
		t.Errorf("set: %q", got)
	}
	for _, bad := range [][]string{{"host"}, {"m"}} {
		var maps []MapDef
		if bad[0] == "m" {
			maps = []MapDef{{Source: "$host", Variable: "m"}}
		}
		if _, err := CompileScope(maps, bad); err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Errorf("CompileScope(%v) = %v, want a duplicate variable", bad, err)
		}
	}
	if _, err := Compile("$user", nil); err == nil {
		t.Error("$user without the scope compiled")
	}
}

// $upstream_cookie_tc for one Set-Cookie value, as nginx 1.22 reads it
// (nginx-tests' proxy_upstream_cookie.t): spaces around '=' skipped, tabs
// not; the value up to ';', its inner and trailing spaces kept; the name
// at the very start.
func TestUpstreamCookieParse(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"tc=", ""}, {"tc=;", ""}, {"tc= ;", ""}, {"tc =   ; Domain=example.com;", ""},
		{"tc=x", "x"}, {"tc=,", ","}, {"tc\t=\tcontent     ;", ""}, {`tc="content"`, `"content"`},
		{"tc=con  tent; Domain=example.com", "con  tent"}, {"tc = content", "content"},
		{"tc==abc", "=abc"}, {"tc==;abc", "="}, {"=tc=content", ""}, {"tcx=1", ""},
		{"tc=first,tc=second", "first,tc=second"}, {"tc=first;tc=second", "first"}, {"TC=up", "up"},
	} {
		x := testExchange(t)
		var resp fasthttp.Response
		if err := resp.Read(bufioReader("HTTP/1.1 200 OK\r\nSet-Cookie: " + c.set + "\r\nContent-Length: 0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		x.resp.Upstream = &resp.Header
		v, err := Compile("$upstream_cookie_tc", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v.Append(nil, x)); got != c.want {
			t.Errorf("Set-Cookie: %q: $upstream_cookie_tc = %q, want %q", c.set, got, c.want)
		}
	}
}

// $upstream_cookie_NAME is the value a Set-Cookie of the last upstream
// response gives the cookie NAME (case-insensitive, up to ';'), as
// nginx's ngx_http_parse_set_cookie_lines reads it.
func TestUpstreamCookie(t *testing.T) {
	x := testExchange(t)
	var resp fasthttp.Response
	if err := resp.Read(bufioReader("HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: _oauth2_proxy_1=part2; HttpOnly\r\nSet-Cookie: Sid=xyz\r\nContent-Length: 0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	x.resp.Upstream = &resp.Header
	for _, c := range []struct{ v, want string }{
		{"$upstream_cookie_a", "1"},
		{"$upstream_cookie__oauth2_proxy_1", "part2"},
		{"$upstream_cookie_sid", "xyz"},
		{"$upstream_cookie_none", ""},
	} {
		v, err := Compile(c.v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v.Append(nil, x)); got != c.want {
			t.Errorf("%s = %q, want %q", c.v, got, c.want)
		}
	}
}
