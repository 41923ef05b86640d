package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const headersTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  add_header: ["X-Http on"]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      add_header: ["X-Server s", "X-Always a always"]
      locations:
        - {path: /inherit/, proxy_pass: http://{U0}}
        - path: /own/
          proxy_pass: http://{U0}
          add_header: ["X-Loc $uri", "X-Empty \"\"", "ETag \"new\"", {name: X-Word, value: "say always"}]
          expires: 1h
        - {path: /max/, proxy_pass: http://{U0}, expires: max}
        - {path: /epoch/, proxy_pass: http://{U0}, expires: epoch}
        - {path: /neg/, proxy_pass: http://{U0}, expires: -1}
        - {path: /mod/, proxy_pass: http://{U0}, expires: modified 1d}
        - {path: /off/, proxy_pass: http://{U0}, expires: "off", add_header: []}
        - {path: /var/, proxy_pass: http://{U0}, expires: $arg_e}
        - {path: /varmod/, proxy_pass: http://{U0}, expires: modified $arg_e}
        - {path: /status, stub_status: on}
`

// headersOrigin answers every path with caching headers of its own; a
// path ending in /404 gets a 404.
func headersOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["cache-control"] = []string{"private"} // lower case: replaced all the same
		h.Set("Expires", "Thu, 01 Jan 2004 00:00:00 GMT")
		h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		h.Set("ETag", `"old"`)
		if strings.HasSuffix(r.URL.Path, "/404") {
			w.WriteHeader(404)
		}
		fmt.Fprint(w, "hello")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// add_header and expires as nginx's headers filter applies them: a level
// with any add_header replaces the inherited list (an empty list too);
// without "always" a header goes only on 200, 201, 204, 206, 301, 302,
// 303, 304, 307, 308, on proxied answers and spillway's own pages alike;
// a value that is empty once computed adds nothing; ETag replaces the
// upstream's; expires replaces the upstream's Expires and every
// Cache-Control with one, in each of its forms.
func TestAddHeaderExpiresLikeNginx(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, headersTmpl), headersOrigin(t))
	type want map[string][]string // header → values; nil: absent
	get := func(path string) (*http.Response, time.Time, time.Time) {
		before := time.Now().Truncate(time.Second)
		resp, _, c, _ := rawFrom(t, "127.0.0.1", r.addr, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		c.Close()
		return resp, before, time.Now()
	}
	check := func(path string, status int, w want) {
		t.Helper()
		resp, _, _ := get(path)
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, status)
		}
		for name, vals := range w {
			if got := resp.Header.Values(name); !slices.Equal(got, vals) {
				t.Errorf("%s: %s = %q, want %q", path, name, got, vals)
			}
		}
	}
	upstreamCaching := want{"Cache-Control": {"private"}, "Expires": {"Thu, 01 Jan 2004 00:00:00 GMT"}, "Etag": {`"old"`}}
	check("/inherit/a", 200, merged(upstreamCaching, want{"X-Server": {"s"}, "X-Always": {"a"}, "X-Http": nil}))
	check("/inherit/404", 404, merged(upstreamCaching, want{"X-Server": nil, "X-Always": {"a"}}))
	check("/nowhere", 404, want{"X-Server": nil, "X-Always": {"a"}, "X-Http": nil}) // spillway's page, the server's list
	check("/status", 200, want{"X-Server": {"s"}, "X-Always": {"a"}})
	check("/own/404", 404, merged(upstreamCaching, want{"X-Loc": nil, "X-Server": nil, "X-Always": nil}))
	check("/own/a", 200, want{"X-Loc": {"/own/a"}, "X-Empty": nil, "Etag": {`"new"`}, "X-Word": {"say always"},
		"X-Server": nil, "X-Always": nil, "Cache-Control": {"max-age=3600"}})
	check("/max/a", 200, want{"Expires": {"Thu, 31 Dec 2037 23:55:55 GMT"}, "Cache-Control": {"max-age=315360000"}, "X-Server": {"s"}})
	check("/epoch/a", 200, want{"Expires": {"Thu, 01 Jan 1970 00:00:01 GMT"}, "Cache-Control": {"no-cache"}})
	check("/neg/a", 200, want{"Cache-Control": {"no-cache"}})
	check("/mod/a", 200, want{"Expires": {"Tue, 03 Jan 2006 15:04:05 GMT"}, "Cache-Control": {"no-cache"}})
	check("/off/a", 200, merged(upstreamCaching, want{"X-Server": nil, "X-Always": nil}))
	// expires with variables, read per response as nginx: any form, and a
	// value that does not parse (or off) leaves the upstream's headers.
	check("/var/a?e=max", 200, want{"Expires": {"Thu, 31 Dec 2037 23:55:55 GMT"}, "Cache-Control": {"max-age=315360000"}})
	check("/var/a?e=epoch", 200, want{"Expires": {"Thu, 01 Jan 1970 00:00:01 GMT"}, "Cache-Control": {"no-cache"}})
	check("/var/a?e=-1", 200, want{"Cache-Control": {"no-cache"}})
	check("/var/a?e=2h", 200, want{"Cache-Control": {"max-age=7200"}})
	for _, bad := range []string{"/var/a", "/var/a?e=off", "/var/a?e=bad", "/varmod/a?e=epoch", "/varmod/a?e=@1h"} {
		check(bad, 200, upstreamCaching)
	}
	check("/varmod/a?e=1d", 200, want{"Expires": {"Tue, 03 Jan 2006 15:04:05 GMT"}, "Cache-Control": {"no-cache"}})

	for path, d := range map[string]time.Duration{"/own/a": time.Hour, "/neg/a": -time.Second} {
		resp, before, after := get(path)
		exp, err := http.ParseTime(resp.Header.Get("Expires"))
		if err != nil || exp.Before(before.Add(d)) || exp.After(after.Add(d)) {
			t.Errorf("%s: Expires %q, want between %v and %v", path, resp.Header.Get("Expires"), before.Add(d), after.Add(d))
		}
	}
}

func merged[M ~map[string][]string](a, b M) M {
	m := M{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// add_header's names reach the client as written, as nginx's: on a
// return's answer and a static file's error too (nginx-tests'
// http_headers_multi.t matches "X-HTTP-Host" case-sensitively).
func TestAddHeaderNameAsWritten(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /r, add_header: ["X-HTTP-Host $http_host", "x-lower 1"], return: "204"}
        - {path: /t, add_header: ["X-HTTP-Host $http_host"], return: "200 text"}
`), headersOrigin(t))
	for _, path := range []string{"/r", "/t"} {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path)
		raw, _ := io.ReadAll(c)
		c.Close()
		if !strings.Contains(string(raw), "\r\nX-HTTP-Host: localhost\r\n") || path == "/r" && !strings.Contains(string(raw), "\r\nx-lower: 1\r\n") {
			t.Errorf("GET %s:\n%s", path, raw)
		}
	}
}
