package client

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/httphead"
)

// Bare LF line ends in a request head. nginx (like RFC 9112 section 2.2
// allows) takes a lone LF as the end of a request line or header line, and
// scripted clients, nginx's own test suite among them, send heads such as
// "GET / HTTP/1.0\nHost: localhost\n\n". fasthttp's server only ends a
// head at CRLFCRLF and would wait for a CR that never comes.
//
// HeadLF turns each bare LF of a request head into CRLF before fasthttp
// reads it, and stops at the head's empty line: from there every byte
// (the body, anything pipelined) passes untouched, so the body's framing
// is fasthttp's alone. Each later head of a keep-alive connection gets the
// same (Next, from the connection loop), the bytes already read past the
// last request (pipelined) included: they go through HeadLF again, so
// that no head is ever read from a stream whose head boundaries two
// parsers could place differently, and the connection is kept, as nginx
// keeps it.

// HeadLF is the current head's state; the zero value is ready.
type HeadLF struct {
	done     bool // the head's empty line has been read: pass bytes through
	fixed    bool // a bare LF was turned into CRLF
	started  bool // a non-empty line has begun (leading empty lines don't end a head)
	prevCR   bool
	lineUsed bool // the current line has a byte other than CR
	pending  byte // the LF of a CRLF that did not fit a one-byte read
	hasPend  bool
	pre      []byte // bytes read past the last request (Next): read before the connection's

	// Header names nginx ignores and fasthttp refuses (nameIgnored): each
	// such byte is made '.', which fasthttp takes and nginx's check
	// (namesInOrder) ignores as nginx does; Restore gives the line back as
	// sent for nginx's log line.
	header int  // the current header line (0: the one after the request line)
	col    int  // the current line's bytes so far
	inName bool // the current header line's name has not ended
	subs   []nameSubst
	// folded: a header line starts with a space or a tab (obs-fold),
	// which fasthttp joins to the line before and nginx refuses
	// (Head.namesInOrder).
	folded bool
	// How many User-Agent and Content-Type lines came (fasthttp keeps
	// the last of two, nginx's variables the first: FirstOfTwo), te: a
	// Transfer-Encoding line came (MayHaveCoding), once: a line of a
	// header nginx takes once came (MayHaveOnceOnly), and split: a name
	// of a noted length came in two reads (not compared: FirstOfTwo and
	// Check's walks read the raw lines).
	uaN, ctN        uint8
	te, once, split bool
}

// noted reports whether a header name of n bytes may be one the head scan
// notes (countName): the two headers fasthttp holds once, the last line's
// value, where nginx keeps every line and its variable ($http_user_agent,
// $content_type) has the first; Transfer-Encoding (Head.codingKnown); the
// headers nginx takes once (Head.unique).
func noted(n int) bool { return n < len(notedLengths) && notedLengths[n] }

// notedLengths are the lengths of the names countName compares. Read only.
var notedLengths = func() (t [len("if-unmodified-since") + 1]bool) {
	for _, name := range append([]string{"User-Agent", "Content-Type", "Transfer-Encoding"}, uniqueHeaders...) {
		t[len(name)] = true
	}
	return t
}()

// nameSubst is a byte of a header name made '.': line is its header line
// (as header), col its place in the line, b what the client sent.
type nameSubst struct {
	line, col int
	b         byte
}

// nameIgnored: a byte nginx (ignore_invalid_headers, the default)
// ignores a header line for, where fasthttp refuses the whole head: not a
// token character, and neither a control byte, a space nor ':' (which
// nginx refuses with a 400, as fasthttp).
func nameIgnored(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return true
	}
	return c >= 0x80
}

// Restore is the i-th header line of the head (line, as fasthttp holds
// it) as the client sent it: a copy when a name byte of it was made '.',
// line itself otherwise.
func (h *HeadLF) Restore(i int, line []byte) []byte {
	var out []byte
	for _, s := range h.subs {
		if s.line != i || s.col >= len(line) {
			continue
		}
		if out == nil {
			out = append([]byte(nil), line...)
		}
		out[s.col] = s.b
	}
	if out == nil {
		return line
	}
	return out
}

// Next readies h for the next request head of a keep-alive connection:
// buffered are the bytes read past the last request (pipelined, nil when
// none), which come first, fixed as the connection's own.
func (h *HeadLF) Next(buffered []byte) {
	pre := h.pre
	if len(buffered) > 0 {
		pre = append(append(make([]byte, 0, len(buffered)+len(pre)), buffered...), pre...)
	}
	*h = HeadLF{pre: pre}
}

// Buffered reports whether bytes given to Next are still to be read.
func (h *HeadLF) Buffered() bool { return len(h.pre) > 0 }

func (h *HeadLF) readPre(b []byte) (int, error) {
	n := copy(b, h.pre)
	h.pre = h.pre[n:]
	if len(h.pre) == 0 {
		h.pre = nil
	}
	return n, nil
}

// Read fills b from raw, fixing line ends until the head is over.
func (h *HeadLF) Read(raw func([]byte) (int, error), b []byte) (int, error) {
	if h.hasPend && len(b) > 0 {
		h.hasPend = false
		b[0] = h.pending
		return 1, nil
	}
	if len(h.pre) > 0 {
		raw = h.readPre
	}
	if h.done || len(b) == 0 {
		return raw(b)
	}
	// Read into the front half and fix the bytes where they lie: until a
	// bare LF needs a CR, every byte stays in place, and so do the bytes
	// after the head (a request body's first bytes: up to 16 KiB of each
	// POST were moved, docs/measured/bodies-2026-12-08.md). The first CR
	// to insert moves the unread rest to the back of b, and from there the
	// fixed bytes are written from the front: each input byte becomes at
	// most two, so the writer never overtakes the reader (at the move the
	// writer is at i and the rest's j-th byte at len(b)-rest+j; writing
	// it ends at most at i+2j+2 <= len(b)-rest+j+1, as j < rest <= n <=
	// len(b)-n). A one-byte read keeps the LF of a CRLF it made for the
	// next call.
	size := max(len(b)/2, 1)
	n, err := raw(b[:size])
	in := b[:n]
	i := 0
	if h.col == 0 { // at a line's start (col counts every byte but an LF)
		if i = h.wholeLines(in); h.done {
			return n, err
		}
	}
	moved := false // in[i:] is no longer at b[i:]
	w := i
	for ; i < len(in); i++ {
		c := in[i]
		if h.done {
			if moved {
				w += copy(b[w:], in[i:])
			} else {
				w = n
			}
			break
		}
		switch c {
		case '\n':
			if !h.prevCR {
				h.fixed = true
				if !moved {
					rest := n - i
					copy(b[len(b)-rest:], in[i:])
					in = b[len(b)-rest-i:] // in[i] is this LF again
					moved = true
				}
				b[w] = '\r'
				w++
				if w == len(b) { // one-byte read: the LF comes with the next
					h.pending, h.hasPend = '\n', true
					h.endLine()
					return w, nil // a read error comes again after it
				}
			}
			b[w] = '\n'
			w++
			h.endLine()
		case '\r':
			b[w] = c
			w++
			h.col++
			h.prevCR = true
		default:
			if h.started {
				switch {
				case h.col == 0 && (c == ' ' || c == '\t'):
					h.inName = false // a folded line: no name
					h.folded = true
				case c == ':':
					if h.inName && noted(h.col) {
						h.nameEnded(b, w)
					}
					h.inName = false
				case h.inName && nameIgnored(c):
					h.subs = append(h.subs, nameSubst{line: h.header, col: h.col, b: c})
					c = '.'
				}
			}
			h.col++
			b[w] = c
			w++
			h.prevCR = false
			h.lineUsed = true
		}
	}
	return w, err
}

// wholeLines is Read's common case, run from a line's start: each whole
// line of in that ends in CRLF is taken at once, found with IndexByte,
// and only a header name's bytes are looked at one by one (a table lookup
// each, for ':' and the bytes to make '.'). It leaves h as the byte loop
// below would after those lines, and returns where it stopped: after the
// head's empty line (h.done), or at the start of the first line it leaves
// to that loop: one not ended in this read, ended by a bare LF, or
// starting with a CR.
func (h *HeadLF) wholeLines(in []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(in[i:], '\n')
		if j < 1 || in[i+j-1] != '\r' || in[i] == '\r' && j > 1 {
			return i
		}
		line := in[i : i+j-1]
		if h.lineUsed = len(line) > 0; h.lineUsed && h.started {
			if c := line[0]; c == ' ' || c == '\t' {
				h.folded = true // no name
			} else {
				h.maskName(line)
			}
		}
		h.endLine()
		i += j + 1
		if h.done {
			return i
		}
	}
}

// maskName is the byte loop's work on the name of a header line that
// begins in this read, line (without its CRLF): its bytes that nginx
// ignores made '.', and its length at its ':' compared as nameEnded does.
func (h *HeadLF) maskName(line []byte) {
	for k, c := range line {
		switch nameClass[c] {
		case nameColon:
			if noted(k) {
				h.countName(line[:k])
			}
			return
		case nameMasked:
			h.subs = append(h.subs, nameSubst{line: h.header, col: k, b: c})
			line[k] = '.'
		}
	}
}

// nameClass is what maskName does with a name's byte: a table, one load
// per byte, where nameIgnored's switch is a binary search. Read only.
var nameClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == ':':
			t[c] = nameColon
		case nameIgnored(byte(c)):
			t[c] = nameMasked
		}
	}
	return t
}()

const (
	namePlain  = iota // kept
	nameColon         // the name's end
	nameMasked        // made '.' (nameIgnored)
)

// endLine is an LF: an empty line after the request line ends the head.
func (h *HeadLF) endLine() {
	if !h.lineUsed && h.started {
		h.done = true
	}
	if h.lineUsed {
		if h.started {
			h.header++
		}
		h.started = true
	}
	h.prevCR, h.lineUsed = false, false
	h.col, h.inName = 0, true
}

// nameEnded counts a header name of a noted length that ended (its ':' is
// next) if it is one countName notes: its bytes are the
// last h.col of b[:w] when the line began in this read (w >= h.col: every
// byte written by this read is then the line's), else it is split.
func (h *HeadLF) nameEnded(b []byte, w int) {
	if w < h.col {
		h.split = true
		return
	}
	h.countName(b[w-h.col : w])
}

// countName counts name, a header name of a noted length, if it is
// User-Agent, Content-Type, Transfer-Encoding or a header nginx takes
// once.
func (h *HeadLF) countName(name []byte) {
	switch {
	case httphead.NameIs(name, "User-Agent"):
		h.uaN = min(h.uaN+1, 2)
	case httphead.NameIs(name, "Content-Type"):
		h.ctN = min(h.ctN+1, 2)
	case httphead.NameIs(name, "Transfer-Encoding"):
		h.te = true
	default:
		for _, u := range uniqueHeaders {
			if httphead.NameIs(name, u) {
				h.once = true
			}
		}
	}
}

// MayHaveCoding reports whether the head may have a Transfer-Encoding
// line: one came, or a name of its length was split across reads (not
// compared). A line here is one whose name, up to its first ':', is
// Transfer-Encoding in any case: a folded line has none.
func (h *HeadLF) MayHaveCoding() bool { return h.te || h.split }

// MayHaveOnceOnly reports whether the head may have a line of a header
// nginx takes once (uniqueHeaders): one came, or a name of such a length
// was split across reads (not compared). A line here is one whose name,
// up to its first ':', is that header's in any case.
func (h *HeadLF) MayHaveOnceOnly() bool { return h.once || h.split }

// FirstOfTwo gives hdr, the head fasthttp parsed, the first line's value
// of User-Agent and Content-Type when the client sent two or more: nginx
// forwards every line (spillway forwards the lines as sent) and its
// variables have the first, fasthttp's fields the last. The scan compares
// only names of those two lengths, at their ':'; a head without a pair
// (and without such a name split across reads) is not read again.
func (h *HeadLF) FirstOfTwo(hdr *fasthttp.RequestHeader) {
	if h.uaN < 2 && h.ctN < 2 && !h.split {
		return
	}
	var ua, ct []byte
	uaN, ctN := 0, 0
	raw := hdr.RawHeaders()
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case httphead.NameIs(name, "User-Agent"):
			if uaN++; uaN == 1 {
				ua = bytes.Trim(value, " \t")
			}
		case httphead.NameIs(name, "Content-Type"):
			if ctN++; ctN == 1 {
				ct = bytes.Trim(value, " \t")
			}
		}
	}
	if uaN > 1 {
		hdr.SetUserAgentBytes(ua)
	}
	if ctN > 1 {
		hdr.SetContentTypeBytes(ct)
	}
}

// Fixed reports whether a bare LF of the head was turned into CRLF.
func (h *HeadLF) Fixed() bool { return h.fixed }

// Folded reports whether a header line of the head starts with a space or
// a tab (obs-fold).
func (h *HeadLF) Folded() bool { return h.folded }

// Stop passes every byte from here on untouched: what follows is no
// HTTP/1 head (HTTP/2 frames after the preface).
func (h *HeadLF) Stop() { h.done = true }
