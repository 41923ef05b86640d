package proxy_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redirectConf has proxying locations named with a final "/" (nginx's
// auto_redirect applies to them), one without, and a regex and a "/" that
// "/admin" would otherwise fall into.
const redirectConf = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '"$request" $status'}
      locations:
        - path: /admin/
          proxy_pass: http://{U0}/ADMIN/
          proxy_set_header: {X-Loc: admin}
        - path: /api
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: api}
        - path: /api/
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: apislash}
        - path: "= /e/"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: eslash}
        - path: "~ ^/admin$"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: adminre}
        - path: /
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: root}
`

// "/admin" with "location /admin/ { proxy_pass ...; }" is nginx's 301 to
// "/admin/" (auto_redirect), decided before regex locations: it reaches no
// upstream, neither "/"'s nor the regex's. Measured on nginx 1.22.1 with
// the same locations, Location headers included.
func TestAutoRedirectLikeNginx(t *testing.T) {
	o := newRecordingOrigin(t)
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "info", strings.ReplaceAll(redirectConf, "{ALOG}", alog), o.ln.Addr().String())
	_, port, _ := net.SplitHostPort(r.addr)
	logged := 0
	for _, c := range []struct{ req, location string }{
		{"GET /admin HTTP/1.1\r\nHost: localhost\r\n", "http://localhost:" + port + "/admin/"},
		{"GET /adm%69n?x=%41&y HTTP/1.1\r\nHost: FOO.Example.:9999\r\n", "http://foo.example:" + port + "/admin/?x=%41&y"},
		{"GET //admin HTTP/1.0\r\n", "http://127.0.0.1:" + port + "/admin/"},
		{"GET /e?q HTTP/1.1\r\nHost: localhost\r\n", "http://localhost:" + port + "/e/?q"},
		// an absolute-form target's host comes before the Host line's
		// (nginx's headers_in.server; nginx-tests' proxy_redirect.t)
		{"GET http://Abs.Example:8080/admin HTTP/1.1\r\nHost: localhost\r\n", "http://abs.example:" + port + "/admin/"},
	} {
		res := rawDo(t, r.addr, c.req+"Connection: close\r\n\r\n")
		_ = res.conn.Close()
		// Its line is written once the answer went out, maybe after the
		// client read it: wait for it before the next request's.
		logged++
		readAccessLog(t, alog, logged)
		if res.resp.StatusCode != 301 || res.resp.Header.Get("Location") != c.location {
			t.Errorf("%q: %d, Location %q; nginx: 301, Location %q", c.req, res.resp.StatusCode, res.resp.Header.Get("Location"), c.location)
		}
		if !strings.Contains(string(res.body), "<title>301 Moved Permanently</title>") {
			t.Errorf("%q: page %q", c.req, res.body)
		}
	}
	// A location named exactly the path, and the slashed paths, proxy.
	for _, target := range []string{"/api", "/api/x", "/admin/", "/e/"} {
		res := rawDo(t, r.addr, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		if res.resp.StatusCode != 200 {
			t.Errorf("%s: %d, want 200 from the upstream", target, res.resp.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := len(o.received()); got != 4 {
		t.Errorf("the upstream got %d requests, want the 4 proxied ones", got)
	}
	b, err := os.ReadFile(alog)
	if err != nil {
		t.Fatal(err)
	}
	want := `"GET /admin HTTP/1.1" 301` + "\n" + `"GET /adm%69n?x=%41&y HTTP/1.1" 301` + "\n" + `"GET //admin HTTP/1.0" 301` + "\n" + `"GET /e?q HTTP/1.1" 301` + "\n"
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("access log\n%s\nwant it to begin with\n%s", b, want)
	}
}

// With Expect: 100-continue, nginx answers the 301 at once: no 100
// Continue, no body read.
func TestAutoRedirectBeforeContinue(t *testing.T) {
	o := newRecordingOrigin(t)
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "info", strings.ReplaceAll(redirectConf, "{ALOG}", alog), o.ln.Addr().String())
	_, port, _ := net.SplitHostPort(r.addr)
	res := rawDo(t, r.addr, "POST /admin?a=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	_ = res.conn.Close()
	if want := "http://localhost:" + port + "/admin/?a=1"; res.resp.StatusCode != 301 || res.resp.Header.Get("Location") != want {
		t.Errorf("first response %d, Location %q; nginx: 301, Location %q", res.resp.StatusCode, res.resp.Header.Get("Location"), want)
	}
	if got := o.received(); len(got) != 0 {
		t.Errorf("the upstream got %q", got)
	}
}
