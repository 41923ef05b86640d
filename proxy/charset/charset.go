// Package charset is nginx's charset filter (ngx_http_charset_filter_module):
// the charsets a configuration names, the byte maps charset_map defines
// between them, the decision a response head gets (Conf.Header: whether
// Content-Type names a charset, and whether the body is recoded), and the
// recoding itself (Recoder, a golang.org/x/text/transform.Transformer).
//
// nginx has no built-in charsets: a name is only a name, and a body is
// recoded only through a charset_map (nginx ships three as include files,
// koi-utf, koi-win and win-utf). Neither does this package: a charset
// golang.org/x/text knows but no charset_map links is not recoded, as in
// nginx.
package charset

import (
	"fmt"
	"strconv"
	"strings"
)

// MapDef is one charset_map block as written: `charset_map Src Dst { ... }`,
// each entry "SRC DST" in hex (DST is a UTF-8 sequence when Dst is utf-8).
type MapDef struct {
	Src, Dst string
	Entries  [][2]string
}

// Set is nginx's charsets array (every charset the configuration names,
// each once, compared without case, with the spelling it was first written
// in) and the maps between them. It is built once at load and then only
// read.
type Set struct {
	names  []string
	maps   []*table
	recode map[[2]int]*Recoder // [src, dst] -> its recoder, both directions of every map
}

// table is one charset_map: src2dst and its reverse. For a map to utf-8,
// toUTF8 and fromUTF8 are used; otherwise bytes and back.
type table struct {
	src, dst int
	bytes    [256]byte
	back     [256]byte
	toUTF8   [256]utf8Seq
	fromUTF8 *utf8Table
}

// utf8Seq is a byte's UTF-8 sequence: its length, then up to three bytes
// (nginx's NGX_UTF_LEN entries).
type utf8Seq [4]byte

// utf8Table is a map from UTF-8 back to its charset: a character of the
// Basic Multilingual Plane to its byte, by its high and low byte (nginx's
// two-level dst2src); 0 where the map has none.
type utf8Table [256]*[256]byte

func (t *utf8Table) set(n uint32, b byte) {
	if t[n>>8] == nil {
		t[n>>8] = new([256]byte)
	}
	t[n>>8][n&0xff] = b
}

func (t *utf8Table) get(n uint32) byte {
	if n > 0xffff || t[n>>8] == nil {
		return 0
	}
	return t[n>>8][n&0xff]
}

// NewSet is an empty set.
func NewSet() *Set {
	return &Set{recode: map[[2]int]*Recoder{}}
}

// Add is ngx_http_add_charset: the index of name, added when new.
func (s *Set) Add(name string) int {
	if i := s.Index(name); i >= 0 {
		return i
	}
	s.names = append(s.names, name)
	return len(s.names) - 1
}

// Index is ngx_http_get_charset: the index of name (without case), -1 when
// the configuration never names it.
func (s *Set) Index(name string) int {
	if s == nil {
		return -1
	}
	for i, n := range s.names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// Name is the charset's spelling as first written.
func (s *Set) Name(i int) string { return s.names[i] }

// Len is how many charsets the set has.
func (s *Set) Len() int { return len(s.names) }

// IsUTF8 is nginx's charset->utf8: the name is "utf-8", without case.
func IsUTF8(name string) bool { return strings.EqualFold(name, "utf-8") }

// EntryError is an invalid charset_map entry: Entry is its index in
// MapDef.Entries, Msg nginx's message.
type EntryError struct {
	Entry int
	Msg   string
}

func (e *EntryError) Error() string { return e.Msg }

// AddMap is ngx_http_charset_map_block and ngx_http_charset_map: d's two
// charsets are added and the map built, with nginx's messages for what it
// refuses (a map between the same charsets, a second map between two, an
// invalid value). A map from utf-8 is refused too: nginx builds it but
// would read its table wrongly.
func (s *Set) AddMap(d MapDef) error {
	src, dst := s.Add(d.Src), s.Add(d.Dst)
	if src == dst {
		return fmt.Errorf(`"charset_map" between the same charsets "%s" and "%s"`, d.Src, d.Dst)
	}
	for _, t := range s.maps {
		if t.src == src && t.dst == dst || t.src == dst && t.dst == src {
			return fmt.Errorf(`duplicate "charset_map" between "%s" and "%s"`, d.Src, d.Dst)
		}
	}
	if IsUTF8(d.Src) {
		return fmt.Errorf(`"charset_map" from "%s" is not supported: write it from the other charset to "%s"`, d.Src, d.Src)
	}
	t := &table{src: src, dst: dst}
	toUTF8 := IsUTF8(d.Dst)
	for i := range 256 {
		if i < 128 {
			t.bytes[i], t.back[i] = byte(i), byte(i)
			t.toUTF8[i] = utf8Seq{1, byte(i)}
			continue
		}
		t.bytes[i], t.back[i] = '?', '?'
		t.toUTF8[i] = utf8Seq{1, '?'}
	}
	if toUTF8 {
		t.fromUTF8 = new(utf8Table)
	}
	for j, e := range d.Entries {
		if err := t.entry(e[0], e[1], toUTF8); err != nil {
			return &EntryError{Entry: j, Msg: err.Error()}
		}
	}
	s.maps = append(s.maps, t)
	if toUTF8 {
		s.recode[[2]int{src, dst}] = &Recoder{toUTF8: &t.toUTF8, grows: true}
		s.recode[[2]int{dst, src}] = &Recoder{fromUTF8: t.fromUTF8, grows: true}
	} else {
		s.recode[[2]int{src, dst}] = &Recoder{bytes: &t.bytes}
		s.recode[[2]int{dst, src}] = &Recoder{bytes: &t.back}
	}
	return nil
}

// entry is one "SRC DST" line of a charset_map.
func (t *table) entry(sv, dv string, toUTF8 bool) error {
	src, ok := hex(sv)
	if !ok || src > 255 {
		return fmt.Errorf(`invalid value "%s"`, sv)
	}
	if !toUTF8 {
		dst, ok := hex(dv)
		if !ok || dst > 255 {
			return fmt.Errorf(`invalid value "%s"`, dv)
		}
		t.bytes[src], t.back[dst] = byte(dst), byte(src)
		return nil
	}
	// A UTF-8 sequence of at most three bytes, two hex digits each: a
	// character of the Basic Multilingual Plane (nginx's NGX_UTF_LEN).
	if len(dv)/2 > 3 || len(dv) < 2 || len(dv)%2 != 0 {
		return fmt.Errorf(`invalid value "%s"`, dv)
	}
	seq := make([]byte, 0, 3)
	for i := 0; i < len(dv); i += 2 {
		b, ok := hex(dv[i : i+2])
		if !ok {
			return fmt.Errorf(`invalid value "%s"`, dv)
		}
		seq = append(seq, byte(b))
	}
	n, size := decodeUTF8(seq)
	if n > 0xffff || size != len(seq) {
		return fmt.Errorf(`invalid value "%s"`, dv)
	}
	t.toUTF8[src] = utf8Seq{byte(len(seq))}
	copy(t.toUTF8[src][1:], seq)
	t.fromUTF8.set(n, byte(src))
	return nil
}

// hex is ngx_hextoi: the whole string is hex digits.
func hex(s string) (int, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return int(v), err == nil
}

// Recoder is the body recoding from one charset to another through a
// charset_map, or nil when there is none.
func (s *Set) Recoder(src, dst int) *Recoder {
	if s == nil || src < 0 || dst < 0 {
		return nil
	}
	return s.recode[[2]int{src, dst}]
}

// Check is ngx_http_charset_postconfiguration's: a level whose
// source_charset and charset differ needs a map between them, in either
// direction.
func (s *Set) Check(src, dst string) error {
	i, j := s.Index(src), s.Index(dst)
	if i == j || s.Recoder(i, j) != nil {
		return nil
	}
	return fmt.Errorf(`no "charset_map" between the charsets "%s" and "%s"`, s.Name(i), s.Name(j))
}

// utf8Invalid and utf8Short are ngx_utf8_decode's 0xffffffff and 0xfffffffe.
const (
	utf8Invalid = 0xffffffff
	utf8Short   = 0xfffffffe
)

// decodeUTF8 is ngx_utf8_decode: the character at the start of p and the
// bytes it took. An invalid sequence is utf8Invalid (a bad continuation
// byte is taken with it, as nginx does); one p ends inside is utf8Short.
// It is nginx's decoder, not utf8.DecodeRune: their ideas of which bytes
// an invalid sequence takes differ.
func decodeUTF8(p []byte) (uint32, int) {
	u := uint32(p[0])
	var valid uint32
	var n int
	switch {
	case u >= 0xf0:
		u, valid, n = u&0x07, 0xffff, 3
	case u >= 0xe0:
		u, valid, n = u&0x0f, 0x7ff, 2
	case u >= 0xc2:
		u, valid, n = u&0x1f, 0x7f, 1
	default:
		return utf8Invalid, 1
	}
	if len(p)-1 < n {
		return utf8Short, 0
	}
	i := 1
	for ; n > 0; n-- {
		c := uint32(p[i])
		i++
		if c < 0x80 {
			return utf8Invalid, i
		}
		u = u<<6 | c&0x3f
	}
	if u > valid {
		return u, i
	}
	return utf8Invalid, i
}
