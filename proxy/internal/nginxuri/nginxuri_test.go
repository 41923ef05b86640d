package nginxuri

import (
	"fmt"
	"strings"
	"testing"
)

// The expected values were measured on nginx 1.22.1 (`return 200
// "uri=[$uri] args=[$args]"`, merge_slashes on and off); a random
// cross-check of 8,000 targets built from "/", ".", "..", "%2e", "%2f",
// "%00", "%3f", "%23", "%25", "#", "?", control and 8-bit bytes found no
// difference.
func TestParseLikeNginx(t *testing.T) {
	const invalid = "400"
	tests := []struct {
		target string
		merge  bool
		uri    string // or invalid
		args   string
		quoted bool
	}{
		{"/", true, "/", "", false},
		{"/a/b?x=1", true, "/a/b", "x=1", false},
		{"/a?b?c", true, "/a", "b?c", false},
		{"/a.b/c.", true, "/a.b/c.", "", false},
		{"//admin/x", true, "/admin/x", "", false},
		{"/a//b", true, "/a/b", "", false},
		{"/a//b", false, "/a//b", "", false},
		{"//", true, "/", "", false},
		{"//", false, "//", "", false},
		{"/a//b/../c", false, "/a//c", "", false},
		{"/a/%2F%2Fb", true, "/a/b", "", true},
		{"/a/%2F%2Fb", false, "/a///b", "", true},
		{"/public/../admin/x/y?q=1", true, "/admin/x/y", "q=1", false},
		{"/adm%69n/x", true, "/admin/x", "", true},
		{"/a/./b", true, "/a/b", "", false},
		{"/a/b/.", true, "/a/b/", "", false},
		{"/a/b/..?x", true, "/a/", "x", false},
		{"/x/..", true, "/", "", false},
		{"/a/b/...", true, "/a/b/...", "", false},
		{"/a/..b", true, "/a/..b", "", false},
		{"/a/%2e%2e/b", true, "/b", "", true},
		{"/%7E/a%20b", true, "/~/a b", "", true},
		{"/u/a%25b", true, "/u/a%b", "", true},
		{"/u/a%23b", true, "/u/a#b", "", true},
		{"/u/a%3fb", true, "/u/a?b", "", true},
		{"/a%3f?x", true, "/a?", "x", true},
		{"/u/x#frag?q", true, "/u/x", "", false},
		{"/u/x?a#b", true, "/u/x", "a", false},
		{"/a?%zz", true, "/a", "%zz", false},
		{"/a+b%2Bc", true, "/a+b+c", "", true},
		{"/a%0d%0aX:%20y", true, "/a\r\nX: y", "", true},
		{"/..", true, invalid, "", false},
		{"/../admin/x", true, invalid, "", false},
		{"/public/../../../etc/passwd", true, invalid, "", false},
		{"/%2e%2e", true, invalid, "", false},
		{"/a/%2e%2e/%2e%2e", true, invalid, "", false},
		{"/a/.%2e/../", true, invalid, "", false},
		{"/a%00b", true, invalid, "", false},
		{"/uploads/x.jpg%00.php", true, invalid, "", false},
		{"/a/%", true, invalid, "", false},
		{"/a/%4", true, invalid, "", false},
		{"/a/%zz?x", true, invalid, "", false},
		{"/a/\x01b", true, invalid, "", false},
		{"/a?\x7f", true, invalid, "", false},
		{"*", true, invalid, "", false},
		{"", true, invalid, "", false},
	}
	for _, tt := range tests {
		u, err := Parse(nil, []byte(tt.target), tt.merge)
		if tt.uri == invalid {
			if err != ErrInvalid {
				t.Errorf("Parse(%q, merge %v) = %q, %v; want ErrInvalid (nginx's 400)", tt.target, tt.merge, u.Path, err)
			}
			continue
		}
		if err != nil || string(u.Path) != tt.uri || string(u.Args) != tt.args || u.Quoted != tt.quoted {
			t.Errorf("Parse(%q, merge %v) = uri %q args %q quoted %v, %v; want %q %q %v",
				tt.target, tt.merge, u.Path, u.Args, u.Quoted, err, tt.uri, tt.args, tt.quoted)
		}
	}
}

// TestParseReusesDst checks the path is written into dst's storage.
func TestParseReusesDst(t *testing.T) {
	dst := make([]byte, 0, 64)
	u, err := Parse(dst, []byte("/a/../b"), true)
	if err != nil || string(u.Path) != "/b" || &u.Path[:1][0] != &dst[:1][0] {
		t.Fatalf("Parse into dst = %q, %v (same storage: %v)", u.Path, err, err == nil && &u.Path[:1][0] == &dst[:1][0])
	}
}

// The bytes nginx 1.22.1 escapes when proxy_pass (with a URI part)
// rewrites a $uri that had a %-escape: /admin/a%XX for XX = 01..ff.
func TestAppendEscapedLikeNginx(t *testing.T) {
	var want strings.Builder
	for c := 1; c < 0x20; c++ {
		fmt.Fprintf(&want, "%02x ", c)
	}
	want.WriteString("20 22 23 25 3c 3e 3f 5c 5e 60 7b 7c 7d 7f ")
	for c := 0x80; c < 0x100; c++ {
		fmt.Fprintf(&want, "%02x ", c)
	}
	var got strings.Builder
	for c := 1; c < 0x100; c++ {
		e := AppendEscaped(nil, []byte{byte(c)})
		switch {
		case len(e) == 3 && e[0] == '%' && string(e[1:]) == fmt.Sprintf("%02X", c):
			fmt.Fprintf(&got, "%02x ", c)
		case len(e) != 1:
			t.Errorf("AppendEscaped(%#x) = %q", c, e)
		}
	}
	if got.String() != want.String() {
		t.Errorf("escaped bytes:\n got %s\nwant %s", got.String(), want.String())
	}
}

// The cost per request: a plain path takes the quick scan, a complex one
// the state machine; neither allocates once dst has room.
func BenchmarkParse(b *testing.B) {
	for _, target := range []string{"/api/v1/users/42?expand=1", "//static/./css/../img/%7Elogo.png?v=3"} {
		b.Run(target, func(b *testing.B) {
			dst := make([]byte, 0, 128)
			t := []byte(target)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(dst, t, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
