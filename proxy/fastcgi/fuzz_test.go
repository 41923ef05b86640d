package fastcgi

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the response reader: it must never
// panic, never return more STDOUT than the input holds, and stop with EOF,
// a truncation or a protocol error.
func FuzzReader(f *testing.F) {
	f.Add(response(AppendRecord(nil, TypeStdout, []byte("Status: 200\r\n\r\nok")), AppendRecord(nil, TypeStdout, nil), endRequest(0)))
	f.Add(response(AppendRecord(nil, TypeStderr, []byte("warn")), endRequest(1)))
	f.Add([]byte{1, 6, 0, 1, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := &Reader{}
		r.Reset(bufio.NewReaderSize(bytes.NewReader(raw), 16), func([]byte) {})
		out, _ := io.ReadAll(r)
		if len(out) > len(raw) || int64(len(out)) != r.Stdout {
			t.Fatalf("read %d bytes from %d", len(out), len(raw))
		}
	})
}

// FuzzParseHeader: any header either parses to a status in 000..999 or is
// refused; a parsed one never keeps a Status line among its headers.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n"))
	f.Add([]byte("Location: /x\n\n"))
	f.Add([]byte("X: \x00\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		var h Header
		n := HeaderEnd(head)
		if n == 0 {
			return
		}
		if err := ParseHeader(head[:n], &h); err != nil {
			return
		}
		if h.Status < 0 || h.Status > 999 || len(h.Names) != len(h.Values) {
			t.Fatalf("status %d", h.Status)
		}
		for _, name := range h.Names {
			if equalFold(name, "Status") {
				t.Fatal("Status kept")
			}
		}
	})
}

// FuzzPairsRoundTrip: what AppendPair writes, ParsePairs reads back.
func FuzzPairsRoundTrip(f *testing.F) {
	f.Add([]byte("SCRIPT_FILENAME"), []byte("/srv/www/index.php"))
	f.Add(bytes.Repeat([]byte("n"), 200), []byte{})
	f.Fuzz(func(t *testing.T, name, value []byte) {
		b := AppendPair(AppendPair(nil, name, value), value, name)
		names, values, err := ParsePairs(b)
		if err != nil || len(names) != 2 || !bytes.Equal(names[0], name) || !bytes.Equal(values[0], value) ||
			!bytes.Equal(names[1], value) || !bytes.Equal(values[1], name) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// FuzzStdinRoundTrip: a body framed as STDIN records reads back the same.
func FuzzStdinRoundTrip(f *testing.F) {
	f.Add([]byte("a=1&b=2"))
	f.Add(bytes.Repeat([]byte{0xff}, 70000))
	f.Fuzz(func(t *testing.T, body []byte) {
		framed, err := io.ReadAll(NewStdinReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		types, contents := parseRecords(t, framed)
		var got []byte
		for i := range types {
			got = append(got, contents[i]...)
		}
		if !bytes.Equal(got, body) {
			t.Fatal("body differs")
		}
	})
}
