package config

import "testing"

// The captures of fastcgi_split_path_info index the bytes of $uri, whatever
// bytes it holds (they are read one rune per byte).
func TestFindSubmatchIndexPCREBytes(t *testing.T) {
	re, err := compilePCRE(`^(.+\.php)(/.*)$`, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ uri, script, info string }{
		{"/a.php/x", "/a.php", "/x"},
		{"/\xc3\xa9\xff.php/\xe2\x84\xaa\x80", "/\xc3\xa9\xff.php", "/\xe2\x84\xaa\x80"},
		{"/a\xc3\xa9.php/x\n", "/a\xc3\xa9.php", "/x"},
	} {
		b := []byte(c.uri)
		m := FindSubmatchIndexPCRE(re, b)
		if m == nil || string(b[m[2]:m[3]]) != c.script || string(b[m[4]:m[5]]) != c.info {
			t.Errorf("%q: %v, want %q and %q", c.uri, m, c.script, c.info)
		}
	}
}

// A negative lookahead outside groups, followed by ".*" or ".*$", is
// rewritten for RE2 and matches what PCRE matches (the expectations are
// PCRE's: Python's re, which agrees with it on these, gave them); others
// are still refused.
func TestNegativeLookahead(t *testing.T) {
	subjects := []string{"/.env", "/.well-known/acme", "/.well-knowx", "/a/.well-known", "/.", "/x", "/.w", "/.\nfoo",
		"/api", "/api/v1/x", "/api/v", "/apix", "/api\n", "/api\nx", "/api/v2\n", "/.htaccess", "/.hx", "/.h"}
	for _, tc := range []struct {
		expr string
		want string // one letter per subject: y matches, n does not
	}{
		{`/\.(?!well-known).*`, "ynyny" + "nyy" + "nnnnnnn" + "yyy"},
		{`^/api(?!/v[0-9]).*$`, "nnnnn" + "nnn" + "ynyyynn" + "nnn"},
		{`/\.(?!ht).*`, "yyyyy" + "nyy" + "nnnnnnn" + "nyy"},
	} {
		re, err := compilePCRE(tc.expr, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		for i, s := range subjects {
			if got, want := MatchPCRE(re, []byte(s)), tc.want[i] == 'y'; got != want {
				t.Errorf("%s on %q: %v, want %v", tc.expr, s, got, want)
			}
		}
	}
	for _, expr := range []string{`^/(a(?!b).*)$`, `/x(?!y)z`, `/x(?!y+).*`, `/x(?!(y)).*`} {
		if _, err := compilePCRE(expr, false); err == nil {
			t.Errorf("%s compiled: the lookahead cannot be rewritten exactly, it must be refused", expr)
		}
	}
}
