package proxy

import (
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
)

// An HTTP/1.0 client cannot read a chunked body, and fasthttp frames every
// streamed body of unknown length as chunked. nginx (ngx_http_chunked_filter
// only chunks for HTTP/1.1) sends such a body to an HTTP/1.0 client as it
// comes, without Content-Length or Transfer-Encoding, with "Connection:
// close", and ends it by closing the connection. setBody does the same:
// the head and the body go out from a hijack handler, which fasthttp runs
// with ctx still valid and closes the connection after.

// setBody hands the response body to the client: through fasthttp when the
// length is known or the client speaks HTTP/1.1, else unframed.
func (x *exchange) setBody(body io.Reader, cl int) {
	if cl >= 0 || client.HTTP11(&x.ctx.Request.Header) || x.h2 != nil { // HTTP/2 frames every body
		x.ctx.SetBodyStream(x.trailing(body), cl) // add_trailer's at its end (headers.go)
		return
	}
	resp := &x.ctx.Response
	resp.Header.SetServer(ServerName)
	resp.Header.SetContentLength(-2) // identity: no framing header, Connection: close
	head := resp.Header.AppendBytes(nil)
	hijack(x.ctx, func(c net.Conn) { x.sendUnframed(c, head, body) })
}

// sendUnframed writes head and body to c, then ends the body stream as
// fasthttp would (Close, then CloseWithError with the copy's error), which
// finishes the exchange.
func (x *exchange) sendUnframed(c net.Conn, head []byte, body io.Reader) {
	x.clientWDL = time.Time{} // fasthttp cleared the deadlines before the hijack
	x.sendDeadline()
	if w := x.hijackRate(c); w != nil {
		c = w // limit_rate: the loop's connection no longer carries it (limitrate.go)
	}
	_, err := c.Write(head)
	if err == nil {
		if wt, ok := body.(fasthttp.BodyWriterTo); ok && wt.SupportsBodyWriteTo() {
			_, err = wt.WriteTo(c)
		} else {
			_, err = io.Copy(c, struct{ io.Reader }{body})
		}
	}
	if cl, ok := body.(io.Closer); ok {
		_ = cl.Close()
	}
	if ce, ok := body.(fasthttp.ReadCloserWithError); ok {
		_ = ce.CloseWithError(err)
	}
}
