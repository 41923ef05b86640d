package proxy

import "testing"

func TestChunkedBroken(t *testing.T) {
	cases := []struct {
		in     string
		broken bool
	}{
		{"", false},
		{"3", false},
		{"3\r\nabc\r\n", false},
		{"3\r\nabc\r\n0\r\n\r\n", false},
		{"3;ext=1\r\nabc\r\n", false},
		{"3 \r\nabc\n", false},
		{"3\nabc\n0\n\n", false},
		{"3\r\nab", false},
		{"3\r\nabc", false},
		{"3\r\nabc\r", false},
		{"3\r\nabc\r\nzz\r\n", true},
		{"zz\r\n", true},
		{"3x\r\nabc\r\n", true},
		{"3\r\nabcd\r\n", true},
		{"3\r\nabc\rx", true},
		{"ffffffffffffffff0\r\n", true},
	}
	for _, c := range cases {
		if got := chunkedBroken([]byte(c.in)); got != c.broken {
			t.Errorf("chunkedBroken(%q) = %v, want %v", c.in, got, c.broken)
		}
	}
}
