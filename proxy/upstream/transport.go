package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"spillway/proxy/internal/deadline"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/internal/liveset"
)

// Conn is one connection to an upstream server. It remembers the first raw
// read and write error (fasthttp's parsers turn an RST into io.EOF and lose the
// errno) and counts bytes each way, so a failure can say what crossed the wire.
//
// A Conn has one owner at a time: the request using it, or the keepalive
// cache holding it. It is not safe for concurrent use.
type Conn struct {
	tcp  streamConn // TCP, or a unix-domain socket (unixsock.go)
	peer *Peer
	t    *Transport
	tls  *tls.Conn // over tcp for an https:// upstream, nil otherwise (upstream_tls.go)
	sec  *TLS      // the proxy_ssl_* settings tls was made with; only such a request reuses it
	br   *bufio.Reader
	bw   *bufio.Writer

	readTimeout  time.Duration // proxy_read_timeout, renewed before reads (see stale)
	sendTimeout  time.Duration // proxy_send_timeout, renewed before writes
	rerr, werr   error         // first raw socket errors
	nread, nwrit int64         // totals over the connection's life
	requests     int           // requests sent on this connection
	idleSince    time.Time     // when it entered the keepalive cache
	born         time.Time     // when it was dialed: keepalive_time counts from here
	rdl, wdl     time.Time     // the read and write deadlines last set
	woken        atomic.Bool   // Wake set a read deadline in the past (another goroutine's)
	sw           sendWriter    // the writer of a body that writes itself (Send)
	probe        idleProbe     // probeIdle's state (keepalive.go)
	// opened is the clock as Open read it (Attempt.Start), for the
	// attempt's first Write, which follows within microseconds: a
	// clock read costs 100-200 ns on the VMs measured (vDSO), about 1%
	// of a 1 KiB GET's CPU each. The Write clears it.
	opened time.Time
	// readAt is the clock the attempt's one-write send used (Send), for
	// the read of the answer that follows at once: Read renews
	// proxy_read_timeout from it instead of reading the clock again.
	// The Read clears it.
	readAt time.Time
	// started is the attempt's start (Attempt.Start) until it ends:
	// least_time's in-flight sum and last_byte time (unhold).
	started time.Time

	// h2 is the HTTP/2 client running on the connection once a gRPC
	// attempt started it (http2.go), with hc its view of the socket; the
	// keepalive cache keeps it with the connection.
	//lint:ignore SA1019 x/net/http2's client on a connection this package dialled (http2.go)
	h2 *http2.ClientConn
	hc *h2Conn

	// held: the connection carries its attempt's least_conn count
	// (Group.Acquire), given back once by unhold. Atomic because a fast
	// stop closes connections from another goroutine.
	held atomic.Bool
	// answered: the attempt got its response's head (least_time
	// last_byte counts only those; Attempt.Answered).
	answered atomic.Bool
}

// unhold ends the in-flight count of the attempt using c, once: on close,
// or when c goes back to the keepalive cache.
func (c *Conn) unhold() {
	if c.held.CompareAndSwap(true, false) {
		c.peer.group.ltEnd(c.peer, c.started, c.answered.Load()) // least_time (leasttime.go)
		c.peer.group.done(c.peer)
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.readTimeout > 0 {
		now := c.readAt // the answer's first read, just after a one-write send
		if now.IsZero() {
			now = time.Now()
		}
		c.readAt = time.Time{}
		if deadline.Stale(c.rdl, c.readTimeout, now) {
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

func (c *Conn) Write(p []byte) (int, error) {
	c.renewWrite()
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

// writeBuffers writes the slices of v with one writev(2) (net.Buffers on
// the TCP or unix socket; not for TLS), renewing proxy_send_timeout as Write
// does. It consumes v.
func (c *Conn) writeBuffers(v *net.Buffers) (int64, error) {
	c.renewWrite()
	n, err := v.WriteTo(c.tcp)
	c.nwrit += n
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n, err
}

// sendWriter is what a request body that writes itself (io.WriterTo) is
// written to on a connection without TLS: its first Write or WriteBuffers
// carries the request head in front, in the same writev(2). It lives in its
// Conn so that handing it to WriteTo allocates nothing.
type sendWriter struct {
	c    *Conn
	head []byte   // the request head, until written
	arr  [][]byte // backing array of vec, kept across requests
	vec  net.Buffers
}

// Write writes p, after the head if it is still pending; it returns how
// many of p's bytes were written.
func (w *sendWriter) Write(p []byte) (int, error) {
	if w.head == nil {
		return w.c.Write(p)
	}
	w.arr = append(w.arr[:0], w.head, p)
	n, err := w.send()
	return int(n), err
}

// WriteBuffers writes the slices of v with one writev(2) per sendGroup
// bytes, the first after the head if it is still pending
// (buffer.BuffersWriter).
func (w *sendWriter) WriteBuffers(v [][]byte) (int64, error) {
	var total int64
	for len(v) > 0 {
		w.arr = w.arr[:0]
		if w.head != nil {
			w.arr = append(w.arr, w.head)
		}
		size := 0
		for len(v) > 0 && (size == 0 || size+len(v[0]) <= sendGroup) {
			w.arr = append(w.arr, v[0])
			size += len(v[0])
			v = v[1:]
		}
		n, err := w.send()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// sendfileWriter is the sendWriter of a TCP connection: a spilled body's
// temp file goes out with sendfile(2).
type sendfileWriter struct{ *sendWriter }

// ReadFrom sends a spilled body's temp file (an *io.LimitedReader over the
// *os.File, as buffer.BodyReader.WriteTo hands it) with sendfile(2), after
// the head, sendGroup bytes per call so that proxy_send_timeout bounds
// each; any other reader is copied through Write.
func (w sendfileWriter) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	rf, isTCP := w.c.tcp.(io.ReaderFrom)
	if !ok || !isTCP {
		return io.Copy(w.sendWriter, r)
	}
	if w.head != nil {
		if _, err := w.Write(nil); err != nil { // the head alone
			return 0, err
		}
	}
	var total int64
	for lr.N > 0 {
		w.c.renewWrite()
		group := &io.LimitedReader{R: lr.R, N: min(lr.N, sendGroup)}
		n, err := rf.ReadFrom(group)
		lr.N -= n
		total += n
		w.c.nwrit += n
		if err == nil && group.N > 0 {
			err = io.ErrUnexpectedEOF // the file is shorter than the body
		}
		if err != nil {
			if w.c.werr == nil {
				w.c.werr = err
			}
			return total, err
		}
	}
	return total, nil
}

// sendGroup is the most body bytes one writev(2) takes. Go's writev waits
// for the whole call under one deadline, so proxy_send_timeout bounds each
// such group; nginx re-arms it whenever a write makes progress. 1 MiB is
// the default client_body_memory_max: a body in memory by default goes in
// one call, and an upstream must take 1 MiB per proxy_send_timeout.
const sendGroup = 1 << 20

// send writes w.arr and returns how many bytes of the body (the head's not
// counted) went out; the head is sent, or failed, from then on.
func (w *sendWriter) send() (int64, error) {
	w.vec = w.arr // WriteTo consumes vec, not arr
	n, err := w.c.writeBuffers(&w.vec)
	clear(w.arr) // keep no reference to the body's memory
	if w.head != nil {
		h := int64(len(w.head))
		w.head = nil
		if n < h {
			return 0, err
		}
		n -= h
	}
	return n, err
}

// renewWrite re-arms proxy_send_timeout before a write unless the deadline
// set last is still within t/16 of exact.
func (c *Conn) renewWrite() {
	if c.sendTimeout > 0 {
		now := c.opened // the attempt's first write: Open's clock
		if now.IsZero() {
			now = time.Now()
		}
		c.opened = time.Time{}
		if deadline.Stale(c.wdl, c.sendTimeout, now) {
			c.wdl = now.Add(c.sendTimeout)
			_ = c.tcp.SetWriteDeadline(c.wdl)
		}
	}
}

func (c *Conn) close() { _ = c.Close() }

// Reader is the connection's buffered reader (proxy_buffer_size): the
// response head and body are read through it.
func (c *Conn) Reader() *bufio.Reader { return c.br }

// Peer is the server the connection goes to.
func (c *Conn) Peer() *Peer { return c.peer }

// ReadErr is the first raw error a read on the socket returned, nil if none.
func (c *Conn) ReadErr() error { return c.rerr }

// RawSocket is the socket's raw connection, for a look at what it holds
// unread (SIOCINQ); nil over TLS, whose socket holds records, not the
// response's bytes. Reads still go through Reader.
func (c *Conn) RawSocket() syscall.RawConn {
	if c.tls != nil {
		return nil
	}
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// IsTLS reports whether the connection speaks TLS (an https:// upstream).
func (c *Conn) IsTLS() bool { return c.tls != nil }

// SetReadTimeout sets proxy_read_timeout, renewed before each read; 0
// leaves the read deadline to the caller (SetReadDeadline).
func (c *Conn) SetReadTimeout(d time.Duration) { c.readTimeout = d }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tcp.SetReadDeadline(t) }

// CloseRead shuts down the reading side of the socket: a blocked Read
// returns (a deadline would be renewed by the next Read).
func (c *Conn) CloseRead() error { return c.tcp.CloseRead() }

// Abort closes the socket from another goroutine than the owner's, to
// wake it; the owner still calls Close.
func (c *Conn) Abort() error { return c.tcp.Close() }

// Wake ends a read waiting on the socket from another goroutine than the
// owner's, without closing it: a read deadline in the past. A body whose
// end needs no more reading still ends well (a Content-Length body's last
// bytes were read), and then the connection may be kept: Keep clears the
// deadline.
func (c *Conn) Wake() error {
	c.woken.Store(true)
	return c.tcp.SetReadDeadline(time.Unix(1, 0))
}

// Keep ends the attempt using c and hands c to its server's keepalive
// cache, which closes it when it cannot be kept.
func (c *Conn) Keep(now time.Time) {
	c.unhold() // the attempt is over; the idle connection counts for nothing
	if c.woken.Swap(false) {
		c.rdl = time.Time{}
		_ = c.tcp.SetReadDeadline(c.rdl)
	}
	c.peer.idle.put(c, now)
}

// Close closes the socket and forgets it (io.Closer, for the live set).
func (c *Conn) Close() error {
	c.unhold()
	c.t.conns.Remove(c)
	return c.tcp.Close()
}

// dial opens a fresh connection to p (phase: connecting to upstream).
// With sec (https://) the TLS handshake follows, under a fresh timeout of
// the same length (nginx re-arms proxy_connect_timeout for it).
func (t *Transport) dial(ctx context.Context, p *Peer, timeout time.Duration, headerBuf int, sec *TLS) (*Conn, *Error) {
	// No TCP keepalive probes on upstream connections (nginx's
	// proxy_socket_keepalive off): four setsockopt(2) calls fewer per connect.
	tcp, err := dialStream(ctx, p.addr, timeout, time.Time{})
	if err != nil {
		// A net.Dialer timeout is a net.Error with Timeout() but not
		// os.ErrDeadlineExceeded; classify handles both.
		return nil, &Error{Phase: PhaseConnect, Kind: Classify(PhaseConnect, err), Peer: p.addr, Err: err}
	}
	uc := &Conn{tcp: tcp, peer: p, t: t, born: time.Now()}
	uc.sw.c = uc
	if !t.conns.Add(uc) {
		return nil, &Error{Phase: PhaseConnect, Kind: KindOther, Peer: p.addr, Err: net.ErrClosed}
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

// Transport runs the upstream exchange one phase at a time over Conns. It
// replaces fasthttp's HostClient, which hides the phase (a first-byte RST and
// a FIN look alike, an EOF becomes ErrConnectionClosed), loses errno and
// retries on its own (every idempotent request after any write or read error,
// even once part of the response was read, without knowing whether the
// connection was reused).
type Transport struct {
	conns liveset.Set[*Conn] // every open upstream connection, for a fast stop
}

// CloseAll closes every open upstream connection, and every later one (a
// stop that may no longer wait).
func (t *Transport) CloseAll() { t.conns.CloseAll() }

// OpenOptions are what Transport.Open needs of the request and its location.
type OpenOptions struct {
	Fresh       bool // skip the keepalive cache: the retry after a stale connection
	AlwaysProbe bool // peek at every cached candidate: the request cannot be retried once sent
	TLS         *TLS // an https:// location's proxy_ssl_* settings; nil for plain
	H2          bool // a gRPC attempt: only a connection speaking HTTP/2 is reused

	ConnectTimeout time.Duration // proxy_connect_timeout, also for the TLS handshake
	ReadTimeout    time.Duration // proxy_read_timeout, renewed before each read
	SendTimeout    time.Duration // proxy_send_timeout, renewed before each write
	HeaderBuffer   int           // proxy_buffer_size: the response head must fit

	Stale *StaleStats // counts what the keepalive cache found
	Log   LearnLog    // logs what the idle-timeout learner learns
}

// Open starts attempt a against pr (phase: connecting to upstream). It
// counts the attempt as in flight for least_conn and max_conns (nginx
// counts from the pick, connecting included; PickFor already did for a
// server with max_conns, unless o.Fresh: no pick), then takes an idle connection from pr's
// keepalive cache unless o.Fresh, or dials one. A cached connection is
// reused only by a location with the same TLS settings (upstream_tls.go).
// On success a.Conn carries the in-flight count until it is closed or
// kept (Conn.Keep); on failure the count is given back and a.Conn is nil.
// ctx is called only when a connection is dialled: a request's context
// costs a registration with its parent, which a reused connection does
// not need (BenchmarkProxy).
func (t *Transport) Open(ctx func() context.Context, a *Attempt, pr *Peer, o OpenOptions) *Error {
	*a = Attempt{Start: time.Now(), Connect: -1}
	if o.Fresh || pr.conf.MaxConns == 0 {
		// a server with max_conns was counted by its pick (Group.PickFor);
		// a fresh retry on the same server had no pick.
		pr.group.acquire(pr)
	}
	pr.group.ltStart(pr, a.Start)
	if !o.Fresh {
		a.Conn, a.Idle = pr.idle.get(a.Start, o.Stale, o.AlwaysProbe, o.Log)
		a.Reused = a.Conn != nil
		if a.Reused && (a.Conn.sec != o.TLS || (a.Conn.h2 != nil) != o.H2) {
			// cached by a location with another scheme, other
			// proxy_ssl_* settings or the other HTTP: not this one's
			a.Conn.close()
			a.Conn, a.Reused = nil, false
		}
	}
	if a.Conn == nil {
		uc, err := t.dial(ctx(), pr, o.ConnectTimeout, o.HeaderBuffer, o.TLS)
		if err != nil {
			pr.group.ltEnd(pr, a.Start, false)
			pr.group.done(pr)
			return err
		}
		a.Conn = uc
		a.Connect = time.Since(a.Start) // a dial's clock read; a reused connection needs none
	} else {
		a.Connect = 0
	}
	uc := a.Conn
	uc.held.Store(true)
	uc.readTimeout, uc.sendTimeout = o.ReadTimeout, o.SendTimeout
	uc.opened, uc.started, uc.readAt = a.Start, a.Start, time.Time{}
	if pr.group.method == leastTime { // only least_time reads it (Attempt.Answered)
		uc.answered.Store(false)
	}
	a.w0, a.r0 = uc.nwrit, uc.nread
	return nil
}

// Attempt is one try against one peer: the state that the error log, the
// retry decision and the keepalive cache need once it is over. Its owner is
// the request making it.
type Attempt struct {
	Conn   *Conn
	Reused bool
	Idle   time.Duration // how long a reused connection had been idle
	Start  time.Time
	// Connect is $upstream_connect_time: from Start until the connection
	// was ready (TLS handshake included; 0 for a reused one); < 0 when
	// none was.
	Connect time.Duration
	// PlainHead: the response head ReadHeader read names none of the
	// headers package proxy looks up by name after it (Connection,
	// Keep-Alive, X-Accel-*, in any case: lookedUpName), so a walk of the
	// parsed head for them finds nothing. Only HTTP/1's ReadHeader, which
	// scans the raw lines, sets it; false (they may be there) otherwise.
	PlainHead bool
	// bytes counters at the start of this attempt (a reused conn carries totals)
	w0, r0 int64
}

func (a *Attempt) Fail(phase Phase, err error) *Error {
	raw := err
	c := a.Conn
	// Prefer the socket's own error: fasthttp reports an RST on the first
	// byte as io.EOF and a timeout as its own ErrTimeout.
	switch {
	case phase == PhaseSend && c.werr != nil:
		raw = c.werr
	case phase >= PhaseReadHeader && c.rerr != nil && !isParseError(err):
		raw = c.rerr
	}
	return &Error{
		Phase: phase, Kind: Classify(phase, raw), Peer: c.peer.addr, Reused: a.Reused,
		Written: c.nwrit - a.w0, Read: c.nread - a.r0, Err: raw,
		Msg: h2Message(raw), // a gRPC body's RST_STREAM (http2.go)
	}
}

func isParseError(err error) bool {
	var small *fasthttp.ErrSmallBuffer
	return errors.As(err, &small) || isBadChunk(err)
}

// Send writes the request head and body (phase: sending request to upstream).
func (a *Attempt) Send(head []byte, body io.Reader) *Error {
	if body == nil && len(head) <= oneWriteMax {
		// The common case, in one write(2), without the bufio copy. The
		// write returns within microseconds (a small head, into the
		// socket's buffer), so the clock it renewed its deadline from
		// serves the answer's first read too (Conn.readAt).
		c := a.Conn
		at := c.opened
		if _, err := c.Write(head); err != nil {
			return a.Fail(PhaseSend, err)
		}
		c.readAt = at
		c.requests++
		return nil
	}
	c := a.Conn
	if sb, ok := body.(Streamed); ok {
		return a.sendStreamed(head, sb)
	}
	if wt, ok := body.(io.WriterTo); ok && c.tls == nil && c.bw.Buffered() == 0 {
		// A body that writes itself (a buffered request body): the head
		// goes out with its first bytes in one writev(2), and its memory
		// chunks are written where they lie, not copied into bw.
		c.sw.head = head
		at := c.opened
		var w io.Writer = &c.sw // a unix socket: a spilled body is copied through a chunk
		if _, ok := c.tcp.(*net.TCPConn); ok {
			w = sendfileWriter{&c.sw} // a pointer in an interface: no allocation
		}
		_, err := wt.WriteTo(w)
		if err == nil && c.sw.head != nil { // an empty body
			_, err = c.sw.Write(nil)
		}
		c.sw.head = nil
		if err != nil {
			if c.werr == nil { // the body source failed, not the socket
				return &Error{Phase: PhaseSend, Kind: KindOther, Peer: c.peer.addr, Reused: a.Reused, Written: c.nwrit - a.w0, Err: err}
			}
			return a.Fail(PhaseSend, err)
		}
		if c.nwrit-a.w0 <= oneWriteMax {
			// A small request (a 1 KiB POST) went out in one writev
			// into the socket's buffer, within microseconds, as the
			// bodyless one above: its clock serves the answer's read.
			c.readAt = at
		}
		c.requests++
		return nil
	}
	if _, err := c.bw.Write(head); err != nil {
		return a.Fail(PhaseSend, err)
	}
	if body != nil {
		if _, err := io.Copy(c.bw, body); err != nil {
			if c.werr == nil { // the body source failed, not the socket
				return &Error{Phase: PhaseSend, Kind: KindOther, Peer: c.peer.addr, Reused: a.Reused, Written: c.nwrit - a.w0, Err: err}
			}
			return a.Fail(PhaseSend, err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return a.Fail(PhaseSend, err)
	}
	c.requests++
	return nil
}

// oneWriteMax is the largest request whose send's clock (Open's) serves
// the answer's first read (Conn.readAt): a request this small goes into the
// socket's buffer at once, so its write returns within microseconds.
const oneWriteMax = 4096

// Streamed is a request body read from the client as it arrives (nginx's
// request_body_no_buffering: proxy_request_buffering off). Send writes the
// head with what of the body is ready, and sends what it holds whenever the
// body has nothing more ready: the upstream gets the head at once, and each
// part as the client sent it, not once a buffer is full.
type Streamed interface {
	io.Reader
	// Ready reports whether Read returns without waiting (the body's end
	// too).
	Ready() bool
}

// sendStreamed is Send for a Streamed body: its reads go straight into the
// write buffer, which is flushed before a read that may wait.
func (a *Attempt) sendStreamed(head []byte, body Streamed) *Error {
	c := a.Conn
	if _, err := c.bw.Write(head); err != nil {
		return a.Fail(PhaseSend, err)
	}
	for {
		if c.bw.Available() == 0 || !body.Ready() {
			if err := c.bw.Flush(); err != nil {
				return a.Fail(PhaseSend, err)
			}
		}
		p := c.bw.AvailableBuffer()
		p = p[:cap(p)]
		n, err := body.Read(p)
		if n > 0 {
			_, _ = c.bw.Write(p[:n]) // within Available: a copy onto itself, no write
		}
		if err == io.EOF {
			break
		}
		if err != nil { // the body source failed, not the socket
			return &Error{Phase: PhaseSend, Kind: KindOther, Peer: c.peer.addr, Reused: a.Reused, Written: c.nwrit - a.w0, Err: err}
		}
	}
	if err := c.bw.Flush(); err != nil {
		return a.Fail(PhaseSend, err)
	}
	c.requests++
	return nil
}

// ReadHeader reads the response head into resp (phase: reading response
// header from upstream). It checks the raw head the way nginx's parser does
// before fasthttp parses it, because fasthttp is more lenient than nginx
// (it accepts header names with spaces, CL together with TE, ...). The
// check is part of the one walk over the head's lines that finds its end
// (peekHead, scanHead): fasthttp's parse is the only other pass.
func (a *Attempt) ReadHeader(resp *fasthttp.ResponseHeader) *Error {
	c := a.Conn
	if c.br.Buffered() == 0 {
		// The request has just been sent: let the other runnable
		// goroutines go first, so that the read finds the answer instead
		// of EAGAIN and a park in the poller (one read(2) and two
		// scheduler switches per request at load; the client side does
		// the same, proxy.yieldBeforeRead).
		runtime.Gosched()
	}
	for {
		s, err := peekHead(c.br)
		if err != nil {
			var small *fasthttp.ErrSmallBuffer
			if errors.As(err, &small) {
				return a.FailKind(PhaseReadHeader, KindTooBigHeader, err, "")
			}
			if err == errNoValidHTTP {
				return a.FailKind(PhaseReadHeader, KindNoValidHTTP, err, "")
			}
			return a.Fail(PhaseReadHeader, err)
		}
		if s.kind != KindOther {
			return a.FailKind(PhaseReadHeader, s.kind, errBadHead, s.detail)
		}
		resp.Reset()
		resp.DisableNormalizing()
		resp.SetNoDefaultContentType(true)
		if err := readHead(resp, c.br, s); err != nil {
			return a.FailKind(PhaseReadHeader, KindInvalidHeader, err, "")
		}
		// 1xx interim responses (except 101) are skipped, as nginx does.
		if sc := resp.StatusCode(); sc >= 200 || sc == fasthttp.StatusSwitchingProtocols {
			a.PlainHead = !s.lookedUp
			return nil
		}
	}
}

// readHead parses s.head, the complete raw head at the front of br, into
// resp and consumes it. nginx's parser takes a bare LF as a line end
// (ngx_http_parse_status_line, ngx_http_parse_header_line); fasthttp's
// waits for a CRLF that never comes and would hang until the upstream
// closes. Such a head is parsed from a copy with CRLF line ends: the same
// lines scanHead has already judged, so the framing rules (Content-Length
// with Transfer-Encoding, ...) hold for both forms alike.
func readHead(resp *fasthttp.ResponseHeader, br *bufio.Reader, s headScan) error {
	if !s.bareLF {
		return resp.Read(br)
	}
	head := s.head
	norm := make([]byte, 0, len(head)+bytes.Count(head, []byte("\n")))
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest = httphead.CutLine(rest)
		norm = append(append(norm, line...), "\r\n"...)
	}
	if err := resp.Read(bufio.NewReaderSize(bytes.NewReader(norm), len(norm)+16)); err != nil {
		return err
	}
	_, err := br.Discard(len(head))
	return err
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

func (a *Attempt) FailKind(phase Phase, kind Kind, err error, detail string) *Error {
	ue := a.Fail(phase, err)
	ue.Kind, ue.Detail = kind, detail
	return ue
}

// peekHead returns the complete response head (up to and including the
// empty line) without consuming it, with what scanHead found in its lines.
// A head that does not fit the reader's buffer (proxy_buffer_size) is
// fasthttp's ErrSmallBuffer: nginx's "too big header".
func peekHead(br *bufio.Reader) (headScan, error) {
	if _, err := br.Peek(1); err != nil { // the raw first-byte error: RST vs FIN
		return headScan{}, err
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if !statusPrefixOK(b) {
			// nginx's status-line parser gives up at the first byte that
			// cannot start "HTTP/": that is its "no valid HTTP/1.0 header",
			// whatever follows (FIN, more bytes, nothing).
			return headScan{}, errNoValidHTTP
		}
		if s := scanHead(b); s.head != nil {
			return s, nil
		}
		if len(b) >= br.Size() {
			return headScan{}, &fasthttp.ErrSmallBuffer{}
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return headScan{}, &fasthttp.ErrSmallBuffer{}
			}
			return headScan{}, err
		}
	}
}

// headScan is what scanHead found in a response head's lines.
type headScan struct {
	head   []byte // the head through its empty line; nil: not all here yet
	bareLF bool   // some line ends in LF without CR (readHead)
	kind   Kind   // KindOther, or what nginx's rules reject the head as
	detail string // the bad part, as nginx's error log shows it
	// lookedUp: a header line's name is one lookedUpName covers (set
	// for a head of KindOther; one with a bad line is not read further)
	lookedUp bool
}

// headNames is what checkHeaderLine found in the names of a head's lines
// so far.
type headNames struct {
	cl, te   bool // a Content-Length, a Transfer-Encoding
	lookedUp bool // a name lookedUpName covers
}

// scanHead walks the lines of b, the start of a response head, once: it
// finds the head's end (the first empty line: "\n\n" or "\n\r\n"), notes a
// line that ends in a bare LF, and applies nginx's upstream header rules:
// the status line must be "HTTP/x.y NNN", header names hold no control
// bytes or spaces (ngx_http_parse_header_line), values hold no NUL, and
// Content-Length and Transfer-Encoding do not come together. The first
// bad line decides the kind; it counts only once the whole head is here
// (before that, a read error or a too big head is what nginx reports).
// On the GET path this walk and fasthttp's parse are the only two passes
// over the head (docs/measured/cpu-get-2026-12-07.md).
func scanHead(b []byte) headScan {
	var s headScan
	var names headNames
	for i, first := 0, true; ; first = false {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return headScan{}
		}
		line := b[i : i+j]
		i += j + 1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		} else {
			s.bareLF = true
		}
		switch {
		case first:
			if !httphead.ValidStatusLine(line) {
				s.kind = KindNoValidHTTP
			}
		case len(line) == 0:
			if s.kind == KindOther && names.cl && names.te {
				s.kind, s.detail = KindInvalidHeader, "Transfer-Encoding"
			}
			s.head, s.lookedUp = b[:i], names.lookedUp
			return s
		case s.kind == KindOther:
			s.kind, s.detail = checkHeaderLine(line, &names)
		}
	}
}

// checkHeaderLine applies nginx's rules to one header line (scanHead) and
// notes its name in names. The name is walked with one table load per
// byte (nameStop).
func checkHeaderLine(line []byte, names *headNames) (Kind, string) {
	i := 0
	if len(line) > 0 && line[0] == ':' {
		i = 1 // a ':' that starts the line is a byte of the name, not its end
	}
	for i < len(line) && !nameStop[line[i]] {
		i++
	}
	if i == len(line) || line[i] != ':' {
		return KindInvalidHeader, httphead.EscapeUpTo(line, i)
	}
	colon := i
	if i := bytes.IndexByte(line[colon+1:], 0); i >= 0 {
		return KindInvalidHeader, httphead.EscapeUpTo(line, colon+1+i)
	}
	switch name := line[:colon]; len(name) {
	case len("Content-Length"):
		names.cl = names.cl || httphead.NameIs(name, "Content-Length")
	case len("Transfer-Encoding"):
		names.te = names.te || httphead.NameIs(name, "Transfer-Encoding")
	}
	names.lookedUp = names.lookedUp || lookedUpName(line[:colon])
	return KindOther, ""
}

// lookedUpName reports whether a header of this name is one package proxy
// looks up in the parsed head (its upstreamHead): Connection, Keep-Alive or
// X-Accel-*, in any ASCII case (Attempt.PlainHead).
func lookedUpName(name []byte) bool {
	switch {
	case len(name) == len("Connection"):
		return httphead.NameIs(name, "Connection") || httphead.NameIs(name, "Keep-Alive")
	case len(name) >= len("X-Accel-Charset"):
		return httphead.NameIs(name[:len("X-Accel-")], "X-Accel-")
	}
	return false
}

// nameStop marks the bytes that end checkHeaderLine's walk of a name: its
// ':' and the bytes nginx refuses in one (controls, space, DEL). It is
// not changed once made.
var nameStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == ':' || c <= 0x20 || c == 0x7f
	}
	return t
}()
