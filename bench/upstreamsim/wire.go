package upstreamsim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// request is a parsed request head. The upstream parses heads itself rather
// than through net/http or fasthttp so that it controls every byte it reads
// and every byte it writes back.
type request struct {
	method, target, path, proto string
	header                      map[string]string // lower-case names; repeated names keep the last value
	contentLength               int64             // -1 when there is no Content-Length
	chunked                     bool
	wantClose                   bool // the client asked to close, or HTTP/1.0 without keep-alive
	http10                      bool
	expect100                   bool
	headSize                    int // bytes of request line and headers, including the empty line
	readAt                      time.Time
}

func (r *request) key() string { return r.method + " " + r.path }

func (r *request) hasBody() bool { return r.chunked || r.contentLength > 0 }

var (
	errHeadTooLarge = errors.New("request head too large")
	errBadRequest   = errors.New("malformed request")
)

// headError says how reading a request head ended and how many of its bytes
// had arrived; 0 bytes with a timeout is an idle keepalive connection.
type headError struct {
	err  error
	read int
}

func (e *headError) Error() string {
	return fmt.Sprintf("reading request head (%d bytes): %v", e.read, e.err)
}
func (e *headError) Unwrap() error { return e.err }

// readHead reads one request head of at most limit bytes.
func readHead(br *bufio.Reader, limit int) (*request, error) {
	var lines [][]byte
	read := 0
	for {
		line, err := readLine(br, &read, limit)
		if err != nil {
			return nil, &headError{err: err, read: read}
		}
		if len(line) == 0 {
			if len(lines) == 0 {
				continue // RFC 9112 2.2: ignore empty lines before the request line
			}
			break
		}
		lines = append(lines, line)
	}
	r := &request{contentLength: -1, header: make(map[string]string), headSize: read, readAt: time.Now()}
	parts := strings.Fields(string(lines[0]))
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil, &headError{err: errBadRequest, read: read}
	}
	r.method, r.target, r.proto = parts[0], parts[1], parts[2]
	r.path, _, _ = strings.Cut(r.target, "?")
	r.http10 = r.proto == "HTTP/1.0"
	for _, l := range lines[1:] {
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return nil, &headError{err: errBadRequest, read: read}
		}
		r.header[strings.ToLower(string(name))] = strings.TrimSpace(string(value))
	}
	if te, ok := r.header["transfer-encoding"]; ok {
		if !strings.EqualFold(te, "chunked") {
			return nil, &headError{err: errBadRequest, read: read}
		}
		r.chunked = true
	} else if cl, ok := r.header["content-length"]; ok {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return nil, &headError{err: errBadRequest, read: read}
		}
		r.contentLength = n
	}
	conn := strings.ToLower(r.header["connection"])
	r.wantClose = strings.Contains(conn, "close") || (r.http10 && !strings.Contains(conn, "keep-alive"))
	r.expect100 = strings.EqualFold(r.header["expect"], "100-continue")
	return r, nil
}

// readLine returns one line without its CRLF, counting its bytes into *read.
func readLine(br *bufio.Reader, read *int, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*read += len(chunk)
		if *read > limit {
			return nil, errHeadTooLarge
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}

// readBody reads a request body of at most limit bytes (-1: no limit). It
// returns errBodyTooLarge as soon as the body is known to be larger.
func readBody(br *bufio.Reader, r *request, limit int64) ([]byte, error) {
	switch {
	case r.chunked:
		var body bytes.Buffer
		cr := httputil.NewChunkedReader(br)
		src := io.Reader(cr)
		if limit >= 0 {
			src = io.LimitReader(cr, limit+1)
		}
		if _, err := body.ReadFrom(src); err != nil {
			return nil, err
		}
		if limit >= 0 && int64(body.Len()) > limit {
			return nil, errBodyTooLarge
		}
		// The chunked reader stops after "0\r\n"; trailers and the final CRLF follow.
		read := 0
		for {
			line, err := readLine(br, &read, 64<<10)
			if err != nil {
				return nil, err
			}
			if len(line) == 0 {
				return body.Bytes(), nil
			}
		}
	case r.contentLength > 0:
		if limit >= 0 && r.contentLength > limit {
			return nil, errBodyTooLarge
		}
		body := make([]byte, r.contentLength)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return nil, nil
}

var errBodyTooLarge = errors.New("request body too large")

// resetConn closes c with an RST: SO_LINGER 0 makes close() abort the
// connection instead of sending FIN. Unsent data is discarded, so callers
// that wrote a partial response first call waitSent.
func resetConn(c streamConn) {
	if tc, ok := c.(*net.TCPConn); ok { // a unix socket has no RST: it just closes
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// lingeringClose sends FIN and then reads and discards what the client still
// sends (a request body we did not read) for up to linger, like nginx's
// lingering_close. Closing a socket with unread data would send an RST
// instead of the FIN the behaviour promises.
func lingeringClose(c streamConn, linger time.Duration) {
	_ = c.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(linger))
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
}

// waitSent waits until the kernel has handed every byte written to c to the
// peer (see unsentBytes), so that a following RST does not discard them.
func waitSent(c streamConn, max time.Duration, done <-chan struct{}) {
	deadline := time.Now().Add(max)
	for {
		n, err := unsentBytes(c)
		if err != nil || n == 0 || time.Now().After(deadline) {
			return
		}
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}
