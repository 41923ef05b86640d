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
