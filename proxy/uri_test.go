package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// uriConf has one location of each kind; every location tells the
// upstream which one it is (X-Loc) and what $uri and $request_uri were.
const uriConf = `
http:
  merge_slashes: {MERGE}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /admin/
          proxy_pass: http://{U0}/ADMIN/
          proxy_set_header: {X-Loc: admin, X-Uri: $uri, X-Request-Uri: $request_uri}
        - path: "= /exact"
          proxy_pass: http://{U0}/E
          proxy_set_header: {X-Loc: exact, X-Uri: $uri, X-Request-Uri: $request_uri}
        - path: "~ ^/re/"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: regex, X-Uri: $uri, X-Request-Uri: $request_uri}
        - path: /
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: root, X-Uri: $uri, X-Request-Uri: $request_uri}
`

// uriCase is one request target and what nginx 1.22.1 does with it in
// front of uriConf (measured): the location, the request line's target
// sent upstream and $uri; or its 400.
type uriCase struct {
	target, loc, sent, uri string
}

func (c uriCase) invalid() bool { return c.loc == "" }

// Routing and the URI sent upstream follow nginx's $uri: percent-decoded,
// slashes merged, "." and ".." resolved. A proxy_pass with a URI part
// replaces the location's prefix in $uri (re-escaped when the path had a
// %-escape); without one the client's target goes as it was sent.
func TestURINormalisedLikeNginx(t *testing.T) {
	for _, c := range []uriCase{
		{"//admin/x", "admin", "/ADMIN/x", "/admin/x"},
		{"/public/../admin/x/y?q=1", "admin", "/ADMIN/x/y?q=1", "/admin/x/y"},
		{"/adm%69n/x", "admin", "/ADMIN/x", "/admin/x"},
		{"/admin/%7E/a%20b", "admin", "/ADMIN/~/a%20b", "/admin/~/a b"},
		{"/admin/x%3Fy?z", "admin", "/ADMIN/x%3Fy?z", "/admin/x?y"},
		{"/admin/%2F", "admin", "/ADMIN/", "/admin/"},
		{"/admin/./a//b", "admin", "/ADMIN/a/b", "/admin/a/b"},
		{"/admin/a+b%2Bc", "admin", "/ADMIN/a+b+c", "/admin/a+b+c"},
		{"/admin/%3C%22%C3%BC", "admin", "/ADMIN/%3C%22%C3%BC", "/admin/<\"ü"},
		{"/x/../exact?a=1", "exact", "/E?a=1", "/exact"},
		{"/ex%61ct", "exact", "/E", "/exact"},
		{"//re/a", "regex", "//re/a", "/re/a"},
		{"/a/%2e%2e/re/b", "regex", "/a/%2e%2e/re/b", "/re/b"},
		{"/a/./b", "root", "/a/./b", "/a/b"},
		{"/x/%2e%2e/y", "root", "/x/%2e%2e/y", "/y"},
		{"/%7Euser/", "root", "/%7Euser/", "/~user/"},
		{target: "/.."}, {target: "/../admin/x"}, {target: "/public/../../../etc/passwd"},
		{target: "/%2e%2e/admin/x"}, {target: "/a/.%2e/../admin/"}, {target: "/a%00b"},
		{target: "/uploads/x.jpg%00.php"}, {target: "/a/%zz"},
	} {
		t.Run(c.target, func(t *testing.T) { checkURICase(t, "on", c) })
	}
}

// merge_slashes off (nginx's directive) keeps "//" in $uri.
func TestURIMergeSlashesOff(t *testing.T) {
	for _, c := range []uriCase{
		{"//admin/x", "root", "//admin/x", "//admin/x"},
		{"/admin//x/../y", "admin", "/ADMIN//y", "/admin//y"},
		{"/admin/%2F%2Fx", "admin", "/ADMIN///x", "/admin///x"},
	} {
		t.Run(c.target, func(t *testing.T) { checkURICase(t, "off", c) })
	}
}

func checkURICase(t *testing.T, merge string, c uriCase) {
	t.Helper()
	o := newRecordingOrigin(t)
	r := newRig(t, "info", strings.ReplaceAll(uriConf, "{MERGE}", merge), o.ln.Addr().String())
	res := rawDo(t, r.addr, "GET "+c.target+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
	_ = res.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got := o.received()
	if c.invalid() {
		if res.resp.StatusCode != 400 || !res.resp.Close {
			t.Errorf("status %d, close %v; want nginx's 400 with Connection: close", res.resp.StatusCode, res.resp.Close)
		}
		if len(got) != 0 {
			t.Errorf("the upstream got %q; nginx sends nothing", got)
		}
		want := `[info] 4242#4242: *1 client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: "GET ` + c.target + ` HTTP/1.1"`
		if !strings.Contains(r.log(), want+"\n") {
			t.Errorf("error log:\n%s\nwant the line\n%s", r.log(), want)
		}
		return
	}
	if res.resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", res.resp.StatusCode)
	}
	if len(got) != 1 {
		t.Fatalf("upstream got %d connections, want 1", len(got))
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(got[0])))
	if err != nil {
		t.Fatalf("upstream request: %v: %q", err, got[0])
	}
	if req.RequestURI != c.sent || req.Header.Get("X-Loc") != c.loc {
		t.Errorf("upstream got %q in location %q; nginx sends %q from %q", req.RequestURI, req.Header.Get("X-Loc"), c.sent, c.loc)
	}
	if u := req.Header.Get("X-Uri"); u != c.uri {
		t.Errorf("$uri = %q, want %q", u, c.uri)
	}
	if u := req.Header.Get("X-Request-Uri"); u != c.target {
		t.Errorf("$request_uri = %q, want the target as sent, %q", u, c.target)
	}
}

// FastCGI gets the normalised $uri: $fastcgi_script_name,
// SCRIPT_FILENAME ($document_root$fastcgi_script_name) and
// fastcgi_split_path_info never see a "..", a "//" or a NUL.
func TestFastCGIScriptNameNormalised(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr)))
	want := "/info/index.php|/extra|" + filepath.Join(php.Root, "info/index.php")
	for _, target := range []string{"/x/../info/index.php/extra", "//info/./%69ndex.php/extra", "/info/index.php/a/../extra"} {
		res := rawDo(t, r.addr, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		if res.resp.StatusCode != 200 || string(res.body) != want {
			t.Errorf("%s: %d %q, want 200 %q", target, res.resp.StatusCode, res.body, want)
		}
	}
	for _, target := range []string{"/uploads/x.jpg%00.php", "/../info/index.php", "/info/%2e%2e/%2e%2e/index.php"} {
		res := rawDo(t, r.addr, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.resp.StatusCode != 400 {
			t.Errorf("%s: %d %q, want nginx's 400", target, res.resp.StatusCode, res.body)
		}
		logHas(t, r.elog.String(), "client sent invalid request while reading client request line", `request: "GET `+target+` HTTP/1.1"`)
	}
}

// With Expect: 100-continue the refusal comes first: nginx refuses the
// target while reading the request line and never invites the body.
func TestURIInvalidBeforeContinue(t *testing.T) {
	o := newRecordingOrigin(t)
	r := newRig(t, "info", strings.ReplaceAll(uriConf, "{MERGE}", "on"), o.ln.Addr().String())
	res := rawDo(t, r.addr, "POST /a/../../x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if res.resp.StatusCode != 400 || !res.resp.Close {
		t.Fatalf("first response %d (close %v), want nginx's 400 before any 100 Continue", res.resp.StatusCode, res.resp.Close)
	}
	if got := o.received(); len(got) != 0 {
		t.Errorf("the upstream got %q", got)
	}
	want := `client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: "POST /a/../../x HTTP/1.1"` + "\n"
	if n := strings.Count(r.log(), want); n != 1 {
		t.Errorf("%d lines %q in the log:\n%s", n, want, r.log())
	}
}

// The access log's $uri is nginx's normalised one and $request_uri the
// target as sent; for a refused target, as nginx 1.22.1 logs it, $uri is
// empty and $request_uri "-" (nginx had not set it).
func TestAccessLogURI(t *testing.T) {
	o := newRecordingOrigin(t)
	alog := filepath.Join(t.TempDir(), "access.log")
	conf := strings.Replace(strings.ReplaceAll(uriConf, "{MERGE}", "on"), "      access_log: off\n",
		"      access_log: {path: "+alog+", format: '$status [$uri] [$request_uri]'}\n", 1)
	r := newRig(t, "info", conf, o.ln.Addr().String())
	for i, target := range []string{"//admin/./%78", "/../x"} {
		res := rawDo(t, r.addr, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		readAccessLog(t, alog, i+1) // written once the answer went out: in order
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	b, err := os.ReadFile(alog)
	if err != nil {
		t.Fatal(err)
	}
	want := "200 [/admin/x] [//admin/./%78]\n400 [] [-]\n"
	if string(b) != want {
		t.Errorf("access log\n%s\nwant\n%s", b, want)
	}
}
