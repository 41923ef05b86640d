package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzCheckTarget holds checkTarget, which checks an origin-form target
// without fasthttp's parse, to the parse itself (URI.Parse with the
// stand-in host, as the connection loop called it before): the same
// verdict for every target. A fasthttp upgrade that refuses an
// origin-form target for more than a control byte fails here.
func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{
		"/", "/size/1024", "/a?b=c#d", "/a b", "/a\x00", "/\x7f", "/\x1f/x", "/é",
		"//a/b", "//a\x00", "http://h/a", "http://h\x01/", "h:80", "*", "", "a", "/%zz/../..",
		"/aaaaaaa\x7f", "/aaaaaaaaaaaaaaa\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, target []byte) {
		var fast, parse fasthttp.URI
		got := checkTarget(&fast, target)
		want := parse.Parse(standInHost, target)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("%q: checkTarget %v, URI.Parse %v", target, got, want)
		}
	})
}
