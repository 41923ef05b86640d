package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// regexConf has regex locations of both kinds in front of a prefix one;
// each tells the upstream which it is.
const regexConf = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: "~ \\.php$"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: php}
        - path: "~* ^/secret"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: secret}
        - path: "~* ^/kube"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: kube}
        - path: "~ ^/u/.$"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: onechar}
        - path: "~ ^/hx/\\xC3\\xA9$"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: hex}
        - path: "~ ^/lit/é.$"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: lit}
        - path: /
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: root}
`

// Regex locations choose as nginx's PCRE does on the decoded $uri, which
// can end in a newline and hold any non-ASCII byte: "$" also matches
// before a final newline, "~*" folds ASCII letters only, and the pattern
// and $uri are bytes, not UTF-8. Measured on
// nginx 1.22.1 with the same locations (in nginx.conf form).
func TestRegexLocationLikePCRE(t *testing.T) {
	o := newRecordingOrigin(t)
	r := newRig(t, "info", regexConf, o.ln.Addr().String())
	cases := []struct{ target, loc string }{
		{"/x.php", "php"},
		{"/x.php%0A", "php"}, // PCRE's "$" before a final newline
		{"/x.php%0a?a=1", "php"},
		{"/x.php%0A%0A", "root"}, // only one, and only at the end
		{"/x.php%0Ab", "root"},
		{"/x.php%0D", "root"},
		{"/x.PHP", "root"},
		{"/SeCrEt", "secret"},
		{"/%73ecret", "secret"},
		{"/%C5%BFecret", "root"}, // U+017F folds to "s" in Unicode, not in PCRE
		{"/KUBE", "kube"},
		{"/%E2%84%AAube", "root"}, // U+212A (Kelvin sign) folds to "k" likewise
		// nginx's PCRE reads bytes, not UTF-8: "." is one byte, "\xC3" the
		// byte 0xC3 (not U+00C3) and a literal "é" its two bytes.
		{"/u/a", "onechar"},
		{"/u/%FF", "onechar"},
		{"/u/%C3%A9", "root"},
		{"/hx/%C3%A9", "hex"},
		{"/hx/%C3%83%C2%A9", "root"},
		{"/lit/%C3%A9a", "lit"},
		{"/lit/%C3%A9%FF", "lit"},
		{"/lit/%C3%A9%C3%A9", "root"},
	}
	for _, c := range cases {
		res := rawDo(t, r.addr, "GET "+c.target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		_ = res.conn.Close()
		if res.resp.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200", c.target, res.resp.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got := o.received()
	if len(got) != len(cases) {
		t.Fatalf("upstream got %d requests, want %d", len(got), len(cases))
	}
	// One connection per request; the targets differ.
	loc := map[string]string{}
	for i := range got {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(got[i])))
		if err != nil {
			t.Fatalf("upstream request %d: %v: %q", i, err, got[i])
		}
		loc[req.RequestURI] = req.Header.Get("X-Loc")
	}
	for _, c := range cases {
		if l, ok := loc[c.target]; !ok || l != c.loc {
			t.Errorf("%s: the upstream got it from location %q (sent: %v); nginx sends it from %q", c.target, l, ok, c.loc)
		}
	}
}

// fastcgi_split_path_info matches as PCRE too: with '^(.+\.php)(/.*)$' a
// path ending in a decoded newline still splits (nginx 1.22.1 sends
// SCRIPT_NAME /f/a.php and PATH_INFO /x for /f/a.php/x%0A); RE2 alone did
// not split it and sent php-fpm the whole $uri, newline included, as the
// script name.
func TestFastCGISplitPathInfoLikePCRE(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr)))
	res := rawDo(t, r.addr, "GET /info/index.php/extra%0A HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	want := "/info/index.php|/extra|" + filepath.Join(php.Root, "info/index.php")
	if res.resp.StatusCode != 200 || string(res.body) != want {
		t.Errorf("%d %q, want 200 %q", res.resp.StatusCode, res.body, want)
	}
}
