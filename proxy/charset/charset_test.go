package charset

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// set is B>A (X>Y, Z>[) and koi8-r>utf-8 (three letters), as nginx's tests
// and its koi-utf file write them.
func set(t *testing.T) *Set {
	t.Helper()
	s := NewSet()
	for _, d := range []MapDef{
		{Src: "B", Dst: "A", Entries: [][2]string{{"58", "59"}, {"5a", "5B"}}},
		{Src: "koi8-r", Dst: "utf-8", Entries: [][2]string{{"C1", "D0B0"}, {"C2", "D0B1"}, {"A4", "E28496"}}},
	} {
		if err := s.AddMap(d); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Recoding both ways through a map, byte for byte or to and from UTF-8,
// with nginx's rules for what a map lacks: '?' for a byte, "&#N;" for a
// character, '?' for invalid UTF-8 (taking the bad byte that ended it,
// as ngx_utf8_decode), and a sequence the body ends inside dropped.
func TestRecode(t *testing.T) {
	s := set(t)
	for _, c := range []struct {
		src, dst   string
		in, want   string
		changesLen bool
	}{
		{"B", "A", "XxZ\x80\xff", "Yx[??", false},
		{"a", "b", "YX[\x80", "XXZ?", false},
		{"KOI8-R", "UTF-8", "a\xc1\xc2\xa4\xc3", "a\u0430\u0431\u2116?", true},
		{"utf-8", "koi8-r", "a\u0430\u0431\u2116", "a\xc1\xc2\xa4", true},
		{"utf-8", "koi8-r", "\u0432\U0001F600", "&#1074;&#128512;", true},
		{"utf-8", "koi8-r", "\xc0\x80a\xd0Ab\xff", "??a?b", true}, // 0xff opens a 4-byte sequence, never ended
		{"utf-8", "koi8-r", "ok\xe2\x84", "ok", true},
	} {
		rc := s.Recoder(s.Index(c.src), s.Index(c.dst))
		if rc == nil {
			t.Fatalf("%s > %s: no recoder", c.src, c.dst)
		}
		if rc.ChangesLength() != c.changesLen {
			t.Errorf("%s > %s: ChangesLength %v", c.src, c.dst, rc.ChangesLength())
		}
		if got := string(rc.Bytes([]byte(c.in))); got != c.want {
			t.Errorf("%s > %s: Bytes(%q) = %q, want %q", c.src, c.dst, c.in, got, c.want)
		}
		// Read a byte at a time: a sequence split between reads is
		// recoded as one, as nginx's saved bytes.
		got, err := io.ReadAll(rc.Reader(iotest.OneByteReader(strings.NewReader(c.in))))
		if err != nil || string(got) != c.want {
			t.Errorf("%s > %s: Reader(%q) = %q, %v, want %q", c.src, c.dst, c.in, got, err, c.want)
		}
	}
	if rc := s.Recoder(s.Index("A"), s.Index("utf-8")); rc != nil {
		t.Errorf("A > utf-8 has a recoder without a map")
	}
	if s.Name(s.Index("KOI8-r")) != "koi8-r" {
		t.Errorf("a charset keeps its first spelling: %q", s.Name(s.Index("KOI8-r")))
	}
}

// A long body recodes the same whatever the read sizes.
func TestRecodeLong(t *testing.T) {
	s := set(t)
	in := bytes.Repeat([]byte("a\u0430\u0431\u2116\u0432xyz"), 5000)
	rc := s.Recoder(s.Index("utf-8"), s.Index("koi8-r"))
	want := bytes.Repeat([]byte("a\xc1\xc2\xa4&#1074;xyz"), 5000)
	got, err := io.ReadAll(rc.Reader(iotest.HalfReader(bytes.NewReader(in))))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, %v; want %d", len(got), err, len(want))
	}
}

// The head's decision, case by case, as ngx_http_charset_header_filter.
func TestHeader(t *testing.T) {
	s := set(t)
	s.Add("utf-8")
	conf := func(cs, src string, override bool, types ...string) *Conf {
		if types == nil {
			types = DefaultTypes
		}
		return &Conf{Charset: cs, Source: src, Override: override, Types: types, Set: s}
	}
	for _, c := range []struct {
		name     string
		c        *Conf
		status   int
		ct, xacc string
		encoded  bool
		wantCT   string // "-": left as it is
		recode   bool
		err      string
	}{
		{"named", conf("utf-8", "", false), 200, "text/html", "", false, "text/html; charset=utf-8", false, ""},
		{"type not listed", conf("utf-8", "", false), 200, "image/png", "", false, "-", false, ""},
		{"any type", conf("utf-8", "", false, "*"), 200, "image/png", "", false, "image/png; charset=utf-8", false, ""},
		{"301 names none", conf("utf-8", "", false), 301, "text/html", "", false, "-", false, ""},
		{"off", conf("", "", false), 200, "text/html", "", false, "-", false, ""},
		{"own charset kept", conf("utf-8", "", false), 200, "text/html; charset=koi8-r", "", false, "-", false, ""},
		{"recode", conf("A", "B", false), 200, "text/html", "", false, "text/html; charset=A", true, ""},
		{"recode, config spelling", conf("a", "b", false), 200, "text/html", "", false, "text/html; charset=A", true, ""},
		{"same charset", conf("A", "a", false), 200, "text/html", "", false, "text/html; charset=A", false, ""},
		{"encoded: nothing", conf("A", "B", false), 200, "text/html", "", true, "-", false, ""},
		{"encoded, same: named", conf("utf-8", "", false), 200, "text/html", "", true, "text/html; charset=utf-8", false, ""},
		{"override recodes", conf("A", "", true), 200, "text/html; charset=B", "", false, "text/html; charset=A", true, ""},
		{"override, same", conf("A", "", true), 200, "text/html; charset=a", "", false, "text/html; charset=A", false, ""},
		{"override, no map", conf("A", "", true), 200, "text/html; charset=koi8-r", "", false, "-", false, `no "charset_map" between the charsets "koi8-r" and "A"`},
		{"override, unknown", conf("A", "", true), 200, "text/html; charset=x", "", false, "-", false, `no "charset_map" between the charsets "x" and "A"`},
		{"X-Accel-Charset", conf("", "", false), 200, "text/html; charset=B", "A", false, "text/html; charset=A", true, ""},
		{"X-Accel-Charset unknown", conf("A", "", false), 200, "text/html", "Q", false, "-", false, `unknown charset "Q" to override`},
		{"X-Accel-Charset, no source", conf("", "", false), 200, "text/plain", "a", false, "text/plain; charset=A", false, ""},
		{"to utf-8", conf("utf-8", "koi8-r", false), 200, "text/plain", "", false, "text/plain; charset=utf-8", true, ""},
		{"no type", conf("utf-8", "", false), 200, "", "", false, "-", false, ""},
		{"variable, as it is", conf("$utf-8", "", false), 200, "text/html", "", false, "text/html; charset=UTF-8", false, ""},
		{"variable, unknown", conf("$x", "", false), 200, "text/html", "", false, "text/html; charset=X", false, ""},
		{"variable, empty", conf("$", "", false), 200, "text/html", "", false, "-", false, ""},
		{"variable, not found", conf("$none", "", false), 200, "text/html", "", false, "-", false, ""},
		{"source variable", conf("A", "$b", false), 200, "text/html", "", false, "text/html; charset=A", true, ""},
		{"source variable, no map", conf("A", "$koi8-u", false), 200, "text/html", "", false, "-", false, `no "charset_map" between the charsets "KOI8-U" and "A"`},
	} {
		r := c.c.Header(c.status, []byte(c.ct), []byte(c.xacc), c.encoded, func(n string) (string, bool) { return strings.ToUpper(n[1:]), n != "$none" })
		ct := string(r.ContentType)
		if r.ContentType == nil || ct == c.ct {
			ct = "-"
		}
		if ct != c.wantCT || (r.Recode != nil) != c.recode || r.Error != c.err {
			t.Errorf("%s: %q recode %v error %q; want %q %v %q", c.name, ct, r.Recode != nil, r.Error, c.wantCT, c.recode, c.err)
		}
	}
}

// charset_map's refusals, with nginx's messages.
func TestAddMapErrors(t *testing.T) {
	for _, c := range []struct {
		d     MapDef
		want  string
		entry int
	}{
		{MapDef{Src: "A", Dst: "a"}, `"charset_map" between the same charsets "A" and "a"`, -1},
		{MapDef{Src: "a", Dst: "b"}, `duplicate "charset_map" between "a" and "b"`, -1},
		{MapDef{Src: "x", Dst: "y", Entries: [][2]string{{"41", "42"}, {"1FF", "00"}}}, `invalid value "1FF"`, 1},
		{MapDef{Src: "x", Dst: "utf-8", Entries: [][2]string{{"80", "D0B"}}}, `invalid value "D0B"`, 0},
		{MapDef{Src: "x", Dst: "utf-8", Entries: [][2]string{{"80", "F09F9880"}}}, `invalid value "F09F9880"`, 0},
		{MapDef{Src: "utf-8", Dst: "x"}, `"charset_map" from "utf-8" is not supported`, -1},
	} {
		s := NewSet()
		_ = s.AddMap(MapDef{Src: "B", Dst: "A"})
		err := s.AddMap(c.d)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.d, err, c.want)
			continue
		}
		entry := -1
		if ee, ok := err.(*EntryError); ok {
			entry = ee.Entry
		}
		if entry != c.entry {
			t.Errorf("%+v: entry %d, want %d", c.d, entry, c.entry)
		}
	}
}

// The recoders' throughput on a 64 KiB body (go test -bench Recode
// ./proxy/charset/).
func BenchmarkRecode(b *testing.B) {
	s := NewSet()
	koi := MapDef{Src: "koi8-r", Dst: "utf-8"}
	for c := 0xC0; c < 0x100; c++ {
		r := []rune("юабцдефгхийклмнопярстужвьызшэщчъЮАБЦДЕФГХИЙКЛМНОПЯРСТУЖВЬЫЗШЭЩЧЪ")[c-0xC0]
		koi.Entries = append(koi.Entries, [2]string{strings.ToUpper(strconv.FormatInt(int64(c), 16)), strings.ToUpper(hexOf(string(r)))})
	}
	if err := s.AddMap(koi); err != nil {
		b.Fatal(err)
	}
	if err := s.AddMap(MapDef{Src: "B", Dst: "A", Entries: [][2]string{{"58", "59"}}}); err != nil {
		b.Fatal(err)
	}
	koiText := bytes.Repeat([]byte("abc \xc1\xc2\xd7 "), 64<<10/8)
	utf, _ := io.ReadAll(s.Recoder(s.Index("koi8-r"), s.Index("utf-8")).Reader(bytes.NewReader(koiText)))
	for _, c := range []struct {
		name, src, dst string
		in             []byte
	}{
		{"bytes", "B", "A", koiText},
		{"to-utf-8", "koi8-r", "utf-8", koiText},
		{"from-utf-8", "utf-8", "koi8-r", utf},
	} {
		rc := s.Recoder(s.Index(c.src), s.Index(c.dst))
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				if _, err := io.Copy(io.Discard, rc.Reader(bytes.NewReader(c.in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func hexOf(s string) string { return strconv.FormatUint(uint64(bytesToUint(s)), 16) }

func bytesToUint(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v<<8 | uint64(s[i])
	}
	return v
}
