package upstream

// nginx decodes an upstream's Huffman-coded header strings leniently: a
// string may end in up to 29 bits of padding as long as they are all ones
// (a prefix of EOS), where RFC 7541 5.2 and x/net/http2's hpack refuse
// more than 7 (COMPRESSION_ERROR, the whole connection lost). Encoders
// that pad a whole byte when the code ends on a byte boundary exist
// (nginx's own test backend does; so an empty string coded as 0xff), and
// nginx talks to them. hpackFixer sits between the socket and http2's
// reader and rewrites such a string, in a response's header block, as a
// plain literal of the same text, so that http2 reads what nginx reads;
// every other byte passes through unchanged, and a block it cannot parse
// is passed as it came for http2 to refuse.

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"sync"

	"golang.org/x/net/http2/hpack"
)

const (
	frameHeaders      = 0x1
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	// hpackFixMax bounds the header block held to be rewritten; a larger
	// one passes as it came.
	hpackFixMax = 256 << 10
	// hpackFrameMax is the largest frame the rewritten block is cut into:
	// the SETTINGS_MAX_FRAME_SIZE every peer accepts.
	hpackFrameMax = 16384
)

// hpackFixer reads HTTP/2 frames from r (the server's side of the
// connection) and gives them to http2's reader, with the header blocks
// rewritten as the comment above says.
type hpackFixer struct {
	r    io.Reader
	out  []byte // bytes ready for the reader
	left int    // payload bytes of a passed-through frame still to copy
	hdr  [9]byte
	raw  []byte // a HEADERS frame and its CONTINUATIONs, as read
	// dec decodes every header block as http2's reader will, its dynamic
	// table kept in step, to find the field nginx's grpc module names in
	// "upstream sent invalid header: "NAME: VALUE"" (http2 says only the
	// name). nil once a block passed unseen: the table is lost.
	dec      *hpack.Decoder
	sid      uint32 // the stream of the block dec decodes
	seenBad  bool   // dec's block already had its invalid field
	decBroke bool

	mu  sync.Mutex
	bad map[uint32]string // stream → its first invalid field, "NAME: VALUE"
}

// badFieldsMax bounds the invalid fields kept for streams whose error has
// not been asked for.
const badFieldsMax = 16

// InvalidField is the first field of stream sid's header blocks that
// nginx's grpc module refuses, as "NAME: VALUE" ("" for none); it is
// forgotten once asked for.
func (f *hpackFixer) InvalidField(sid uint32) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.bad[sid]
	delete(f.bad, sid)
	return v
}

// watch decodes block (stream sid's header block, rewritten) to keep the
// dynamic table in step and note the stream's first invalid field.
func (f *hpackFixer) watch(sid uint32, block []byte) {
	if f.decBroke {
		return
	}
	if f.dec == nil {
		// http2's Transport decodes with the initial 4096-byte table and
		// advertises no other size.
		f.dec = hpack.NewDecoder(4096, func(hf hpack.HeaderField) {
			if f.seenBad || nginxValidField(hf.Name, hf.Value) {
				return
			}
			f.seenBad = true
			f.mu.Lock()
			if f.bad == nil {
				f.bad = map[uint32]string{}
			}
			if len(f.bad) < badFieldsMax {
				f.bad[f.sid] = hf.Name + ": " + hf.Value
			}
			f.mu.Unlock()
		})
	}
	f.sid, f.seenBad = sid, false
	if _, err := f.dec.Write(block); err != nil {
		f.decBroke = true
		return
	}
	if err := f.dec.Close(); err != nil {
		f.decBroke = true
	}
}

// nginxValidField is nginx's check of an upstream's HTTP/2 header field
// (ngx_http_grpc_validate_header_name and _value): no uppercase letter,
// no ':' but a pseudo-header's first byte, and no NUL, CR or LF in the
// name; no NUL, CR or LF in the value.
func nginxValidField(name, value string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == ':' && i > 0, c >= 'A' && c <= 'Z', c == 0, c == '\r', c == '\n':
			return false
		}
	}
	return !strings.ContainsAny(value, "\x00\r\n")
}

func (f *hpackFixer) Read(p []byte) (int, error) {
	for {
		if len(f.out) > 0 {
			n := copy(p, f.out)
			f.out = f.out[n:]
			return n, nil
		}
		if f.left > 0 {
			n, err := f.r.Read(p[:min(len(p), f.left)])
			f.left -= n
			return n, err
		}
		if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
			return 0, err
		}
		length := int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		if f.hdr[3] != frameHeaders || length > hpackFixMax {
			f.decBroke = f.decBroke || f.hdr[3] == frameHeaders // a block dec does not see
			f.out = append(f.out[:0], f.hdr[:]...)
			f.left = length
			continue
		}
		if err := f.readBlock(length); err != nil {
			return 0, err
		}
	}
}

// readBlock reads a HEADERS frame's payload and the CONTINUATION frames
// that follow it to END_HEADERS, and sets out to them, rewritten when a
// string needed it. A frame that is not the block's next CONTINUATION, or
// a block past hpackFixMax, ends the holding: what was read passes as it
// came, and what follows too.
func (f *hpackFixer) readBlock(length int) error {
	f.raw = append(f.raw[:0], f.hdr[:]...)
	sid := binary.BigEndian.Uint32(f.hdr[5:9]) & 0x7fffffff
	flags := f.hdr[4]
	for {
		at := len(f.raw)
		f.raw = append(f.raw, make([]byte, length)...)
		if _, err := io.ReadFull(f.r, f.raw[at:]); err != nil {
			return err
		}
		if f.raw[len(f.raw)-length-5]&flagEndHeaders != 0 {
			break
		}
		if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
			return err
		}
		length = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		if f.hdr[3] != frameContinuation || binary.BigEndian.Uint32(f.hdr[5:9])&0x7fffffff != sid ||
			len(f.raw)+9+length > hpackFixMax {
			f.out = append(f.raw, f.hdr[:]...)
			f.left = length
			f.decBroke = true
			return nil
		}
		f.raw = append(f.raw, f.hdr[:]...)
	}
	f.out = f.raw
	block, prio, ok := headerBlock(f.raw, flags)
	if !ok {
		f.decBroke = true
		return nil
	}
	if fixed := fixBlock(block); fixed != nil {
		f.out, block = headerFrames(prio, fixed, flags, sid), fixed
	}
	f.watch(sid, block)
	return nil
}

// headerBlock is the header block that raw (a HEADERS frame and its
// CONTINUATIONs) carries, and the HEADERS frame's priority fields; false
// when the padding or priority does not fit.
func headerBlock(raw []byte, flags byte) (block, prio []byte, ok bool) {
	for i, first := 0, true; i < len(raw); first = false {
		length := int(raw[i])<<16 | int(raw[i+1])<<8 | int(raw[i+2])
		p := raw[i+9 : i+9+length]
		i += 9 + length
		if first && flags&flagPadded != 0 {
			if len(p) < 1 || int(p[0]) > len(p)-1 {
				return nil, nil, false
			}
			p = p[1 : len(p)-int(p[0])]
		}
		if first && flags&flagPriority != 0 {
			if len(p) < 5 {
				return nil, nil, false
			}
			prio, p = p[:5], p[5:]
		}
		block = append(block, p...)
	}
	return block, prio, true
}

// headerFrames carries block in a HEADERS frame (flags' END_STREAM and
// priority kept, no padding), then CONTINUATIONs, END_HEADERS on the last.
func headerFrames(prio, fixed []byte, flags byte, sid uint32) []byte {
	var out []byte
	typ, fl := byte(frameHeaders), flags&(flagEndStream|flagPriority)
	payload := append(append([]byte(nil), prio...), fixed...)
	for {
		n := min(len(payload), hpackFrameMax)
		f := fl
		if n == len(payload) {
			f |= flagEndHeaders
		}
		out = append(out, byte(n>>16), byte(n>>8), byte(n), typ, f)
		out = binary.BigEndian.AppendUint32(out, sid)
		out = append(out, payload[:n]...)
		payload = payload[n:]
		if len(payload) == 0 {
			return out
		}
		typ, fl = frameContinuation, 0
	}
}

// fixBlock returns the header block b with every Huffman string that
// only its overlong padding keeps from decoding written as a plain
// literal, or nil when there is none or b does not parse.
func fixBlock(b []byte) []byte {
	var out []byte
	changed := false
	for i := 0; i < len(b); {
		c := b[i]
		start := i
		var prefix uint8
		literal := true
		switch {
		case c&0x80 != 0: // indexed
			prefix, literal = 7, false
		case c&0xc0 == 0x40: // literal with incremental indexing
			prefix = 6
		case c&0xe0 == 0x20: // dynamic table size update
			prefix, literal = 5, false
		default: // literal without indexing, never indexed
			prefix = 4
		}
		idx, n := hpackInt(b[i:], prefix)
		if n == 0 {
			return nil
		}
		i += n
		out = append(out, b[start:i]...)
		if !literal {
			continue
		}
		strings := 1
		if idx == 0 {
			strings = 2 // a new name, then the value
		}
		for range strings {
			if i >= len(b) {
				return nil
			}
			huff := b[i]&0x80 != 0
			l, n := hpackInt(b[i:], 7)
			if n == 0 || l > uint64(len(b)-i-n) {
				return nil
			}
			s := b[i+n : i+n+int(l)]
			text, fix := "", false
			if huff {
				text, fix = overPadded(s)
			}
			if fix {
				out = appendHpackInt(out, 0, 7, uint64(len(text)))
				out = append(out, text...)
				changed = true
			} else {
				out = append(out, b[i:i+n+int(l)]...)
			}
			i += n + int(l)
		}
	}
	if !changed {
		return nil
	}
	return out
}

// overPadded decodes a Huffman string that ends in 8 to 23 bits of
// padding, all ones: its text and true. A string that decodes as it is,
// or not even without its last bytes, is false.
func overPadded(s []byte) (string, bool) {
	if _, err := hpack.HuffmanDecodeToString(s); err == nil {
		return "", false
	}
	for k := 1; k <= 2 && k <= len(s) && s[len(s)-k] == 0xff; k++ {
		t := s[:len(s)-k]
		// Re-encoding t's text gives t back only when t is that text's
		// code padded with ones: the bytes cut were padding, not code.
		if text, err := hpack.HuffmanDecodeToString(t); err == nil && bytes.Equal(hpack.AppendHuffmanString(nil, text), t) {
			return text, true
		}
	}
	return "", false
}

// hpackInt decodes an HPACK integer with an n-bit prefix (RFC 7541
// 5.1): its value and length, or length 0 when b ends first or the value
// is past 2^28.
func hpackInt(b []byte, n uint8) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	mask := uint64(1)<<n - 1
	v := uint64(b[0]) & mask
	if v < mask {
		return v, 1
	}
	var m uint
	for i := 1; i < len(b) && i <= 5; i++ {
		v += uint64(b[i]&0x7f) << m
		m += 7
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// appendHpackInt appends v as an HPACK integer with an n-bit prefix, the
// first byte's other bits being first.
func appendHpackInt(dst []byte, first byte, n uint8, v uint64) []byte {
	mask := uint64(1)<<n - 1
	if v < mask {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(mask))
	v -= mask
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
