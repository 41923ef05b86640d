package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/upstream"
)

// Response headers that describe the upstream connection, or that nginx
// replaces with its own (Date, Server) or keeps for itself (X-Accel-*).
// Upgrade is not among them: nginx 1.22 passes it on every response (a 426
// names the protocols to upgrade to), even one whose Connection names it.
var hideResponse = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding",
	"TE", "Trailer", "Content-Length", "Date", "Server", "X-Pad",
	"X-Accel-Buffering", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Charset", "X-Accel-Expires"}

// relayHeader adds the upstream's header k: v to the answer's head out, as
// out.AddBytesKV(k, v) does. A Content-Type goes straight to fasthttp's
// own field: AddBytesKV would copy and check the name and copy the value
// into scratch buffers, then compare the name with fasthttp's special
// ones, to end in the same SetContentTypeBytes (about 530 instructions
// per answer: docs/measured/uresp-2026-12-07.md). This leans on fasthttp
// 1.78's code (header.go: AddBytesKV, setSpecialHeader), not its
// contract: a Content-Type named in any ASCII case is SetContentTypeBytes
// of its value (a trailer of that name, which would keep it a plain
// header, is refused: isBadTrailer). TestRelayHeaderLikeAddBytesKV
// and FuzzRelayHeader hold it to AddBytesKV; a fasthttp upgrade must pass them.
func relayHeader(out *fasthttp.ResponseHeader, k, v []byte) {
	if string(k) == "Content-Type" || httphead.NameIs(k, "Content-Type") {
		out.SetContentTypeBytes(v)
		return
	}
	out.AddBytesKV(k, v)
}

// respond relays the upstream's head and body to the client. It returns
// true when the body is streamed: the exchange then finishes from the
// stream's Close, after fasthttp has written the last byte.
func (x *exchange) respond() bool {
	ctx := x.ctx
	u := &x.uresp.Header
	status := u.StatusCode()
	if status == fasthttp.StatusSwitchingProtocols && x.loc.fcgi == nil {
		x.watch.stop()                  // the tunnel reads the client's socket
		return x.switchProtocols(x.cur) // never reused (switched.go)
	}
	shown := x.answerStatus(status) // an error page's answer has the error's status (errorpage.go)
	x.status = shown
	out := &ctx.Response.Header
	out.DisableNormalizing()
	out.SetNoDefaultContentType(true)
	ctx.SetStatusCode(shown)
	if shown == status {
		setReason(out, status, u.StatusMessage())
	} else {
		setReason(out, shown, nil)
	}
	connection := x.uhead.connection
	up := x.loc.up // proxy_hide_header, proxy_redirect, ... (upheaders.go)
	forced := x.loc.conf.ProxyForceRanges
	for k, v := range u.All() {
		if !up.passed(k, connection) || shown != status && lastModifiedDropped(k, shown) {
			continue
		}
		if forced && bytes.EqualFold(k, []byte("Accept-Ranges")) {
			continue // the range filter's own (ranges.go)
		}
		if nv := x.rewriteHeader(k, v); nv != nil {
			v = nv
		}
		relayHeader(out, k, v)
	}
	x.setStickyCookie(out, x.cur) // sticky cookie (sticky.go)
	x.pageHeaders()
	x.addHeaders(shown)                                 // add_header, expires (headers.go)
	gunzip := x.gunzipFor()                             // gunzip (gunzip.go)
	rc := x.charsetProxied(shown, x.uhead.accelCharset) // charset (charset.go)
	cl := u.ContentLength()
	hcl := cl // the length the head declares, once the filters ran
	if rc != nil && rc.ChangesLength() {
		hcl = -1
	}
	a := x.cur
	if noBody(x.ctx.Request.Header.Method(), status) {
		// A HEAD gets the gzip filter's head as nginx sends it (gzip.go).
		if !gunzip && !x.gzipFor(status, hcl) && hcl >= 0 {
			out.SetContentLength(cl)
		}
		ctx.Response.SkipBody = true
		x.watch.stop()
		x.release(a, true)
		return false
	}
	lc := x.loc.conf
	buffering := lc.Upstream.Buffering && (up.ignoreAccel || !bytes.EqualFold(x.uhead.accelBuffering, []byte("no")))
	gz := x.gzipFor(status, hcl) // the body is compressed on its way in (gzip.go)
	// proxy_force_ranges: a 206 of the body's span, or 416 (ranges.go); a
	// body the charset filter changes in length takes no ranges
	span, ranged := x.forceRange(shown, status, hcl, gz || gunzip)
	if ranged == fasthttp.StatusRequestedRangeNotSatisfiable {
		x.watch.stop()
		x.release(a, false)
		x.rangeNotSatisfiable(int64(cl))
		return false
	}
	var upRate int64 // proxy_limit_rate: reading a buffered body (limitrate.go)
	if buffering && x.loc.grpc == nil {
		upRate = x.loc.upLimitRate.eval(x)
	}
	if !gz && !gunzip && rc == nil && buffering && upRate <= 0 && cl >= 0 && int64(cl) <= int64(lc.Upstream.Buffers.N)*lc.Upstream.Buffers.Size {
		// The whole body fits the proxy buffers: read it now and free the
		// upstream connection before the client has read a byte (nginx's
		// buffering, without a goroutine or a spool for small answers).
		// A body that came in the head's read is over when the head
		// came: its time is the header's, as in nginx, whose clock
		// moves once per event loop turn, and the clock is not read again.
		br := x.proto.Body(a)
		withHead := br.Buffered() >= cl
		if !withHead && !x.relayWatched(a.Conn) { // the client went as the head came
			return x.relayAborted(a)
		}
		err := readSmallBody(&ctx.Response, br, cl)
		// A body that came with its head has only paid for a timer. A
		// client that went meanwhile woke the read (clientabort.go): a
		// body read whole is answered as any, and its connection kept.
		if x.watch.stop() && err != nil {
			return x.relayAborted(a)
		}
		if err != nil {
			ue := a.Fail(upstream.PhaseReadBody, err)
			ue.Buffered = true
			if errors.Is(err, io.ErrUnexpectedEOF) {
				ue.Kind = upstream.KindClosed
			}
			x.bodyFailed(ue)
			// nginx sends the header and what it had, then closes: the
			// client sees a short body against the original length.
			fb := &failedBody{x: x, data: append([]byte(nil), ctx.Response.Body()...), err: ue}
			ctx.Response.ResetBody()
			ctx.Response.ImmediateHeaderFlush = true
			ctx.SetBodyStream(fb, cl)
			return true // fb finishes the exchange
		}
		x.bodyBytes = int64(cl)
		if ranged == fasthttp.StatusPartialContent {
			ctx.Response.SetBody(append([]byte(nil), ctx.Response.Body()[span.Start:span.End]...))
			x.bodyBytes = span.End - span.Start
		}
		now := x.headAt
		if !withHead || now.IsZero() {
			now = time.Now()
		}
		x.releaseAt(a, !x.bodyOverran(a, false, upstream.PhaseReadBody), now)
		return false
	}
	if x.upstreamChunked() {
		if n := a.Conn.Reader().Buffered(); n > 0 {
			if b, _ := a.Conn.Reader().Peek(n); chunkedBroken(b) {
				x.watch.stop()
				x.brokenChunkedHead(a, buffering)
				return false
			}
		}
	}
	if !gz && !gunzip && rc == nil && buffering && upRate <= 0 && ranged != fasthttp.StatusPartialContent &&
		!x.trailers && cl > 0 && cl <= copyBufSize && x.loc.fcgi == nil && x.loc.grpc == nil && x.loc.h2 == nil &&
		x.h2 == nil && x.clientRate() <= 0 && x.spoolWhole(a, cl) {
		return true // the whole body was in the upstream's socket (spool.go)
	}
	// The body's reading is watched until the upstream's part is over:
	// the relay's end (bodyStream) or the producer's (spoolStream).
	if !x.relayWatched(a.Conn) { // the client went as the head came
		return x.relayAborted(a)
	}
	// Stream the body as it arrives.
	var body io.Reader = x.proto.Body(a) // FastCGI: STDOUT, io.EOF at END_REQUEST
	if x.loc.grpc != nil {
		x.grpcRelay() // the stream's DATA as it comes, then its trailers (grpc.go)
	} else if x.loc.h2 != nil {
		// HTTP/2's DATA, its length checked by http2
	} else if x.loc.fcgi == nil && cl == -1 {
		body = upstream.NewChunkedReader(a.Conn.Reader()) // nginx's chunked parser, bare LF too (chunked.go)
	} else if x.loc.fcgi == nil {
		x.uresp.StreamBody = true
		if err := x.uresp.ReadBody(a.Conn.Reader(), 0); err != nil {
			if x.watch.stop() {
				return x.relayAborted(a)
			}
			x.bodyFailed(bodyError(a, err, buffering, x.upstreamChunked()))
			ctx.Response.ImmediateHeaderFlush = true
			ctx.SetBodyStream(&failedBody{x: x, err: err}, -1)
			return true
		}
		body = x.uresp.BodyStream()
	}
	ccl := cl // the client's framing
	if ranged == fasthttp.StatusPartialContent {
		body, ccl = &rangeReader{r: body, skip: span.Start, n: span.End - span.Start}, int(span.End-span.Start)
	}
	if x.trailers {
		ccl = -1 // chunked, for add_trailer (headers.go)
	}
	if gunzip {
		body, ccl = newGunzipBody(body), -1
	}
	if rc != nil { // after gunzip, before gzip, as nginx's filters
		body = rc.Reader(body)
		if hcl < 0 {
			ccl = -1
		}
	}
	if gz {
		body, ccl = newGzipBody(body, lc.Gzip.Level, !buffering), -1
	}
	ctx.Response.ImmediateHeaderFlush = true
	if buffering {
		// proxy_buffers, then the temp file: a goroutine reads the
		// upstream as fast as it sends and frees it at the end, while the
		// client drains the spool at its own pace.
		s := &x.spooled
		*s = spoolStream{x: x, a: a, uc: a.Conn, done: make(chan struct{})}
		// A body at limit_rate goes through the connection's throttle
		// (limitrate.go), not straight to the socket.
		if cc, ok := ctx.Conn().(*clientConn); ok && x.clientRate() <= 0 && (ccl >= 0 || ccl == -1 && client.HTTP11(&x.ctx.Request.Header)) {
			s.direct = client.NewSocketWriter(cc.TCPConn, s)
			if s.direct != nil {
				s.direct.Sent = &cc.sent // $bytes_sent (clientConn.sent)
			}
			s.chunked = ccl == -1 // framed by chunkedSocketWriter (fcgi_chunked.go)
		}
		// An HTTP/2 stream reports its closed window as a full socket
		// (h2Writer, http2.go).
		stalls := s.direct != nil || x.h2 != nil
		var pass func([]byte) int
		if s.direct != nil && !s.chunked {
			pass = s.direct.Passthrough() // a client that keeps up gets the bytes at once
		}
		s.sp = x.newSpool(s, stalls, pass)
		if s.direct != nil {
			s.direct.Stalls = s.sp
			if !s.chunked {
				// The head goes with the body's first bytes (WriteTo).
				s.holder = ctx.Conn().(*clientConn)
				s.holder.holder = s.direct
			}
		}
		if x.h2 != nil {
			x.h2.spool, x.h2.renew = s.sp, x.sendDeadline
		}
		if upRate > 0 {
			s.quit = make(chan struct{})
			body = &throttledReader{r: body, l: rateLimit{rate: upRate, start: time.Now()}, done: s.quit}
		}
		go s.produce(body)
		x.setBody(s, ccl) // unframed for an HTTP/1.0 client (unframed.go)
		return true
	}
	s := &x.stream
	*s = bodyStream{x: x, r: body}
	if cl >= 0 && x.loc.fcgi == nil && !x.loc.upstreamH2() && a.Conn.Reader().Buffered() > cl {
		// The whole body and more came with the head: nginx's input
		// filter sees them before it goes on, still in the header's phase.
		s.overran = x.bodyOverran(a, false, upstream.PhaseReadHeader)
	}
	x.setBody(s, ccl)
	return true
}

// bodyOverran is nginx's check when a Content-Length body has all its
// bytes: more bytes in the read that ended it get `upstream sent more data
// than specified in "Content-Length" header` at warn, and the connection is
// never reused. Here the read is the upstream connection's read buffer;
// probe also looks at the socket (MSG_PEEK), for a streamed body whose last
// read went straight into the caller's buffer, limited to the declared
// length (plain TCP only: TLS records are not body bytes). phase is the
// "while ..." nginx names.
func (x *exchange) bodyOverran(a *upstream.Attempt, probe bool, phase upstream.Phase) bool {
	if x.loc.fcgi != nil || x.loc.upstreamH2() || a == nil || a.Conn == nil || x.uresp.Header.ContentLength() < 0 {
		return false
	}
	uc := a.Conn
	if uc.Reader().Buffered() == 0 && (!probe || uc.IsTLS() || uc.Probe() != upstream.ErrUnsolicited) {
		return false
	}
	x.logPeer(errorlog.Warn, phase,
		`upstream sent more data than specified in "Content-Length" header`, 0, uc.Peer().Addr())
	return true
}

// readSmallBody appends exactly n body bytes from br to resp without an
// intermediate buffer: what is already buffered is appended straight from
// br's buffer. On a short read resp keeps what did arrive.
func readSmallBody(resp *fasthttp.Response, br *bufio.Reader, n int) error {
	for n > 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		p, _ := br.Peek(min(n, br.Buffered()))
		resp.AppendBody(p)
		_, _ = br.Discard(len(p))
		n -= len(p)
	}
	return nil
}

func hidden(name, connection []byte) bool {
	if hiddenNames.Has(name) {
		return true
	}
	if httphead.NameIs(name, "Upgrade") {
		return false // even when Connection names it
	}
	for len(connection) > 0 {
		var tok []byte
		tok, connection, _ = bytes.Cut(connection, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(tok), name) {
			return true
		}
	}
	return false
}

// hiddenNames is hideResponse as a set: hidden runs for every header of
// every response.
var hiddenNames = httphead.NewNameSet(hideResponse[:]...)

// noBody: HEAD responses and 1xx/204/304 carry no body whatever they declare.
func noBody(method []byte, status int) bool {
	return string(method) == fasthttp.MethodHead || status < 200 || status == 204 || status == 304
}

// release ends the upstream side of a finished attempt: the connection goes
// back to the keepalive cache when the exchange left it reusable. An
// answered attempt's $upstream_response_time is known from here, as
// nginx's is from the upstream's finalization ("-" until then, so in
// add_header).
func (x *exchange) release(a *upstream.Attempt, complete bool) {
	if a == nil || a.Conn == nil {
		return
	}
	x.releaseAt(a, complete, time.Now())
}

// releaseAt is release with the clock read: now.
func (x *exchange) releaseAt(a *upstream.Attempt, complete bool, now time.Time) {
	if a == nil || a.Conn == nil {
		return
	}
	uc := a.Conn
	a.Conn = nil
	if n := len(x.attempts); n > 0 && x.attempts[n-1].ResponseTime < 0 {
		x.attempts[n-1].ResponseTime = now.Sub(a.Start)
	}
	if complete {
		x.learnSticky(uc.Peer(), false) // sticky learn without header: the whole response came (sticky.go)
	}
	if complete && x.reusable() {
		if x.loc.fcgi == nil {
			uc.Peer().Idle().Hint(x.upstreamKeepAlive(), idleLog{x.p}) // Keep-Alive: timeout=N
		}
		uc.Keep(now)
		return
	}
	uc.Close()
}

// upstreamKeepAlive is the upstream answer's Keep-Alive header as its
// connection goes back to the cache: the one noted with its head, unless
// its body could have added trailers since (chunked, HTTP/2), which
// fasthttp's Peek also looks in.
func (x *exchange) upstreamKeepAlive() []byte {
	if x.uresp.Header.ContentLength() < 0 || x.loc.upstreamH2() {
		return x.uresp.Header.Peek("Keep-Alive")
	}
	return x.uhead.keepAlive
}

// reusable: HTTP/1.1 both ways, no "Connection: close" either way, and
// known framing (a body read until close leaves nothing to reuse).
func (x *exchange) reusable() bool {
	if x.loc.fcgi != nil {
		return x.fcgiReusable()
	}
	if x.loc.uwsgi != nil {
		return false // nginx keeps no uwsgi connection alive
	}
	if x.loc.upstreamH2() {
		return x.grpc.Reusable() // the stream ended and HTTP/2 takes more (grpc.go)
	}
	if x.loc.conf.ProxyHTTPVersion != "1.1" || x.uresp.Header.ConnectionClose() {
		return false
	}
	if x.uresp.Header.StatusCode() == fasthttp.StatusSwitchingProtocols {
		return false // the connection left HTTP (switched.go)
	}
	if !bytes.HasPrefix(x.uresp.Header.Protocol(), []byte("HTTP/1.1")) {
		return false
	}
	// Did we ask for close? proxy_set_header Connection close is nginx's
	// default (appendHead notes it).
	return !x.closeAsked
}

// bodyFailed logs a failure while reading the upstream body. Nothing is
// retried: the client already has the status line (nginx does the same).
func (x *exchange) bodyFailed(ue *upstream.Error) {
	x.counters(x.cur.Conn.Peer()).failure(ue)
	x.logUpstream(errorlog.Error, ue, ue.Peer)
	x.release(x.cur, false)
	if n := len(x.attempts); n > 0 {
		x.attempts[n-1].ResponseTime = time.Since(x.cur.Start)
	}
}

// failedBody is a small body whose upstream failed part-way: the client gets
// the head, the bytes that did arrive, and then the connection is closed.
// The bytes go straight to the socket (the head is flushed first), since
// fasthttp drops its write buffer when a body fails.
type failedBody struct {
	x    *exchange
	data []byte
	err  error
}

func (f *failedBody) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	f.x.bodyBytes += int64(n)
	return n, nil
}

func (f *failedBody) SupportsBodyWriteTo() bool { return true }

func (f *failedBody) Close() error { return nil }

// CloseWithError finishes the exchange once fasthttp is done with the body.
func (f *failedBody) CloseWithError(error) error {
	if f.x != nil {
		x := f.x
		f.x = nil
		x.finish()
	}
	return nil
}

func (f *failedBody) WriteTo(w io.Writer) (int64, error) {
	var cc *clientConn
	if c, ok := f.x.ctx.Conn().(*clientConn); ok {
		w, cc = c.TCPConn, c
	}
	f.x.sendDeadline()
	n, err := w.Write(f.data)
	if cc != nil {
		cc.sent.Add(int64(n)) // past clientConn.Write: $bytes_sent counts it here
	}
	f.x.bodyBytes += int64(n)
	if err != nil {
		return int64(n), err
	}
	return int64(n), f.err
}

// bodyError is the error for an upstream body that ended early. chunked
// says the body is an HTTP upstream's chunked one: an error that did not
// come from the socket is then fasthttp's chunked parser refusing the
// framing (a size line that is no hex number, no CRLF after the data),
// nginx's "upstream sent invalid chunked response".
func bodyError(a *upstream.Attempt, err error, buffered, chunked bool) *upstream.Error {
	ue := a.Fail(upstream.PhaseReadBody, err)
	ue.Buffered = buffered
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		ue.Kind = upstream.KindClosed
	case chunked && ue.Kind == upstream.KindOther && a.Conn.ReadErr() == nil:
		ue.Kind = upstream.KindBadChunked
	}
	return ue
}

// upstreamChunked reports whether the response being relayed is an HTTP
// upstream's chunked body (FastCGI has its own framing).
func (x *exchange) upstreamChunked() bool {
	return x.loc.fcgi == nil && !x.loc.upstreamH2() && x.uresp.Header.ContentLength() == -1
}

// chunkedBroken reports whether b, the start of a chunked body, breaks
// nginx's chunked framing (ngx_http_parse_chunked): a size line that does
// not start with a hex digit or goes on with anything but an extension or
// the line end, or data not followed by a line end. A b that is only
// incomplete is not broken.
func chunkedBroken(b []byte) bool {
	for len(b) > 0 {
		i, size := 0, 0
		for ; i < len(b); i++ {
			d := unhex(b[i])
			if d < 0 {
				break
			}
			if i >= 15 { // nginx: more than NGX_MAX_OFF_T_VALUE
				return true
			}
			size = size<<4 | d
		}
		if i == len(b) {
			return false
		}
		if i == 0 {
			return true
		}
		switch b[i] {
		case '\r', '\n', ';', ' ', '\t':
		default:
			return true
		}
		eol := bytes.IndexByte(b[i:], '\n')
		if eol < 0 {
			return false
		}
		b = b[i+eol+1:]
		if size == 0 {
			return false // trailers follow: nginx checks no more than fasthttp
		}
		if len(b) < size {
			return false
		}
		b = b[size:]
		switch {
		case len(b) == 0:
			return false
		case b[0] == '\n':
			b = b[1:]
		case b[0] != '\r':
			return true
		case len(b) == 1:
			return false
		case b[1] != '\n':
			return true
		default:
			b = b[2:]
		}
	}
	return false
}

// unhex is a hex digit's value, -1 for any other byte (chunk sizes).
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// brokenChunkedHead answers a chunked response whose framing is already
// broken in the bytes that came with its head, as nginx does: its input
// filter runs on them before the head has left its output buffer, so the
// client gets nothing and the connection is closed; the access log keeps
// the upstream's status. The phase is nginx's: the body filter of
// proxy_buffering off runs while the header is processed, the event pipe
// of proxy_buffering on once reading upstream.
func (x *exchange) brokenChunkedHead(a *upstream.Attempt, buffering bool) {
	phase := upstream.PhaseReadHeader
	if buffering {
		phase = upstream.PhaseReadBody
	}
	ue := a.FailKind(phase, upstream.KindBadChunked, errBrokenChunked, "")
	x.bodyFailed(ue)
	x.closeSilently()
}

var errBrokenChunked = errors.New("invalid chunked framing")

// bodyStream relays an unbuffered upstream body (proxy_buffering off) to the client. fasthttp calls
// Read from the client connection's goroutine while ctx is alive, so Read
// may renew the send_timeout deadline; Close and CloseWithError are both
// called (pitfall 6) and finish the exchange once.
type bodyStream struct {
	x       *exchange
	r       io.Reader
	done    bool
	failed  bool
	closed  bool
	overran bool // more bytes than Content-Length: the connection is not reused
}

func (s *bodyStream) Read(p []byte) (int, error) {
	x := s.x
	x.sendDeadline()
	n, err := s.r.Read(p)
	x.bodyBytes += int64(n)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		if !s.done { // fasthttp may read again after io.EOF
			s.done = true
			// nginx names the handler that ran its read loop: the
			// client's once body bytes went out, else the upstream's.
			phase := upstream.PhaseReadBody
			if x.bodyBytes > int64(n) {
				phase = upstream.PhaseSendClient
			}
			s.overran = s.overran || x.bodyOverran(x.cur, true, phase)
			if x.loc.grpc != nil {
				x.grpcChunkedTrailers() // before fasthttp writes the last chunk
			}
		}
		return n, io.EOF
	}
	if x.watch.gone() { // the client went: the watch woke the upstream read (clientabort.go)
		s.failed = true
		x.watch.stop()
		x.bodyAborted(x.cur.Conn.Peer().Addr())
		x.release(x.cur, false)
		return n, errClientGone
	}
	var ie *inflateError
	if errors.As(err, &ie) { // the gunzip filter's (gunzip.go)
		s.failed = true
		addr := ""
		if x.cur != nil && x.cur.Conn != nil {
			addr = x.cur.Conn.Peer().Addr()
		}
		x.logPeer(errorlog.Error, upstream.PhaseSendClient, ie.msg, 0, addr)
		return n, err
	}
	if x.loc.grpc != nil && x.cur != nil && x.cur.Conn != nil && x.grpcBodyTooLarge(x.cur.Conn.Peer().Addr()) {
		// The client's stream went past client_max_body_size while the
		// response was relayed: the client's fault, not the upstream's.
		s.failed = true
		x.release(x.cur, false)
		return n, err
	}
	ue := bodyError(x.cur, err, false, x.upstreamChunked())
	s.failed = true
	x.bodyFailed(ue)
	return n, ue
}

// Close does nothing: fasthttp always calls Close and then CloseWithError
// (closeBodyStreamReader), and only the latter carries the client's error.
func (s *bodyStream) Close() error { return nil }

// CloseWithError is fasthttp's signal that the response is over; err is the
// client-side write error, if any. It finishes (and recycles) the exchange.
func (s *bodyStream) CloseWithError(err error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	x := s.x
	gone := x.watch.stop() // the upstream's part is over: before its connection goes back (clientabort.go)
	_ = x.uresp.CloseBodyStream()
	if x.cur != nil && x.cur.Conn != nil {
		if gone && !s.done && !s.failed {
			// The client went while the relay was writing (whose error,
			// if any, is the client's going too): the watch's line, as
			// when the read fails. A body read to its end before the
			// client went keeps its connection (the watch only woke it).
			s.failed = true
			x.bodyAborted(x.cur.Conn.Peer().Addr())
		}
		x.release(x.cur, s.done && !s.failed && !s.overran)
	}
	if err != nil && !s.failed {
		// nginx relays an unbuffered body from its upstream read handler:
		// its failed write is logged "while reading upstream".
		x.relayWriteFailed(err, upstream.PhaseReadBody)
	}
	x.finish()
	return nil
}

// relayWriteFailed logs a write of the upstream's body to the client that
// failed: a socket error is nginx's own line for the failed call,
// "writev() failed (104: Connection reset by peer)" (its log_error is info
// for a client connection), in phase, nginx's action at that moment; any
// other failure is clientWriteFailed's.
func (x *exchange) relayWriteFailed(err error, phase upstream.Phase) {
	errno := errorlog.ErrnoOf(err)
	if errno != syscall.ECONNRESET && errno != syscall.EPIPE {
		x.clientWriteFailed(err)
		return
	}
	x.clientFailed = true
	x.logClientWrite("writev() failed", errno, phase)
}

// clientWriteFailed logs a client that went away mid-response, at info as
// nginx does for client-side errors.
func (x *exchange) clientWriteFailed(err error) {
	x.clientFailed = true
	msg, errno := "client prematurely closed connection", errorlog.ErrnoOf(err)
	if errors.Is(err, os.ErrDeadlineExceeded) { // send_timeout: nginx's ngx_http_upstream_process_downstream
		msg, errno = "client timed out", syscall.ETIMEDOUT
	}
	if errno != 0 {
		x.logClientWrite(msg, errno, upstream.PhaseSendClient)
	}
}

// logClientWrite writes the info line of a failed write to the client, in
// phase, naming the upstream last tried.
func (x *exchange) logClientWrite(msg string, errno syscall.Errno, phase upstream.Phase) {
	f := x.fields
	if len(x.attempts) > 0 {
		f.Upstream = x.upstreamURL(x.attempts[len(x.attempts)-1].Addr)
	}
	x.log().Write(&errorlog.Entry{Level: errorlog.Info, Conn: x.conn,
		Msg: msg, Errno: errno, Action: phase.String(), Fields: &f})
}
