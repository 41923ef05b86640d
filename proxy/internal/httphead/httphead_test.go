package httphead

import "testing"

func TestNameIs(t *testing.T) {
	for _, c := range []struct {
		b, s string
		want bool
	}{
		{"Content-Length", "Content-Length", true},
		{"content-length", "Content-Length", true},
		{"CONTENT-LENGTH", "content-length", true},
		{"Content-Lengt", "Content-Length", false},
		{"Content-Lengthx", "Content-Length", false},
		{"Content_Length", "Content-Length", false},
		{"[", "{", false}, // 0x5B and 0x7B differ by 0x20 but are not letters
		{"@", "`", false},
		{"\u212aeep-Alive", "Keep-Alive", false}, // the Kelvin sign folds to K in Unicode, not in nginx
		{"", "", true},
	} {
		if got := NameIs([]byte(c.b), c.s); got != c.want {
			t.Errorf("NameIs(%q, %q) = %v, want %v", c.b, c.s, got, c.want)
		}
	}
}
