package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// upConn is one connection to an upstream server. It remembers the first raw
// read and write error (fasthttp's parsers turn an RST into io.EOF and lose the
// errno) and counts bytes each way, so a failure can say what crossed the wire.
//
// An upConn has one owner at a time: the exchange using it, or the keepalive
// cache holding it. It is not safe for concurrent use.
type upConn struct {
	tcp  streamConn // TCP, or a unix-domain socket (unixsock.go)
	peer *peer
	t    *transport
	tls  *tls.Conn    // over tcp for an https:// upstream, nil otherwise (upstream_tls.go)
	sec  *upstreamTLS // the proxy_ssl_* settings tls was made with; only such a request reuses it
	br   *bufio.Reader
	bw   *bufio.Writer

	readTimeout  time.Duration // proxy_read_timeout, renewed before reads (see stale)
	sendTimeout  time.Duration // proxy_send_timeout, renewed before writes
	rerr, werr   error         // first raw socket errors
	nread, nwrit int64         // totals over the connection's life
	requests     int           // requests sent on this connection
	idleSince    time.Time     // when it entered the keepalive cache
	rdl, wdl     time.Time     // the read and write deadlines last set

	// held: the connection carries its attempt's least_conn count
	// (group.acquire), given back once by unhold. Atomic because a fast
	// stop closes connections from another goroutine.
	held atomic.Bool
}

// unhold ends the in-flight count of the attempt using c, once: on close,
// or when c goes back to the keepalive cache.
func (c *upConn) unhold() {
	if c.held.CompareAndSwap(true, false) {
		c.peer.group.done(c.peer)
	}
}

// stale reports whether a deadline dl should be renewed to now+t before an
// I/O call. Setting one updates a runtime timer under a lock; keeping one
// that is within t/16 of exact holds the timeout in [15/16 t, t] at a
// fraction of the cost.
func stale(dl time.Time, t time.Duration, now time.Time) bool {
	left := dl.Sub(now)
	return left < t-t/16 || left > t
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.readTimeout > 0 {
		if now := time.Now(); stale(c.rdl, c.readTimeout, now) {
			c.rdl = now.Add(c.readTimeout)
			_ = c.tcp.SetReadDeadline(c.rdl)
		}
	}
	var n int
	var err error
	if c.tls != nil {
		n, err = c.tls.Read(p) // the socket's own error stays in tls's chain
	} else {
		n, err = c.tcp.Read(p)
	}
	c.nread += int64(n)
	if err != nil && c.rerr == nil {
		c.rerr = err
	}
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	if c.sendTimeout > 0 {
		if now := time.Now(); stale(c.wdl, c.sendTimeout, now) {
			c.wdl = now.Add(c.sendTimeout)
			_ = c.tcp.SetWriteDeadline(c.wdl)
		}
	}
	var n int
	var err error
	if c.tls != nil {
		n, err = c.tls.Write(p)
	} else {
		n, err = c.tcp.Write(p)
	}
	c.nwrit += int64(n)
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n, err
}

func (c *upConn) close() { _ = c.Close() }

// Close closes the socket and forgets it (io.Closer, for the live set).
func (c *upConn) Close() error {
	c.unhold()
	c.t.conns.remove(c)
	return c.tcp.Close()
}

// dial opens a fresh connection to p (phase: connecting to upstream).
// With sec (https://) the TLS handshake follows, under a fresh timeout of
// the same length (nginx re-arms proxy_connect_timeout for it).
func (t *transport) dial(ctx context.Context, p *peer, timeout time.Duration, headerBuf int, sec *upstreamTLS) (*upConn, error) {
	// No TCP keepalive probes on upstream connections (nginx's
	// proxy_socket_keepalive off): four setsockopt(2) calls fewer per connect.
	tcp, err := dialStream(ctx, p.addr, timeout, time.Time{})
	if err != nil {
		// A net.Dialer timeout is a net.Error with Timeout() but not
		// os.ErrDeadlineExceeded; classify handles both.
		return nil, &UpstreamError{Phase: PhaseConnect, Kind: classify(PhaseConnect, err), Peer: p.addr, Err: err}
	}
	uc := &upConn{tcp: tcp, peer: p, t: t}
	if !t.conns.add(uc) {
		return nil, &UpstreamError{Phase: PhaseConnect, Kind: KindOther, Peer: p.addr, Err: net.ErrClosed}
	}
	uc.br = bufio.NewReaderSize(uc, headerBuf) // proxy_buffer_size: the response head must fit
	uc.bw = bufio.NewWriterSize(uc, 16<<10)
	if sec != nil {
		if ue := uc.handshake(ctx, sec, timeout); ue != nil {
			uc.close()
			return nil, ue
		}
	}
	return uc, nil
}

// transport runs the upstream exchange one phase at a time over upConns. It
// replaces fasthttp's HostClient, which hides the phase, loses errno and
// retries on its own (see shared/fasthttp-notes.md section 2.2).
type transport struct {
	conns liveSet[*upConn] // every open upstream connection, for a fast stop
}

// attempt is one try against one peer: the state that the error log, the
// retry decision and the keepalive cache need once it is over.
type attempt struct {
	conn   *upConn
	reused bool
	idle   time.Duration // how long a reused connection had been idle
	start  time.Time
	// bytes counters at the start of this attempt (a reused conn carries totals)
	w0, r0 int64
}

func (a *attempt) fail(phase Phase, err error) *UpstreamError {
	raw := err
	c := a.conn
	// Prefer the socket's own error: fasthttp reports an RST on the first
	// byte as io.EOF and a timeout as its own ErrTimeout.
	switch {
	case phase == PhaseSend && c.werr != nil:
		raw = c.werr
	case phase >= PhaseReadHeader && c.rerr != nil && !isParseError(err):
		raw = c.rerr
	}
	return &UpstreamError{
		Phase: phase, Kind: classify(phase, raw), Peer: c.peer.addr, Reused: a.reused,
		Written: c.nwrit - a.w0, Read: c.nread - a.r0, Err: raw,
	}
}

func isParseError(err error) bool {
	var small *fasthttp.ErrSmallBuffer
	return errors.As(err, &small) || isBadChunk(err)
}

// send writes the request head and body (phase: sending request to upstream).
func (a *attempt) send(head []byte, body io.Reader) error {
	if body == nil && len(head) <= 4096 {
		// The common case, in one write(2), without the bufio copy.
		if _, err := a.conn.Write(head); err != nil {
			return a.fail(PhaseSend, err)
		}
		a.conn.requests++
		return nil
	}
	c := a.conn
	if _, err := c.bw.Write(head); err != nil {
		return a.fail(PhaseSend, err)
	}
	if body != nil {
		if _, err := io.Copy(c.bw, body); err != nil {
			if c.werr == nil { // the body source failed, not the socket
				return &UpstreamError{Phase: PhaseSend, Kind: KindOther, Peer: c.peer.addr, Reused: a.reused, Written: c.nwrit - a.w0, Err: err}
			}
			return a.fail(PhaseSend, err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return a.fail(PhaseSend, err)
	}
	c.requests++
	return nil
}

// readHeader reads the response head into resp (phase: reading response
// header from upstream). It checks the raw head the way nginx's parser does
// before fasthttp parses it, because fasthttp is more lenient than nginx
// (it accepts header names with spaces, CL together with TE, ...).
func (a *attempt) readHeader(resp *fasthttp.ResponseHeader) error {
	c := a.conn
	for {
		head, err := peekHead(c.br)
		if err != nil {
			var small *fasthttp.ErrSmallBuffer
			if errors.As(err, &small) {
				return a.failKind(PhaseReadHeader, KindTooBigHeader, err, "")
			}
			if err == errNoValidHTTP {
				return a.failKind(PhaseReadHeader, KindNoValidHTTP, err, "")
			}
			return a.fail(PhaseReadHeader, err)
		}
		if kind, detail := checkHead(head); kind != KindOther {
			return a.failKind(PhaseReadHeader, kind, errBadHead, detail)
		}
		resp.Reset()
		resp.DisableNormalizing()
		resp.SetNoDefaultContentType(true)
		if err := readHead(resp, c.br, head); err != nil {
			return a.failKind(PhaseReadHeader, KindInvalidHeader, err, "")
		}
		// 1xx interim responses (except 101) are skipped, as nginx does.
		if sc := resp.StatusCode(); sc >= 200 || sc == fasthttp.StatusSwitchingProtocols {
			return nil
		}
	}
}

// readHead parses head, the complete raw head at the front of br, into
// resp and consumes it. nginx's parser takes a bare LF as a line end
// (ngx_http_parse_status_line, ngx_http_parse_header_line); fasthttp's
// waits for a CRLF that never comes and would hang until the upstream
// closes. Such a head is parsed from a copy with CRLF line ends: the same
// lines checkHead has already judged, so the framing rules (Content-Length
// with Transfer-Encoding, ...) hold for both forms alike.
func readHead(resp *fasthttp.ResponseHeader, br *bufio.Reader, head []byte) error {
	if !hasBareLF(head) {
		return resp.Read(br)
	}
	norm := make([]byte, 0, len(head)+bytes.Count(head, []byte("\n")))
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest = cutLine(rest)
		norm = append(append(norm, line...), "\r\n"...)
	}
	if err := resp.Read(bufio.NewReaderSize(bytes.NewReader(norm), len(norm)+16)); err != nil {
		return err
	}
	_, err := br.Discard(len(head))
	return err
}

// hasBareLF reports whether some line of head ends in LF without CR.
func hasBareLF(head []byte) bool {
	for i, c := range head {
		if c == '\n' && (i == 0 || head[i-1] != '\r') {
			return true
		}
	}
	return false
}

var (
	errBadHead     = errors.New("malformed upstream response head")
	errNoValidHTTP = errors.New("upstream sent no valid HTTP/1.0 header")
)

// statusPrefixOK reports whether b can still be the start of "HTTP/".
func statusPrefixOK(b []byte) bool {
	const p = "HTTP/"
	n := min(len(b), len(p))
	return string(b[:n]) == p[:n]
}

func (a *attempt) failKind(phase Phase, kind Kind, err error, detail string) *UpstreamError {
	ue := a.fail(phase, err)
	ue.Kind, ue.Detail = kind, detail
	return ue
}

// peekHead returns the complete response head (up to and including the empty
// line) without consuming it. A head that does not fit the reader's buffer
// (proxy_buffer_size) is fasthttp's ErrSmallBuffer: nginx's "too big header".
func peekHead(br *bufio.Reader) ([]byte, error) {
	if _, err := br.Peek(1); err != nil { // the raw first-byte error: RST vs FIN
		return nil, err
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if !statusPrefixOK(b) {
			// nginx's status-line parser gives up at the first byte that
			// cannot start "HTTP/": that is its "no valid HTTP/1.0 header",
			// whatever follows (FIN, more bytes, nothing).
			return nil, errNoValidHTTP
		}
		if n := headEnd(b); n > 0 {
			return b[:n], nil
		}
		if len(b) >= br.Size() {
			return nil, &fasthttp.ErrSmallBuffer{}
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, &fasthttp.ErrSmallBuffer{}
			}
			return nil, err
		}
	}
}

// headEnd returns the length of the head in b (through "\r\n\r\n" or "\n\n"),
// or 0 if b does not hold a complete head yet.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// checkHead applies nginx's upstream header rules to a complete raw head:
// the status line must be "HTTP/x.y NNN", header names hold no control bytes
// or spaces (ngx_http_parse_header_line), values hold no NUL. It returns KindOther when the head is acceptable.
func checkHead(head []byte) (Kind, string) {
	line, rest := cutLine(head)
	if !validStatusLine(line) {
		return KindNoValidHTTP, ""
	}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := -1
		for i, ch := range line {
			if ch == ':' && i > 0 {
				colon = i
				break
			}
			if ch <= 0x20 || ch == 0x7f {
				return KindInvalidHeader, escapeUpTo(line, i)
			}
		}
		if colon < 0 {
			return KindInvalidHeader, escapeUpTo(line, len(line))
		}
		for i := colon + 1; i < len(line); i++ {
			if line[i] == 0 {
				return KindInvalidHeader, escapeUpTo(line, i)
			}
		}
	}
	if hasHeader(head, "content-length") && hasHeader(head, "transfer-encoding") {
		return KindInvalidHeader, "Transfer-Encoding"
	}
	return KindOther, ""
}

func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func validStatusLine(l []byte) bool {
	// "HTTP/1.1 200" is the minimum; nginx also accepts a missing reason.
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/")) {
		return false
	}
	if !isDigit(l[5]) || l[6] != '.' || !isDigit(l[7]) || l[8] != ' ' {
		return false
	}
	// A status below 100 ("000") would reach fasthttp as 0, which it reports
	// and sends as 200: it is no valid status (found by FuzzUpstreamResponse).
	return l[9] >= '1' && isDigit(l[9]) && isDigit(l[10]) && isDigit(l[11]) && (len(l) == 12 || l[12] == ' ')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// escapeUpTo renders a bad header line as nginx's ngx_http_proxy_process_header
// does ("%*s\\x%02xd..."): the bytes before the offending one as they are,
// then the offending byte in hex.
func escapeUpTo(line []byte, i int) string {
	const hex = "0123456789abcdef"
	c := byte('\r')
	if i < len(line) {
		c = line[i]
	}
	return string(line[:i]) + "\\x" + string([]byte{hex[c>>4], hex[c&15]})
}

func hasHeader(head []byte, lowerName string) bool {
	_, rest := cutLine(head)
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) > len(lowerName) && line[len(lowerName)] == ':' &&
			bytes.EqualFold(line[:len(lowerName)], []byte(lowerName)) {
			return true
		}
	}
	return false
}

// errnoOf digs the errno out of err, 0 if there is none.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// exchangeHead runs the first three phases of one attempt against pr:
// connect (or reuse an idle connection), send the request, read the response
// head into x.uresp. The returned attempt is never nil; its connection is
// closed when the error is not nil.
func (p *Proxy) exchangeHead(x *exchange, pr *peer, fresh bool) (*attempt, *UpstreamError) {
	lc := x.loc.conf
	a := &x.attemptBuf
	*a = attempt{start: time.Now()}
	// least_conn counts the attempt from here, connecting included (nginx
	// counts from the pick); the connection carries the count from then on.
	pr.group.acquire(pr)
	if !fresh {
		a.conn, a.idle = pr.idle.get(a.start, &p.stale, isNonIdempotent(x.ctx.Request.Header.Method()), p)
		a.reused = a.conn != nil
		if a.reused && a.conn.sec != x.loc.tls {
			// cached by a location with another scheme or other
			// proxy_ssl_* settings (upstream_tls.go): not this one's
			a.conn.close()
			a.conn, a.reused = nil, false
		}
	}
	if a.conn == nil {
		uc, err := p.transport.dial(x.watch.context(), pr, lc.ProxyConnectTimeout, int(lc.ProxyBufferSize), x.loc.tls)
		if err != nil {
			if err.(*UpstreamError).Phase == PhaseSSLHandshake {
				p.nextConnID() // connected: the connection had its *N
			}
			pr.group.done(pr)
			return a, err.(*UpstreamError)
		}
		p.nextConnID() // an upstream connection takes an nginx *N too
		p.stats.dials.Add(1)
		a.conn = uc
	}
	uc := a.conn
	uc.held.Store(true)
	if !x.watch.use(uc) { // the client went while this connection was made
		uc.close()
		return a, &UpstreamError{Phase: PhaseConnect, Kind: KindOther, Peer: pr.addr, Reused: a.reused, Err: errClientGone}
	}
	defer x.watch.use(nil)
	uc.readTimeout, uc.sendTimeout = lc.ProxyReadTimeout, lc.ProxySendTimeout
	a.w0, a.r0 = uc.nwrit, uc.nread
	var body io.Reader
	if x.body != nil && lc.ProxyPassRequestBody { // off: the head (Content-Length too) and no body, as nginx
		body = x.stdin(x.body.reader()) // FastCGI frames it as STDIN records
	}
	if err := a.send(x.head, body); err != nil {
		uc.close()
		return a, err.(*UpstreamError)
	}
	if err := x.readHeader(a); err != nil { // HTTP or FastCGI (fcgi.go)
		uc.close()
		return a, err.(*UpstreamError)
	}
	return a, nil
}
