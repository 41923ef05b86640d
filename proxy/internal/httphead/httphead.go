// Package httphead holds nginx's rules for the lines of an HTTP/1.x head,
// shared by the client side (request validation) and proxy/upstream
// (response validation): how a line ends, what a status line is, and how a
// bad header line is quoted in the error log.
package httphead

import "bytes"

// CutLine splits b at its first LF: the line without its CR LF or bare LF
// (nginx takes both as a line end), and the rest.
func CutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// FieldCut is what CutField found at the front of a head's lines.
type FieldCut uint8

const (
	FieldLine FieldCut = iota // a header line: its name and value
	FieldsEnd                 // the head's empty line, or no bytes left
	FieldOdd                  // a line left to fasthttp's own walk (CutField)
)

// CutField cuts the first header line from raw, the header lines of a
// request head that fasthttp parsed (RequestHeader.RawHeaders: the empty
// line last), and splits it as fasthttp's own walk of those lines
// (RequestHeader.AllInOrder) does: name is the bytes before the line's
// first ':', value the rest without the CR of its line end and without
// the spaces and tabs around it. rest is raw after the line.
//
// FieldOdd (rest is then raw) is a line this walk does not split as
// fasthttp would, for the caller to walk the whole head with AllInOrder
// instead: one the next line is folded into (it starts with a space or a
// tab: obs-fold, which fasthttp joins), one that starts with a space or a
// tab itself, has no name before a ':' or no line after it. Unlike
// fasthttp's walk, CutField does not look at a name's bytes one by one:
// fasthttp's parse of the head refused every name that walk refuses (a
// byte that is not a token character nor a space, a space before the
// ':'), so a head it parsed has none.
func CutField(raw []byte) (name, value, rest []byte, cut FieldCut) {
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		if len(raw) == 0 {
			return nil, nil, nil, FieldsEnd
		}
		return nil, nil, raw, FieldOdd
	}
	line, rest := raw[:i], raw[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return nil, nil, rest, FieldsEnd
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 1 || line[0] == ' ' || line[0] == '\t' || len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' {
		return nil, nil, raw, FieldOdd
	}
	value = line[colon+1:]
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for n := len(value); n > 0 && (value[n-1] == ' ' || value[n-1] == '\t'); n-- {
		value = value[:n-1]
	}
	return line[:colon], value, rest, FieldLine
}

// ValidStatusLine reports whether l is a status line nginx's
// ngx_http_parse_status_line accepts: "HTTP/x.y NNN", optionally followed by
// a space and a reason.
func ValidStatusLine(l []byte) bool {
	// "HTTP/1.1 200" is the minimum; nginx also accepts a missing reason.
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/")) {
		return false
	}
	if !isDigit(l[5]) || l[6] != '.' || !isDigit(l[7]) || l[8] != ' ' {
		return false
	}
	// A status below 100 ("000") would reach fasthttp as 0, which it reports
	// and sends as 200: it is no valid status (found by FuzzUpstreamResponse).
	return l[9] >= '1' && isDigit(l[9]) && isDigit(l[10]) && isDigit(l[11]) && (len(l) == 12 || l[12] == ' ')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// EscapeUpTo renders a bad header line as nginx's ngx_http_proxy_process_header
// does ("%*s\\x%02xd..."): the bytes before the offending one as they are,
// then the offending byte in hex.
func EscapeUpTo(line []byte, i int) string {
	const hex = "0123456789abcdef"
	c := byte('\r')
	if i < len(line) {
		c = line[i]
	}
	return string(line[:i]) + "\\x" + string([]byte{hex[c>>4], hex[c&15]})
}

// NameIs reports whether the header name b is s, compared as nginx compares
// header names (ngx_strcasecmp): byte for byte, ASCII letters in either
// case. Unlike bytes.EqualFold it folds no other character, and names of
// different lengths differ at once.
func NameIs(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if c == d {
			continue
		}
		if c|0x20 != d|0x20 || c|0x20 < 'a' || c|0x20 > 'z' {
			return false
		}
	}
	return true
}

// NameSet is a fixed set of header names, looked up as nginx compares names
// (NameIs): a name is compared with the members of its own length only,
// and only when one of them starts with its first letter. It is not
// changed once made.
type NameSet struct{ byLen []nameBucket }

// nameBucket is a NameSet's members of one length.
type nameBucket struct {
	// firsts has bit c&31 set for the first byte c of each member: a
	// letter's bit in either case (they differ in bit 5 only), other
	// bytes sharing bits with them, so a bit set says "compare", a bit
	// clear "not a member" (most names a set is asked about, in one load).
	firsts uint32
	names  []string
}

// NewNameSet returns the set of names (a name given twice is kept once).
func NewNameSet(names ...string) NameSet {
	var s NameSet
	for _, n := range names {
		if s.Has([]byte(n)) {
			continue
		}
		for len(s.byLen) <= len(n) {
			s.byLen = append(s.byLen, nameBucket{})
		}
		b := &s.byLen[len(n)]
		b.names = append(b.names, n)
		if len(n) > 0 {
			b.firsts |= 1 << (n[0] & 31)
		}
	}
	return s
}

// Has reports whether name is in the set.
func (s NameSet) Has(name []byte) bool {
	if len(name) >= len(s.byLen) {
		return false
	}
	b := &s.byLen[len(name)]
	if len(name) > 0 && b.firsts&(1<<(name[0]&31)) == 0 {
		return false
	}
	for _, n := range b.names {
		if NameIs(name, n) {
			return true
		}
	}
	return false
}
