package proxy

import (
	"slices"
	"testing"

	"github.com/valyala/fasthttp"
)

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

// relayHeaderSeeds are headers respond relays, with the trailer the answer's
// head may already announce ("" for none).
var relayHeaderSeeds = []struct{ k, v, trailer string }{
	{"Content-Type", "application/octet-stream", ""},
	{"content-type", "text/html; charset=utf-8", ""},
	{"CONTENT-TYPE", "", ""},
	{"Content-Type", "a\r\nb\nc", ""},
	{"Content-Type", "text/plain", "Content-Type"},
	{"Content-Type", "text/plain", "X-Checksum"},
	{"Content-Typf", "text/plain", ""},
	{"Content-Length", "12", ""},
	{"Content_Type", "x", ""},
	{"Content-Type ", "x", ""},
	{"X-Foo", "bar", ""},
	{"Set-Cookie", "a=b", ""},
}

// checkRelayHeader holds relayHeader to AddBytesKV: the same headers, the
// same Content-Type, on a head that already holds one or not.
func checkRelayHeader(t *testing.T, k, v, trailer string, prior bool) {
	t.Helper()
	fresh := func() *fasthttp.ResponseHeader {
		h := new(fasthttp.ResponseHeader)
		h.DisableNormalizing()
		h.SetNoDefaultContentType(true)
		if trailer != "" {
			_ = h.AddTrailer(trailer)
		}
		if prior {
			h.SetContentType("text/old")
		}
		return h
	}
	got, want := fresh(), fresh()
	relayHeader(got, []byte(k), []byte(v))
	want.AddBytesKV([]byte(k), []byte(v))
	all := func(h *fasthttp.ResponseHeader) (s []string) {
		for hk, hv := range h.All() {
			s = append(s, string(hk)+": "+string(hv))
		}
		for tk := range h.Trailers() {
			s = append(s, "trailer "+string(tk))
		}
		return s
	}
	if g, w := all(got), all(want); !slices.Equal(g, w) {
		t.Errorf("relayHeader(%q, %q), trailer %q, prior %v: %q, AddBytesKV: %q", k, v, trailer, prior, g, w)
	}
}

// TestRelayHeaderLikeAddBytesKV: respond's Content-Type shortcut gives the
// head AddBytesKV gives (relayHeader).
func TestRelayHeaderLikeAddBytesKV(t *testing.T) {
	for _, c := range relayHeaderSeeds {
		checkRelayHeader(t, c.k, c.v, c.trailer, false)
		checkRelayHeader(t, c.k, c.v, c.trailer, true)
	}
}

func FuzzRelayHeader(f *testing.F) {
	for _, c := range relayHeaderSeeds {
		f.Add(c.k, c.v, c.trailer, false)
	}
	f.Fuzz(checkRelayHeader)
}
