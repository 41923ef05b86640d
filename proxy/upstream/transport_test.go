package upstream

import (
	"bufio"
	"strings"
	"testing"
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
		k, d := checkHead([]byte(c.head))
		if k != c.kind || d != c.detail {
			t.Errorf("%q: got %v %q, want %v %q", c.head, k, d, c.kind, c.detail)
		}
	}
}

func TestPeekHead(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
	br := bufio.NewReaderSize(strings.NewReader(head+"body"), 64)
	got, err := peekHead(br)
	if err != nil || string(got) != head {
		t.Fatalf("got %q %v", got, err)
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

// hasBareLF finds a line that ends in LF alone wherever it is: the status
// line, a header, the empty line, or the first byte.
func TestHasBareLF(t *testing.T) {
	for _, c := range []struct {
		head string
		want bool
	}{
		{"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", false},
		{"HTTP/1.1 200 OK\nA: b\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nA: b\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nA: b\r\n\n", true},
		{"\n", true},
		{"\r\n", false},
		{"HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n", false}, // CR before CR LF: still a CRLF end
		{"", false},
		{"no line end", false},
	} {
		if got := hasBareLF([]byte(c.head)); got != c.want {
			t.Errorf("hasBareLF(%q) = %v, want %v", c.head, got, c.want)
		}
	}
}
