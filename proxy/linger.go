package proxy

import (
	"net"

	"spillway/proxy/client"
	"spillway/proxy/config"
)

// Lingering close (nginx's lingering_close, lingering_time,
// lingering_timeout): see package client, linger.go.
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
	hijack(x.ctx, func(c net.Conn) { client.LingerClose(c, tcpConnOf(c), out, lg.Time, lg.Timeout) })
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
