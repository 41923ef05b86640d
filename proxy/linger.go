package proxy

import (
	"net"
	"time"

	"spillway/proxy/config"
)

// Lingering close (nginx's lingering_close, lingering_time,
// lingering_timeout). When spillway answers before it has read the request
// body (413 for a body over client_max_body_size, 400 for a broken chunked
// body) and then closes, a client that is still sending would have its
// unread bytes hit a closed socket: the kernel answers them with RST, and an
// RST makes the client's kernel drop the answer it had not read yet. So,
// as nginx does, spillway sends the answer, shuts down its side for writing
// (FIN) and reads and discards what the client still sends, until the
// client closes, lingering_timeout passes without data, or lingering_time
// is up; only then does it close.
//
// fasthttp skips a hijack on a response that closes the connection, so the
// answer is rendered here and written by the hijack handler itself
// (HijackSetNoResponse); the access log has been written by then.

// lingerAfterPage arranges a lingering close for the error page just set on
// x.ctx, which closes the connection: with lingering_close on when the
// request's body was not read whole, with always for every such page.
func (x *exchange) lingerAfterPage() {
	if x.loc == nil || x.h2 != nil { // a stream has no socket to linger on (http2.go)
		return
	}
	lg := x.loc.conf.Lingering
	switch lg.Close {
	case config.LingerOff:
		return
	case config.LingerOn:
		h := &x.ctx.Request.Header
		declared := h.ContentLength() > 0 || h.ContentLength() == -1 // a length, or chunked
		if !declared || x.body != nil {
			return // nothing left unread: close at once
		}
	}
	resp := &x.ctx.Response
	resp.Header.SetServer(ServerName)
	resp.Header.SetContentLength(len(resp.Body()))
	resp.Header.SetConnectionClose()
	out := resp.Header.AppendBytes(nil)
	out = append(out, resp.Body()...)
	x.ctx.HijackSetNoResponse(true)
	x.ctx.Hijack(func(c net.Conn) { lingerClose(c, out, lg.Time, lg.Timeout) })
}

// lingerClose writes the answer, shuts down writing and drains the client
// until it closes or the lingering limits are up. fasthttp closes c when
// it returns.
func lingerClose(c net.Conn, answer []byte, total, timeout time.Duration) {
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(answer); err != nil {
		return
	}
	if tc := tcpConnOf(c); tc != nil {
		_ = tc.CloseWrite() // FIN: the client sees the end of the answer now
	}
	end := time.Now().Add(total)
	buf := make([]byte, 16<<10)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		_ = c.SetReadDeadline(earlier(end, now.Add(timeout)))
		if _, err := c.Read(buf); err != nil {
			return // the client closed (EOF), went quiet, or reset
		}
	}
}

// tcpConnOf finds the TCP socket under fasthttp's hijacked connection.
func tcpConnOf(c net.Conn) *net.TCPConn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		c = u.UnsafeConn()
	}
	switch t := c.(type) {
	case *clientConn:
		return t.TCPConn
	case *net.TCPConn:
		return t
	}
	return nil
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
