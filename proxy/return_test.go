package proxy_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// returnConf has a redirect server (selected by Host) and a server whose
// locations only answer, next to one that proxies.
const returnConf = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [app.test]
      access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent'}
      locations:
        - {path: "= /health", return: "200 ok"}
        - {path: "= /empty", return: "200"}
        - {path: "= /nc", return: "204"}
        - {path: "= /forbid", return: "403"}
        - {path: "= /forbidtext", return: "403 no"}
        - {path: "= /rel", return: "302 /target?x=$arg_a"}
        - {path: "= /url", return: "https://example.com$uri"}
        - {path: "= /tea", return: "418"}
        - {path: "= /gone", return: "410"}
        - {path: "= /r307", return: "307 /seven"}
        - {path: "= /close", return: "444"}
        - {path: "= /denied", access: [deny all], return: "200 through"}
        - {path: "~ ^/old/(.*)$", return: "301 /new/$1"}
        - {path: "~ ^/cap/(.*)$", return: "200 [$1]"}
        - {path: /, proxy_pass: "http://{U0}"}
    - listen: ["127.0.0.1:0"]
      server_name: [redir.test]
      access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent'}
      return: "301 https://$host$request_uri"
`

// Every form of return, as measured on nginx 1.22.1 with the same
// locations (status, reason, Location, Content-Type, body); none reaches
// the upstream, and a return comes before deny.
func TestReturnLikeNginx(t *testing.T) {
	o := newRecordingOrigin(t)
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "info", strings.ReplaceAll(returnConf, "{ALOG}", alog), o.ln.Addr().String())
	_, port, _ := net.SplitHostPort(r.addr)
	for _, c := range []struct {
		target, host string
		status       int
		reason       string
		location     string
		ctype        string
		body         string // "" with ctype text/html: nginx's page (checked by title)
	}{
		{"/health", "app.test", 200, "OK", "", "text/plain", "ok"},
		{"/empty", "app.test", 200, "OK", "", "text/plain", ""},
		{"/nc", "app.test", 204, "No Content", "", "", ""},
		{"/forbid", "app.test", 403, "Forbidden", "", "text/html", "403 Forbidden"},
		{"/forbidtext", "app.test", 403, "Forbidden", "", "text/plain", "no"},
		{"/rel?a=1", "App.TEST.", 302, "Moved Temporarily", "http://app.test:" + port + "/target?x=1", "text/html", "302 Found"},
		{"/url", "app.test", 302, "Moved Temporarily", "https://example.com/url", "text/html", "302 Found"},
		{"/tea", "app.test", 418, "", "", "", ""},
		{"/gone", "app.test", 410, "Gone", "", "text/html", "410 Gone"},
		{"/r307", "app.test", 307, "Temporary Redirect", "http://app.test:" + port + "/seven", "text/html", "307 Temporary Redirect"},
		{"/denied", "app.test", 200, "OK", "", "text/plain", "through"},
		{"/old/a%20b?q=1", "app.test", 301, "Moved Permanently", "http://app.test:" + port + "/new/a b", "text/html", "301 Moved Permanently"},
		{"/old/x%3Fy", "app.test", 301, "Moved Permanently", "http://app.test:" + port + "/new/x?y", "text/html", "301 Moved Permanently"},
		{"/cap/a%20b%0a", "app.test", 200, "OK", "", "text/plain", "[a b]"}, // PCRE's "$" before a final newline
		{"/a?b", "redir.test", 301, "Moved Permanently", "https://redir.test/a?b", "text/html", "301 Moved Permanently"},
		{"/health", "redir.test", 301, "Moved Permanently", "https://redir.test/health", "text/html", "301 Moved Permanently"},
	} {
		res := rawDo(t, r.addr, "GET "+c.target+" HTTP/1.1\r\nHost: "+c.host+"\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		got := res.resp
		if got.StatusCode != c.status || got.Header.Get("Location") != c.location || got.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: %d, Location %q, Content-Type %q; nginx: %d, %q, %q", c.host, c.target, got.StatusCode,
				got.Header.Get("Location"), got.Header.Get("Content-Type"), c.status, c.location, c.ctype)
		}
		if c.reason != "" && got.Status != strconv.Itoa(c.status)+" "+c.reason {
			t.Errorf("%s %s: status line %q, nginx's reason %q", c.host, c.target, got.Status, c.reason)
		}
		switch {
		case c.ctype == "text/html":
			if !strings.Contains(string(res.body), "<title>"+c.body+"</title>") {
				t.Errorf("%s %s: page %q, want nginx's %q", c.host, c.target, res.body, c.body)
			}
		case string(res.body) != c.body:
			t.Errorf("%s %s: body %q, nginx: %q", c.host, c.target, res.body, c.body)
		}
		if c.status == 204 && got.ContentLength > 0 {
			t.Errorf("204 with Content-Length %d", got.ContentLength)
		}
	}
	// 444 closes the connection without a byte.
	cn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	if _, err := io.WriteString(cn, "GET /close HTTP/1.1\r\nHost: app.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(cn); len(b) != 0 {
		t.Errorf("444: the client read %q, nginx sends nothing", b)
	}
	if n := len(o.received()); n != 0 {
		t.Errorf("the upstream got %d requests, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	log, _ := os.ReadFile(alog)
	for _, line := range []string{`"GET /health HTTP/1.1" 200 2`, `"GET /close HTTP/1.1" 444 0`, `"GET /tea HTTP/1.1" 418 0`} {
		if !strings.Contains(string(log), line+"\n") {
			t.Errorf("access log lacks %q:\n%s", line, log)
		}
	}
}

// absolute_redirect, server_name_in_redirect and port_in_redirect shape
// a return's relative Location and auto_redirect's, per level (nginx
// 1.22.1 measured: "off" keeps the path as it is; the server's name
// replaces the Host line's; no port).
func TestRedirectSettingsLikeNginx(t *testing.T) {
	o := newRecordingOrigin(t)
	r := newRig(t, "info", `
http:
  port_in_redirect: off
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [main.test]
      access_log: off
      server_name_in_redirect: on
      locations:
        - {path: "= /rel", return: "302 /target"}
        - {path: "= /relport", return: "302 /target", port_in_redirect: on}
        - {path: "= /relative", return: "302 /target", absolute_redirect: off}
        - {path: /dir/, proxy_pass: "http://{U0}", absolute_redirect: off}
        - {path: /, proxy_pass: "http://{U0}"}
`, o.ln.Addr().String())
	_, port := splitPort(r.addr)
	for _, c := range []struct{ target, location string }{
		{"/rel", "http://main.test/target"},
		{"/relport", "http://main.test:" + port + "/target"},
		{"/relative", "/target"},
		{"/dir?q", "/dir/?q"},
	} {
		res := rawDo(t, r.addr, "GET "+c.target+" HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		if got := res.resp.Header.Get("Location"); got != c.location {
			t.Errorf("%s: Location %q, nginx %q", c.target, got, c.location)
		}
	}
}

func splitPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// Redirecting rewrites, measured on nginx 1.22.1 with the same locations:
// flags, $scheme and http(s):// replacements, arguments kept, added with
// "&" or dropped by a final "?", captures escaped only when the request's
// path had %XX or "+", differently before and after the replacement's
// "?"; a rewrite that does not match falls through to the return; and
// rewrite_log's notice lines.
func TestRewriteLikeNginx(t *testing.T) {
	o := newRecordingOrigin(t)
	r := newRig(t, "notice", `
http:
  rewrite_log: on
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - {path: /rw/, rewrite: ["^/rw/(.*)$ /new/$1 permanent", "^ /never permanent"], return: 403}
        - {path: /rq/, rewrite: "^/rq/(.*)$ /new?c=$1 redirect"}
        - {path: /rt/, rewrite: "^/rt/(.*)$ /new/$1? redirect"}
        - {path: /rh/, rewrite: "^/rh/(.*)$ https://ex.org/$1"}
        - {path: /rs/, rewrite: "^/rs/(.*)$ $scheme://ex.org/$1 permanent"}
        - {path: /rn/, rewrite: "^/rn/x$ /nope permanent", return: "200 fell"}
        - {path: /, proxy_pass: "http://{U0}"}
`, o.ln.Addr().String())
	_, port := splitPort(r.addr)
	here := "http://ex.com:" + port
	for _, c := range []struct {
		target   string
		status   int
		location string
	}{
		{"/rw/a%20b%3F?q=1&r=2", 301, here + "/new/a%20b??q=1&r=2"},
		{"/rq/a%20b&c?q=1", 302, here + "/new?c=a%20b%26c&q=1"},
		{"/rt/a?q=1", 302, here + "/new/a"},
		{"/rh/a%20b?q=1", 302, "https://ex.org/a%20b?q=1"},
		{"/rs/x", 301, "http://ex.org/x"},
		{"/rn/y", 200, ""},
		{"/rn/x", 301, here + "/nope"},
		{"/rt/a&b'x", 302, here + "/new/a&b'x"},
		{"/rq/a&b", 302, here + "/new?c=a&b"},
		{"/rt/a+b&c", 302, here + "/new/a+b&c"},
		{"/rt/a%41&b", 302, here + "/new/aA&b"},
		{"/rq/a+b%26", 302, here + "/new?c=a%2Bb%26"},
		{"/rt/%3B%2B%23%25%3F%7E%22%27%3C%3E%5C%5E%60%7B%7C%7D%2C%3D%40%24%21%2A%28%29%5B%5D%3A%C3%A9%01%09", 302,
			here + "/new/;+%23%25?~%22'%3C%3E%5C%5E%60%7B%7C%7D,=@$!*()[]:%C3%A9%01%09"},
		{"/rq/%3B%2B%23%25%3F%7E%22%27%3C%3E%5C%5E%60%7B%7C%7D%2C%3D%40%24%21%2A%28%29%5B%5D%3A%C3%A9%01%09%26%2F", 302,
			here + "/new?c=%3B%2B%23%25%3F~%22'%3C%3E%5C%5E%60%7B%7C%7D,=@$!*()[]:%C3%A9%01%09%26/"},
	} {
		res := rawDo(t, r.addr, "GET "+c.target+" HTTP/1.1\r\nHost: ex.com\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		if res.resp.StatusCode != c.status || res.resp.Header.Get("Location") != c.location {
			t.Errorf("%s: %d, Location %q; nginx %d, %q", c.target, res.resp.StatusCode, res.resp.Header.Get("Location"), c.status, c.location)
		}
	}
	if n := len(o.received()); n != 0 {
		t.Errorf("the upstream got %d requests, want 0", n)
	}
	log := r.log()
	for _, line := range []string{
		`[notice] 4242#4242: *1 "^/rw/(.*)$" matches "/rw/a b?", client: 127.0.0.1, server: , request: "GET /rw/a%20b%3F?q=1&r=2 HTTP/1.1", host: "ex.com"`,
		`[notice] 4242#4242: *1 rewritten redirect: "/new/a%20b??q=1&r=2", client: 127.0.0.1, server: , request: "GET /rw/a%20b%3F?q=1&r=2 HTTP/1.1", host: "ex.com"`,
		`[notice] 4242#4242: *6 "^/rn/x$" does not match "/rn/y", client: 127.0.0.1, server: , request: "GET /rn/y HTTP/1.1", host: "ex.com"`,
	} {
		if !strings.Contains(log, line) {
			t.Errorf("error log lacks\n%s\nin\n%s", line, log)
		}
	}
}
