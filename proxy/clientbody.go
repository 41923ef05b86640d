package proxy

// The request body as the connection loop reads it (conn.go): from the
// connection's read buffer, framed by the head fasthttp parsed (one parser
// decides where a body ends and the next head starts), read only when the
// lifecycle asks for it. Nothing of the body is read ahead of the handler,
// so client_body_timeout, client_max_body_size and a client that leaves
// mid-body all meet the request itself, as in nginx.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"

	"spillway/buffer"
)

// clientBody is one request's body: Content-Length bytes, or a chunked
// body decoded by nginx's rules (ngx_http_parse_chunked: a bare LF ends a
// line, extensions are skipped whatever their length, trailers are read
// and dropped).
type clientBody struct {
	br      *bufio.Reader
	chunked bool
	left    int64 // Content-Length: bytes still to come; chunked: of the current chunk
	n       int64 // body bytes read so far
	// limit is client_max_body_size for a chunked body: a chunk-size
	// line that would take the body past it is refused before its data
	// (setLimit; nginx's "too large chunked body: A+B bytes").
	limit    int64
	dataEnd  bool // chunked: the current chunk's data was read, its CRLF not yet
	eof      bool
	err      error // sticky
	declared int64
	// raw is the connection the read buffer reads, once keepBuffered
	// left the body's first bytes there: the rest is read from it
	// directly, never through the buffer, whose next fill would
	// overwrite them.
	raw io.Reader
}

// errBadChunk is a chunked body nginx's parser refuses: 400 "client sent
// invalid chunked body" (body.go's clientBodyError).
var errBadChunk = errors.New("invalid chunked body")

// maxChunkSize is nginx's bound on a chunk size (NGX_MAX_OFF_T_VALUE / 16
// before the last digit).
const maxChunkSize = (1<<63 - 1) / 16

func (b *clientBody) start(br *bufio.Reader, cl int) {
	*b = clientBody{br: br, chunked: cl < 0, left: int64(cl), declared: int64(cl)}
	if b.chunked {
		b.left = 0
	}
}

// setLimit makes a chunked body refuse a chunk that takes it past limit.
func (b *clientBody) setLimit(limit int64) { b.limit = limit }

// inBuffer reports whether the whole of a Content-Length body is in the
// read buffer already (it came with the head): reading it never waits.
func (b *clientBody) inBuffer() bool {
	return !b.chunked && b.br != nil && int64(b.br.Buffered()) >= b.left
}

// preread returns a Content-Length body that is whole in the read buffer
// (inBuffer) where it lies, and marks it read: the slice is valid until the
// connection's next read, the next request's head (prereadBody).
func (b *clientBody) preread() []byte {
	p, _ := b.br.Peek(int(b.left))
	_, _ = b.br.Discard(len(p))
	b.n += int64(len(p))
	b.left = 0
	b.eof = true
	return p
}

// keepBuffered returns the first bytes of a Content-Length body that did
// not come whole with its head, where they lie in the read buffer, and
// marks them read; the rest is read from raw, the connection under the
// buffer (after the head they read the same bytes). The slice is valid
// until the connection reads the next request's head, as preread's.
func (b *clientBody) keepBuffered(raw io.Reader) []byte {
	p, _ := b.br.Peek(min(b.br.Buffered(), int(b.left)))
	_, _ = b.br.Discard(len(p))
	b.n += int64(len(p))
	b.left -= int64(len(p))
	b.raw = raw
	return p
}

// ready reports whether a Read returns now, without waiting for the
// client: the body is over (or broke), or its next bytes are in the read
// buffer (for a chunked body, a chunk's data after its complete size line,
// or the last chunk with its trailers). A streamed body is sent upstream as
// it comes (upstream.Streamed): what is ready goes with what was read before
// it, as nginx sends each buffer it read, and nothing ready sends what there
// is, so that the upstream gets the head and every part without waiting.
func (b *clientBody) ready() bool {
	if b.err != nil || b.eof || b.br == nil {
		return true
	}
	buf, _ := b.br.Peek(b.br.Buffered())
	if !b.chunked || b.left > 0 {
		return len(buf) > 0 || b.left == 0
	}
	if b.dataEnd { // the line end after the last chunk's data
		switch {
		case len(buf) == 0:
			return false
		case buf[0] == '\n':
			buf = buf[1:]
		case buf[0] == '\r' && len(buf) < 2:
			return false
		case buf[0] == '\r':
			buf = buf[2:]
		default:
			return true // invalid: Read fails at once
		}
	}
	end, ok := chunkHead(buf)
	if end < 0 { // the size line is not complete, unless it is wrong already
		_, valid := chunkSizeOf(buf[:min(len(buf), 1)])
		return len(buf) > 0 && !valid
	}
	return ok
}

// chunkHead looks at the buffered bytes from a chunk-size line on: the
// offset just past the line (past the trailers for the last chunk) and
// true when what follows can be read without waiting (the last chunk whole,
// or a chunk with at least one data byte); end -1 when the line is not
// complete yet.
func chunkHead(buf []byte) (end int, ok bool) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return -1, true
	}
	size, valid := chunkSizeOf(buf[:i])
	if !valid {
		return i + 1, true // Read refuses it at once
	}
	end = i + 1
	if size > 0 {
		return end, len(buf) > end
	}
	for { // the last chunk: trailer lines up to an empty one
		j := bytes.IndexByte(buf[end:], '\n')
		if j < 0 {
			return end, false
		}
		empty := j == 0 || j == 1 && buf[end] == '\r'
		end += j + 1
		if empty {
			return end, true
		}
	}
}

// chunkSizeOf parses a chunk-size line without its LF as chunkSize does:
// false when chunkSize would refuse it.
func chunkSizeOf(line []byte) (int64, bool) {
	var size int64
	digits := 0
	for _, c := range line {
		d := int64(unhex(c))
		if d < 0 {
			return size, digits > 0 && (c == '\r' || c == ';' || c == ' ' || c == '\t')
		}
		if size > maxChunkSize {
			return 0, false
		}
		size = size*16 + d
		digits++
	}
	return size, digits > 0
}

// fillReady adds to the read buffer what of the body the client's socket
// holds already (socketUnread), up to want bytes: nginx's preread reads the
// socket until EAGAIN, so a body written just after its head is pre-read
// as one that came with it. It reports whether it read anything. A TLS
// connection is left as it is: what its socket holds are records, and a
// partial one would wait.
func (b *clientBody) fillReady(c net.Conn, want int) bool {
	cc, ok := c.(*clientConn)
	if !ok || b.br == nil || cc.TCPConn == nil {
		return false
	}
	rc, err := cc.SyscallConn()
	if err != nil {
		return false
	}
	avail := 0
	_ = rc.Control(func(fd uintptr) { avail = socketUnread(fd) })
	if avail <= 0 {
		return false
	}
	// The socket holds avail bytes: Peek reads them without waiting.
	n := min(b.br.Buffered()+min(avail, want), b.br.Size())
	_, _ = b.br.Peek(n)
	return true
}

// chunkedScan walks a chunked body in the read buffer from its start, as
// far as it is there: whole when its end is there too; err when reading it
// will fail there (errBadChunk, or a *buffer.LimitError for a chunk past
// limit, client_max_body_size; 0 is none), which nginx finds in its preread
// before it contacts an upstream.
func (b *clientBody) chunkedScan(limit int64) (whole bool, err error) {
	if b.br == nil {
		return false, nil
	}
	buf, _ := b.br.Peek(b.br.Buffered())
	var n int64
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if _, valid := chunkSizeOf(buf[:min(len(buf), 1)]); len(buf) > 0 && !valid {
				return false, errBadChunk
			}
			return false, nil
		}
		size, valid := chunkSizeOf(buf[:i])
		switch {
		case !valid:
			return false, errBadChunk
		case size == 0:
			_, ok := chunkHead(buf)
			return ok, nil
		case limit > 0 && n+size > limit:
			return false, &buffer.LimitError{Limit: limit, Size: n + size}
		}
		buf = buf[i+1:]
		if int64(len(buf)) <= size {
			return false, nil
		}
		n += size
		buf = buf[size:]
		switch {
		case buf[0] == '\n':
			buf = buf[1:]
		case buf[0] == '\r' && len(buf) < 2:
			return false, nil
		case buf[0] == '\r' && buf[1] == '\n':
			buf = buf[2:]
		default:
			return false, errBadChunk
		}
	}
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.chunked {
		return b.readChunked(p)
	}
	if b.left == 0 {
		b.eof = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	var n int
	var err error
	if b.raw != nil {
		n, err = b.raw.Read(p)
	} else {
		n, err = b.br.Read(p)
	}
	b.left -= int64(n)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.err = io.ErrUnexpectedEOF // the client closed before the declared end
		return n, b.err
	case err != nil:
		b.err = err
		return n, err
	case b.left == 0:
		b.eof = true
		return n, io.EOF
	}
	return n, nil
}

func (b *clientBody) readChunked(p []byte) (int, error) {
	if b.left == 0 {
		if b.dataEnd {
			if err := b.lineEnd(); err != nil {
				return 0, b.fail(err)
			}
			b.dataEnd = false
		}
		size, err := b.chunkSize()
		if err != nil {
			return 0, b.fail(err)
		}
		if size == 0 {
			if err := b.trailers(); err != nil {
				return 0, b.fail(err)
			}
			b.eof = true
			return 0, io.EOF
		}
		if b.limit > 0 && b.n+size > b.limit {
			return 0, b.fail(&buffer.LimitError{Limit: b.limit, Size: b.n + size})
		}
		b.left = size
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	b.n += int64(n)
	if b.left == 0 {
		b.dataEnd = true
	}
	if err != nil {
		return n, b.fail(err)
	}
	return n, nil
}

func (b *clientBody) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.err = err
	return err
}

// chunkSize reads a chunk-size line: hex digits, then an extension
// (";", or a space or tab first) skipped to the end of the line.
func (b *clientBody) chunkSize() (int64, error) {
	var size int64
	digits := 0
	for {
		c, err := b.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if d := int64(unhex(c)); d >= 0 {
			if size > maxChunkSize {
				return 0, errBadChunk
			}
			size = size*16 + d
			digits++
			continue
		}
		if digits == 0 {
			return 0, errBadChunk
		}
		switch c {
		case '\r':
			return size, b.lf()
		case '\n':
			return size, nil
		case ';', ' ', '\t':
			return size, b.skipLine()
		}
		return 0, errBadChunk
	}
}

// lineEnd reads the CRLF (or bare LF) after a chunk's data.
func (b *clientBody) lineEnd() error {
	c, err := b.br.ReadByte()
	if err != nil {
		return err
	}
	switch c {
	case '\n':
		return nil
	case '\r':
		return b.lf()
	}
	return errBadChunk
}

func (b *clientBody) lf() error {
	c, err := b.br.ReadByte()
	if err != nil {
		return err
	}
	if c != '\n' {
		return errBadChunk
	}
	return nil
}

// skipLine skips to the end of the line, whatever its length.
func (b *clientBody) skipLine() error {
	for {
		_, err := b.br.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			return err
		}
	}
}

// trailers reads the trailer section after the last chunk, up to its
// empty line, and drops it (nginx 1.22 keeps no request trailers).
func (b *clientBody) trailers() error {
	for {
		c, err := b.br.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case '\n':
			return nil
		case '\r':
			return b.lf()
		}
		if err := b.skipLine(); err != nil {
			return err
		}
	}
}

// unread is what is left of a Content-Length body; -1 for a chunked one.
func (b *clientBody) unread() int64 {
	if b.chunked {
		return -1
	}
	return b.left
}

// discard reads what the handler left of the body, up to limit bytes:
// false when more is left (or the body broke), and the connection must
// close rather than read the rest as the next request.
func (b *clientBody) discard(limit int64) bool {
	if b.eof {
		return true
	}
	if b.err != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, b, limit+1)
	return err == io.EOF
}
