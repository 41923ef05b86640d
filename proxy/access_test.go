package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

const accessTmpl = `
error_log: {path: stderr, level: error}
http:
  client_max_body_size: 1k
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$remote_addr "$request" $status'}
      access: [deny 127.0.0.3]
      locations:
        - path: /app/
          proxy_pass: http://app
        - path: /admin/
          proxy_pass: http://app
          access: [allow 127.0.0.2, {deny: 127.0.0.0/8}, allow all]
        - path: ~ /\.ht
          access: deny all
        - path: /v6only/
          proxy_pass: http://app
          access: [deny ::1]
        - path: /status
          stub_status: on
          access: [allow 127.0.0.2, deny all]
`

// rawFrom sends req from the loopback address src on a new connection and
// reads one response; the connection stays open for the caller.
func rawFrom(t *testing.T, src, addr, req string) (*http.Response, []byte, net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s from %s: no response: %v", strings.SplitN(req, "\r\n", 2)[0], src, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp, body, c, br
}

// allow/deny as nginx's access module applies them (measured with nginx
// 1.22): the first rule of the client's address family that matches
// decides, none allows; a level that has rules replaces the inherited
// ones; a denied request gets 403 with nginx's page, keeps its keepalive
// connection, never reaches the upstream, and logs "access forbidden by
// rule" at error level. A request no location matches is checked against
// its server's rules before its 404, a deny-all location needs no
// proxy_pass, stub_status is guarded too, a declared body over
// client_max_body_size is still 413 (nginx checks it before the access
// phase), and "Expect: 100-continue" from a denied client gets the 403 and
// no invitation to send its body.
func TestAccessAllowDeny(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	r := newAccessRig(t, "error", accessTmpl, true, u.Addr())
	get := func(path, host string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	}
	cases := []struct {
		src, req string
		status   int
		upstream string // the path the upstream must have got, "" for none
	}{
		{"127.0.0.1", get("/admin/x", "localhost"), 403, ""},         // deny 127.0.0.0/8
		{"127.0.0.2", get("/admin/x", "localhost"), 200, "/admin/x"}, // allow 127.0.0.2 comes first
		{"127.0.0.3", get("/admin/y", "localhost"), 403, ""},         // the location's list replaces the server's
		{"127.0.0.3", get("/app/z", "localhost"), 403, ""},           // the server's deny 127.0.0.3
		{"127.0.0.1", get("/app/z", "localhost"), 200, "/app/z"},
		{"127.0.0.1", get("/.htpasswd", "localhost"), 403, ""},         // deny all, no proxy_pass
		{"127.0.0.1", get("/v6only/a", "localhost"), 200, "/v6only/a"}, // an IPv6 rule does not apply to IPv4
		{"127.0.0.3", get("/nowhere", "localhost"), 403, ""},           // no location: the server's rules...
		{"127.0.0.1", get("/nowhere", "localhost"), 404, ""},           // ...then the 404
		{"127.0.0.1", get("/status", "localhost"), 403, ""},
		{"127.0.0.2", get("/status", "localhost"), 200, ""},
		{"127.0.0.1", "POST /admin/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("a", 2048), 413, ""},
		{"127.0.0.1", "POST /admin/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", 403, ""},
	}
	var wantLines, wantAccess []string
	conn := 0 // nginx's *N: client and upstream connections share the counter
	for _, c := range cases {
		conn++
		n := strconv.Itoa(conn)
		if c.upstream != "" {
			conn++
		}
		resp, body, cc, br := rawFrom(t, c.src, r.addr, c.req)
		line := strings.SplitN(c.req, "\r\n", 2)[0]
		if resp.StatusCode != c.status {
			t.Errorf("%s from %s: status %d, want %d", line, c.src, resp.StatusCode, c.status)
		}
		if c.upstream != "" && u.Hits("GET", c.upstream) != 1 {
			t.Errorf("%s from %s: the upstream did not get %s", line, c.src, c.upstream)
		}
		if c.status == 403 {
			if want := nginxPage("403 Forbidden"); string(body) != want {
				t.Errorf("%s: body %q, want nginx's page", line, body)
			}
			// nginx keeps the connection (it discards a body); after an
			// Expect the body was never sent, and spillway's HTTP server
			// closes rather than wait to discard it.
			if resp.Close && !strings.Contains(c.req, "Expect:") {
				t.Errorf("%s: the 403 closes the connection; nginx keeps it", line)
			}
			// The connection still serves: the next request on it is
			// answered (with the same verdict for the same client).
			if !strings.HasPrefix(line, "POST") {
				if _, err := io.WriteString(cc, get("/nowhere", "localhost")); err != nil {
					t.Fatal(err)
				}
				if resp2, err := http.ReadResponse(br, nil); err != nil {
					t.Errorf("%s: the connection does not serve a second request: %v", line, err)
				} else {
					resp2.Body.Close()
				}
			}
			wantLines = append(wantLines, `[error] 4242#4242: *`+n+` access forbidden by rule, client: `+c.src+
				`, server: localhost, request: "`+line+`", host: "localhost"`)
		}
		if c.status == 413 {
			wantLines = append(wantLines, `[error] 4242#4242: *`+n+` client intended to send too large body: 2048 bytes, client: `+c.src+
				`, server: localhost, request: "`+line+`", host: "localhost"`)
		}
		wantAccess = append(wantAccess, c.src+` "`+line+`" `+strconv.Itoa(c.status))
		if c.status == 403 && !strings.HasPrefix(line, "POST") {
			s := "404"
			if c.src == "127.0.0.3" {
				s = "403"
				wantLines = append(wantLines, `[error] 4242#4242: *`+n+` access forbidden by rule, client: `+c.src+
					`, server: localhost, request: "GET /nowhere HTTP/1.1", host: "localhost"`)
			}
			wantAccess = append(wantAccess, c.src+` "GET /nowhere HTTP/1.1" `+s)
		}
		cc.Close()
		// Each line is written once its answer went out, maybe after the
		// client read it: wait for it before the next connection's.
		readAccessLog(t, r.alog, len(wantAccess))
	}
	if n := u.Total(); n != 3 {
		t.Errorf("the upstream got %d requests, want the 3 allowed ones", n)
	}
	if al := r.accessLog(); strings.Join(al, "\n") != strings.Join(wantAccess, "\n") {
		t.Errorf("access log:\n%s\nwant:\n%s", strings.Join(al, "\n"), strings.Join(wantAccess, "\n"))
	}
	wantLog(t, r.rig, wantLines...)
}

// IPv6 clients are checked against the IPv6 rules and "all" only.
func TestAccessIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	u := upstream(t, upstreamsim.OK())
	tmpl := strings.NewReplacer(`listen: ["127.0.0.1:0"]`, `listen: ["[::1]:0"]`, "      access: [deny 127.0.0.3]\n", "").Replace(accessTmpl)
	tmpl = strings.Replace(tmpl, "        - path: /app/\n          proxy_pass: http://app\n",
		"        - path: /app/\n          proxy_pass: http://app\n          access: [deny 127.0.0.0/8, allow ::1, deny all]\n", 1)
	r := newAccessRig(t, "error", tmpl, true, u.Addr())
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/v6only/a", 403}, // deny ::1
		{"/admin/x", 200},  // IPv4 rules do not match; allow all does
		{"/app/x", 200},    // allow ::1 before deny all
		{"/.ht", 403},      // deny all
	} {
		resp, _, cc, _ := rawFrom(t, "::1", r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		cc.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s from ::1: %d, want %d", c.path, resp.StatusCode, c.status)
		}
	}
	if !strings.Contains(r.log(), `access forbidden by rule, client: ::1, server: localhost, request: "GET /v6only/a HTTP/1.1"`) {
		t.Errorf("error log:\n%s", r.log())
	}
}

// internal: a client's request for the location is 404 with nginx's page
// and no error line, before any other check (nginx's find-config phase):
// before a too large body's 413, before limit_req counts it, before
// "100 Continue". The location needs no proxy_pass; its upstream is never
// asked.
func TestInternalLocation(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	tmpl := `
error_log: {path: stderr, level: info}
http:
  client_max_body_size: 1k
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  limit_req_zone: $binary_remote_addr zone=one:1m rate=1r/m
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://app}
        - {path: = /auth, proxy_pass: http://app, internal: on, limit_req: zone=one}
        - {path: /protected/, internal: on}
`
	r := newRig(t, "info", withTempDirs(t, tmpl), u.Addr())
	for _, req := range []string{
		"GET /auth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		"GET /protected/file.zip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		"POST /auth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n" + strings.Repeat("a", 2048),
		"POST /auth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
	} {
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, req)
		cc.Close()
		if resp.StatusCode != 404 || string(body) != nginxPage("404 Not Found") {
			t.Errorf("%s: %d %q, want nginx's 404", strings.SplitN(req, "\r\n", 2)[0], resp.StatusCode, body)
		}
	}
	if u.Total() != 0 {
		t.Errorf("the upstream of an internal location got %d requests", u.Total())
	}
	if l := r.log(); l != "" {
		t.Errorf("error log, want none (nginx logs nothing):\n%s", l)
	}
	if resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 {
		t.Errorf("the other location: %d", resp.StatusCode)
	} else {
		cc.Close()
	}
}
