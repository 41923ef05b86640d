package client

import (
	"bytes"
	"io"
	"math/rand/v2"
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

// The head scan counts User-Agent and Content-Type names (any case, whole
// names only, not in values, folded lines or the body) and notes a fold,
// whatever the read sizes; a name split across reads is noted as such
// (FirstOfTwo then counts the raw lines), and a head read at once has none.
func TestHeadLFNotesRepeatsAndFolds(t *testing.T) {
	for _, c := range []struct {
		in     string
		ua, ct uint8
		folded bool
	}{
		{"GET / HTTP/1.1\r\nUser-Agent: a\r\nuser-agent: b\r\n\r\nUser-Agent: body", 2, 0, false},
		{"GET / HTTP/1.1\nUser-Agentx: a\nX-User-Agent: b\nUser-Agent: c\nContent-Type: d\n\n", 1, 1, false},
		{"GET / HTTP/1.1\r\nX: User-Agent: a\r\n User-Agent: b\r\nCONTENT-TYPE: 1\r\ncontent-type: 2\r\n\r\n", 0, 2, true},
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
			if h.Folded() != c.folded || whole && h.split || !h.split && (h.uaN != c.ua || h.ctN != c.ct) {
				t.Errorf("%q in %d-byte reads of at most %d: User-Agent %d, Content-Type %d, split %v, folded %v; want %d, %d, %v",
					c.in, rs.buf, rs.max, h.uaN, h.ctN, h.split, h.Folded(), c.ua, c.ct, c.folded)
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
