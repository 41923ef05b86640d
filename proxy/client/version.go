package client

import (
	"bufio"
	"bytes"

	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/httphead"
)

// nginx takes a request line's HTTP/1.x with x above 1 ("GET / HTTP/1.9")
// as HTTP/1.1: the connection is kept unless the client sends
// "Connection: close", a Host line is required, and $server_protocol and
// $request keep the version as sent. fasthttp takes every version but
// exactly HTTP/1.1 as HTTP/1.0: it closes the connection after the answer
// and frames it for HTTP/1.0. HeadReceived, fasthttp's HeaderReceived hook,
// runs after the head is parsed and before fasthttp reads the body and
// decides on keep-alive and framing: it makes such a request HTTP/1.1 for
// fasthttp and keeps the version sent at the target's end, after a space
// (no target read from a request line has one); UnmaskTarget, first thing
// in every handler, puts it back, so that the request the handler sees
// has the version as sent, and HTTP11 says it is one nginx takes as 1.1.

// fasthttp refuses two of those heads outright: a minor version of two
// digits or three ("HTTP/1.10", nginx's limit is 999) and Transfer-Encoding in a
// request that is not HTTP/1.1 ("HTTP/1.9" with chunked). So, before
// fasthttp reads a head, VersionAsHTTP11 makes a later HTTP/1.x request
// line's version "HTTP/1.1" where it lies in the read buffer, and returns
// the version as sent for HeadReceived.

// VersionAsHTTP11 waits for the next head's request line in br (leading
// empty lines skipped, as nginx) and, when its version is a later HTTP/1.x,
// rewrites it to "HTTP/1.1" in br's buffer and copies the version as sent
// into sent: its length, 0 when the line was left as it is (another
// version, no whole line in the buffer, an error: fasthttp meets it).
func VersionAsHTTP11(br *bufio.Reader, sent *[10]byte) int {
	var b []byte
	start, end := -1, -1
	for n := max(br.Buffered(), 1); ; n = br.Buffered() + 1 {
		// Peek(n) reads until n bytes are there (more may come), and
		// gives n.
		if _, err := br.Peek(n); err != nil {
			return 0
		}
		b, _ = br.Peek(br.Buffered())
		if start, end = requestLineAt(b); end >= 0 || len(b) >= br.Size() {
			break
		}
	}
	if end < 0 {
		return 0
	}
	line := bytes.TrimRight(b[start:end-1], "\r") // b[end-1] is its LF; one byte's cutset is TrimRight's fast path
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 || !laterHTTP1(line[sp+1:]) {
		return 0
	}
	at := start + sp + 1 // the version's offset in b
	v := b[at : start+len(line)]
	n := copy(sent[:], v)
	if len(v) == 8 {
		v[7] = '1'
		return n
	}
	// "HTTP/1.NN" and "HTTP/1.NNN" are longer than "HTTP/1.1": the bytes
	// before the version move on by the difference, which is discarded.
	d := len(v) - 8
	copy(b[d:at+d], b[:at])
	copy(b[at+d:], "HTTP/1.1")
	_, _ = br.Discard(d)
	return n
}

// RestoreVersion is raw (a head, or what came of it) with the request
// line's version as sent, when VersionAsHTTP11 rewrote it to "HTTP/1.1":
// what nginx logs of a head it refused. raw itself when there is nothing
// to restore.
func RestoreVersion(raw, sent []byte) []byte {
	start, end := requestLineAt(raw)
	if len(sent) == 0 || end < 0 {
		return raw
	}
	line := bytes.TrimRight(raw[start:end], "\r\n")
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
		return raw
	}
	at := start + len(line) - len("HTTP/1.1")
	out := make([]byte, 0, len(raw)+len(sent))
	out = append(append(append(out, raw[:at]...), sent...), raw[start+len(line):]...)
	return out
}

// requestLineAt is where the request line lies in b, from its first byte to
// just past its LF, after any empty lines before it; end is -1 when b has
// no whole one.
func requestLineAt(b []byte) (start, end int) {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, -1
		}
		if len(bytes.TrimRight(b[i:i+j], "\r")) > 0 {
			return i, i + j + 1
		}
		i += j + 1
	}
}

// HeadReceived runs after the head is parsed and before its body is
// read: the later HTTP/1.x versions as HTTP/1.1 (above), then
// MaskTarget. sent is the version as sent when VersionAsHTTP11 rewrote
// it, nil otherwise.
func HeadReceived(h *fasthttp.RequestHeader, sent []byte) fasthttp.RequestConfig {
	if len(sent) > 0 && h.IsHTTP11() {
		t := h.RequestURI()
		m := make([]byte, 0, len(t)+1+len(sent))
		h.SetRequestURIBytes(append(append(append(m, t...), ' '), sent...))
		return MaskTarget(h)
	}
	if p := h.Protocol(); laterHTTP1(p) {
		t := h.RequestURI()
		m := make([]byte, 0, len(t)+1+len(p))
		h.SetRequestURIBytes(append(append(append(m, t...), ' '), p...))
		h.SetProtocol("HTTP/1.1")
		// fasthttp closes a request other than HTTP/1.1 unless it says
		// keep-alive; HTTP/1.1 closes only on "Connection: close".
		h.ResetConnectionClose()
		if connectionClose(h.RawHeaders()) {
			h.SetConnectionClose()
		}
	}
	return MaskTarget(h)
}

// unmaskVersion undoes HeadReceived's version mask.
func unmaskVersion(h *fasthttp.RequestHeader) {
	t := h.RequestURI()
	i := bytes.LastIndexByte(t, ' ')
	if i < 0 || !laterHTTP1(t[i+1:]) {
		return
	}
	p := string(t[i+1:])
	h.SetRequestURIBytes(append([]byte(nil), t[:i]...))
	h.SetProtocol(p)
}

// HTTP11 reports whether h is a request nginx takes as HTTP/1.1: HTTP/1.1
// or a later HTTP/1.x.
func HTTP11(h *fasthttp.RequestHeader) bool {
	return h.IsHTTP11() || laterHTTP1(h.Protocol())
}

// laterHTTP1 reports whether p is "HTTP/1.x" with x from 2 to 999
// (nginx's limit), written without a leading zero.
func laterHTTP1(p []byte) bool {
	if len(p) < 8 || len(p) > 10 || !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return false
	}
	if len(p) == 8 {
		return p[7] >= '2' && p[7] <= '9'
	}
	if p[7] == '0' {
		return false
	}
	for _, c := range p[7:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// connectionClose reports whether the raw header lines have a Connection
// line with the close option.
func connectionClose(raw []byte) bool {
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(name, []byte("connection")) {
			continue
		}
		for _, o := range bytes.Split(value, []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(o), []byte("close")) {
				return true
			}
		}
	}
	return false
}
