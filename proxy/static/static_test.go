package static

import (
	"reflect"
	"testing"
	"time"
)

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		h      string
		spans  []Span
		status int
	}{
		{"", nil, 0},
		{"items=1-2", nil, 0},
		{"bytes=1-3", []Span{{1, 4}}, 206},
		{"BYTES=1-3", []Span{{1, 4}}, 206},
		{"bytes=5-", []Span{{5, 9}}, 206},
		{"bytes=-2", []Span{{7, 9}}, 206},
		{"bytes=-20", []Span{{0, 9}}, 206},
		{"bytes=2-100", []Span{{2, 9}}, 206},
		{"bytes=0-1, 3-4", []Span{{0, 2}, {3, 5}}, 206},
		{"bytes=0-8,0-8", nil, 0}, // more than the file: the whole of it
		{"bytes=9-", nil, 416},
		{"bytes=5-2", nil, 416},
		{"bytes=-0", nil, 416},
		{"bytes=x-2", nil, 416},
		{"bytes=1-2,x", nil, 416},
		{"bytes=20-30,1-1", []Span{{1, 2}}, 206},
	} {
		spans, status := Ranges(c.h, 9, -1)
		if status != c.status || !reflect.DeepEqual(spans, c.spans) {
			t.Errorf("%q: %v %d, want %v %d", c.h, spans, status, c.spans, c.status)
		}
	}
}

// TestRangesMax: max_ranges (and proxy_force_ranges' one range): a range
// past the limit is the whole body, as far as nginx has parsed.
func TestRangesMax(t *testing.T) {
	for _, c := range []struct {
		h      string
		max    int
		spans  []Span
		status int
	}{
		{"bytes=0-1", 1, []Span{{0, 2}}, 206},
		{"bytes=0-1,3-4", 1, nil, 0},
		{"bytes=0-1,3-4", 2, []Span{{0, 2}, {3, 5}}, 206},
		{"bytes=0-1,3-4,x", 1, nil, 0}, // declined before the bad range
		{"bytes=0-1,x", 1, nil, 416},
		{"bytes=20-30,1-1", 1, []Span{{1, 2}}, 206}, // unsatisfiable ones do not count
	} {
		spans, status := Ranges(c.h, 9, c.max)
		if status != c.status || !reflect.DeepEqual(spans, c.spans) {
			t.Errorf("%q max %d: %v %d, want %v %d", c.h, c.max, spans, status, c.spans, c.status)
		}
	}
}

func TestPrecondition(t *testing.T) {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const lm, etag = "Fri, 02 Jan 2026 03:04:05 GMT", `"695735a5-9"`
	for _, c := range []struct {
		ius, im, ims, inm string
		want              int
		mode              string // if_modified_since; "" exact
	}{
		{"", "", "", "", 0, ""},
		{"", "", lm, "", 304, ""},
		{"", "", "Sat, 03 Jan 2026 03:04:05 GMT", "", 0, ""}, // exact, as nginx's default
		{"", "", "", etag, 304, ""},
		{"", "", "", `W/` + etag, 304, ""},
		{"", "", lm, `"other"`, 0, ""},
		{"", `"other"`, "", "", 412, ""},
		{"", "*", "", "", 0, ""},
		{"", `W/` + etag, "", "", 412, ""}, // If-Match compares strongly
		{"Thu, 01 Jan 2026 00:00:00 GMT", "", "", "", 412, ""},
		{lm, "", "", "", 0, ""},
		{"", "", "Sat, 03 Jan 2026 03:04:05 GMT", "", 304, "before"},
		{"", "", "Wed, 08 Jul 2037 22:53:52 GMT", "", 304, "before"}, // not_modified.t's 0x7F000000
		{"", "", "Thu, 01 Jan 2026 03:04:05 GMT", "", 0, "before"},
		{"", "", lm, "", 304, "before"},
		{"", "", "junk", "", 0, "before"},
		{"", "", lm, "", 0, "off"},
		{"", "", lm, etag, 0, "off"}, // If-Modified-Since still tested, and never matches
	} {
		if got := Precondition(mt, etag, c.ius, c.im, c.ims, c.inm, c.mode); got != c.want {
			t.Errorf("%+v: %d, want %d", c, got, c.want)
		}
	}
}

func TestEscapeComponent(t *testing.T) {
	if got := escapeComponent("a b&c/d:e~f-g.h_ü"); got != "a%20b%26c%2Fd%3Ae~f-g.h_%C3%BC" {
		t.Errorf("got %q", got)
	}
}
