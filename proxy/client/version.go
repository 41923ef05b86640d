package client

import (
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

// HeadReceived is fasthttp's HeaderReceived hook: the later HTTP/1.x
// versions as HTTP/1.1 (above), then MaskTarget.
func HeadReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
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

// laterHTTP1 reports whether p is "HTTP/1.x" with x from 2 to 9.
// (fasthttp refuses a minor version of two digits.)
func laterHTTP1(p []byte) bool {
	return len(p) == 8 && bytes.HasPrefix(p, []byte("HTTP/1.")) && p[7] >= '2' && p[7] <= '9'
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
