package fastcgi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// response builds an application's answer: records in order.
func response(recs ...[]byte) []byte { return bytes.Join(recs, nil) }

func endRequest(app uint32) []byte {
	b := appendHeader(nil, TypeEndRequest, 8, 0)
	return append(b, byte(app>>24), byte(app>>16), byte(app>>8), byte(app), 0, 0, 0, 0)
}

func readAll(t *testing.T, raw []byte) (string, []string, *Reader, error) {
	t.Helper()
	var logged []string
	r := &Reader{}
	r.Reset(bufio.NewReaderSize(bytes.NewReader(raw), 16), func(m []byte) { logged = append(logged, string(m)) })
	out, err := io.ReadAll(r)
	return string(out), logged, r, err
}

func TestReaderStdoutStderrEnd(t *testing.T) {
	raw := response(
		AppendRecord(nil, TypeStderr, []byte("PHP message: oops.\n")),
		AppendRecord(nil, TypeStdout, []byte("Content-Type: text/plain\r\n\r\nhel")),
		AppendRecord(nil, TypeStdout, []byte("lo")),
		AppendRecord(nil, TypeStdout, nil),
		endRequest(7),
		[]byte("next response"),
	)
	out, logged, r, err := readAll(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	if out != "Content-Type: text/plain\r\n\r\nhello" {
		t.Errorf("stdout %q", out)
	}
	if len(logged) != 1 || logged[0] != "PHP message: oops" {
		t.Errorf("stderr %q", logged)
	}
	if !r.Ended || !r.StdoutClosed || r.AppStatus != 7 {
		t.Errorf("ended %v closed %v status %d", r.Ended, r.StdoutClosed, r.AppStatus)
	}
	// A kept connection is left at the next record: nothing of it was read.
	rest, _ := io.ReadAll(r.R)
	if string(rest) != "next response" {
		t.Errorf("left %q", rest)
	}
}

func TestReaderErrors(t *testing.T) {
	stdout := AppendRecord(nil, TypeStdout, []byte("X: y\r\n\r\n"))
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"closed before end", stdout, io.ErrUnexpectedEOF.Error()},
		{"closed inside a record", stdout[:12], io.ErrUnexpectedEOF.Error()},
		{"bad version", []byte{2, 6, 0, 1, 0, 0, 0, 0}, "upstream sent unsupported FastCGI protocol version: 2"},
		{"bad type", []byte{1, 4, 0, 1, 0, 0, 0, 0}, "upstream sent invalid FastCGI record type: 4"},
		{"bad id", []byte{1, 6, 0, 2, 0, 0, 0, 0}, "upstream sent unexpected FastCGI request id low byte: 2"},
		{"short end request", []byte{1, 3, 0, 1, 0, 2, 0, 0, 0, 0}, "upstream sent invalid FastCGI end request record"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := readAll(t, c.raw)
			if err == nil || err.Error() != c.want {
				t.Fatalf("err %v, want %s", err, c.want)
			}
		})
	}
}

func TestTrimStderr(t *testing.T) {
	for in, want := range map[string]string{"a. \r\n": "a", "...": ".", "x": "x", "PHP Warning: y.\n": "PHP Warning: y"} {
		if got := string(TrimStderr([]byte(in))); got != want {
			t.Errorf("TrimStderr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for _, c := range []struct {
		head   string
		status int
		line   string
		err    string
	}{
		{"Content-Type: text/html\r\n\r\n", 200, "", ""},
		{"Status: 404 Not Found\r\nX_Under: 1\r\n\r\n", 404, "404 Not Found", ""},
		{"Location: /elsewhere\n\n", 302, "", ""},
		{"Location: /x\r\nStatus: 301 Moved Permanently\r\n\r\n", 301, "301 Moved Permanently", ""},
		{"Status: abc\r\n\r\n", 0, "", `upstream sent invalid status "abc"`},
		{"Bad Name: x\r\n\r\n", 0, "", "upstream sent invalid header"},
		{"NoColon\r\n\r\n", 0, "", "upstream sent invalid header"},
	} {
		var h Header
		end := HeaderEnd([]byte(c.head))
		if end != len(c.head) {
			t.Errorf("HeaderEnd(%q) = %d", c.head, end)
		}
		err := ParseHeader([]byte(c.head), &h)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: err %v, want %s", c.head, err, c.err)
			}
			continue
		}
		if err != nil || h.Status != c.status || string(h.StatusLine) != c.line {
			t.Errorf("%q: %d %q %v", c.head, h.Status, h.StatusLine, err)
		}
		for _, n := range h.Names {
			if strings.EqualFold(string(n), "status") {
				t.Errorf("%q: Status kept as a header", c.head)
			}
		}
	}
	if HeaderEnd([]byte("A: b\r\n")) != 0 {
		t.Error("an unfinished header has an end")
	}
}

// parseRecords splits a request byte stream into its records.
func parseRecords(t testing.TB, b []byte) (types []uint8, contents [][]byte) {
	for len(b) > 0 {
		if len(b) < HeaderLen || b[0] != 1 {
			t.Fatalf("bad record at %q", b)
		}
		n, pad := int(b[4])<<8|int(b[5]), int(b[6])
		if len(b) < HeaderLen+n+pad {
			t.Fatalf("short record")
		}
		if (n+pad)%8 != 0 {
			t.Errorf("record of %d+%d bytes is not 8-aligned", n, pad)
		}
		types = append(types, b[1])
		contents = append(contents, b[HeaderLen:HeaderLen+n])
		b = b[HeaderLen+n+pad:]
	}
	return types, contents
}

func TestStdinReaderFrames(t *testing.T) {
	for _, size := range []int{0, 1, 7, stdinChunk, stdinChunk + 1, 3*stdinChunk + 5} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		// A tiny destination buffer: the framing must survive any read size.
		framed, err := io.ReadAll(struct{ io.Reader }{&smallReads{r: NewStdinReader(bytes.NewReader(body))}})
		if err != nil {
			t.Fatal(err)
		}
		types, contents := parseRecords(t, framed)
		var got []byte
		for i, typ := range types {
			if typ != TypeStdin {
				t.Fatalf("type %d", typ)
			}
			got = append(got, contents[i]...)
		}
		if !bytes.Equal(got, body) || len(contents[len(contents)-1]) != 0 {
			t.Errorf("size %d: body differs or stream not closed", size)
		}
	}
}

type smallReads struct{ r io.Reader }

func (s *smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 5)]) }

func TestStdinReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := io.ReadAll(NewStdinReader(io.MultiReader(strings.NewReader("abc"), errReader{boom})))
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestParamsRoundTrip(t *testing.T) {
	long := strings.Repeat("v", 300)
	pairs := AppendPair(nil, []byte("SCRIPT_FILENAME"), []byte("/srv/index.php"))
	pairs = AppendPair(pairs, []byte("LONG"), []byte(long))
	req := AppendBeginRequest(nil, true)
	req = AppendParams(req, pairs)
	types, contents := parseRecords(t, req)
	if len(types) != 3 || types[0] != TypeBeginRequest || types[1] != TypeParams || types[2] != TypeParams || len(contents[2]) != 0 {
		t.Fatalf("records %v", types)
	}
	if contents[0][1] != RoleResponder || contents[0][2] != 1 {
		t.Errorf("begin request %v", contents[0])
	}
	names, values, err := ParsePairs(contents[1])
	if err != nil || len(names) != 2 || string(values[1]) != long || string(names[0]) != "SCRIPT_FILENAME" {
		t.Fatalf("%q %q %v", names, values, err)
	}
}

func TestBufferedRest(t *testing.T) {
	full := response(
		AppendRecord(nil, TypeStdout, []byte("X: y\r\n\r\nabc")),
		AppendRecord(nil, TypeStderr, []byte("warn")),
		AppendRecord(nil, TypeStdout, []byte("defg")),
		AppendRecord(nil, TypeStdout, nil),
		endRequest(0),
	)
	for cut := 0; cut <= len(full); cut++ {
		r := &Reader{}
		r.Reset(bufio.NewReaderSize(bytes.NewReader(full[:cut]), 4096), nil)
		_, _ = r.R.Peek(cut) // all of it buffered
		n, ok := r.BufferedRest()
		if want := cut == len(full); ok != want || ok && n != 15 {
			t.Errorf("cut %d: %d %v", cut, n, ok)
		}
	}
	// After part of the first record was read.
	r := &Reader{}
	r.Reset(bufio.NewReaderSize(bytes.NewReader(full), 4096), nil)
	p := make([]byte, 5)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	if n, ok := r.BufferedRest(); !ok || n != 10 {
		t.Errorf("after 5 bytes: %d %v", n, ok)
	}
}
