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

func TestNameSet(t *testing.T) {
	s := NewNameSet("Connection", "Keep-Alive", "TE", "X-Accel-Limit-Rate")
	for name, want := range map[string]bool{
		"connection": true, "KEEP-ALIVE": true, "te": true, "x-accel-limit-rate": true,
		"Connections": false, "T": false, "": false, "Keep_Alive": false,
		"A-Name-Longer-Than-Every-Member": false,
	} {
		if got := s.Has([]byte(name)); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	if (NameSet{}).Has([]byte("x")) {
		t.Error("the empty set has a member")
	}
}

// TestNameSetLikeNameIs holds Has, which skips a length's members when
// none starts with the name's first letter, to NameIs over every member:
// every name of up to three bytes from an alphabet of letters in both
// cases, bytes 32 apart from them ('@', '`', '{', '[', '0' and 'P') and
// '-', against sets of such names (one given twice).
func TestNameSetLikeNameIs(t *testing.T) {
	members := []string{"", "a", "@", "P-", "ab", "A-", "{p", "0a", "a-b", "Pa0", "`-@", "a-b"}
	s := NewNameSet(members...)
	const alphabet = "aAbB@`{[0pP-"
	var names []string
	var grow func(prefix string)
	grow = func(prefix string) {
		names = append(names, prefix)
		if len(prefix) < 3 {
			for i := range len(alphabet) {
				grow(prefix + alphabet[i:i+1])
			}
		}
	}
	grow("")
	for _, name := range names {
		want := false
		for _, m := range members {
			want = want || NameIs([]byte(name), m)
		}
		if got := s.Has([]byte(name)); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
}
