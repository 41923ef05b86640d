package client

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fixWhole is the reference: the first head's bare LFs made CRLF, up to and
// including the empty line that ends it (leading empty lines don't), the
// rest as it is.
func fixWhole(in []byte) (out []byte, fixed bool) {
	started, used, prevCR := false, false, false
	for i, c := range in {
		switch c {
		case '\n':
			if !prevCR {
				out = append(out, '\r')
				fixed = true
			}
			out = append(out, '\n')
			if !used && started {
				return append(out, in[i+1:]...), fixed
			}
			if used {
				started = true
			}
			used, prevCR = false, false
		case '\r':
			out = append(out, c)
			prevCR = true
		default:
			out = append(out, c)
			prevCR, used = false, true
		}
	}
	return out, fixed
}

// trickle hands out its bytes at most max at a time.
type trickle struct {
	b   []byte
	max int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), t.max, len(t.b))
	copy(p, t.b[:n])
	t.b = t.b[n:]
	return n, nil
}

// Whatever the sizes of the reads (fasthttp's first read is a large buffer,
// later ones can be one byte), HeadLF gives the same bytes as fixing the
// whole stream at once: the head's line ends fixed, the body untouched.
func TestHeadLFReadSizes(t *testing.T) {
	inputs := []string{
		"GET / HTTP/1.0\nHost: localhost\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\n\nmore\n",
		"POST /a HTTP/1.1\nContent-Length: 3\n\na\nbGET /b HTTP/1.1\n\n",
		"\n\r\nGET /lead HTTP/1.0\n\n",
		"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n\n\n",
		"GET / HTTP/1.1\r\nX: a\r\r\n\n",
		"GET / HTTP/1.1\nX: a",
		"",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ { // random heads built of the bytes that matter
		var b []byte
		for j := rng.IntN(40); j > 0; j-- {
			b = append(b, "ab\r\n:"[rng.IntN(5)])
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		want, wantFixed := fixWhole([]byte(in))
		for _, bufSize := range []int{1, 2, 3, 7, 64, 4096} {
			for _, max := range []int{1, 3, 1 << 20} {
				var h HeadLF
				src := &trickle{b: []byte(in), max: max}
				var got []byte
				buf := make([]byte, bufSize)
				for {
					n, err := h.Read(src.Read, buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if !bytes.Equal(got, want) || h.fixed != wantFixed {
					t.Fatalf("%q with %d-byte reads of at most %d: got %q (fixed %v), want %q (fixed %v)",
						in, bufSize, max, got, h.fixed, want, wantFixed)
				}
			}
		}
	}
}

// A header name's bytes that nginx ignores the line for and fasthttp
// refuses the head for become '.', in names only (not the request line, a
// value, a folded line or the body), whatever the read sizes, and Restore
// gives each line back as sent.
func TestHeadLFIgnoredNameBytes(t *testing.T) {
	in := "GET /@( HTTP/1.1\nX@y: a@b\r\n (folded@\r\n\xc3\xa9t(: 1\nContent-Length: 2\r\n\r\nX@"
	want := "GET /@( HTTP/1.1\r\nX.y: a@b\r\n (folded@\r\n..t.: 1\r\nContent-Length: 2\r\n\r\nX@"
	sent := []string{"X@y: a@b", " (folded@", "\xc3\xa9t(: 1", "Content-Length: 2"}
	for _, bufSize := range []int{1, 2, 5, 4096} {
		for _, max := range []int{1, 3, 1 << 20} {
			var h HeadLF
			src := &trickle{b: []byte(in), max: max}
			var got []byte
			buf := make([]byte, bufSize)
			for {
				n, err := h.Read(src.Read, buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if string(got) != want {
				t.Fatalf("%d-byte reads of at most %d: got %q, want %q", bufSize, max, got, want)
			}
			_, hdrs, _ := bytes.Cut(got, []byte("\r\n"))
			for i, s := range sent {
				var line []byte
				line, hdrs, _ = bytes.Cut(hdrs, []byte("\r\n"))
				if r := h.Restore(i, line); string(r) != s {
					t.Fatalf("line %d restored as %q, want %q", i, r, s)
				}
			}
		}
	}
}

// The head scan counts User-Agent and Content-Type names and notes a
// Transfer-Encoding one and one of a header nginx takes once (any case,
// whole names only, not in values, folded lines or the body) and notes a
// fold,
// whatever the read sizes; a name split across reads is noted as such
// (FirstOfTwo then counts the raw lines), and a head read at once has none.
func TestHeadLFNotesRepeatsAndFolds(t *testing.T) {
	for _, c := range []struct {
		in     string
		ua, ct uint8
		te     bool
		once   bool
		folded bool
	}{
		{"GET / HTTP/1.1\r\nUser-Agent: a\r\nuser-agent: b\r\n\r\nUser-Agent: body", 2, 0, false, false, false},
		{"GET / HTTP/1.1\nUser-Agentx: a\nX-User-Agent: b\nUser-Agent: c\nContent-Type: d\n\n", 1, 1, false, false, false},
		{"GET / HTTP/1.1\r\nX: User-Agent: a\r\n User-Agent: b\r\nCONTENT-TYPE: 1\r\ncontent-type: 2\r\n\r\n", 0, 2, false, false, true},
		{"GET / HTTP/1.1\r\nX: Transfer-Encoding: a\r\n Transfer-Encoding: b\r\nTransfer-Encodinx: c\r\n\r\nTransfer-Encoding: d", 0, 0, false, false, true},
		{"POST / HTTP/1.1\r\nContent-Length: 1\r\ntransfer-ENCODING: identity\r\n\r\n", 0, 0, true, false, false},
		{"GET / HTTP/1.1\r\nAccept: a\r\nX: If-Match: b\r\n If-Match: c\r\nCache-Control: d\r\n\r\nIf-Match: e", 0, 0, false, false, true},
		{"GET / HTTP/1.1\r\nIF-NONE-MATCH: a\r\n\r\n", 0, 0, false, true, false},
		{"GET / HTTP/1.1\r\nexpect: a\r\n\r\n", 0, 0, false, true, false},
	} {
		for _, rs := range []struct{ buf, max int }{{7, 1}, {7, 3}, {64, 5}, {4096, 1 << 20}} {
			var h HeadLF
			src := &trickle{b: []byte(c.in), max: rs.max}
			buf := make([]byte, rs.buf)
			for {
				if _, err := h.Read(src.Read, buf); err != nil {
					break
				}
			}
			whole := rs.buf == 4096
			if h.Folded() != c.folded || whole && h.split || !h.split && (h.uaN != c.ua || h.ctN != c.ct || h.te != c.te || h.once != c.once) ||
				h.MayHaveCoding() != (c.te || h.split) || h.MayHaveOnceOnly() != (c.once || h.split) {
				t.Errorf("%q in %d-byte reads of at most %d: User-Agent %d, Content-Type %d, Transfer-Encoding %v, once-only %v, split %v, folded %v; want %d, %d, %v, %v, %v",
					c.in, rs.buf, rs.max, h.uaN, h.ctN, h.te, h.once, h.split, h.Folded(), c.ua, c.ct, c.te, c.once, c.folded)
			}
		}
	}
}

// BenchmarkHeadLF is the head scan over a typical browser head (its
// names are compared against User-Agent and Content-Type as they pass).
func BenchmarkHeadLF(b *testing.B) {
	head := []byte("GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Referer: https://www.example.com/\r\nCookie: session=0123456789abcdef; theme=dark\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n\r\n")
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		var h HeadLF
		src := &trickle{b: head, max: len(head)}
		if _, err := h.Read(src.Read, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeadLFRead is the connection loop's first read of a POST: a
// CRLF head and the first 16 KiB of its body in one read into a 32 KiB
// buffer (large_client_header_buffers 4 8k). The body's bytes stay where
// the read put them.
func BenchmarkHeadLFRead(b *testing.B) {
	head := "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/octet-stream\r\nContent-Length: 65536\r\n\r\n"
	src := append([]byte(head), bytes.Repeat([]byte("a"), 16<<10-len(head))...)
	raw := func(p []byte) (int, error) { return copy(p, src), nil }
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		var h HeadLF
		if n, _ := h.Read(raw, buf); n != len(src) {
			b.Fatalf("read %d bytes, want %d", n, len(src))
		}
	}
}

// FuzzHeadLFWholeLines holds Read, whose common case wholeLines takes a
// line at a time, to refRead, the byte loop alone: for any bytes, read in
// any sizes, over up to three heads of a keep-alive connection (Next),
// each call gives the same bytes, count and error, and leaves h in the
// same state (names masked, repeats counted, folds and bare LFs noted).
func FuzzHeadLFWholeLines(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nuser-agent: h2load\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\r\n\r\nbody",
		"\r\n\r\nGET / HTTP/1.1\r\nX@y: a@b\r\n (folded@\r\n\xc3\xa9t(: 1\r\n\r\nX@",
		"GET / HTTP/1.1\r\nUser-Agent: a\r\nuser-agent: b\r\nContent-Type: c\r\ncontent-type: d\r\n\r\n",
		"GET / HTTP/1.1\r\nA\r@: b\r\r\n\r\r\n\r\nGET /2 HTTP/1.1\r\n\n",
		"\r\r\nGET / HTTP/1.1\r\n:x\r\n\tfold\r\n\n",
	} {
		f.Add([]byte(s), uint16(4096), uint16(1<<15))
		f.Add([]byte(s), uint16(7), uint16(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, bufSize, max uint16) {
		bufSize, max = bufSize%4200+1, max%4200+1
		var h, ref HeadLF
		src, refSrc := &trickle{b: in, max: int(max)}, &trickle{b: in, max: int(max)}
		buf, refBuf := make([]byte, bufSize), make([]byte, bufSize)
		for heads, calls := 1, 0; ; calls++ {
			n, err := h.Read(src.Read, buf)
			rn, rerr := ref.refRead(refSrc.Read, refBuf)
			if n != rn || err != rerr || !bytes.Equal(buf[:n], refBuf[:rn]) {
				t.Fatalf("%q in %d-byte reads of at most %d, call %d: read %d %v %q, want %d %v %q",
					in, bufSize, max, calls, n, err, buf[:n], rn, rerr, refBuf[:rn])
			}
			if !reflect.DeepEqual(h, ref) {
				t.Fatalf("%q in %d-byte reads of at most %d, call %d: state %+v, want %+v", in, bufSize, max, calls, h, ref)
			}
			if err != nil {
				return
			}
			if h.done && heads < 3 {
				heads++
				h.Next(nil)
				ref.Next(nil)
			}
		}
	})
}

// refRead is Read as it was before wholeLines (at 41131ca): the byte
// loop alone, kept as FuzzHeadLFWholeLines's oracle. It notes names as
// Read does (noted and nameEnded: the names noted grew since).
func (h *HeadLF) refRead(raw func([]byte) (int, error), b []byte) (int, error) {
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
	moved := false // in[i:] is no longer at b[i:]
	w := 0
	for i := 0; i < len(in); i++ {
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
