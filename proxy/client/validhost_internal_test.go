package client

import "testing"

// validHostSwitch is ValidHost as it was before its loop took letters,
// digits and '-' first: the reference FuzzValidHost holds it to.
func validHostSwitch(host []byte) bool {
	dot, end := len(host), len(host)
	const usual, literal, rest = 0, 1, 2
	state := usual
	for i, c := range host {
		switch c {
		case '.':
			if dot == i-1 {
				return false
			}
			dot = i
		case ':':
			if state == usual {
				end, state = i, rest
			}
		case '[':
			if i == 0 {
				state = literal
			}
		case ']':
			if state == literal {
				end, state = i+1, rest
			}
		default:
			if c == '/' || c <= 0x20 || c == 0x7f {
				return false
			}
		}
	}
	if dot == end-1 {
		end--
	}
	return end > 0
}

func TestValidHost(t *testing.T) {
	for host, want := range map[string]bool{
		"example.com": true, "Example.COM:8080": true, "127.0.0.1:29720": true, "a-b.c": true,
		"example.com.": true, "[::1]:80": true, "[v1.x]": true, "_a~b": true, "\x80\xff": true,
		"": false, ".": false, "a..b": false, "a/b": false, "a b": false, "a\x00": false,
		"a\x7f": false, ":80": false, ".:80": false,
	} {
		if got := ValidHost([]byte(host)); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"example.com", "127.0.0.1:29720", "[::1]:80", "a..b", "a/b", ".", "", "a.:1", "[a].", "\x7f"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, host []byte) {
		if got, want := ValidHost(host), validHostSwitch(host); got != want {
			t.Errorf("ValidHost(%q) = %v, the switch alone %v", host, got, want)
		}
	})
}
