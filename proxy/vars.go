package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// The exchange is the vars.Exchange of its request: proxy_set_header,
// fastcgi_param and log_format values (compiled once per site by
// proxy/vars) read the request through these methods.

// exchangeVars is what an exchange keeps for its variables; recycled with it.
type exchangeVars struct {
	req     vars.Request
	conn    vars.Conn
	resp    vars.Response
	tls     tls.ConnectionState
	tlsDone bool // tls was looked up
	tlsOn   bool // and the connection has it
	// connDone: conn is filled in for this request (Conn); most requests
	// read none of its variables.
	connDone bool
}

// recycle has the next request look up its connection's variables and
// TLS state again (Conn, TLS); beginVars fills in req whole, Response
// resp. A connection's TLS state is let go of.
func (v *exchangeVars) recycle() {
	if v.tlsOn {
		v.tls = tls.ConnectionState{}
	}
	v.tlsDone, v.tlsOn, v.connDone = false, false, false
}

// beginVars fills in what is known once the request is routed.
func (x *exchange) beginVars() {
	v := &x.vars
	t := x.ctx.Request.Header.RequestURI()
	_, targetOK := client.TargetHost(t)
	// Zeroed and filled in where it lies: a composite literal assigned to
	// v.req would be built in a temporary and copied (384 bytes).
	r := &v.req
	*r = vars.Request{}
	r.Start, r.URI, r.Args = x.start, bstr(x.path), bstr(x.args)
	r.RequestURI, r.InvalidTarget = bstr(originForm(t)), x.uriInvalid || !targetOK
	r.ServerName, r.Scheme, r.BodyLength = x.vh.name, x.scheme(), -1
	if n := x.site.maps.Sets(); n > 0 { // set's variables, empty until a set writes them (rewrite.go)
		if len(x.authVars) < n { // kept across requests, cleared by reset
			x.authVars = append(x.authVars[:0], make([][]byte, n)...)
		}
		if x.uninit == nil {
			x.uninit = x.uninitialized
		}
		v.req.Uninit = x.uninit
	}
	if n := x.site.maps.Len(); n > 0 { // the maps' values the request keeps (vars.Request.MapCache)
		if cap(x.mapCache) < n {
			x.mapCache = make([][]byte, n)
		}
		x.mapCache = x.mapCache[:n]
		clear(x.mapCache)
		v.req.MapCache = x.mapCache
	}
	if x.loc != nil {
		v.req.Root = x.loc.conf.Root
		v.req.ProxyHost = x.loc.conf.ProxyPass.Host
		v.req.ProxyPort = proxyPort(x.loc.conf.ProxyPass)
		if upstream.IsUnixAddr(v.req.ProxyHost) {
			v.req.ProxyHost = "localhost" // nginx's $proxy_host for a unix socket
		}
	}
	v.tlsDone, v.connDone = false, false
}

// fillConn fills in vars.Conn from the exchange and its connection, on
// the request's first read of it (Conn). What it reads of the exchange is
// set by begin (or beginSubrequest) and changed only by the realip
// module, which has it filled in again (applyRealIP).
func (x *exchange) fillConn() {
	v := &x.vars
	v.connDone = true
	v.conn = vars.Conn{ID: x.conn, Requests: connRequests(x.ctx), Start: connStart(x.ctx), RemoteAddr: bstr(x.client),
		RemotePort: x.clientPort, ServerPort: x.serverPort, PID: x.p.pid, Hostname: x.p.hostname}
	v.conn.Remote = x.clientIP
	if x.realip {
		v.conn.RealIPRemoteAddr, v.conn.RealIPRemotePort = bstr(x.realipFrom), x.realipPort
	}
	v.conn.SSLClientVerify = clientCertOf(x.ctx.Conn()).VerifyResult() // tls_client.go
	v.conn.SSLHandshake = sslHandshakeOf(x.ctx.Conn())                 // tls.go
	if pp := proxyProtocolOf(ppConnOf(x.ctx.Conn())); pp.Src().IsValid() {
		src, dst := pp.Src(), pp.Dst()
		x.ppAddr = src.Addr().Unmap().AppendTo(x.ppAddr[:0])
		n := len(x.ppAddr)
		x.ppAddr = dst.Addr().Unmap().AppendTo(x.ppAddr)
		v.conn.ProxyProtocolAddr, v.conn.ProxyProtocolPort = bstr(x.ppAddr[:n]), int(src.Port())
		v.conn.ProxyProtocolServerAddr, v.conn.ProxyProtocolServerPort = bstr(x.ppAddr[n:]), int(dst.Port())
		v.conn.ProxyProtocolTLVs = pp.TLVs()
	}
	if a, ok := x.ctx.LocalAddr().(*net.TCPAddr); ok {
		v.conn.ServerAddr = a.AddrPort().Addr().Unmap()
	}
}

// proxyPort is nginx's $proxy_port for a proxy_pass without variables
// (ngx_http_proxy_set_vars): the port written, the scheme's default for a
// host without one or an upstream block's name, none for a unix socket or
// a location without proxy_pass.
func proxyPort(pp config.ProxyPass) string {
	switch {
	case pp.Host == "" || upstream.IsUnixAddr(pp.Host):
		return ""
	case pp.Upstream == "":
		// host:port or [v6]:port; SplitHostPort's error for a host
		// without one would cost an allocation per request
		if i := strings.LastIndexByte(pp.Host, ':'); i >= 0 && !strings.Contains(pp.Host[i:], "]") {
			return pp.Host[i+1:]
		}
	}
	if pp.Scheme == "https" {
		return "443"
	}
	return "80"
}

// Header is the client's request head.
func (x *exchange) Header() *fasthttp.RequestHeader { return &x.ctx.Request.Header }

// Request is the request as spillway made it out; $request_length counts
// the head and the body read so far. The line and the host are read
// again: a check may cut the line short ($request of a 414 is nginx's
// buffer) or drop the host (a refused CONNECT: nginx had not read it).
func (x *exchange) Request() *vars.Request {
	r := &x.vars.req
	r.Line = bstr(x.reqLine)
	r.Set = x.authVars
	r.Host = bstr(client.RouteHost(x.ctx.Request.Header.RequestURI(), x.host))
	// The line and its CRLF, then the header lines up to the empty one
	// (fasthttp's raw headers end with it; without headers it is 2 bytes).
	r.Length = int64(len(x.reqLine) + 2 + max(len(x.ctx.Request.Header.RawHeaders()), 2))
	if x.body != nil {
		r.Length += max(x.body.Size(), 0) // -1: a chunked body streamed
	}
	if x.bodyFunc == nil {
		x.bodyFunc = x.requestBody
	}
	r.Body = x.bodyFunc
	return r
}

// requestBody appends $request_body: the body read for a proxy_pass,
// fastcgi_pass or uwsgi_pass when nginx would hold it in memory (read
// whole, within client_body_buffer_size); "" for an empty body
// (Content-Length: 0, measured); otherwise (no body, one in a temp file or
// streamed upstream) nginx finds no value.
func (x *exchange) requestBody(dst []byte) ([]byte, bool) {
	switch b := x.body.(type) {
	case emptyBody:
		return dst, true
	case *prereadBody:
		if b.Size() > x.bodyMem {
			return dst, false
		}
		return append(dst, b.b...), true
	case *splitBody:
		if b.Size() > x.bodyMem || b.rest.b.Spilled() {
			return dst, false
		}
		return appendBuffered(append(dst, b.pre...), b.rest)
	}
	b, ok := x.body.(*bufferedBody)
	if !ok || b.Size() > x.bodyMem || b.b.Spilled() {
		return dst, false
	}
	return appendBuffered(dst, b)
}

// appendBuffered appends a buffered body's bytes in memory to dst.
func appendBuffered(dst []byte, b *bufferedBody) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, make([]byte, b.Size())...)
	if _, err := b.b.ReadAt(dst[n:], 0); err != nil && err != io.EOF {
		return dst[:n], false
	}
	return dst, true
}

// Conn is the client connection, filled in on the request's first read.
func (x *exchange) Conn() *vars.Conn {
	if !x.vars.connDone {
		x.fillConn()
	}
	return &x.vars.conn
}

// TLS is the client's TLS state, read once per request on first use
// (only the $ssl_ variables ask).
func (x *exchange) TLS() *tls.ConnectionState {
	v := &x.vars
	if !v.tlsDone {
		v.tlsDone, v.tlsOn = true, false
		if f, ok := x.ctx.Conn().(*frontConn); ok && !f.plain {
			if tc := f.tc.Load(); tc != nil {
				v.tls, v.tlsOn = tc.ConnectionState(), true
			}
		} else if s, ok := x.ctx.Conn().(*h2Stream); ok {
			if cs := s.tlsState(); cs != nil {
				v.tls, v.tlsOn = *cs, true
			}
		}
	}
	if !v.tlsOn {
		return nil
	}
	return &v.tls
}

// takeSent fixes $bytes_sent and $body_bytes_sent as the request is
// logged, its answer written: nginx's c->sent (the bytes the socket took
// for this request: a 100 Continue, the head, the body, a tunnel's bytes;
// the plain bytes under TLS) and c->sent - r->header_size, the head's
// size as it was written (ngx_http_log_bytes_sent,
// ngx_http_log_body_bytes_sent). A client that left midway is logged
// with what its socket took. HTTP/2 streams share a socket: their figures
// are estimated (h2Sent, http2.go).
func (x *exchange) takeSent() {
	if x.parent != nil || x.ctx == nil || x.unwritten {
		return
	}
	if x.h2 != nil {
		x.sent, x.headSize = x.h2Sent()
		x.sentKnown = true
		return
	}
	cc := clientConnOf(x.ctx.Conn())
	if cc == nil {
		return
	}
	// The head's size is measured when a variable asks (headWritten).
	x.sent, x.headSize, x.sentKnown = cc.sent.Load(), -1, true
}

// headWritten is r->header_size: the head as fasthttp wrote it, measured
// once by writing it again into fasthttp's own buffer (no allocation).
func (x *exchange) headWritten() int64 {
	if x.headSize < 0 {
		x.headSize = 0
		if x.sent > 0 {
			x.headSize = int64(len(x.ctx.Response.Header.Header()))
		}
	}
	return x.headSize
}

// Response is what the client got so far.
func (x *exchange) Response() *vars.Response {
	r := &x.vars.resp
	r.Status, r.BodyBytesSent, r.BytesSent = x.status, x.bodyBytes, 0
	if x.sentKnown {
		r.BytesSent, r.BodyBytesSent = x.sent, max(x.sent-x.headWritten(), 0)
	}
	r.RequestTime = time.Since(x.start)
	resp := &x.ctx.Response
	r.Header = &resp.Header
	r.Upstream = nil
	if n := len(x.attempts); n > 0 && x.attempts[n-1].Status > 0 && x.uresp != nil {
		r.Upstream = &x.uresp.Header
	}
	r.ContentLength = int64(resp.Header.ContentLength())
	if r.ContentLength == 0 && !resp.IsBodyStream() {
		r.ContentLength = int64(len(resp.Body())) // set as fasthttp writes the head
	}
	return r
}

// Attempts are the upstream tries so far.
func (x *exchange) Attempts() []vars.Attempt { return x.attempts }

// refusedVars is the vars.Exchange of a request the parser refused
// (logRefused): what nginx knows of it then, and no head.
type refusedVars struct {
	req  vars.Request
	conn vars.Conn
	resp vars.Response
}

func (r *refusedVars) Header() *fasthttp.RequestHeader { return nil }
func (r *refusedVars) Request() *vars.Request          { return &r.req }
func (r *refusedVars) Conn() *vars.Conn                { return &r.conn }
func (r *refusedVars) Response() *vars.Response        { return &r.resp }
func (r *refusedVars) Attempts() []vars.Attempt        { return nil }
func (r *refusedVars) TLS() *tls.ConnectionState       { return nil }
