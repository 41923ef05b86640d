package proxy

import (
	"net"
	"syscall"
	"time"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
)

// The answer the connection loop writes after serve (conn.go), and what
// nginx logs about it. A request's answer held in memory (a small upstream
// body, a page, a return) is written by the loop once the exchange has
// finished; the exchange is then kept until that write is done (finish
// leaves it in clientConn.answered, the loop takes it back in answered),
// so that its lines have the request's fields:
//
//	[info] writev() failed (104: Connection reset by peer) while sending to client, client: ..., server: ..., request: "...", upstream: "...", host: "..."
//
// when the write fails (the client reset the connection before it:
// proxy_ignore_client_abort on, or a client gone just as its answer was
// ready), and, when the connection closes after an answer that went out,
// nginx's lingering close (ngx_http_set_lingering_close): with
// lingering_close on when the client has sent something more (bytes, its
// FIN or RST), always with "always", spillway shuts the socket down for
// writing and drains the client; a shutdown that fails is nginx's
//
//	[info] shutdown() failed (107: Transport endpoint is not connected) while sending to client, ...
//
// (the client had closed, and its kernel answered the answer with an
// RST). A streamed body's own write errors are logged by the stream
// (clientWriteFailed), once.

// loopWrites is x's client connection when the connection loop writes x's
// answer after serve returns (nil for HTTP/2, a hijack, a subrequest, an
// exchange finished outside serve).
func (x *exchange) loopWrites() *clientConn {
	if x.h2 != nil || x.parent != nil || x.ctx == nil {
		return nil
	}
	cc := clientConnOf(x.ctx.Conn())
	if cc == nil || !cc.answering || cc.hijack != nil {
		return nil
	}
	return cc
}

// recycle puts x back in the proxy's pool.
func (x *exchange) recycle() {
	p := x.p
	x.reset()
	p.exchanges.Put(x)
}

// defaultLingering is nginx's lingering_close, lingering_time and
// lingering_timeout, for an answer given before a location was chosen.
var defaultLingering = config.Lingering{Close: config.LingerOn, Time: 30 * time.Second, Timeout: 5 * time.Second}

// answered ends the request the loop has just written the answer of: err
// is the socket's error writing it (nil when it went out, or when a
// streamed body's own writer reported it), closing that the connection
// closes after it. It writes nginx's lines, the access log's among them
// ($bytes_sent, $request_time with the write), lingers when nginx would,
// and recycles the exchange finish left to the loop.
func (l *h1Loop) answered(err error, closing bool) {
	cc := l.cc
	cc.answering = false
	cc.limit = rateLimit{timer: cc.limit.timer} // the next answer has its own (limitrate.go)
	x := cc.answered
	if x == nil {
		return
	}
	cc.answered = nil
	var tc *net.TCPConn // nil on TLS
	switch l.c.(type) {
	case *clientConn, *h2cConn:
		tc = cc.TCPConn
	}
	if err != nil {
		if !x.clientFailed {
			call := "writev() failed"
			if tc == nil {
				call = "SSL_write() failed" // ngx_ssl_write's
			}
			x.clientSyscallFailed(call, err)
		}
	}
	x.logged() // the access log, with what the socket took (nginx's finalization)
	if err != nil {
		x.recycle()
		return
	}
	lg := defaultLingering
	if x.loc != nil {
		lg = x.loc.conf.Lingering
	}
	if !closing || tc == nil || lg.Close == config.LingerOff ||
		lg.Close == config.LingerOn && (l.br == nil || l.br.Buffered() == 0) && !client.Readable(tc) {
		x.recycle()
		return
	}
	if err := tc.CloseWrite(); err != nil {
		x.clientSyscallFailed("shutdown() failed", err)
		x.recycle()
		return
	}
	x.recycle()
	client.Drain(tc, lg.Time, lg.Timeout)
}

// clientSyscallFailed writes nginx's line for a system call on the
// client's socket that failed (ngx_connection_error): info for what a
// client's going away causes, alert for anything else; "while sending to
// client" and the upstream field when an upstream answered, no action
// otherwise (nginx's request handler clears it).
func (x *exchange) clientSyscallFailed(call string, err error) {
	errno := errorlog.ErrnoOf(err)
	if errno == 0 {
		return // not a system call's error (a deadline): nothing nginx would say
	}
	lv := errorlog.Alert
	switch errno {
	case syscall.ECONNRESET, syscall.EPIPE, syscall.ENOTCONN, syscall.ETIMEDOUT, syscall.ECONNREFUSED,
		syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH:
		lv = errorlog.Info
	}
	if !x.log().Enabled(lv) {
		return
	}
	f, action := x.fields, ""
	if n := len(x.attempts); n > 0 {
		f.Upstream = x.upstreamURL(x.attempts[n-1].Addr)
		action = upstream.PhaseSendClient.String()
	} else if x.subDone {
		action = upstream.PhaseSendClient.String()
	}
	x.log().Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: call, Errno: errno, Action: action, Fields: &f})
}
