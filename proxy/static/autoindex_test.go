package static

import "testing"

// The listing's pieces, against nginx 1.22's output (measured).
func TestAutoindexPieces(t *testing.T) {
	for n, want := range map[int64]string{0: "      0", 9999: "   9999", 10000: "    10K", 10240: "    10K", 123456: "   121K",
		1<<20 - 1: "  1024K", 3000000: "     3M", 1<<30 + 1<<29: "     2G"} {
		if got := scaledSize(n); got != want {
			t.Errorf("scaledSize(%d) = %q, want %q", n, got, want)
		}
	}
	if got := escapeJSON("a\"b\\c\td\x01é"); got != `a\"b\\c\td\u0001é` {
		t.Errorf("escapeJSON: %s", got)
	}
	if got := string(autoindexJSON(nil)); got != "[]" {
		t.Errorf("empty JSON listing %q, want []", got)
	}
	if got := string(autoindexXML([]entry{{name: `a<&>"'`, file: true, size: 3, mtime: 1767323045}})); got !=
		"<?xml version=\"1.0\"?>\r\n<list>\r\n<file mtime=\"2026-01-02T03:04:05Z\" size=\"3\">a&lt;&amp;&gt;&quot;'</file>\r\n</list>\r\n" {
		t.Errorf("XML listing %q", got)
	}
	for args, want := range map[string][2]string{
		"callback=f.x_1":               {"f.x_1", ""},
		"a=1&CallBack=g":               {"g", ""},
		"xcallback=g":                  {"", ""},
		"callback=":                    {"", ""},
		"callback=a-b":                 {"", `client sent invalid callback name: "a-b"`},
		"callback=a%2Eb":               {"", `client sent invalid callback name: "a%2Eb"`},
		"callback=" + long(129):        {"", `client sent too long callback name: "` + long(129) + `"`},
		"callback=" + long(128) + "&x": {long(128), ""},
	} {
		cb, problem := JSONPCallback(args)
		if cb != want[0] || problem != want[1] {
			t.Errorf("JSONPCallback(%q) = %q, %q; want %q, %q", args, cb, problem, want[0], want[1])
		}
	}
	if got := string(JSONP("cb", []byte("[]"))); got != "/* callback */\r\ncb([]);" {
		t.Errorf("JSONP: %q", got)
	}
}

func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}
