package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
)

// An upstream that answers "101 Switching Protocols" has left HTTP on that
// connection: whatever it sends next belongs to the switched protocol, so
// the connection must never go back to the keepalive cache (the next,
// unrelated request would be written into the switched stream). nginx 1.22
// (ngx_http_proxy_process_header) clears u->keepalive on every 101.
//
// Without a client that asked to upgrade, nginx 1.22 does not tunnel: it
// relays the 101 head (adding "Connection: upgrade") and then the
// upstream's bytes, unframed, until the upstream closes or
// proxy_read_timeout passes ("upstream timed out ... while reading
// upstream"), and closes the client connection. Measured against nginx
// 1.22.1: there is no 502 for an unrequested 101. spillway does the same:
// the head goes out, the upstream's bytes follow one way, and both
// connections are closed at the end. A client that asked to upgrade gets
// a two-way tunnel instead (tunnel.go).

// switchProtocols relays a 101 answer. It returns true: the exchange
// finishes in the hijack handler once the relay is over.
func (x *exchange) switchProtocols(a *upstream.Attempt) bool {
	if x.h2 != nil {
		// HTTP/2 has no 101 (RFC 9113 8.6): the stream is reset and the
		// connection never reused.
		x.status = fasthttp.StatusSwitchingProtocols
		x.release(a, false)
		x.closeSilently()
		return false
	}
	ctx := x.ctx
	u := &x.uresp.Header
	x.status = fasthttp.StatusSwitchingProtocols
	out := &ctx.Response.Header
	out.DisableNormalizing()
	out.SetNoDefaultContentType(true)
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	connection := u.Peek("Connection")
	var up []byte
	for k, v := range u.All() {
		if bytes.EqualFold(k, []byte("Upgrade")) { // in any case: once, below
			if up == nil {
				up = v
			}
			continue
		}
		if hidden(k, connection) {
			continue
		}
		out.AddBytesKV(k, v)
	}
	if len(up) > 0 {
		out.SetBytesV("Upgrade", up) // nginx passes it on a 101
	}
	out.Set("Connection", "upgrade") // ngx_http_header_filter on a 101
	out.SetServer(ServerName)
	// The head is written by the relay, which the connection loop runs
	// in the connection's goroutine with ctx still valid, closing the
	// client connection after it (conn.go).
	head := out.AppendBytes(nil)
	if len(peekFold(&ctx.Request.Header, "Upgrade")) > 0 {
		// The client asked to upgrade: both ways (tunnel.go). Counted
		// now, while the loop still counts the connection as open, so
		// that a drain starting meanwhile waits for the tunnel.
		x.site.tunnels.n.Add(1)
		hijack(ctx, func(c net.Conn) { x.runTunnel(c, a, head) })
		return true
	}
	hijack(ctx, func(c net.Conn) { x.relaySwitched(c, a, head) })
	return true
}

// relaySwitched copies the upstream's bytes after the 101 to the client
// until the upstream closes, proxy_read_timeout passes, or the client goes
// away; then it logs as nginx does and finishes the exchange.
func (x *exchange) relaySwitched(c net.Conn, a *upstream.Attempt, head []byte) {
	uc := a.Conn
	x.clientWDL = time.Time{} // fasthttp cleared the deadlines before the hijack
	x.sendDeadline()
	if _, err := c.Write(head); err != nil {
		x.clientWriteFailed(err)
		x.release(a, false)
		x.finish()
		return
	}
	// nginx notices a client that closes (EPOLLRDHUP) and closes the
	// upstream too; reading the client here is the same signal. What the
	// client sends is not forwarded (no tunnel yet).
	var clientGone atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
					clientGone.Store(true)
					_ = uc.CloseRead() // wakes the copy below (a deadline would be renewed by upstream.Conn.Read)
				}
				return
			}
		}
	}()
	w := &countingWriter{w: c, x: x}
	_, err := io.Copy(w, uc.Reader()) // upstream.Conn renews proxy_read_timeout per read
	switch {
	case clientGone.Load():
		x.status = 499
		x.logPeer(errorlog.Info, upstream.PhaseReadBody,
			"epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too", 0, uc.Peer().Addr())
	case w.err != nil:
		x.clientWriteFailed(w.err)
	case err != nil:
		ue := bodyError(a, err, true, false)
		x.counters(uc.Peer()).failure(ue)
		x.logUpstream(errorlog.Error, ue, ue.Peer)
	}
	x.release(a, false) // never reused
	_ = c.SetReadDeadline(time.Now())
	<-done
	x.finish()
}

// countingWriter counts the body bytes the client was sent and keeps the
// first write error (the client's side, not the upstream's).
type countingWriter struct {
	w   io.Writer
	x   *exchange
	err error
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	cw.x.sendDeadline()
	n, err := cw.w.Write(p)
	cw.x.bodyBytes += int64(n)
	if err != nil && cw.err == nil {
		cw.err = err
	}
	return n, err
}
