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
