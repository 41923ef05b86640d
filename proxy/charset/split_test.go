package charset

import "testing"

// Split reads a Content-Type as ngx_http_upstream_copy_content_type.
func TestSplit(t *testing.T) {
	for ct, want := range map[string][2]string{
		"text/html":                           {"text/html", "-"},
		"text/html; charset=utf-8":            {"text/html", "utf-8"},
		`text/html; charset="utf-8"`:          {"text/html", "utf-8"},
		"text/html;charset=KOI8-R":            {"text/html", "KOI8-R"},
		"text/html; CHARSET=x":                {"text/html", "x"},
		"text/html; foo=bar; charset=x":       {"text/html; foo=bar", "x"},
		"text/html; charset=x; foo=bar":       {"text/html", "x; foo=bar"},
		"text/html; foo=bar":                  {"text/html; foo=bar", "-"},
		"text/html;   ":                       {"text/html;   ", "-"},
		"multipart/byteranges; boundary=0001": {"multipart/byteranges; boundary=0001", "-"},
	} {
		typ, cs := Split([]byte(ct))
		got := [2]string{string(typ), string(cs)}
		if cs == nil {
			got[1] = "-"
		}
		if got != want {
			t.Errorf("Split(%q) = %q, want %q", ct, got, want)
		}
	}
}
