package upstream

import (
	"bufio"
	"errors"
	"io"
)

// ChunkedReader decodes an upstream's chunked body as nginx's
// ngx_http_parse_chunked does: a hex size (at most 15 digits, so it cannot
// overflow), then optionally ';', a blank or a tab and anything up to the
// line end, which is CRLF or a bare LF;
// the data, then CRLF or a bare LF; after the last chunk, trailer lines up
// to an empty one, which are dropped (nginx does not pass them on). fasthttp's
// reader wants CRLF everywhere and refused the bare-LF bodies nginx takes.
// It reads exactly the body, so the connection can be reused after io.EOF.
type ChunkedReader struct {
	br   *bufio.Reader
	left int64 // data bytes left in the current chunk
	done bool
	err  error
}

// errInvalidChunk is a framing error: nginx's "upstream sent invalid
// chunked response" (isBadChunk).
var errInvalidChunk = errors.New("invalid chunked body")

func NewChunkedReader(br *bufio.Reader) *ChunkedReader { return &ChunkedReader{br: br} }

func (r *ChunkedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.done {
		return 0, io.EOF
	}
	if r.left == 0 {
		n, err := r.size()
		if err != nil {
			return 0, r.fail(err)
		}
		if n == 0 {
			if err := r.trailers(); err != nil {
				return 0, r.fail(err)
			}
			r.done = true
			return 0, io.EOF
		}
		r.left = n
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	if err != nil {
		return n, r.fail(err)
	}
	if r.left == 0 {
		if err := r.lineEnd(); err != nil {
			return n, r.fail(err)
		}
	}
	return n, nil
}

// fail keeps the first error; the end of the stream inside the body is a
// premature close.
func (r *ChunkedReader) fail(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	r.err = err
	return err
}

// size reads a chunk-size line.
func (r *ChunkedReader) size() (int64, error) {
	var n int64
	digits := 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, err
		}
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			d = (c | 0x20) - 'a' + 10
		default:
			if digits == 0 {
				return 0, errInvalidChunk
			}
			return n, r.sizeRest(c)
		}
		if digits++; digits > 15 {
			return 0, errInvalidChunk
		}
		n = n<<4 | int64(d)
	}
}

// sizeRest reads what follows the size digits, starting with c: the line
// end, or ';', a blank or a tab and then anything up to it (nginx's
// sw_chunk_extension).
func (r *ChunkedReader) sizeRest(c byte) error {
	ext := false
	for {
		switch {
		case c == '\r':
			return r.expect('\n')
		case c == '\n':
			return nil
		case ext:
		case c == ';' || c == ' ' || c == '\t':
			ext = true
		default:
			return errInvalidChunk
		}
		var err error
		if c, err = r.br.ReadByte(); err != nil {
			return err
		}
	}
}

// lineEnd reads the CRLF or bare LF after a chunk's data.
func (r *ChunkedReader) lineEnd() error {
	c, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	switch c {
	case '\r':
		return r.expect('\n')
	case '\n':
		return nil
	}
	return errInvalidChunk
}

func (r *ChunkedReader) expect(want byte) error {
	c, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	if c != want {
		return errInvalidChunk
	}
	return nil
}

// trailers skips trailer lines up to the empty one.
func (r *ChunkedReader) trailers() error {
	for {
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return errInvalidChunk // a trailer line longer than proxy_buffer_size
		}
		if err != nil {
			return err
		}
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			return nil
		}
	}
}
