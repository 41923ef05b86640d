package config

import (
	"strings"
	"testing"
)

func TestParseNextUpstream(t *testing.T) {
	tests := []struct {
		in   string
		want NextUpstream
		err  string
	}{
		{"error timeout", NextError | NextTimeout, ""},
		{"error timeout invalid_header http_500 http_502 http_503 http_504 http_403 http_404 http_429 non_idempotent",
			NextError | NextTimeout | NextInvalidHeader | NextHTTP500 | NextHTTP502 | NextHTTP503 | NextHTTP504 |
				NextHTTP403 | NextHTTP404 | NextHTTP429 | NextNonIdempotent, ""},
		{"http_502", NextHTTP502, ""},
		{"error error", NextError, ""}, // nginx only warns about duplicates
		{"off", NextOff, ""},
		{"off error", NextOff, ""}, // nginx -t accepts it; off wins
		{"error off", NextOff, ""},
		{"error bogus", 0, `invalid value "bogus"`},
		{"Error", 0, `invalid value "Error"`},
		{"", 0, "invalid number of arguments"},
	}
	for _, tt := range tests {
		got, err := ParseNextUpstream(strings.Fields(tt.in))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseNextUpstream(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseNextUpstream(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	// The error is nginx's exact text.
	if _, err := ParseNextUpstream([]string{"error", "bogus"}); err == nil || err.Error() != `invalid value "bogus"` {
		t.Errorf(`error = %v, want invalid value "bogus"`, err)
	}
}

func TestNextUpstreamHasString(t *testing.T) {
	n := NextError | NextTimeout | NextHTTP502
	if !n.Has(NextError) || !n.Has(NextError|NextHTTP502) || n.Has(NextHTTP504) || n.Has(NextError|NextHTTP504) {
		t.Errorf("Has is wrong for %v", n)
	}
	if got := n.String(); got != "error timeout http_502" {
		t.Errorf("String() = %q", got)
	}
	if got := NextOff.String(); got != "off" {
		t.Errorf("NextOff.String() = %q", got)
	}
	if got := NextUpstream(0).String(); got != "" {
		t.Errorf("0.String() = %q", got)
	}
	// Every flag round-trips through its word.
	for f := NextError; f <= NextOff; f <<= 1 {
		got, err := ParseNextUpstream([]string{f.String()})
		if err != nil || got != f {
			t.Errorf("round trip of %v: %v, %v", f, got, err)
		}
	}
}

func TestLevel(t *testing.T) {
	names := []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}
	for i, name := range names {
		l, err := ParseLevel(name)
		if err != nil || l != Level(i) || l.String() != name {
			t.Errorf("ParseLevel(%q) = %v (%d), %v", name, l, l, err)
		}
	}
	if l, err := ParseLevel("WARN"); err != nil || l != LevelWarn {
		t.Errorf("ParseLevel(WARN) = %v, %v", l, err)
	}
	if _, err := ParseLevel("warning"); err == nil || !strings.Contains(err.Error(), `invalid log level "warning"`) {
		t.Errorf("ParseLevel(warning) error = %v", err)
	}
	if LevelDebug >= LevelInfo || LevelError >= LevelEmerg {
		t.Error("levels are not ordered")
	}
	if got := Level(42).String(); got != "Level(42)" {
		t.Errorf("Level(42).String() = %q", got)
	}
}
