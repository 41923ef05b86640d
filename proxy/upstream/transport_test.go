package upstream

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"spillway/proxy/internal/httphead"
)

func TestCheckHead(t *testing.T) {
	cases := []struct {
		head   string
		kind   Kind
		detail string
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", KindOther, ""},
		{"HTTP/1.0 204\r\n\r\n", KindOther, ""},
		{"HTTP/1.1 200 OK\nX-A: b\n\n", KindOther, ""},
		// nginx: upstream sent invalid header: "Bad\x20..."
		{"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", KindInvalidHeader, `Bad\x20`},
		// nginx: upstream sent invalid header: "X-Foo: a\x00..."
		{"HTTP/1.1 200 OK\r\nX-Foo: a\x00b\r\n\r\n", KindInvalidHeader, `X-Foo: a\x00`},
		{"hello\r\n\r\n", KindNoValidHTTP, ""},
		{"HTTP/1.1 2x0 OK\r\n\r\n", KindNoValidHTTP, ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", KindInvalidHeader, "Transfer-Encoding"},
		{"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nX: y\r\nCONTENT-LENGTH: 1\r\n\r\n", KindInvalidHeader, "Transfer-Encoding"},
		// a bad line is reported before the framing conflict, wherever it is
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\nBad Header: x\r\n\r\n", KindInvalidHeader, `Bad\x20`},
		// names that only contain or resemble the two are not them
		{"HTTP/1.1 200 OK\r\nX-Content-Length: 1\r\nTransfer-Encodings: chunked\r\n\r\n", KindOther, ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer_Encoding: chunked\r\n\r\n", KindOther, ""},
	}
	for _, c := range cases {
		s := scanHead([]byte(c.head))
		if string(s.head) != c.head {
			t.Errorf("%q: the head found is %q", c.head, s.head)
		}
		if k, d := s.kind, s.detail; k != c.kind || d != c.detail {
			t.Errorf("%q: got %v %q, want %v %q", c.head, k, d, c.kind, c.detail)
		}
	}
}

func TestPeekHead(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
	br := bufio.NewReaderSize(strings.NewReader(head+"body"), 64)
	got, err := peekHead(br)
	if err != nil || string(got.head) != head || got.kind != KindOther || got.bareLF {
		t.Fatalf("got %+v %v", got, err)
	}
	// A bad line counts once the head is whole: till then the upstream
	// may still close or time out (nginx's parser waits for the line end
	// first too).
	br = bufio.NewReaderSize(strings.NewReader("HTTP/1.1 200 OK\r\nBad Header: x\r\n"), 64)
	if _, err := peekHead(br); Classify(PhaseReadHeader, err) != KindClosed {
		t.Fatalf("got %v, want premature close", err)
	}
	// A head larger than the buffer is "too big header".
	big := "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n"
	br = bufio.NewReaderSize(strings.NewReader(big), 64)
	if _, err := peekHead(br); Classify(PhaseReadHeader, err) != KindTooBigHeader {
		t.Fatalf("got %v, want too big header", err)
	}
	// A head cut by EOF is a premature close.
	br = bufio.NewReaderSize(strings.NewReader("HTTP/1.1 200 OK\r\nA: "), 64)
	if _, err := peekHead(br); Classify(PhaseReadHeader, err) != KindClosed {
		t.Fatalf("got %v, want premature close", err)
	}
}

// scanHead finds a line that ends in LF alone wherever it is: the status
// line, a header, or the empty line.
func TestScanHeadBareLF(t *testing.T) {
	for _, c := range []struct {
		head string
		want bool
	}{
		{"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", false},
		{"HTTP/1.1 200 OK\nA: b\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nA: b\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nA: b\r\n\n", true},
		{"HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", false}, // CR before CR LF: still a CRLF end
	} {
		s := scanHead([]byte(c.head))
		if s.head == nil {
			t.Fatalf("%q: no head found", c.head)
		}
		if s.bareLF != c.want {
			t.Errorf("scanHead(%q).bareLF = %v, want %v", c.head, s.bareLF, c.want)
		}
	}
}

// FuzzScanHead holds scanHead, the one walk over a response head's lines,
// to the three walks it replaced (refHeadEnd, refHasBareLF, refCheckHead,
// kept below as they were at 1a6e832): the same end, the same bare-LF
// finding and the same verdict for every input.
func FuzzScanHead(f *testing.F) {
	for _, s := range []string{
		originHead,
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\nX-A: b\n\n",
		"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Foo: a\x00b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\nBad: \x00\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"\n\n",
		"\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n",
		"",
		"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKEEP-ALIVE: timeout=5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nx-accel-buffering: no\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Accel-X: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnectionX: 1\r\nX-Accel: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := scanHead(b)
		n := refHeadEnd(b)
		if len(s.head) != n || (n == 0) != (s.head == nil) {
			t.Fatalf("%q: scanHead found a head of %d bytes (nil %v), headEnd %d", b, len(s.head), s.head == nil, n)
		}
		if n == 0 {
			return
		}
		head := b[:n]
		if s.bareLF != refHasBareLF(head) {
			t.Fatalf("%q: bareLF %v, hasBareLF %v", head, s.bareLF, !s.bareLF)
		}
		if k, d := refCheckHead(head); s.kind != k || s.detail != d {
			t.Fatalf("%q: scanHead %v %q, checkHead %v %q", head, s.kind, s.detail, k, d)
		}
		if s.kind == KindOther && !s.lookedUp && refLookedUp(head) {
			t.Fatalf("%q: lookedUp false, but a looked-up name came", head)
		}
	})
}

// refLookedUp reports whether a header line of head (a good one) has a
// name package proxy's upstreamHead.note looks for, in any case: scanHead
// must then say lookedUp (it may say so for more names).
func refLookedUp(head []byte) bool {
	_, rest := httphead.CutLine(head)
	for len(rest) > 0 {
		var line []byte
		line, rest = httphead.CutLine(rest)
		name, _, _ := strings.Cut(string(line), ":")
		for _, n := range []string{"Connection", "Keep-Alive", "X-Accel-Redirect", "X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate"} {
			if strings.EqualFold(name, n) {
				return true
			}
		}
	}
	return false
}

func refHeadEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

func refHasBareLF(head []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(head[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || head[i-1] != '\r' {
			return true
		}
	}
}

func refCheckHead(head []byte) (Kind, string) {
	line, rest := httphead.CutLine(head)
	if !httphead.ValidStatusLine(line) {
		return KindNoValidHTTP, ""
	}
	var cl, te bool
	for len(rest) > 0 {
		line, rest = httphead.CutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := -1
		for i, ch := range line {
			if ch == ':' && i > 0 {
				colon = i
				break
			}
			if ch <= 0x20 || ch == 0x7f {
				return KindInvalidHeader, httphead.EscapeUpTo(line, i)
			}
		}
		if colon < 0 {
			return KindInvalidHeader, httphead.EscapeUpTo(line, len(line))
		}
		if i := bytes.IndexByte(line[colon+1:], 0); i >= 0 {
			return KindInvalidHeader, httphead.EscapeUpTo(line, colon+1+i)
		}
		switch name := line[:colon]; len(name) {
		case len("Content-Length"):
			cl = cl || httphead.NameIs(name, "Content-Length")
		case len("Transfer-Encoding"):
			te = te || httphead.NameIs(name, "Transfer-Encoding")
		}
	}
	if cl && te {
		return KindInvalidHeader, "Transfer-Encoding"
	}
	return KindOther, ""
}
