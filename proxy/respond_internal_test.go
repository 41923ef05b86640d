package proxy

import "testing"

// TestHidden pins the response headers never relayed: each of
// hideResponse in any case, the names the upstream's Connection header
// lists, never Upgrade; names that only resemble them pass.
func TestHidden(t *testing.T) {
	for _, h := range hideResponse {
		if !hidden([]byte(h), nil) {
			t.Errorf("%s: relayed", h)
		}
	}
	for _, c := range []struct {
		name, connection string
		want             bool
	}{
		{"content-length", "", true},
		{"X-ACCEL-EXPIRES", "", true},
		{"te", "", true},
		{"Content-Type", "", false},
		{"X-Accel-Buffering2", "", false},
		{"X-Pads", "", false},
		{"Dates", "", false},
		{"A-Very-Long-Header-Name-Past-The-Table", "", false},
		{"X-Hop", "keep-alive, x-hop", true},
		{"X-Hop", "keep-alive,  X-HOP ", true},
		{"X-Other", "keep-alive, x-hop", false},
		{"Upgrade", "Upgrade", false}, // nginx 1.22 relays it on every response
		{"upgrade", "upgrade", false},
	} {
		if got := hidden([]byte(c.name), []byte(c.connection)); got != c.want {
			t.Errorf("hidden(%q, Connection %q) = %v, want %v", c.name, c.connection, got, c.want)
		}
	}
}
