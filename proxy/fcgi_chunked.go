package proxy

import (
	"io"
	"strconv"

	"spillway/proxy/client"
)

// chunkedSocketWriter lets a body without a Content-Length (every FastCGI
// answer that did not fit the first read, or a chunked HTTP upstream) go
// straight to the client socket like a body with one: it frames what the
// spool writes as HTTP/1.1 chunks around client.SocketWriter, which reports a
// stalled client to the spool. The spool then spills to the temp file only
// when the client stops draining (nginx's rule), not whenever the buffers
// are full. fasthttp sent the head ("Transfer-Encoding: chunked") before
// and writes the last chunk ("0\r\n\r\n") after WriteTo returns.
type chunkedSocketWriter struct {
	*client.SocketWriter
	size [24]byte
}

var crlf = []byte("\r\n")

func (w *chunkedSocketWriter) Write(p []byte) (int, error) {
	n, err := w.WriteVec([][]byte{p})
	return int(n), err
}

// WriteVec writes bufs as one chunk, with one writev. It returns the body
// bytes written, without the framing.
func (w *chunkedSocketWriter) WriteVec(bufs [][]byte) (int64, error) {
	var total int64
	for _, b := range bufs {
		total += int64(len(b))
	}
	if total == 0 {
		return 0, nil
	}
	var vec [16 + 2][]byte
	head := append(strconv.AppendInt(w.size[:0], total, 16), crlf...)
	vec[0] = head
	n := 1 + copy(vec[1:len(vec)-1], bufs)
	if n-1 < len(bufs) {
		// More slices than one writev takes: one chunk each time.
		k, err := w.WriteVec(bufs[:n-1])
		if err != nil {
			return k, err
		}
		k2, err := w.WriteVec(bufs[n-1:])
		return k + k2, err
	}
	vec[n] = crlf
	k, err := w.SocketWriter.WriteVec(vec[:n+1])
	return min(max(k-int64(len(head)), 0), total), err
}

// ReadFrom sends a temp-file range as one chunk: the size line, the range
// through sendfile, then CRLF.
func (w *chunkedSocketWriter) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	if lr.N <= 0 {
		return 0, nil
	}
	head := append(strconv.AppendInt(w.size[:0], lr.N, 16), crlf...)
	if _, err := w.SocketWriter.Write(head); err != nil {
		return 0, err
	}
	n, err := w.SocketWriter.ReadFrom(lr)
	if err != nil {
		return n, err
	}
	_, err = w.SocketWriter.Write(crlf)
	return n, err
}
