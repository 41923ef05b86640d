//lint:file-ignore SA1019 x/net/http2.Transport.NewClientConn is the one API that runs an HTTP/2 client on a connection this package dialled (its phases, errors and timeouts are Conn's); net/http's replacement dials for itself

package upstream

// HTTP/2 upstreams, gRPC's (grpc_pass) and proxy_pass's with
// proxy_http_version 2 (nginx 1.29): HTTP/2 on the connection
// Transport.Open made, h2c with prior knowledge for grpc:// and http://,
// TLS with ALPN h2 for grpcs:// and https:// (TLS.H2). HTTP2 is the one
// HTTP/2 protocol; what is gRPC's alone (the body streamed both ways,
// trailers) is package proxy's choice, a proxy_pass body comes buffered
// and replayable. Connect, the pick, the retry decision and the error
// log are the pipeline's as for every protocol; HTTP2 runs the HTTP/2 part
// with golang.org/x/net/http2's ClientConn, made on the connection's first
// call and kept with it: an upstream group with keepalive reuses the
// connection for later calls, one stream at a time (the cache gives a
// connection to one request), checked with CanTakeNewRequest instead of a
// probe (the reader goroutine owns the socket; a GOAWAY or a close is seen
// there). A kept connection lives until keepalive_timeout, or until its
// reader's last grpc_read_timeout passes with nothing to read.
//
// The request body streams both ways: Frame takes the body reader the
// attempt would send and returns nil, so Attempt.Send writes nothing;
// ReadHeader starts the stream with it, and http2 sends DATA as the client
// sends it while the response comes back (a bidi stream is never held
// whole). Trailers (grpc-status, grpc-message) are Trailer's once the body
// has ended.
//
// http2's reader goroutine reads the connection while the request's
// goroutines write it, so HTTP2 never goes through Conn's Read and Write
// (whose error and byte counts have one owner): h2Conn reads and writes the
// socket with its own counts, and renews grpc_read_timeout and
// grpc_send_timeout per read and write as Conn does.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// HTTP2 is the Protocol of one request to a grpc_pass location, or to a proxy_pass one with proxy_http_version 2. Req is the
// request template (method, :path, :authority, header fields, length);
// each attempt sends a copy with the body Frame was given.
type HTTP2 struct {
	T       *http2.Transport // shared by every request; settings only
	Req     *http.Request
	BufSize int // grpc_buffer_size: the response body is read through it

	body  io.Reader
	hc    *h2Conn
	cc    *http2.ClientConn
	resp  *http.Response
	br    *bufio.Reader
	ended bool // the response body reached END_STREAM
	// bodyRead is what was read of the response body: all of its
	// Content-Length makes the stream done, END_STREAM or not yet.
	bodyRead int64
	// sent and got are hc's counts when the stream began: what follows
	// is this attempt's (a new connection's preface and SETTINGS are not).
	sent, got int64
}

// NewH2Transport is the http2 client settings of one grpc_pass location:
// h2c allowed, no gzip of its own, no connection pool (each ClientConn is
// made on a connection Transport.Open dialled), and the response header
// list limited to headerMax (grpc_buffer_size, which nginx's whole
// response head must fit).
func NewH2Transport(headerMax int64) *http2.Transport {
	return &http2.Transport{AllowHTTP: true, DisableCompression: true, MaxHeaderListSize: uint32(min(headerMax, 1<<24))}
}

// Frame keeps the body for ReadHeader's stream and gives Send nothing.
// A body that cannot be revoked (proxy_pass's buffered body, one reader
// rewound for each try) is read through a lockedBody; the previous try's
// is revoked first.
func (g *HTTP2) Frame(body io.Reader) io.Reader {
	g.EndBody()
	if _, ok := body.(interface{ Revoke() }); !ok && body != nil {
		body = &lockedBody{r: body}
	}
	g.body = body
	return nil
}

// EndBody revokes the last try's body: http2's goroutine, which may still
// be sending it (a server that answered before reading it all), reads no
// more of it once EndBody returns. The request calls it when it is done,
// before its body is released.
func (g *HTTP2) EndBody() {
	if rv, ok := g.body.(interface{ Revoke() }); ok {
		rv.Revoke()
	}
}

// errBodyRevoked ends a revoked lockedBody's reads.
var errBodyRevoked = errors.New("request body revoked")

// lockedBody is a request body http2 reads in a goroutine of its own that
// may outlive the try (a reset before the response) or the response:
// Revoke waits for a Read under way and fails the later ones, so that the
// body's one reader can be rewound for the next try or given back.
type lockedBody struct {
	mu   sync.Mutex
	r    io.Reader
	dead bool
}

func (b *lockedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dead {
		return 0, errBodyRevoked
	}
	return b.r.Read(p)
}

func (b *lockedBody) Revoke() {
	b.mu.Lock()
	b.dead = true
	b.mu.Unlock()
}

// Body is the response's DATA, io.EOF at END_STREAM.
func (g *HTTP2) Body(*Attempt) *bufio.Reader { return g.br }

// Response is the HTTP/2 response ReadHeader read, nil before one. Its
// Trailer is complete once Body reached io.EOF.
func (g *HTTP2) Response() *http.Response { return g.resp }

// ReadHeader starts the HTTP/2 connection and the request's stream on a's
// connection and reads the response head into resp (phase: reading
// response header from upstream; the preface's write is sending).
func (g *HTTP2) ReadHeader(a *Attempt, resp *fasthttp.ResponseHeader) *Error {
	c := a.Conn
	g.resp, g.br, g.cc = nil, nil, nil
	if c.tls != nil && c.tls.ConnectionState().NegotiatedProtocol != "h2" {
		return &Error{Phase: PhaseSSLHandshake, Kind: KindOther, Peer: c.peer.addr, Reused: a.Reused,
			Err: errors.New("no ALPN h2"), Msg: "upstream SSL: the server did not negotiate ALPN \"h2\""}
	}
	if c.h2 == nil {
		c.hc = &h2Conn{c: c}
		// buffered: the fixer reads each frame's 9-byte header on its
		// own, which must not cost a read of the socket each
		c.hc.fix = &hpackFixer{r: bufio.NewReaderSize(socketReader{c.hc}, 4096)}
	}
	g.hc = c.hc
	// This call's timeouts, before http2's reader starts its first Read,
	// and on the Read a kept connection's reader is blocked in now.
	g.hc.readTimeout.Store(int64(c.readTimeout))
	g.hc.sendTimeout.Store(int64(c.sendTimeout))
	if c.readTimeout > 0 {
		_ = c.tcp.SetReadDeadline(time.Now().Add(c.readTimeout))
	}
	if c.h2 == nil {
		cc, err := g.T.NewClientConn(c.hc)
		if err != nil {
			return g.fail(a, PhaseSend, err)
		}
		c.h2 = cc
	}
	g.cc = c.h2
	cc := g.cc
	g.sent, g.got = g.hc.nwrit.Load(), g.hc.nread.Load()
	req := *g.Req
	req.Body = nil
	if g.body != nil {
		req.Body = io.NopCloser(g.body)
	} else {
		req.ContentLength = 0
	}
	r, err := cc.RoundTrip(&req)
	if err != nil {
		if rv, ok := g.body.(interface{ Revoke() }); ok {
			rv.Revoke() // http2 may still be reading it: the next try's turn
		}
		return g.fail(a, PhaseReadHeader, err)
	}
	g.resp = r
	g.ended, g.bodyRead = false, 0
	g.br = bufio.NewReaderSize(eofReader{r.Body, &g.ended, &g.bodyRead}, max(g.BufSize, 512))
	resp.Reset()
	resp.DisableNormalizing()
	resp.SetNoDefaultContentType(true)
	resp.SetStatusCode(r.StatusCode)
	for name, vs := range r.Header {
		for _, v := range vs {
			resp.Add(name, v)
		}
	}
	if r.ContentLength >= 0 {
		resp.SetContentLength(int(r.ContentLength))
	} else {
		resp.SetContentLength(-1)
	}
	return nil
}

// Reusable reports whether the connection may serve another call: the
// response ended (END_STREAM, its trailers read; all of its
// Content-Length read; or one with no body: HEAD, 204, 304) and the connection takes new streams (no GOAWAY, no
// error).
func (g *HTTP2) Reusable() bool {
	if g.resp == nil || g.cc == nil {
		return false
	}
	done := g.ended || g.resp.ContentLength >= 0 && g.bodyRead == g.resp.ContentLength
	if !done && (g.Req.Method == http.MethodHead || g.resp.StatusCode == http.StatusNoContent || g.resp.StatusCode == http.StatusNotModified) {
		// No body follows the head (a DATA frame would be the stream's
		// error, not the connection's): the stream is let go.
		_ = g.resp.Body.Close()
		done = true
	}
	return done && g.cc.CanTakeNewRequest()
}

// eofReader notes that its reader reached io.EOF, and counts what it read.
type eofReader struct {
	r   io.Reader
	eof *bool
	n   *int64
}

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	*e.n += int64(n)
	if err == io.EOF {
		*e.eof = true
	}
	return n, err
}

// fail is Attempt.Fail for HTTP/2: the socket's own error when it had one
// (a reset, a timeout, an EOF), else what HTTP/2 said, worded as nginx's
// grpc module words it.
func (g *HTTP2) fail(a *Attempt, phase Phase, err error) *Error {
	c := a.Conn
	e := &Error{Phase: phase, Peer: c.peer.addr, Reused: a.Reused, Err: err}
	if g.hc != nil {
		e.Written, e.Read = g.hc.nwrit.Load()-g.sent, g.hc.nread.Load()-g.got
		if g.cc == nil { // the preface's write failed
			e.Written, e.Read = g.hc.nwrit.Load(), g.hc.nread.Load()
		}
		if raw := g.hc.err(); raw != nil {
			e.Err = raw
		}
	}
	e.Kind = Classify(phase, e.Err)
	if e.Kind == KindOther && a.Reused && e.Written == 0 && e.Read == 0 {
		// A kept connection that went away (GOAWAY, closed) before this
		// call: the stale-connection retry's case, as a FIN for HTTP/1.
		e.Kind = KindClosed
		return e
	}
	var se http2.StreamError
	if e.Kind == KindOther && errors.As(err, &se) && se.Cause != nil && se.Cause.Error() != "received from peer" {
		// http2's own check of the response (a NUL in a value, a bad
		// pseudo-header): not the upstream's RST_STREAM. nginx's line;
		// it writes the field before it, which http2 does not give.
		e.Kind, e.Msg = KindInvalidHeader, "upstream sent invalid header"
		if g.hc != nil && g.hc.fix != nil {
			// asked in every phase, so that it is forgotten; named
			// for the response head only (nginx's grpc module)
			if f := g.hc.fix.InvalidField(se.StreamID); phase < PhaseReadBody {
				e.Field = f
			}
		}
	} else if e.Kind == KindOther && errors.As(err, &se) {
		// RST_STREAM before the response: nginx's "upstream rejected
		// request with error N", an invalid header for the retry rule.
		e.Kind = KindInvalidHeader
		e.Msg = h2Message(se)
		if se.Code == http2.ErrCodeRefusedStream {
			e.Unprocessed = true // RFC 9113 8.7: safe to retry, whatever the method
		}
	} else if e.Kind == KindOther {
		var ge http2.GoAwayError
		if errors.As(err, &ge) {
			e.Kind = KindInvalidHeader
			e.Msg = "upstream sent goaway with error " + strconv.Itoa(int(ge.ErrCode))
		} else {
			e.Kind = KindInvalidHeader
			e.Msg = "upstream sent invalid http2 response: " + err.Error()
		}
	}
	return e
}

// h2Message is nginx's message for an HTTP/2 stream error from the
// upstream (its RST_STREAM), "" for any other error.
func h2Message(err error) string {
	var se http2.StreamError
	if err == nil || !errors.As(err, &se) {
		return ""
	}
	return "upstream rejected request with error " + strconv.Itoa(int(se.Code))
}

// h2Conn is a Conn's socket as http2's net.Conn: reads from http2's reader
// goroutine, writes from the request's, each with its own deadline renewal
// and count; the first socket error is kept for the error log.
type h2Conn struct {
	c *Conn
	// grpc_read_timeout, grpc_send_timeout of the call using the
	// connection (nanoseconds): set by each call, read by http2's goroutines.
	readTimeout, sendTimeout atomic.Int64
	nread, nwrit             atomic.Int64
	mu                       sync.Mutex
	first                    error
	fix                      *hpackFixer // read by http2's reader goroutine; InvalidField from any
}

func (h *h2Conn) raw() net.Conn {
	if h.c.tls != nil {
		return h.c.tls
	}
	return h.c.tcp
}

func (h *h2Conn) keep(err error) {
	h.mu.Lock()
	if h.first == nil {
		h.first = err
	}
	h.mu.Unlock()
}

// err is the first error a read or write of the socket returned.
func (h *h2Conn) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first
}

// Read gives http2 the server's frames through an hpackFixer
// (http2_hpack.go): header strings decoded as nginx decodes them.
func (h *h2Conn) Read(p []byte) (int, error) {
	return h.fix.Read(p)
}

// socketReader is h's socket as read for http2: counted, its errors kept.
type socketReader struct{ h *h2Conn }

func (s socketReader) Read(p []byte) (int, error) {
	h := s.h
	if d := time.Duration(h.readTimeout.Load()); d > 0 {
		_ = h.c.tcp.SetReadDeadline(time.Now().Add(d))
	}
	n, err := h.raw().Read(p)
	h.nread.Add(int64(n))
	if err != nil {
		h.keep(err)
	}
	return n, err
}

func (h *h2Conn) Write(p []byte) (int, error) {
	if d := time.Duration(h.sendTimeout.Load()); d > 0 {
		_ = h.c.tcp.SetWriteDeadline(time.Now().Add(d))
	}
	n, err := h.raw().Write(p)
	h.nwrit.Add(int64(n))
	if err != nil {
		h.keep(err)
	}
	return n, err
}

func (h *h2Conn) Close() error                       { return h.c.tcp.Close() }
func (h *h2Conn) LocalAddr() net.Addr                { return h.c.tcp.LocalAddr() }
func (h *h2Conn) RemoteAddr() net.Addr               { return h.c.tcp.RemoteAddr() }
func (h *h2Conn) SetDeadline(t time.Time) error      { return h.c.tcp.SetDeadline(t) }
func (h *h2Conn) SetReadDeadline(t time.Time) error  { return h.c.tcp.SetReadDeadline(t) }
func (h *h2Conn) SetWriteDeadline(t time.Time) error { return h.c.tcp.SetWriteDeadline(t) }
