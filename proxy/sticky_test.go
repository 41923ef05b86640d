package proxy_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sticky cookie (NGINX Plus): a request without the cookie is balanced
// round-robin and gets the cookie naming the server that answered; a
// request with it goes to that server every time; a cookie that names no
// server (garbage, or a server that is down) is balanced and replaced. The
// value is the MD5 of the server's address, or its route=. The attributes
// are nginx Plus's: expires (max: 2037 and ten years of max-age), domain
// with variables, path, samesite (a variable: strict, lax, none, empty
// for none, anything else strict), secure, httponly.
func TestStickyCookie(t *testing.T) {
	var addrs []string
	for i := range 3 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend_%d", i)
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, strings.TrimPrefix(s.URL, "http://"))
	}
	r := newRig(t, "warn", `
http:
  upstreams:
    app:
      sticky: [cookie, srv, expires=max, domain=.$host, path=/, samesite=$arg_s, secure, httponly]
      servers: [{address: {U0}}, {address: {U1}}, {address: {U2}, route: r2}, {address: 127.0.0.1:9, down: on}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`, addrs...)
	id := func(i int) string {
		if i == 2 {
			return "r2"
		}
		sum := md5.Sum([]byte(addrs[i]))
		return hex.EncodeToString(sum[:])
	}
	get := func(path, cookie string) (body, setCookie string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.addr+path, nil)
		req.Host = "example.com"
		if cookie != "" {
			req.Header.Set("Cookie", "srv="+cookie)
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Set-Cookie")
	}
	attrs := "; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000; domain=.example.com; path=/"
	// without the cookie: round-robin, and the cookie of who answered
	for i := range 3 {
		body, sc := get("/", "")
		if body != fmt.Sprintf("backend_%d", i) || sc != "srv="+id(i)+attrs+"; secure; httponly" {
			t.Fatalf("request %d: %q, Set-Cookie %q", i, body, sc)
		}
	}
	// with it: the same server every time (round-robin would move on)
	for range 4 {
		if body, sc := get("/", id(1)); body != "backend_1" || !strings.HasPrefix(sc, "srv="+id(1)+";") {
			t.Fatalf("sticky to backend_1: %q, %q", body, sc)
		}
	}
	if body, _ := get("/", "r2"); body != "backend_2" {
		t.Fatalf("route r2: %q", body)
	}
	// garbage, or the down server's: balanced, and a new cookie
	down := md5.Sum([]byte("127.0.0.1:9"))
	for _, bad := range []string{"garbage", hex.EncodeToString(down[:])} {
		body, sc := get("/", bad)
		var n int
		if _, err := fmt.Sscanf(body, "backend_%d", &n); err != nil || !strings.HasPrefix(sc, "srv="+id(n)+";") {
			t.Fatalf("cookie %q: %q, %q", bad, body, sc)
		}
	}
	for arg, want := range map[string]string{"strict": "; samesite=strict", "lax": "; samesite=lax", "none": "; samesite=none", "": "", "wrong": "; samesite=strict"} {
		if _, sc := get("/?s="+arg, id(0)); sc != "srv="+id(0)+attrs+want+"; secure; httponly" {
			t.Errorf("samesite=$arg_s with %q: Set-Cookie %q", arg, sc)
		}
	}
}

// sticky route: the first non-empty of the variables names the server by
// its route= (or its address's MD5); nothing is set in the response; a
// backup server is reached by its route only once no primary can take the
// request.
func TestStickyRoute(t *testing.T) {
	var addrs []string
	for i := range 3 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend_%d", i)
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, strings.TrimPrefix(s.URL, "http://"))
	}
	r := newRig(t, "warn", `
http:
  upstreams:
    app:
      sticky: [route, $cookie_route, $arg_route]
      servers: [{address: {U0}, route: a}, {address: {U1}, route: b}, {address: {U2}, route: c, backup: on}]
    dead:
      sticky: route $arg_route
      servers: [{address: 127.0.0.1:9, max_fails: 0}, {address: {U2}, route: c, backup: on}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
        - path: /dead
          proxy_pass: http://dead
`, addrs...)
	get := func(path, cookie string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.addr+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", "route="+cookie)
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Set-Cookie")
	}
	for range 3 {
		if body, sc := get("/?route=a", "b"); body != "backend_1" || sc != "" {
			t.Fatalf("cookie b before arg a: %q, Set-Cookie %q", body, sc)
		}
		if body, _ := get("/?route=a", ""); body != "backend_0" {
			t.Fatalf("arg a: %q", body)
		}
	}
	// the backup's route while the primaries are up: round-robin
	seen := map[string]bool{}
	for range 4 {
		body, _ := get("/?route=c", "")
		seen[body] = true
	}
	if len(seen) != 2 || !seen["backend_0"] || !seen["backend_1"] {
		t.Fatalf("route c with primaries up went to %v", seen)
	}
	// no primary left: the backup by its route
	if body, _ := get("/dead?route=c", ""); body != "backend_2" {
		t.Fatalf("route c with the primary down: %q", body)
	}
}

// sticky learn: a session the upstream creates (its Set-Cookie, read as
// $upstream_cookie_sid) binds the client's later requests (their cookie,
// $cookie_sid) to the server that created it; an unknown session is
// balanced. drain: a draining server takes only requests bound to it.
func TestStickyLearnAndDrain(t *testing.T) {
	var addrs []string
	for i := range 3 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/keep" {
				w.Header().Set("Set-Cookie", fmt.Sprintf("sid=s%d", i))
			}
			fmt.Fprintf(w, "backend_%d", i)
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, strings.TrimPrefix(s.URL, "http://"))
	}
	r := newRig(t, "warn", `
http:
  upstreams:
    app:
      sticky: [learn, create=$upstream_cookie_sid, lookup=$cookie_sid, zone=sessions:1m, timeout=1h]
      servers: [{address: {U0}}, {address: {U1}}, {address: {U2}, drain: on}]
    routed:
      sticky: route $arg_r
      servers: [{address: {U0}, route: a}, {address: {U2}, route: c, drain: on}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
        - path: /routed/
          proxy_pass: http://routed/keep
`, addrs...)
	get := func(path, sid string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+r.addr+path, nil)
		if sid != "" {
			req.Header.Set("Cookie", "sid="+sid)
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// unknown sessions: round-robin over the servers not draining
	for i := range 4 {
		if body := get("/keep", "nobody"); body != fmt.Sprintf("backend_%d", i%2) {
			t.Fatalf("request %d without a session: %q", i, body)
		}
	}
	// backend_1 creates s1: requests with it stay there
	if body := get("/", ""); body != "backend_0" {
		t.Fatalf("first: %q", body)
	}
	if body := get("/", ""); body != "backend_1" {
		t.Fatalf("second: %q", body)
	}
	for range 3 {
		if body := get("/keep", "s1"); body != "backend_1" {
			t.Fatalf("session s1: %q", body)
		}
	}
	// the draining server: never balanced to, but a request bound to it
	// reaches it
	for range 3 {
		if body := get("/routed/", ""); body != "backend_0" {
			t.Fatalf("unbound request: %q", body)
		}
		if body := get("/routed/?r=c", ""); body != "backend_2" {
			t.Fatalf("request bound to the draining server: %q", body)
		}
	}
}
