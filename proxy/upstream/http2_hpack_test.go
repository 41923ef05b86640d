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
