package upstream

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// huffLiteral is a header field as "literal with incremental indexing, new
// name" with both strings Huffman-coded and then pad more bytes of ones
// after their code (nginx's test backend pads a whole byte when a code ends
// on a byte boundary).
func huffLiteral(name, value string, pad ...byte) []byte {
	b := []byte{0x40}
	for _, s := range []string{name, value} {
		h := append(hpack.AppendHuffmanString(nil, s), pad...)
		b = appendHpackInt(b, 0x80, 7, uint64(len(h)))
		b = append(b, h...)
	}
	return b
}

// readFrames reads every frame of wire through an hpackFixer with http2's
// own reader, as the gRPC client does: the header fields of each HEADERS,
// and the DATA payloads.
func readFrames(t *testing.T, wire []byte) (fields [][]hpack.HeaderField, data []string, err error) {
	t.Helper()
	fr := http2.NewFramer(nil, &hpackFixer{r: bytes.NewReader(wire)})
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return fields, data, nil
		}
		if err != nil {
			return fields, data, err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			fields = append(fields, f.Fields)
		case *http2.DataFrame:
			data = append(data, string(f.Data()))
		}
	}
}

// A Huffman string with 8 to 23 bits of padding, all ones, reads as nginx
// reads it (x/net's hpack alone refuses it: COMPRESSION_ERROR), in a
// HEADERS frame with padding and priority and in one split over
// CONTINUATION frames; the DATA around passes as it was.
func TestHpackFixerOverlongPadding(t *testing.T) {
	block := append([]byte{0x88}, huffLiteral("content-type", "application/grpc", 0xff)...) // :status 200
	block = append(block, huffLiteral("grpc-message", "", 0xff)...)
	block = append(block, huffLiteral("x-connection", "17", 0xff, 0xff)...)
	want := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"},
		{Name: "grpc-message", Value: ""}, {Name: "x-connection", Value: "17"}}

	// x/net's decoder alone refuses the block.
	if _, err := hpack.NewDecoder(4096, nil).DecodeFull(block); err == nil {
		t.Fatal("hpack decoded the overlong padding: the fixer is not needed")
	}

	var wire bytes.Buffer
	fw := http2.NewFramer(&wire, nil)
	_ = fw.WriteData(1, false, []byte("before"))
	_ = fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, PadLength: 3,
		Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}})
	_ = fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block[:7]})
	_ = fw.WriteContinuation(3, false, block[7:20])
	_ = fw.WriteContinuation(3, true, block[20:])
	_ = fw.WriteData(3, true, []byte("after"))

	fields, data, err := readFrames(t, wire.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 2 || !equalFields(fields[0], want) || !equalFields(fields[1], want) {
		t.Errorf("fields %v, want twice %v", fields, want)
	}
	if len(data) != 2 || data[0] != "before" || data[1] != "after" {
		t.Errorf("data %q", data)
	}
}

// A block that decodes as it is passes byte for byte; padding that is not
// all ones is still http2's COMPRESSION_ERROR.
func TestHpackFixerLeavesTheRest(t *testing.T) {
	good := append([]byte{0x88}, huffLiteral("grpc-status", "0")...)
	var wire bytes.Buffer
	fw := http2.NewFramer(&wire, nil)
	_ = fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: good, EndHeaders: true, PadLength: 2})
	got, err := io.ReadAll(&hpackFixer{r: bytes.NewReader(wire.Bytes())})
	if err != nil || !bytes.Equal(got, wire.Bytes()) {
		t.Errorf("a good block came out as %x (%v), want %x", got, err, wire.Bytes())
	}

	for name, pad := range map[string][]byte{"zero bits": {0x00}} {
		var wire bytes.Buffer
		fw := http2.NewFramer(&wire, nil)
		_ = fw.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: huffLiteral("grpc-status", "0", pad...), EndHeaders: true})
		_, _, err := readFrames(t, wire.Bytes())
		var ce http2.ConnectionError
		if !errors.As(err, &ce) || http2.ErrCode(ce) != http2.ErrCodeCompression {
			t.Errorf("%s: err %v, want COMPRESSION_ERROR", name, err)
		}
	}
}

func equalFields(a, b []hpack.HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// The fixer decodes every header block with its own table kept in step
// with http2's, and names a stream's first field that nginx's grpc module
// refuses (a NUL, CR or LF in the value; an uppercase letter or a ':' past
// the first byte in the name), also when a later block names it by its
// index in the dynamic table; a clean block names none, and a field is
// told once.
func TestHpackFixerInvalidField(t *testing.T) {
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	block := func(sid uint32, fields ...string) {
		b.Reset()
		for i := 0; i < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: b.Bytes(), EndHeaders: true})
	}
	block(1, ":status", "200", "x-ok", "fine", "x-bad", "a\x00b", "x-bad2", "c\rd")
	block(3, ":status", "200", "x-bad", "a\x00b") // both from the dynamic table now
	block(5, ":status", "200", "x-ok", "fine")
	block(7, ":status", "200", "X-Upper", "v")
	block(9, ":status", "200", "x:colon", "v")
	f := &hpackFixer{r: bytes.NewReader(wire.Bytes())}
	if _, err := io.ReadAll(f); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sid  uint32
		want string
	}{{1, "x-bad: a\x00b"}, {1, ""}, {3, "x-bad: a\x00b"}, {5, ""}, {7, "X-Upper: v"}, {9, "x:colon: v"}} {
		if got := f.InvalidField(c.sid); got != c.want {
			t.Errorf("stream %d: InvalidField = %q, want %q", c.sid, got, c.want)
		}
	}
}
