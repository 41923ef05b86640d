package proxy

// The client side's HTTP/1.x connection loop: spillway's own, in place of
// fasthttp.Server. fasthttp's RequestHeader reads each head and a
// *fasthttp.RequestCtx stays the request the lifecycle works on (as http2.go
// builds one per stream), but accepting, waiting, deadlines, keep-alive,
// Expect: 100-continue, hijacks and draining are spillway's, so that they
// can follow nginx.
//
// One h1Server serves one listen address of one generation (reload.go):
// it takes the connections its handoff yields and serves each in a
// goroutine of its own while a request is read or served. Between
// requests a connection holds no RequestCtx, no read buffer and no write
// buffer, and a plain one no goroutine either: it waits for the next
// request's first byte (waitRequest, the one place the wait happens)
// parked in the proxy's epoll set (idlepark), and takes a read buffer of
// large_client_header_buffers from the server's pool only then. Request
// bodies are read by the lifecycle through the loop's reader
// (clientbody.go), nothing of them before.
//
//	handshake (TLS, h2c sniff)    → HTTP/2: h2Server.serveConn (http2.go)
//	┌ wait for the first byte      keepalive_timeout, parked (client_header_timeout on a new connection)
//	│ read the head                client_header_timeout; client.HeadReceived
//	│ Expect: 100-continue         Proxy.expect: refused, or "100 Continue" and the body
//	│ serve                        Proxy.serve (handler.go)
//	│ write the response           or hand the socket to a hijack (linger, 444, tunnels, unframed)
//	└ keep-alive?                  the location's keepalive_* (keepalive.go), Connection: close, a drain, an unread body

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/internal/idlepark"
)

// h1Server runs the HTTP/1.x connections of one listen address of one
// generation.
type h1Server struct {
	p      *Proxy
	s      *site
	vhosts []*vhost
	h2     *h2Server // "listen ... http2": ALPN h2 and the h2c preface go there; nil otherwise

	headerTimeout time.Duration // client_header_timeout

	readers sync.Pool // *bufio.Reader of large_client_header_buffers (size × number)
	writers sync.Pool // *bufio.Writer of h1WriteBuffer
	ctxs    sync.Pool // *fasthttp.RequestCtx

	stopping atomic.Bool // a drain began: no request after the current one
	mu       sync.Mutex
	conns    map[*clientConn]*h1Loop // being served, HTTP/2 ones too
	open     sync.WaitGroup          // serve's loop and every connection's
}

// h1WriteBuffer is the size of a connection's write buffer, taken while a
// response is written.
const h1WriteBuffer = 16 << 10

// maxUnreadBody is how much of a request body the handler left unread the
// loop discards to keep the connection; past it the connection closes.
const maxUnreadBody = 256 << 10

// newH1Server makes the server for one address whose server blocks are
// vhosts; the limits are the first (default) server's, as nginx's.
func (p *Proxy) newH1Server(s *site, vhosts []*vhost) *h1Server {
	sc := vhosts[0].conf
	srv := &h1Server{p: p, s: s, vhosts: vhosts,
		headerTimeout: sc.ClientHeaderTimeout, conns: map[*clientConn]*h1Loop{}}
	size := int(sc.LargeClientHeaderBuffers.Size) * sc.LargeClientHeaderBuffers.N
	srv.readers.New = func() any { return bufio.NewReaderSize(nil, size) }
	srv.writers.New = func() any { return bufio.NewWriterSize(nil, h1WriteBuffer) }
	srv.ctxs.New = func() any { return new(fasthttp.RequestCtx) }
	srv.open.Add(1) // serve's loop
	return srv
}

// serve takes h's connections until h is closed (a reload, a stop).
func (srv *h1Server) serve(h *handoff) {
	defer srv.open.Done() // counted by newH1Server: a drain may begin before serve
	for {
		c, err := h.Accept()
		if err != nil {
			return
		}
		l := &h1Loop{srv: srv, c: c, cc: clientConnOf(c)}
		srv.mu.Lock()
		srv.conns[l.cc] = l
		srv.open.Add(1)
		srv.mu.Unlock()
		go l.start()
	}
}

// shutdown is a graceful drain: every connection ends after its current
// request, an idle one at once, a new one that has sent nothing once it
// is 5 s old (it may be about to). It returns when none is left, or
// ctx's error when ctx ends first (the caller then closes what is left).
// Hijacked connections (tunnels) are not waited for here (tunnel.go).
func (srv *h1Server) shutdown(done <-chan struct{}) error {
	srv.stopping.Store(true)
	gone := make(chan struct{})
	go func() { srv.open.Wait(); close(gone) }()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		srv.closeIdle()
		select {
		case <-gone:
			return nil
		case <-done:
			return errDrainTimeout
		case <-t.C:
		}
	}
}

var errDrainTimeout = errors.New("drain: out of time")

// closeIdle closes the connections waiting for a request, each claimed
// first so that one whose request arrives meanwhile is not served.
func (srv *h1Server) closeIdle() {
	now := time.Now().Unix()
	var parked []*h1Loop
	srv.mu.Lock()
	for cc, l := range srv.conns {
		if t := cc.wait.Load(); t > 0 && now >= t && cc.wait.CompareAndSwap(t, waitClaimed) {
			if l.unpark() {
				parked = append(parked, l) // no goroutine has it: ended here
				continue
			}
			l.closedBeforeDrain() // keepalive.go
			_ = l.c.Close()
		}
	}
	srv.mu.Unlock()
	for _, l := range parked {
		l.closedBeforeDrain() // a client's close that came first is logged, as nginx (keepalive.go)
		l.end(false)
	}
}

// waitClaimed is clientConn.wait for a connection a drain closed as idle.
const waitClaimed = -1

// tlsLike is a connection with a handshake before HTTP: a TLS front
// (tls.go) or a plain HTTP/2 address's sniff (http2.go's h2cConn).
type tlsLike interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// start runs one connection: HTTP/2 after a handshake that chose it,
// else the HTTP/1.x loop.
func (l *h1Loop) start() {
	srv, c := l.srv, l.c
	if tc, ok := c.(tlsLike); ok {
		if srv.headerTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(srv.headerTimeout))
		}
		// A failed handshake is logged by it and reads as closed: the
		// loop below meets the end at once, and says nothing more.
		err := tc.Handshake()
		l.handshakeFailed = err != nil
		if err == nil && srv.h2 != nil {
			if proto := tc.ConnectionState().NegotiatedProtocol; proto == "h2" || proto == "h2c" {
				_ = c.SetDeadline(time.Time{})
				_ = srv.h2.serveConn(c)
				l.end(false)
				return
			}
		}
	}
	if srv.headerTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(srv.headerTimeout)) // from the connection's start
	}
	l.serve(1)
}

// h1Loop is one connection's state across its requests: between two
// requests it is all the connection holds, with the goroutine or, parked,
// instead of it.
type h1Loop struct {
	srv  *h1Server
	c    net.Conn
	cc   *clientConn
	fb   firstByte
	rd   headDeadline  // what br reads after a parked wait (waitRequest)
	br   *bufio.Reader // while a request is read or served
	bw   *bufio.Writer // while a response is written
	uri  fasthttp.URI  // the target's check (fasthttp's parseURI)
	body clientBody    // the request's body, read by the lifecycle (clientbody.go)

	handshakeFailed bool // logged by the handshake: the close that follows is not logged again

	keepaliveTimeout time.Duration // the last request's location's: the wait for the next (keepalive.go)

	version [10]byte // the request line's version as sent, when it was made HTTP/1.1 (nv bytes)
	nv      int

	n      int              // the request parked for (waitRequest)
	pk     *idlepark.Parked // the parking record, made at the first parking: none per wait
	woke   bool             // a parking's callback is serving: the byte is there
	mu     sync.Mutex
	parked *idlepark.Parked // while the connection waits in the poller
}

// serve runs the connection's requests from the n-th on, in the calling
// goroutine, until the connection ends or is parked to wait for the next.
func (l *h1Loop) serve(n int) {
	srv, c := l.srv, l.c
	for ; ; n++ {
		err := l.waitRequest(n)
		if err == errParked {
			return // the poller calls wake
		}
		if err != nil {
			if n > 1 {
				l.closedKeepalive(err) // nginx's info line for a client that closed it (keepalive.go)
			}
			if n == 1 && !errors.Is(err, net.ErrClosed) && !l.handshakeFailed {
				// Nothing came: nginx's "client timed out ... while
				// waiting for request", or "client closed connection"
				// (clientError).
				ctx := l.acquireCtx()
				l.writeError(ctx, err)
				l.releaseCtx(ctx)
			}
			l.end(false)
			return
		}
		if l.cc.wait.Swap(0) == waitClaimed {
			l.end(false) // a drain closed it as idle just as a request came
			return
		}
		srv.p.connState(c, fasthttp.StateActive)
		if n > 1 && !l.rd.after {
			if srv.headerTimeout > 0 {
				_ = c.SetReadDeadline(time.Now().Add(srv.headerTimeout))
			} else {
				_ = c.SetReadDeadline(time.Time{})
			}
		}
		ctx := l.acquireCtx()
		keep, hj := l.request(ctx, n)
		if hj != nil {
			l.hijack(ctx, hj)
			l.end(true)
			return
		}
		l.releaseCtx(ctx)
		if !keep {
			l.end(false)
			return
		}
		srv.p.connState(c, fasthttp.StateIdle)
	}
}

// end is the connection's end: its buffers back, out of the server's
// set and count, closed (a hijack closed it already and left the count).
func (l *h1Loop) end(hijacked bool) {
	srv := l.srv
	l.releaseBuffers()
	if l.pk != nil {
		l.pk.Release() // its timer, left set by the last parking
	}
	srv.mu.Lock()
	delete(srv.conns, l.cc)
	srv.mu.Unlock()
	if !hijacked {
		_ = l.c.Close()
		srv.open.Done()
	}
	srv.p.connState(l.c, fasthttp.StateClosed)
}

// waitRequest waits for the first byte of the n-th request with no
// buffer held: the one place a connection waits between requests. A new
// connection waits under client_header_timeout (set by serveConn), a
// kept-alive one under keepalive_timeout, parked in the proxy's poller
// when it can be (errParked: no goroutine until the poller calls wake). A
// drain may close a waiting connection: one kept alive at once, a new one
// once it is 5 s old.
func (l *h1Loop) waitRequest(n int) error {
	l.rd.after = false
	if n > 1 {
		// The next head's bare LFs are made CRLF as the first's, the
		// bytes read past the last request (pipelined) too: they go
		// through the fix again (package client's HeadLF).
		var buffered []byte
		if l.br != nil && l.br.Buffered() > 0 {
			buffered, _ = l.br.Peek(l.br.Buffered())
		}
		l.cc.head.Next(buffered)
		if l.cc.head.Buffered() {
			if l.br == nil {
				l.br = l.srv.readers.Get().(*bufio.Reader)
			}
			l.br.Reset(l.c)
			return nil // a pipelined request is here already
		}
	}
	l.releaseBuffers()
	srv := l.srv
	first := n == 1
	// A kept-alive connection is idle at once for a drain; a new one
	// from 5 s after it opened (the clock is read for that only).
	idleFrom := int64(waitIdle)
	if first {
		idleFrom = time.Now().Unix() + 5
	}
	l.cc.wait.Store(idleFrom)
	if srv.stopping.Load() && !first {
		l.closedBeforeDrain() // the client's close, if it came first (keepalive.go)
		return net.ErrClosed  // drained meanwhile: nothing more on this one
	}
	if woke := l.woke; !woke && !first && l.parkable() {
		// The poller's timer is keepalive_timeout: the socket has no
		// read deadline while parked, so the woken read cannot meet a
		// stale one (a body's client_body_timeout, the head's). Clearing
		// none that is set costs no clock and no timer.
		_ = l.c.SetReadDeadline(time.Time{})
		l.n = n
		l.mu.Lock()
		var err error
		if l.pk == nil {
			l.pk, err = srv.p.idle.pick().Prepare(l.cc.TCPConn, l.wake)
		}
		if err == nil {
			err = l.pk.Park(l.keepaliveTimeout)
		}
		if err == nil {
			l.parked = l.pk
		}
		l.mu.Unlock()
		if err == nil {
			return errParked
		}
	}
	if l.woke {
		// Parked and woken readable: the bytes (or the FIN or RST) are
		// there, read straight into the buffer, with no one-byte read
		// and no deadline; client_header_timeout is set before a read
		// that may wait for the rest of the head (headDeadline).
		l.woke = false
		// Nor a yield first (clientConn.Read's after a write: for an
		// answer that may not have come yet): the bytes are there.
		l.cc.wrote.Store(false)
		l.br = srv.readers.Get().(*bufio.Reader)
		l.rd.c, l.rd.timeout = l.c, 0
		l.br.Reset(&l.rd)
		if _, err := l.br.Peek(1); err != nil {
			l.cc.wait.Store(0)
			l.releaseBuffers()
			return err
		}
		l.rd.timeout, l.rd.after = srv.headerTimeout, true
		return nil
	}
	if l.keepaliveTimeout > 0 && !first {
		_ = l.c.SetReadDeadline(time.Now().Add(l.keepaliveTimeout))
	}
	if err := l.fb.wait(l.c); err != nil {
		l.cc.wait.Store(0)
		return err
	}
	l.br = srv.readers.Get().(*bufio.Reader)
	l.br.Reset(&l.fb)
	return nil
}

// standInHost is the host the loop's target check gives fasthttp in
// place of the Host line (request).
var standInHost = []byte("localhost")

// checkTarget is fasthttp's check of a request target, uri.Parse with
// the stand-in host, whose error the loop answers as fasthttp's server
// would. An origin-form target ("/a", not "//a") is checked without the
// parse (which copies and normalises the path, some 650 instructions per
// request): fasthttp 1.78's URI.parse can refuse one only for a control
// byte, the host being the stand-in and the path taken whatever it holds.
// This leans on fasthttp's code, not its contract: FuzzCheckTarget holds
// it to uri.Parse, and a fasthttp upgrade must pass it.
func checkTarget(uri *fasthttp.URI, target []byte) error {
	if len(target) == 0 || target[0] != '/' || len(target) > 1 && target[1] == '/' {
		return uri.Parse(standInHost, target)
	}
	for _, c := range target {
		if c < ' ' || c == 0x7f {
			return fasthttp.ErrorInvalidURI
		}
	}
	return nil
}

// errParked: waitRequest parked the connection.
var errParked = errors.New("parked")

// waitIdle is clientConn.wait for a kept-alive connection waiting for its
// next request: any time in the past, as a drain closes it at once.
const waitIdle = 1

// headDeadline is the read buffer's source after a parked wait: the
// connection, with client_header_timeout set before the first read that
// may wait (the one after the wake's, which the readable socket answers at
// once), as nginx arms it only when a read of the head finds nothing yet.
// A head that came whole, nearly all of them, sets no deadline at all.
type headDeadline struct {
	c       net.Conn
	timeout time.Duration // set before the next read (0: nothing to set)
	after   bool          // the current request's head was read through this (no deadline set by serve)
}

func (r *headDeadline) Read(b []byte) (int, error) {
	if r.timeout > 0 {
		_ = r.c.SetReadDeadline(time.Now().Add(r.timeout))
		r.timeout = 0
	}
	return r.c.Read(b)
}

// parkable: nothing of the next request can be above the socket, where
// the poller would not see it: a plain connection (a TLS one may hold
// records) whose PROXY protocol header, if any, is consumed.
func (l *h1Loop) parkable() bool {
	if l.srv.p.idle == nil {
		return false
	}
	switch l.c.(type) {
	case *clientConn, *h2cConn:
		return l.cc.pp == nil || !l.cc.pp.Pending()
	}
	return false
}

// wake is the poller's callback for a parked connection: the next
// request's bytes (or the client's FIN or RST) are there, or
// keepalive_timeout passed (closed, as nginx), or the proxy is stopping.
func (l *h1Loop) wake(ev idlepark.Event) {
	l.mu.Lock()
	l.parked = nil
	l.mu.Unlock()
	if ev != idlepark.Readable {
		if ev == idlepark.Closed {
			l.closedBeforeDrain() // a close the poller had not reported yet (keepalive.go)
		}
		l.end(false)
		return
	}
	l.woke = true
	l.serve(l.n)
}

// unpark takes a parked connection back from the poller for a drain:
// true when it is the caller's to end, false when it was not parked or a
// callback has it.
func (l *h1Loop) unpark() bool {
	l.mu.Lock()
	pk := l.parked
	l.parked = nil
	l.mu.Unlock()
	return pk != nil && pk.Cancel()
}

// firstByte is a connection's reader with the byte waitRequest read in
// front of the rest.
type firstByte struct {
	c   net.Conn
	b   [1]byte
	has bool
}

func (f *firstByte) wait(c net.Conn) error {
	f.c = c
	for {
		n, err := c.Read(f.b[:])
		if n == 1 {
			f.has = true
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (f *firstByte) Read(b []byte) (int, error) {
	if f.has && len(b) > 0 {
		f.has = false
		b[0] = f.b[0]
		return 1, nil
	}
	return f.c.Read(b)
}

func (l *h1Loop) acquireCtx() *fasthttp.RequestCtx {
	ctx := l.srv.ctxs.Get().(*fasthttp.RequestCtx)
	ctx.Init2(l.c, fasthttpLogger{l.srv.p}, false)
	ctx.Request.Header.DisableNormalizing()
	ctx.Response.Header.DisableNormalizing()
	ctx.Response.Header.SetNoDefaultContentType(true)
	return ctx
}

func (l *h1Loop) releaseCtx(ctx *fasthttp.RequestCtx) {
	ctx.Hijack(nil)
	ctx.HijackSetNoResponse(false)
	ctx.Request.Reset()
	ctx.Response.Reset()
	l.srv.ctxs.Put(ctx)
}

func (l *h1Loop) writer() *bufio.Writer {
	if l.bw == nil {
		l.bw = l.srv.writers.Get().(*bufio.Writer)
		l.bw.Reset(l.c)
	}
	return l.bw
}

// releaseBuffers gives the read and write buffers back: the connection is
// idle with nothing buffered, or done.
func (l *h1Loop) releaseBuffers() {
	if l.br != nil {
		l.br.Reset(nil)
		l.srv.readers.Put(l.br)
		l.br = nil
	}
	if l.bw != nil {
		l.bw.Reset(nil)
		l.srv.writers.Put(l.bw)
		l.bw = nil
	}
}

// request reads, serves and answers the n-th request of the connection.
// keep says the connection may take another; hj is the hijack the
// request ended with (the response is the hijack's to write).
func (l *h1Loop) request(ctx *fasthttp.RequestCtx, n int) (keep bool, hj fasthttp.HijackHandler) {
	srv := l.srv
	req := &ctx.Request
	l.cc.sent.Store(0)                              // nginx's c->sent counts this request's bytes, a 100 Continue too
	l.nv = client.VersionAsHTTP11(l.br, &l.version) // HTTP/1.9 and HTTP/1.10 are 1.1 to nginx (package client)
	err := req.Header.Read(l.br)
	l.rd.timeout = 0 // the head is read: the body's reads set their own (body.go)
	if err == nil {
		client.HeadReceived(&req.Header, l.version[:l.nv]) // "//:://" is a path, the version as sent (package client)
		l.cc.head.FirstOfTwo(&req.Header)                  // two User-Agent lines: the first's value, as nginx's variables
		// The target's check. The Host line is nginx's to check
		// (client.ValidHost): fasthttp gets a stand-in, never empty, so
		// that it reads an origin-form target as a path.
		if err = checkTarget(&l.uri, req.Header.RequestURI()); err != nil {
			// The head was read: what nginx has of it is all of it.
			client.UnmaskTarget(ctx)
			err = &client.HeadError{Err: err, Raw: req.Header.Header()}
		}
	}
	hasBody := false
	if err == nil && !req.MayContinue() {
		hasBody = l.startBody(req)
	}
	if err != nil {
		// Only a bare EOF is a client that left between requests: a
		// head cut short wraps it, and is answered.
		if err == io.EOF || errors.Is(err, net.ErrClosed) {
			return false, nil
		}
		l.writeError(ctx, err)
		return false, nil
	}
	l.cc.requests = uint64(n)
	headAt := ctx.Time() // keepalive_time counts to the request, as nginx's (acquireCtx's Init2 read the clock)
	closeConn := false
	served, refused := true, false
	if req.MayContinue() {
		client.UnmaskTarget(ctx)
		l.cc.linger = config.Lingering{}
		if status := srv.p.expect(ctx, srv.s, srv.vhosts); status != fasthttp.StatusContinue {
			// Refused before the body, with no "100 Continue": as
			// nginx, the connection is kept (unless the answer closes
			// it) and the body, if the client sends it all the same,
			// discarded after the answer (discardRefused).
			ctx.SetStatusCode(status)
			served, refused = false, true
			hasBody = l.startBody(req)
		} else {
			bw := l.writer()
			if _, err := bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return false, nil
			}
			if err := bw.Flush(); err != nil {
				return false, nil
			}
			hasBody = l.startBody(req)
		}
	}
	closeConn = closeConn || req.Header.ConnectionClose()
	if served {
		client.UnmaskTarget(ctx)
		l.cc.answering = true // finish leaves the exchange to answered, below (clientwrite.go)
		defer l.answered(nil, false)
		srv.p.serve(ctx, srv.s, srv.vhosts)
		srv.s.closeIfRetired(ctx)
	}
	resp := &ctx.Response
	if ctx.IsHead() {
		resp.SkipBody = true
	}
	hj, l.cc.hijack = l.cc.hijack, nil
	closeConn = closeConn || resp.Header.ConnectionClose() || srv.stopping.Load()
	if hj != nil {
		l.cc.keepalive = nil
		return false, hj // every hijack here writes its own answer (hijack)
	}
	// The last location's keepalive_* (keepalive.go): nginx's decision.
	ka := l.cc.keepalive
	if l.cc.keepalive = nil; ka == nil {
		ka = &srv.vhosts[0].conf.Keepalive // not served (a refused Expect without a location)
	}
	closeConn = closeConn || !keepaliveAllowed(ka, &req.Header, n, l.cc.start, headAt)
	l.keepaliveTimeout = ka.Timeout
	if hasBody && !closeConn && resp.BodyStream() == nil && l.body.unread() > maxUnreadBody {
		closeConn = true // too much left unread to discard: say so in the answer
	}
	setConnection(&resp.Header, !closeConn, ka) // nginx's Connection and Keep-Alive lines (keepalive.go)
	if len(resp.Header.Server()) == 0 {
		resp.Header.SetServer(ServerName)
	}
	bw := l.writer()
	streamed := resp.IsBodyStream()
	err = resp.Write(bw)
	if err != nil && streamed {
		l.answered(nil, false) // the body's writer logged its own error
		return false, nil
	}
	if err == nil {
		err = bw.Flush()
	}
	l.answered(err, closeConn) // nginx's lines about the write, the lingering close (clientwrite.go)
	if err != nil || closeConn {
		return false, nil
	}
	if refused {
		return !hasBody || l.discardRefused(), nil
	}
	// What the handler left of the body is not the next request: discard
	// a little, close past that.
	if hasBody && !l.body.discard(maxUnreadBody) {
		return false, nil
	}
	return true, nil
}

// discardRefused reads and drops the body of a request refused after
// Expect: 100-continue, as nginx's discarded-body handler: each read
// waits lingering_timeout at most and all of them lingering_time (the
// location's), and the connection closes when one runs out (a client that
// waits for the 100 Continue that never comes), or past maxUnreadBody;
// true when the whole body came and the connection takes the next
// request.
func (l *h1Loop) discardRefused() bool {
	lg := l.cc.linger
	if lg.Timeout <= 0 {
		lg.Timeout = 5 * time.Second // nginx's defaults, when no location was chosen
	}
	if lg.Time <= 0 {
		lg.Time = 30 * time.Second
	}
	end := time.Now().Add(lg.Time)
	var left int64 = maxUnreadBody
	for left >= 0 {
		d := time.Now().Add(lg.Timeout)
		if d.After(end) {
			d = end
		}
		_ = l.c.SetReadDeadline(d)
		n, err := io.CopyN(io.Discard, &l.body, min(left+1, 4096))
		left -= n
		if err == io.EOF {
			return left >= 0
		}
		if err != nil {
			return false
		}
	}
	return false
}

// startBody gives req its body stream, read from the connection's read
// buffer as the lifecycle asks (clientbody.go); false when the request
// has no body. A request without Content-Length or Transfer-Encoding has
// none, whatever its method: as in nginx, $request_body is not found and
// no Content-Length goes upstream (fasthttp's server made it
// Content-Length: 0 for methods other than GET and HEAD).
func (l *h1Loop) startBody(req *fasthttp.Request) bool {
	cl := req.Header.ContentLength()
	if cl == -2 || cl == 0 {
		return false
	}
	l.body.start(l.br, cl)
	req.SetBodyStream(&l.body, cl)
	return true
}

// writeError answers a request the loop could not read (Proxy.clientError
// chooses the status and writes nginx's lines) and ends the connection.
func (l *h1Loop) writeError(ctx *fasthttp.RequestCtx, err error) {
	srv := l.srv
	if l.br != nil && l.br.Buffered() > 0 && !errors.As(err, new(*client.HeadError)) {
		// What came of the head, for nginx's request and host fields and
		// $request, not only the 200 bytes fasthttp's error quotes.
		raw, _ := l.br.Peek(l.br.Buffered())
		err = &client.HeadError{Err: err, Raw: append([]byte(nil), raw...)}
	}
	if he := (*client.HeadError)(nil); l.nv > 0 && errors.As(err, &he) {
		he.Raw = client.RestoreVersion(he.Raw, l.version[:l.nv]) // as sent, for nginx's lines
	}
	client.UnmaskTarget(ctx)
	srv.p.clientError(ctx, srv.s, srv.vhosts, err)
	resp := &ctx.Response
	if len(resp.Header.Server()) == 0 {
		resp.Header.SetServer(ServerName)
	}
	resp.Header.SetConnectionClose()
	bw := l.writer()
	if resp.Write(bw) == nil {
		_ = bw.Flush()
	}
}

// hijack hands the connection to h (after its buffered response went
// out), with what the read buffer holds still readable, and closes it
// when h returns. The connection leaves the server's count first: a drain
// does not wait for a tunnel (tunnel.go has its own).
func (l *h1Loop) hijack(ctx *fasthttp.RequestCtx, h fasthttp.HijackHandler) {
	defer l.releaseCtx(ctx)
	var r io.Reader = l.c
	if l.br != nil {
		r, l.br = l.br, nil // the hijack reads through it; dropped, not pooled
	}
	if l.bw != nil {
		err := l.bw.Flush()
		l.srv.writers.Put(l.bw)
		l.bw = nil
		if err != nil {
			return
		}
	}
	_ = l.c.SetDeadline(time.Time{})
	l.srv.open.Done()
	h(&hijackConn{Conn: l.c, r: r})
	_ = l.c.Close()
}

// hijackConn is the connection a hijack handler gets: reads go through
// the loop's read buffer; the loop closes the socket after the handler.
type hijackConn struct {
	net.Conn
	r io.Reader
}

func (c *hijackConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *hijackConn) Close() error               { return nil }

// UnsafeConn is the connection itself (linger.go's tcpConnOf).
func (c *hijackConn) UnsafeConn() net.Conn { return c.Conn }

// hijack makes the connection of ctx's request h's once the request is
// done: h writes the whole answer itself (the access-log line is written
// by then). ctx.Hijacked reports it (http2.go, closeIfRetired).
func hijack(ctx *fasthttp.RequestCtx, h fasthttp.HijackHandler) {
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(h)
	if cc := clientConnOf(ctx.Conn()); cc != nil {
		cc.hijack = h
	}
}

// connRequests is $connection_requests: the requests so far on the
// connection of ctx's request.
func connRequests(ctx *fasthttp.RequestCtx) uint64 {
	if _, ok := ctx.Conn().(*h2Stream); !ok {
		if cc := clientConnOf(ctx.Conn()); cc != nil {
			return cc.requests
		}
	}
	return ctx.ConnRequestNum()
}
