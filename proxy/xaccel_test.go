package proxy

import "testing"

// TestUnsafeURI: nginx's ngx_http_parse_unsafe_uri on X-Accel-Redirect
// targets (proxy_xar.t's and more): the query split off, the path decoded,
// ".." segments and NULs refused before and after decoding.
func TestUnsafeURI(t *testing.T) {
	for _, c := range []struct {
		in, uri, args string
		ok            bool
	}{
		{"/index.html", "/index.html", "", true},
		{"/foo?bar", "/foo", "bar", true},
		{"/foo%20bar?a=%20", "/foo bar", "a=%20", true},
		{"/a..b/c..", "/a..b/c..", "", true},
		{"/%zz", "/%zz", "", true},
		{"..", "..", "", false},
		{"../foo", "../foo", "", false},
		{"/foo/..", "/foo/..", "", false},
		{"/foo/../bar", "/foo/../bar", "", false},
		{"/foo/.%2e", "/foo/..", "", false},
		{"/foo/%2e%2E/x", "/foo/../x", "", false},
		{"/a%00b", "/a\x00b", "", false},
		{"?x", "?x", "", false},
		{"", "", "", false},
	} {
		uri, args, ok := unsafeURI([]byte(c.in))
		if ok != c.ok || string(uri) != c.uri || ok && string(args) != c.args {
			t.Errorf("unsafeURI(%q) = %q, %q, %v; want %q, %q, %v", c.in, uri, args, ok, c.uri, c.args, c.ok)
		}
	}
}
