// Package fastcgi is the client half of the FastCGI protocol (version 1, the
// Responder role) as nginx's fastcgi module speaks it: one request per
// connection at a time, request id 1, an optional keep-conn flag.
//
// It only frames and unframes bytes; it does not dial, time out or log.
// Writing a request is appending records to a byte slice (AppendBeginRequest,
// AppendParams, AppendStdin) plus a StdinReader that frames a streamed body.
// Reading a response is a Reader over the connection's *bufio.Reader that
// returns the STDOUT stream's bytes, hands every STDERR record to a callback
// and returns io.EOF at END_REQUEST; ParseHeader turns the CGI header at the
// start of STDOUT into a status and header lines with nginx's rules.
//
// Nothing here is safe for concurrent use; a Reader and a StdinReader belong
// to one request on one connection.
package fastcgi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Record types (FastCGI 1.0 specification, section 8).
const (
	TypeBeginRequest    = 1
	TypeAbortRequest    = 2
	TypeEndRequest      = 3
	TypeParams          = 4
	TypeStdin           = 5
	TypeStdout          = 6
	TypeStderr          = 7
	TypeData            = 8
	TypeGetValues       = 9
	TypeGetValuesResult = 10
	TypeUnknownType     = 11
)

// RoleResponder is the only role nginx (and spillway) uses.
const RoleResponder = 1

// flagKeepConn asks the application not to close the connection after the
// request (nginx's fastcgi_keep_conn on).
const flagKeepConn = 1

// HeaderLen is the size of a record header.
const HeaderLen = 8

// MaxContent is the largest content one record carries.
const MaxContent = 65535

// RequestID is the id of every request spillway sends: one request per
// connection at a time, as nginx.
const RequestID = 1

// appendHeader appends a record header for content of length n.
func appendHeader(dst []byte, typ uint8, n, pad int) []byte {
	return append(dst, 1, typ, 0, RequestID, byte(n>>8), byte(n), byte(pad), 0)
}

// padFor is the padding nginx adds so that records stay 8-byte aligned.
func padFor(n int) int { return (8 - n%8) % 8 }

// AppendRecord appends one or more records of type typ carrying content,
// split at MaxContent (rounded down to a multiple of 8), each padded to 8
// bytes. Empty content appends one empty record (the end of a stream).
func AppendRecord(dst []byte, typ uint8, content []byte) []byte {
	const chunk = MaxContent &^ 7
	for {
		n := min(len(content), chunk)
		pad := padFor(n)
		dst = appendHeader(dst, typ, n, pad)
		dst = append(dst, content[:n]...)
		for range pad {
			dst = append(dst, 0)
		}
		content = content[n:]
		if len(content) == 0 {
			return dst
		}
	}
}

// AppendBeginRequest appends BEGIN_REQUEST for the Responder role.
func AppendBeginRequest(dst []byte, keepConn bool) []byte {
	var flags byte
	if keepConn {
		flags = flagKeepConn
	}
	dst = appendHeader(dst, TypeBeginRequest, 8, 0)
	return append(dst, 0, RoleResponder, flags, 0, 0, 0, 0, 0)
}

// AppendPair appends one name-value pair in FastCGI's encoding: each length
// in one byte below 128, else in four bytes with the top bit set.
func AppendPair(dst []byte, name, value []byte) []byte {
	dst = appendLen(dst, len(name))
	dst = appendLen(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

func appendLen(dst []byte, n int) []byte {
	if n < 128 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}

// AppendParams appends pairs (AppendPair's encoding) as PARAMS records,
// followed by the empty PARAMS record that ends the stream.
func AppendParams(dst, pairs []byte) []byte {
	if len(pairs) > 0 {
		dst = AppendRecord(dst, TypeParams, pairs)
	}
	return AppendRecord(dst, TypeParams, nil)
}

// AppendStdin appends content as STDIN records; empty content is the end of
// the request body.
func AppendStdin(dst, content []byte) []byte { return AppendRecord(dst, TypeStdin, content) }

// ParsePairs decodes a name-value pair stream (the inverse of AppendPair);
// used by tests and fuzzing.
func ParsePairs(b []byte) (names, values [][]byte, err error) {
	for len(b) > 0 {
		var nl, vl int
		if nl, b, err = readLen(b); err != nil {
			return nil, nil, err
		}
		if vl, b, err = readLen(b); err != nil {
			return nil, nil, err
		}
		if nl+vl > len(b) || nl < 0 || vl < 0 {
			return nil, nil, errShortPair
		}
		names = append(names, b[:nl])
		values = append(values, b[nl:nl+vl])
		b = b[nl+vl:]
	}
	return names, values, nil
}

var errShortPair = errors.New("fastcgi: truncated name-value pair")

func readLen(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShortPair
	}
	if b[0] < 128 {
		return int(b[0]), b[1:], nil
	}
	if len(b) < 4 {
		return 0, nil, errShortPair
	}
	return int(binary.BigEndian.Uint32(b) &^ (1 << 31)), b[4:], nil
}

// StdinReader frames a request body as STDIN records as it is read, ending
// with the empty STDIN record, so a body streams to the application without
// being copied whole.
type StdinReader struct {
	r    io.Reader
	buf  []byte // framed bytes not yet returned: buf[off:]
	off  int
	eof  bool // the body is done and the closing record was queued
	done bool
}

// NewStdinReader returns a reader of r's bytes framed as STDIN records.
func NewStdinReader(r io.Reader) *StdinReader { return &StdinReader{r: r} }

// Reset makes s frame r, keeping its staging buffer.
func (s *StdinReader) Reset(r io.Reader) { *s = StdinReader{r: r, buf: s.buf[:0]} }

// stdinChunk is the content of one STDIN record: large records mean few
// headers, and 32k keeps the staging buffer small.
const stdinChunk = 32 << 10

func (s *StdinReader) Read(p []byte) (int, error) {
	for s.off == len(s.buf) {
		if s.done {
			return 0, io.EOF
		}
		if s.eof {
			s.buf, s.off, s.done = AppendStdin(s.buf[:0], nil), 0, true
			break
		}
		if cap(s.buf) < HeaderLen+stdinChunk+8 {
			s.buf = make([]byte, 0, HeaderLen+stdinChunk+8)
		}
		b := s.buf[:HeaderLen+stdinChunk]
		var n int
		var err error
		if _, ok := s.r.(streamed); ok {
			// Each read becomes a record at once, as nginx sends each
			// buffer it reads (fastcgi_request_buffering off).
			n, err = s.r.Read(b[HeaderLen:])
		} else {
			n, err = io.ReadFull(s.r, b[HeaderLen:])
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			s.eof = true
		case err != nil:
			return 0, err
		}
		if n == 0 {
			continue
		}
		pad := padFor(n)
		appendHeader(b[:0], TypeStdin, n, pad)
		b = b[:HeaderLen+n]
		for range pad {
			b = append(b, 0)
		}
		s.buf, s.off = b, 0
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

// streamed is a body read from the client as it arrives (the proxy's
// upstream.Streamed): Ready reports whether a Read returns without waiting.
type streamed interface{ Ready() bool }

// Ready reports whether Read returns without waiting: framed bytes are
// queued, the body is over, or its source (a streamed body) is ready. A
// StdinReader is so an upstream.Streamed itself.
func (s *StdinReader) Ready() bool {
	if s.off < len(s.buf) || s.eof || s.done {
		return true
	}
	if st, ok := s.r.(streamed); ok {
		return st.Ready()
	}
	return true
}

// ProtocolError is a response that breaks FastCGI's framing. Its text is
// nginx's error-log message for the same fault.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// Reader reads a response: Read returns the STDOUT stream's bytes and io.EOF
// once END_REQUEST has been read whole (its padding too, so that a kept
// connection is at a record boundary). A connection that closes before
// END_REQUEST gives io.ErrUnexpectedEOF; socket errors are returned as they
// are, so their errno survives.
type Reader struct {
	R *bufio.Reader
	// Stderr receives the content of each STDERR record, trimmed as nginx
	// trims it (trailing CR, LF, '.' and ' '). The slice is only valid
	// during the call.
	Stderr func(msg []byte)

	left, pad    int   // content and padding left of the current record
	typ          uint8 // the current record's type
	StdoutClosed bool  // the empty STDOUT record arrived
	Ended        bool  // END_REQUEST arrived
	AppStatus    uint32
	// Stdout counts the STDOUT bytes returned so far.
	Stdout int64
	err    error // sticky
	stderr []byte
}

// Reset makes r read a new response from br.
func (r *Reader) Reset(br *bufio.Reader, stderr func([]byte)) {
	*r = Reader{R: br, Stderr: stderr, stderr: r.stderr[:0]}
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.left > 0 && r.typ == TypeStdout {
			if len(p) == 0 {
				return 0, nil
			}
			n, err := r.R.Read(p[:min(len(p), r.left)])
			r.left -= n
			r.Stdout += int64(n)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				r.err = err
				if n > 0 {
					return n, nil
				}
				return 0, err
			}
			return n, nil
		}
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
}

// BufferedRest reports whether the rest of the response, up to and
// including END_REQUEST, is already in R's buffer, and if so how many
// STDOUT bytes it still holds: a short answer can then be relayed with a
// Content-Length, without waiting on the connection. It reads nothing.
func (r *Reader) BufferedRest() (stdout int, ok bool) {
	if r.Ended {
		return 0, true
	}
	if r.err != nil {
		return 0, false
	}
	b, _ := r.R.Peek(r.R.Buffered())
	skip := r.pad
	if r.typ == TypeStdout {
		stdout, skip = r.left, r.left+r.pad
	}
	if len(b) < skip {
		return 0, false
	}
	b = b[skip:]
	for {
		if len(b) < HeaderLen || b[0] != 1 || b[2] != 0 || b[3] != RequestID {
			return 0, false // incomplete, or an error that Read will report
		}
		n, pad := int(b[4])<<8|int(b[5]), int(b[6])
		if len(b) < HeaderLen+n+pad {
			return 0, false
		}
		switch b[1] {
		case TypeStdout:
			stdout += n
		case TypeStderr:
		case TypeEndRequest:
			return stdout, n >= 8
		default:
			return 0, false
		}
		b = b[HeaderLen+n+pad:]
	}
}

// next consumes everything up to the next STDOUT content: padding, STDERR
// records (handed to Stderr), the empty STDOUT record and END_REQUEST.
func (r *Reader) next() error {
	if r.pad > 0 {
		if _, err := r.R.Discard(r.pad); err != nil {
			return unexpected(err)
		}
		r.pad = 0
	}
	if r.Ended {
		return io.EOF
	}
	h, err := r.R.Peek(HeaderLen)
	if err != nil {
		if err == io.EOF && len(h) == 0 {
			return io.ErrUnexpectedEOF
		}
		return unexpected(err)
	}
	if h[0] != 1 {
		return &ProtocolError{"upstream sent unsupported FastCGI protocol version: " + strconv.Itoa(int(h[0]))}
	}
	typ := h[1]
	switch typ {
	case TypeStdout, TypeStderr, TypeEndRequest:
	default:
		return &ProtocolError{"upstream sent invalid FastCGI record type: " + strconv.Itoa(int(typ))}
	}
	if h[2] != 0 {
		return &ProtocolError{"upstream sent unexpected FastCGI request id high byte: " + strconv.Itoa(int(h[2]))}
	}
	if h[3] != RequestID {
		return &ProtocolError{"upstream sent unexpected FastCGI request id low byte: " + strconv.Itoa(int(h[3]))}
	}
	n := int(h[4])<<8 | int(h[5])
	pad := int(h[6])
	_, _ = r.R.Discard(HeaderLen)
	r.typ, r.left, r.pad = typ, n, pad
	switch typ {
	case TypeStdout:
		if n == 0 {
			r.StdoutClosed = true
		}
	case TypeStderr:
		return r.readStderr()
	case TypeEndRequest:
		if n < 8 {
			return &ProtocolError{"upstream sent invalid FastCGI end request record"}
		}
		b, err := r.R.Peek(n)
		if err != nil {
			return unexpected(err)
		}
		r.AppStatus = binary.BigEndian.Uint32(b)
		_, _ = r.R.Discard(n)
		r.left = 0
		r.Ended = true
		if r.pad > 0 {
			if _, err := r.R.Discard(r.pad); err != nil {
				return unexpected(err)
			}
			r.pad = 0
		}
		return io.EOF
	}
	return nil
}

// readStderr reads one STDERR record whole and passes it on. A record is at
// most 64 KiB, read through a scratch buffer kept across requests.
func (r *Reader) readStderr() error {
	if r.left == 0 {
		return nil
	}
	if cap(r.stderr) < r.left {
		r.stderr = make([]byte, r.left)
	}
	b := r.stderr[:r.left]
	if _, err := io.ReadFull(r.R, b); err != nil {
		return unexpected(err)
	}
	r.left = 0
	if r.Stderr != nil {
		r.Stderr(TrimStderr(b))
	}
	return nil
}

// TrimStderr drops trailing CR, LF, '.' and ' ' as nginx does before it
// logs a STDERR record, keeping at least the first byte.
func TrimStderr(b []byte) []byte {
	m := len(b)
	for m > 1 {
		switch b[m-1] {
		case '\r', '\n', '.', ' ':
			m--
			continue
		}
		break
	}
	return b[:m]
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Header is a parsed CGI response header: the status nginx derives from it
// and the header lines other than Status, in order.
type Header struct {
	Status     int
	StatusLine []byte // "404 Not Found" as the application wrote it; nil when derived
	Names      [][]byte
	Values     [][]byte
}

// Reset empties h, keeping its slices' storage.
func (h *Header) Reset() {
	h.Status, h.StatusLine = 0, nil
	h.Names, h.Values = h.Names[:0], h.Values[:0]
}

// HeaderEnd returns the length of the CGI header at the start of b, through
// the empty line ("\r\n\r\n" or "\n\n"), or 0 if b does not hold it all.
func HeaderEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] != '\n' {
			j++
		}
		if j == len(b) {
			return 0
		}
		line := b[i:j]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			return j + 1
		}
		i = j + 1
	}
	return 0
}

// ParseHeader parses a complete CGI header (HeaderEnd's bytes) into h with
// nginx's rules: header names are tokens (underscores allowed), a Status
// line gives the status (its first three bytes must be digits), else a
// Location line makes it 302, else 200. The slices in h point into head.
func ParseHeader(head []byte, h *Header) error {
	h.Reset()
	var location bool
	for len(head) > 0 {
		i := 0
		for i < len(head) && head[i] != '\n' {
			i++
		}
		line := head[:i]
		if i < len(head) {
			head = head[i+1:]
		} else {
			head = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break
		}
		colon := -1
		for j, c := range line {
			if c == ':' {
				colon = j
				break
			}
			if c <= ' ' || c == 0x7f || c == '/' || c == '(' || c == ')' || c == '"' {
				return errInvalidHeader
			}
		}
		if colon <= 0 {
			return errInvalidHeader
		}
		name := line[:colon]
		value := trimSpace(line[colon+1:])
		for _, c := range value {
			if c == 0 {
				return errInvalidHeader
			}
		}
		switch {
		case equalFold(name, "Status"):
			st, ok := atoi3(value)
			if !ok {
				return &ProtocolError{fmt.Sprintf("upstream sent invalid status \"%s\"", value)}
			}
			h.Status, h.StatusLine = st, value
			continue
		case equalFold(name, "Location"):
			location = true
		}
		h.Names = append(h.Names, name)
		h.Values = append(h.Values, value)
	}
	if h.Status == 0 {
		if location {
			h.Status = 302
		} else {
			h.Status = 200
		}
	}
	return nil
}

var errInvalidHeader = &ProtocolError{"upstream sent invalid header"}

// atoi3 is nginx's ngx_atoi(value, 3): the first three bytes as a number.
func atoi3(v []byte) (int, bool) {
	if len(v) < 3 {
		return 0, false
	}
	n := 0
	for _, c := range v[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
