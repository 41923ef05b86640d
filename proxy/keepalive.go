package proxy

// The client side's keep-alive, as nginx decides it: with the request's
// last location (ngx_http_update_location_config), then in the answer's
// head (ngx_http_header_filter) and, once the connection waits, the line
// for a client that closes it (ngx_http_keepalive_handler).

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// noteKeepalive records on the request's connection the keep-alive
// settings and the error log of its location (its server's when no
// location took it), for the loop to apply after the response (conn.go).
// Called as serve ends, when the location is the last one an internal
// redirect or error page chose.
func (x *exchange) noteKeepalive() {
	if x.h2 != nil || x.parent != nil {
		return
	}
	cc := clientConnOf(x.ctx.Conn())
	if cc == nil || x.vh == nil {
		return
	}
	if x.loc != nil {
		cc.keepalive = &x.loc.conf.Keepalive
	} else {
		cc.keepalive = &x.vh.conf.Keepalive
	}
	cc.log = x.p.errorLog(x.vh, x.loc)
}

// keepaliveAllowed is nginx's keep-alive decision for the n-th request of
// a connection accepted at start, which read its head at now, by its
// location's settings ka: keepalive_timeout 0, keepalive_requests reached,
// a connection older than keepalive_time, or keepalive_disable's browser
// close the connection after the answer.
func keepaliveAllowed(ka *config.Keepalive, h *fasthttp.RequestHeader, n int, start, now time.Time) bool {
	switch {
	case ka.Timeout <= 0:
		return false
	case n >= ka.Requests:
		return false
	case !start.IsZero() && now.Sub(start) > ka.Time:
		return false
	}
	post := bytes.Equal(h.Method(), []byte(fasthttp.MethodPost))
	if !(ka.DisableMSIE6 && post) && !ka.DisableSafari {
		return true // nothing browser could find would close it: the User-Agent is not read (nginx's default, msie6, and a GET)
	}
	msie6, safari := browser(h.UserAgent())
	switch {
	case msie6 && ka.DisableMSIE6 && post:
		// MSIE may wait a while for the answer to a POST on a kept connection.
		return false
	case safari && ka.DisableSafari:
		// Safari may send a POST on a connection the server closes.
		return false
	}
	return true
}

// browser reads a User-Agent as nginx's ngx_http_process_user_agent does
// for keepalive_disable: "MSIE 4." to "MSIE 6." (not 6 with "SV1"), not
// Opera, is msie6; "Safari/" with "Mac OS X", and no MSIE, Opera, Gecko
// or Chrome, is safari.
func browser(ua []byte) (msie6, safari bool) {
	msie := false
	if i := bytes.Index(ua, []byte("MSIE ")); i >= 0 && i+7 < len(ua) {
		msie = true
		if m := ua[i:]; m[6] == '.' {
			switch m[5] {
			case '4', '5':
				msie6 = true
			case '6':
				msie6 = !bytes.Contains(m[8:], []byte("SV1"))
			}
		}
	}
	if bytes.Contains(ua, []byte("Opera")) {
		return false, false
	}
	if msie || bytes.Contains(ua, []byte("Gecko/")) || bytes.Contains(ua, []byte("Chrome/")) {
		return msie6, false
	}
	return msie6, bytes.Contains(ua, []byte("Safari/")) && bytes.Contains(ua, []byte("Mac OS X"))
}

// setConnection writes nginx's Connection line into the answer's head:
// "keep-alive" (with keepalive_timeout's "Keep-Alive: timeout=N" when
// it has a header timeout) when the connection takes another request,
// "close" when it does not; for HTTP/1.0 and HTTP/1.1 alike.
func setConnection(h *fasthttp.ResponseHeader, keep bool, ka *config.Keepalive) {
	if !keep {
		h.SetConnectionClose()
		return
	}
	h.ResetConnectionClose()
	h.Set(fasthttp.HeaderConnection, "keep-alive")
	if secs := int64(ka.HeaderTimeout / time.Second); secs > 0 {
		var b [32]byte
		h.SetBytesV("Keep-Alive", strconv.AppendInt(append(b[:0], "timeout="...), secs, 10))
	}
}

// closedKeepalive writes nginx's info line for a client that closed (or
// reset) its connection while it was kept alive between requests:
// "client 127.0.0.1 closed keepalive connection", with no fields, in the
// error log of the last request's location. A timeout or a drain's close
// writes nothing, as nginx.
func (l *h1Loop) closedKeepalive(err error) {
	cc := l.cc
	if !cc.closedLogged.CompareAndSwap(false, true) {
		return // a drain's peek and the goroutine's own read both saw it
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, syscall.ECONNRESET):
		errno = syscall.ECONNRESET
	default:
		return
	}
	log := cc.log
	if log == nil {
		log = l.srv.p.errorLog(l.srv.vhosts[0], nil)
	}
	addr := "" // the socket's peer, as nginx's c->addr_text
	if a, ok := cc.TCPConn.RemoteAddr().(*net.TCPAddr); ok {
		addr = a.AddrPort().Addr().Unmap().String()
	}
	log.Write(&errorlog.Entry{Level: errorlog.Info, Conn: cc.id, Errno: errno, Msg: "client " + addr + " closed keepalive connection"})
}

// closedBeforeDrain is closedKeepalive for an idle connection a drain
// closes: a FIN or RST already there (recv MSG_PEEK, without waiting) is
// the client's close, which nginx's event loop handles, and logs, before
// its shutdown closes the idle connections. It takes no read lock (the
// connection's goroutine may be reading).
func (l *h1Loop) closedBeforeDrain() {
	rc, err := l.cc.TCPConn.SyscallConn()
	if err != nil {
		return
	}
	var closed error
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n == 0 && e == nil:
			closed = io.EOF
		case e == syscall.ECONNRESET:
			closed = e
		}
	})
	if closed != nil {
		l.closedKeepalive(closed)
	}
}

// connStart is when the connection of ctx's request was accepted (an
// HTTP/2 stream's: its connection's); zero when unknown.
func connStart(ctx *fasthttp.RequestCtx) time.Time {
	c := ctx.Conn()
	if s, ok := c.(*h2Stream); ok {
		c = s.conn
	}
	if cc := clientConnOf(c); cc != nil {
		return cc.start
	}
	return time.Time{}
}
