package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

const limitExceptTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$remote_addr "$request" $status'}
      locations:
        - path: /px/
          proxy_pass: http://app/rep/
          limit_except: {methods: GET, access: [deny all]}
        - path: /own/
          proxy_pass: http://app/rep/
          limit_except: {methods: [get, post], proxy_pass: http://app}
        - path: /ret
          return: 200 ret
          limit_except: {methods: GET, access: deny all}
        - path: /retallow
          return: 200 ret
          root: {ROOT}
          limit_except: {methods: GET, access: allow all}
        - path: /ip/
          proxy_pass: http://app
          access: deny all
          limit_except: {methods: GET, access: [allow 127.0.0.2, deny all]}
        - path: /auth/
          proxy_pass: http://app
          limit_except: {methods: GET, auth_basic: staff, auth_basic_user_file: {HTPASSWD}}
          locations:
            - path: /auth/inner/
              proxy_pass: http://app
`

// limit_except as nginx 1.22 applies it (measured): a method the block
// does not list gets the block's configuration in place of the location's
// (its allow/deny, auth_basic, proxy_pass; the location's rewrite
// directives do not run for it, so a location that answers with return
// serves files instead), GET brings HEAD, a method nginx does not know is
// never listed, the block's own proxy_pass has no URI part and passes the
// request's, the inherited one replaces the location's prefix as in the
// location, and a location nested in the guarded one is not guarded.
func TestLimitExcept(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("alice:{PLAIN}secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer("{ROOT}", dir, "{HTPASSWD}", htpasswd).Replace(limitExceptTmpl)
	r := newAccessRig(t, "error", tmpl, true, u.Addr())
	req := func(method, path, extra string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n" + extra + "\r\n"
	}
	cases := []struct {
		src, method, path, extra string
		status                   int
		upstream                 string // the path the upstream must have got, "" for none
		body                     string // the body, when not an error page
	}{
		{"127.0.0.1", "GET", "/px/a", "", 200, "/rep/a", ""},
		{"127.0.0.1", "HEAD", "/px/a", "", 200, "/rep/a", ""}, // GET brings HEAD
		{"127.0.0.1", "POST", "/px/a", "", 403, "", ""},
		{"127.0.0.1", "FOO", "/px/a", "", 403, "", ""}, // not a method nginx knows: never listed
		{"127.0.0.1", "POST", "/own/b", "", 200, "/rep/b", ""},
		{"127.0.0.1", "DELETE", "/own/b", "", 200, "/own/b", ""}, // the block's proxy_pass: the request's URI
		{"127.0.0.1", "GET", "/ret", "", 200, "", "ret"},
		{"127.0.0.1", "POST", "/ret", "", 403, "", ""},      // deny all, not the return
		{"127.0.0.1", "POST", "/retallow", "", 404, "", ""}, // files: the return is not the block's
		{"127.0.0.2", "GET", "/ip/c", "", 403, "", ""},      // the location's deny all
		{"127.0.0.2", "PUT", "/ip/c", "", 200, "/ip/c", ""}, // the block's allow 127.0.0.2
		{"127.0.0.1", "PUT", "/ip/c", "", 403, "", ""},      // and deny all
		{"127.0.0.1", "GET", "/auth/d", "", 200, "/auth/d", ""},
		{"127.0.0.1", "POST", "/auth/d", "", 401, "", ""},
		{"127.0.0.1", "POST", "/auth/d", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", 200, "/auth/d", ""},
		{"127.0.0.1", "POST", "/auth/inner/e", "", 200, "/auth/inner/e", ""}, // nested: not guarded
	}
	for _, c := range cases {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.src)}, Timeout: 5 * time.Second}
		cc, err := d.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(cc, req(c.method, c.path, c.extra)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(cc), &http.Request{Method: c.method}) // HEAD: no body
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		cc.Close()
		what := c.method + " " + c.path + " from " + c.src
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", what, resp.StatusCode, c.status)
		}
		if c.upstream != "" && u.Hits(c.method, c.upstream) != 1 {
			t.Errorf("%s: the upstream did not get %s %s once (%d)", what, c.method, c.upstream, u.Hits(c.method, c.upstream))
		}
		if c.body != "" && string(body) != c.body {
			t.Errorf("%s: body %q, want %q", what, body, c.body)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="staff"` {
			t.Errorf("%s: WWW-Authenticate %q", what, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := u.Total(); n != 8 {
		t.Errorf("the upstream got %d requests, want the 8 allowed ones", n)
	}
}
