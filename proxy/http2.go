//lint:file-ignore SA1019 x/net/http2.Server.ServeConn is the one API that serves HTTP/2 on a connection fasthttp already accepted and handed over (NextProto); net/http's replacement needs its own listener

package proxy

// HTTP/2 to clients: "listen ... ssl http2", "http2 on", and prior
// knowledge (h2c) on a plain "listen ... http2".
//
// fasthttp has no HTTP/2 server, so golang.org/x/net/http2 serves HTTP/2
// beside it, and the seam is fasthttp's own: Server.NextProto. fasthttp
// runs a connection's handshake (frontConn.Handshake, tls.go; h2cConn's
// sniff below) in the connection's goroutine and, when the negotiated
// protocol is "h2" (ALPN) or "h2c" (the client's first bytes are HTTP/2's
// preface), hands the connection to h2Server.serveConn instead of reading
// HTTP/1.x from it. The connection stays in fasthttp's count while HTTP/2
// serves it, so a drain waits for it as for any other; a drain first tells
// http2 to send GOAWAY and let the open streams finish (h2Server.goAway).
//
// Each stream runs through the same lifecycle as an HTTP/1.1 request:
// serveStream makes a fasthttp.RequestCtx of the stream's request (the
// method, :path, "HTTP/2.0", :authority as Host, the header fields, the
// body as the request's body stream) whose Conn is the stream (h2Stream),
// calls Proxy.serve, and writes ctx.Response to the stream: head, then the
// bytes or the body stream, then Close/CloseWithError on the stream as
// fasthttp does, which finishes a streamed exchange. Connection-level
// headers never go on an HTTP/2 response. The paths of the lifecycle that
// need the client socket itself take the HTTP/2 branch where they test for
// it: the socket writer and sendfile (respond.go: only for a *clientConn),
// lingering close (none: a stream has no socket to linger on), return 444
// and closeSilently (RST_STREAM), a 101 (refused), the unframed HTTP/1.0
// body (never: HTTP/2 frames every body).
//
// A stream whose flow-control window is closed is a slow client: its
// writes block, and h2Writer reports the block to a buffered response's
// spool (SetStalled), which then spills after proxy_spill_grace as it does
// for an HTTP/1.1 client whose socket is full. Other streams of the
// connection are not held up: http2 schedules each stream's frames on its
// own window.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"spillway/buffer"
)

// h2Preface is what a client speaking HTTP/2 with prior knowledge sends
// first (RFC 9113 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2Server serves the HTTP/2 connections of one listen address in one
// generation, with the address's default server's http2_* settings.
type h2Server struct {
	streamServer
	srv *http2.Server
	// hs never serves: http2 registers its graceful shutdown (GOAWAY to
	// every connection of srv) on it, and goAway runs it.
	hs *http.Server
	// maxRequests is keepalive_requests: the streams one connection
	// serves before its GOAWAY.
	maxRequests int
	gone        atomic.Bool
}

// http2Address reports whether some server lists addr as HTTP/2.
func http2Address(vhosts []*vhost, addr string) bool {
	for _, vh := range vhosts {
		if slices.Contains(vh.conf.ListenHTTP2, addr) {
			return true
		}
	}
	return false
}

func (p *Proxy) newH2Server(s *site, vhosts []*vhost) *h2Server {
	c := vhosts[0].conf.HTTP2
	h := &h2Server{streamServer: streamServer{p: p, s: s, vhosts: vhosts, chunk: int(c.ChunkSize), proto: "HTTP/2.0", reqs: &sync.Pool{}},
		maxRequests: vhosts[0].conf.Keepalive.Requests}
	h.hs = &http.Server{MaxHeaderBytes: c.MaxHeaderBytes, IdleTimeout: c.IdleTimeout,
		ErrorLog: log.New(h2Log{p}, "", 0)}
	h.srv = &http2.Server{
		MaxConcurrentStreams:         uint32(c.MaxConcurrentStreams),
		MaxUploadBufferPerConnection: int32(min(c.RecvBufferSize, 1<<31-1)),
		MaxUploadBufferPerStream:     int32(c.BodyPrereadSize),
		IdleTimeout:                  c.IdleTimeout,
		// A stream's request runs in its own goroutine from the start,
		// as fasthttp's connection goroutine runs an HTTP/1.1 one.
	}
	_ = http2.ConfigureServer(h.hs, h.srv) // only registers the GOAWAY on hs.Shutdown
	return h
}

// serveConn is fasthttp's NextProto handler for "h2" and "h2c": it serves
// c as HTTP/2 until the client, an idle timeout or a GOAWAY ends it.
// fasthttp closes c when it returns.
func (h *h2Server) serveConn(c net.Conn) error {
	sc := c
	if hc, ok := c.(*h2cConn); ok {
		sc = hc.clientConn // no TLS state: http2 would refuse it as too weak
	}
	if h.gone.Load() {
		return nil // the generation is being drained: no new connection
	}
	if cc := clientConnOf(c); cc != nil {
		cc.head.Stop() // frames from here on, not a head to fix (package client)
	}
	var streams atomic.Int64
	pc := &h2Conn{Conn: sc, prog: &h2Progress{turn: max(h2StallWrites, 4*uint64(h.srv.MaxConcurrentStreams))}}
	var hc net.Conn = pc
	if _, ok := sc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		hc = h2TLSConn{pc} // http2 checks the TLS state through it
	}
	h.srv.ServeConn(hc, &http2.ServeConnOpts{
		BaseConfig: h.hs,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serveStreamOn(c, pc.prog, w, r, streams.Add(1) >= int64(h.maxRequests))
		}),
	})
	return nil
}

// h2Conn is the connection as http2 writes to it: it counts the writes,
// so that a stream waiting to send a frame can tell a closed window or a
// client that stopped reading from a connection busy with the other
// streams' frames (h2Writer.frame).
type h2Conn struct {
	net.Conn
	prog *h2Progress
}

func (c *h2Conn) Write(p []byte) (int, error) {
	c.prog.writing.Store(time.Now().UnixNano())
	n, err := c.Conn.Write(p)
	c.prog.last.Store(time.Now().UnixNano())
	c.prog.writing.Store(0)
	c.prog.writes.Add(1)
	return n, err
}

// h2TLSConn is an h2Conn over TLS.
type h2TLSConn struct{ *h2Conn }

func (c h2TLSConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(interface{ ConnectionState() tls.ConnectionState }).ConnectionState()
}

// h2Progress is what an HTTP/2 connection's writes to its socket have
// done, for the streams' stall checks. http2 writes one frame (or one
// flush) at a time.
type h2Progress struct {
	writes  atomic.Uint64 // socket writes completed
	writing atomic.Int64  // when the write in progress began (UnixNano); 0: none
	last    atomic.Int64  // when the last write ended (UnixNano)
	pending atomic.Int32  // body frames handed to http2 and not written yet (h2Writer)
	turn    uint64        // writes past a waiting frame that make it stalled
}

// stalled says whether a body frame handed to http2 at since (UnixNano),
// when the connection had completed mark writes, and still waiting at now,
// waits on its client rather than its turn:
//   - a write to the socket has been blocked for h2StallAfter: the client
//     does not read (as a full socket buffer for HTTP/1.1);
//   - the connection has written turn times meanwhile (h2StallWrites, or
//     four per stream http2_max_concurrent_streams allows if more):
//     round-robin scheduling would have sent the frame long before if the
//     stream's window were open;
//   - the connection has written nothing for h2StallAfter (since the frame
//     was handed over), and no other stream has a body frame waiting:
//     nothing is ahead of the frame, so the window (the stream's or the
//     connection's) is closed;
//   - the connection has written nothing for h2StallIdle: the windows of
//     all its waiting streams are closed.
//
// Otherwise the frame is waiting behind the other streams' frames on a
// busy connection, which a proxy short of CPU makes long (h2StallAfter).
func (pr *h2Progress) stalled(since int64, mark uint64, now int64) bool {
	if w := pr.writing.Load(); w != 0 && now-w >= int64(h2StallAfter) {
		return true
	}
	if pr.writes.Load()-mark >= pr.turn {
		return true
	}
	if pr.writing.Load() != 0 {
		return false // the connection is writing: its turn may come
	}
	quiet := now - max(pr.last.Load(), since) // nothing written for that long
	return quiet >= int64(h2StallIdle) || quiet >= int64(h2StallAfter) && pr.pending.Load() <= 1
}

// h2Log routes http2's own messages (a client's protocol error, a flood
// cut off with ENHANCE_YOUR_CALM) to the error log at info, where nginx
// logs a client's HTTP/2 errors.
type h2Log struct{ p *Proxy }

func (l h2Log) Write(b []byte) (int, error) {
	l.p.elog.Infof("%s", bytes.TrimSuffix(b, []byte("\n")))
	return len(b), nil
}

// goAway starts the graceful shutdown of every connection: GOAWAY, the open
// streams finish, then each connection closes (nginx's reload and quit).
func (h *h2Server) goAway() {
	if h.gone.Swap(true) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // hs tracks no connection: Shutdown only runs the hooks
	_ = h.hs.Shutdown(ctx)
}

// streamServer runs the streams of HTTP/2 (h2Server) and HTTP/3
// (h3Listener, http3.go) through the lifecycle: both give a request as a
// net/http request and ResponseWriter, one goroutine per stream.
type streamServer struct {
	p      *Proxy
	s      *site
	vhosts []*vhost
	chunk  int    // the largest DATA frame (http2_chunk_size; HTTP/3: 16k)
	proto  string // "HTTP/2.0" or "HTTP/3.0": $server_protocol, the access log
	// reqs keeps the per-stream state (*streamReq) for the next stream,
	// as fasthttp keeps a connection's RequestCtx for its next request:
	// the request head's parsed slices and the body's frame buffer are
	// reused instead of allocated per stream. nil: one per stream (HTTP/3).
	reqs *sync.Pool
}

// streamReq is what one stream needs besides the stream itself: the
// RequestCtx the lifecycle runs on, the request head rendered for fasthttp
// and its reader, and the buffer a streamed body's frames are gathered in.
type streamReq struct {
	ctx   fasthttp.RequestCtx
	head  []byte
	names []string
	rd    bytes.Reader
	br    *bufio.Reader
	frame []byte // h2Writer's buf, http2_chunk_size
}

func (h *streamServer) getReq() *streamReq {
	if h.reqs != nil {
		if q, ok := h.reqs.Get().(*streamReq); ok {
			return q
		}
	}
	return &streamReq{}
}

// putReq keeps q for the next stream once the lifecycle is done with its
// RequestCtx, as fasthttp reuses a connection's RequestCtx for its next
// request: the response was written in full and the exchange finished.
// With an inline body the RequestCtx is reused; a body stream stays in it
// (fasthttp has no way to drop one without closing it again, and a spooled
// one is back in its pool by then), so that RequestCtx is left to the
// collector and only the buffers are kept. Not after a hijack or a reset
// stream (write panics).
func (h *streamServer) putReq(q *streamReq, streamed bool) {
	if h.reqs == nil {
		return
	}
	if streamed {
		h.reqs.Put(&streamReq{head: q.head, names: q.names, br: q.br, frame: q.frame})
		return
	}
	q.ctx.Request.Reset()
	q.ctx.Response.Reset()
	q.ctx.HijackSetNoResponse(false)
	h.reqs.Put(q)
}

// serveStream runs one stream's request through Proxy.serve and writes the
// response to the stream.
// last says the stream is the connection's keepalive_requests-th: the
// connection gets GOAWAY with its response (nginx since 1.19.7).
func (h *streamServer) serveStream(c net.Conn, w http.ResponseWriter, r *http.Request, last bool) {
	h.serveStreamOn(c, nil, w, r, last)
}

// serveStreamOn is serveStream on an HTTP/2 connection whose writes prog
// counts (nil: HTTP/3, whose frames count as stalled by time alone).
func (h *streamServer) serveStreamOn(c net.Conn, prog *h2Progress, w http.ResponseWriter, r *http.Request, last bool) {
	st := &h2Stream{conn: c, prog: prog, w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	q := h.getReq()
	ctx := &q.ctx
	ctx.Init2(st, fasthttpLogger{h.p}, false)
	ctx.Response.Header.SetNoDefaultContentType(true)
	req := &ctx.Request
	req.Header.DisableNormalizing()
	q.head, q.names = appendRequestHead(q.head[:0], q.names[:0], r)
	q.rd.Reset(q.head)
	if q.br == nil || q.br.Size() < len(q.head) {
		q.br = bufio.NewReaderSize(&q.rd, max(len(q.head), 4<<10))
	} else {
		q.br.Reset(&q.rd)
	}
	if err := req.Header.Read(q.br); err != nil {
		// http2 checked every name and value; a head fasthttp cannot
		// parse is a request nginx refuses too.
		st.w.WriteHeader(http.StatusBadRequest)
		return
	}
	req.Header.SetProtocol(h.proto)
	if r.ContentLength != 0 { // -1: DATA frames of no declared length
		// Without Close: fasthttp's Reset (putReq) would close the
		// stream's body from the handler, which nothing did before.
		req.SetBodyStream(struct{ io.Reader }{r.Body}, int(r.ContentLength))
	}
	h.p.serve(ctx, h.s, h.vhosts)
	h.putReq(q, h.write(st, q, last))
}

// write sends ctx.Response on the stream, as fasthttp's writeResponse
// does on a connection, and ends a body stream (Close, then CloseWithError
// with the write's error) so that a streamed exchange finishes. A stream
// the lifecycle closed (return 444, closeSilently) or whose body failed
// after the head ends with RST_STREAM. It reports whether the response
// had a body stream (putReq).
func (h *streamServer) write(st *h2Stream, q *streamReq, last bool) (streamed bool) {
	ctx := &q.ctx
	resp := &ctx.Response
	body := resp.BodyStream()
	if st.reset.Load() || ctx.Hijacked() {
		if body != nil {
			endBody(body, errStreamReset)
		}
		panic(http.ErrAbortHandler) // RST_STREAM, and http2 says nothing of it
	}
	hdr := st.w.Header()
	// The values go in one string and their one-element slices in one
	// array: two allocations for the whole head, not two per field.
	var n, size int
	for _, v := range resp.Header.All() {
		n, size = n+1, size+len(v)
	}
	vals := make([]string, 0, n)
	all := make([]byte, 0, size)
	for _, v := range resp.Header.All() {
		all = append(all, v...)
	}
	str, off := string(all), 0
	for k, v := range resp.Header.All() {
		name, ok := h2CommonNames[string(k)] // no allocation for the usual names
		if !ok {
			name = http.CanonicalHeaderKey(string(k)) // the wire has them in lower case anyway
		}
		val := str[off : off+len(v)]
		off += len(v)
		if connectionSpecific(name) {
			continue
		}
		if have := hdr[name]; have != nil {
			hdr[name] = append(have, val)
			continue
		}
		vals = append(vals, val)
		hdr[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // none, as nginx: http2 would sniff one
	}
	if h.proto == "HTTP/2.0" && (last || h.s.retired.Load()) {
		// keepalive_requests reached, or a reload or stop retired this
		// generation: http2 takes "Connection: close" as GOAWAY for this
		// connection (and sends no such field), also for one that came
		// as goAway ran.
		hdr["Connection"] = []string{"close"}
	}
	if len(resp.Header.Server()) == 0 {
		hdr["Server"] = []string{ServerName}
	}
	status := resp.StatusCode()
	switch cl := resp.Header.ContentLength(); {
	case status < 200 || status == 204 || status == 304:
	case resp.SkipBody || body != nil:
		if cl >= 0 {
			hdr["Content-Length"] = []string{itoa(cl)}
		}
	default:
		hdr["Content-Length"] = []string{itoa(len(resp.Body()))}
	}
	st.w.WriteHeader(status)
	if st.flushHead {
		_ = st.rc.Flush() // a gRPC stream's head goes out before its first message
	}
	if resp.SkipBody {
		if body != nil {
			endBody(body, nil)
		}
		return body != nil
	}
	if body == nil {
		// The whole body: http2 sends it, in frames of its own size,
		// with END_STREAM when the handler returns (http2 copies what
		// it keeps, so ctx's body is free once Write returns).
		if st.limit.on() { // limit_rate: a step at a time, each sent at once
			_, _ = st.limit.write(resp.Body(), st.writeFlush, st.done(), nil)
			return false
		}
		_, _ = st.w.Write(resp.Body())
		return false
	}
	if cap(q.frame) < h.chunk {
		q.frame = make([]byte, 0, h.chunk)
	}
	_, err := io.Copy(&h2Writer{st: st, chunk: h.chunk, buf: q.frame[:0]}, body)
	if err == nil && st.trailer != nil {
		for k, vs := range st.trailer() { // gRPC's grpc-status, grpc-message (grpc.go)
			hdr[http.TrailerPrefix+k] = vs
		}
	}
	endBody(body, err)
	if err != nil {
		panic(http.ErrAbortHandler) // the client has a short body: reset the stream
	}
	return true
}

// appendRequestHead renders the stream's request as an HTTP/1.1 head for
// fasthttp to parse, appended to b (names is scratch space): the lifecycle
// reads the header fields in their order from the raw head (client.Check,
// appendHead, $request_length) as it does for HTTP/1.x. :authority is the
// Host, as nginx makes it; the names are Go's canonical form of HTTP/2's
// lower-case ones, and http.Header has lost their order, so they go in one
// stable order.
func appendRequestHead(b []byte, names []string, r *http.Request) ([]byte, []string) {
	for name := range r.Header {
		if name != "Host" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	b = append(append(append(append(b, r.Method...), ' '), r.RequestURI...), " HTTP/1.1\r\n"...)
	b = append(append(append(b, "Host: "...), r.Host...), "\r\n"...)
	for _, name := range names {
		for _, v := range r.Header[name] {
			b = append(append(append(append(b, name...), ": "...), v...), "\r\n"...)
		}
	}
	return append(b, "\r\n"...), names
}

// h2CommonNames maps the usual response header names, as fasthttp keeps
// them, to Go's canonical form without an allocation per field (write).
var h2CommonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Accept-Ranges", "Age", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified",
		"Link", "Location", "Pragma", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Transfer-Encoding", "Vary", "Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options"} {
		m[n] = n
		m[strings.ToLower(n)] = n
	}
	m["ETag"] = "Etag"
	m["WWW-Authenticate"] = "Www-Authenticate"
	return m
}()

var errStreamReset = errors.New("stream reset")

// endBody closes a response body stream as fasthttp's closeBodyStreamReader
// does: Close, then CloseWithError with the write's error.
func endBody(r io.Reader, err error) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
	if c, ok := r.(interface{ CloseWithError(error) error }); ok {
		_ = c.CloseWithError(err)
	}
}

// connectionSpecific: the fields RFC 9113 8.2.2 forbids on HTTP/2, which
// nginx never sends there, and Content-Length, which write sets itself.
func connectionSpecific(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Content-Length":
		return true
	}
	return false
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// h2Stream is the net.Conn of an HTTP/2 or HTTP/3 stream's RequestCtx: addresses
// from the connection, deadlines on the stream (client_body_timeout on
// the request body, send_timeout on the response), and Close resets the
// stream. It is never read or written as a socket.
type h2Stream struct {
	conn  net.Conn    // the client connection: TLS, h2c, or QUIC (quicConn)
	prog  *h2Progress // its writes (HTTP/2; nil for HTTP/3)
	w     http.ResponseWriter
	rc    *http.ResponseController
	reset atomic.Bool // Close: the stream ends with RST_STREAM
	// ctx ends when the client resets the stream or the connection ends
	// (the client watch, clientabort.go).
	ctx context.Context
	// spool is a buffered response's spool (respond.go): told when a
	// write blocks on the stream's window. renew renews send_timeout.
	spool *buffer.Spool
	renew func()
	// trailer gives a gRPC response's trailers once its body has ended;
	// flushHead sends its head before the first DATA (grpc.go).
	trailer   func() http.Header
	flushHead bool
	// limit is the answer's limit_rate, per stream as nginx's (set by
	// noteRate; limitrate.go).
	limit rateLimit
}

// writeFlush writes p to the stream and sends it (a throttled body's step).
func (s *h2Stream) writeFlush(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

// done is closed when the stream ends (nil: never).
func (s *h2Stream) done() <-chan struct{} {
	if s.ctx == nil {
		return nil
	}
	return s.ctx.Done()
}

func (s *h2Stream) Read([]byte) (int, error)           { return 0, io.EOF }
func (s *h2Stream) Write([]byte) (int, error)          { return 0, errStreamReset }
func (s *h2Stream) Close() error                       { s.reset.Store(true); return nil }
func (s *h2Stream) LocalAddr() net.Addr                { return s.conn.LocalAddr() }
func (s *h2Stream) RemoteAddr() net.Addr               { return s.conn.RemoteAddr() }
func (s *h2Stream) SetReadDeadline(t time.Time) error  { return s.rc.SetReadDeadline(t) }
func (s *h2Stream) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }
func (s *h2Stream) SetDeadline(t time.Time) error {
	_ = s.rc.SetReadDeadline(t)
	return s.rc.SetWriteDeadline(t)
}

// tlsState is the connection's TLS state, nil for h2c.
func (s *h2Stream) tlsState() *tls.ConnectionState {
	if q, ok := s.conn.(*quicConn); ok {
		cs := q.c.ConnectionState().TLS
		return &cs
	}
	if f, ok := s.conn.(*frontConn); ok && !f.plain {
		if tc := f.tc.Load(); tc != nil {
			cs := tc.ConnectionState()
			return &cs
		}
	}
	return nil
}

// h2Writer writes a response body to a stream in DATA frames of at most
// http2_chunk_size. Each frame is one hand-off to http2's connection
// goroutine, so the slices a write is given are gathered up to the chunk
// size first (WriteVec: the spool's ready chunks at once, as nginx's
// writev); every write ends with a flush, so a proxied body is passed on
// as it comes. A frame that blocks is a closed flow-control window: a
// buffered response's spool hears of it (SetStalled).
type h2Writer struct {
	st    *h2Stream
	chunk int
	buf   []byte      // gathers slices smaller than a chunk
	stall *time.Timer // checks a frame that waits too long (frame)
	// The frame in flight, for the timer: when it was handed over, the
	// connection's write count then, and whether it was reported stalled.
	since atomic.Int64
	mark  atomic.Uint64
	state atomic.Int32 // frameWaiting, frameStalling, frameStalled, frameDone
}

const (
	frameWaiting  int32 = iota // handed to http2, not written yet
	frameStalling              // the timer is telling the spool
	frameStalled               // the spool has been told
	frameDone                  // written
)

func (w *h2Writer) Write(p []byte) (int, error) {
	n, err := w.WriteVec([][]byte{p})
	return int(n), err
}

// WriteVec writes bufs in frames of up to chunk bytes, then flushes.
func (w *h2Writer) WriteVec(bufs [][]byte) (int64, error) {
	if w.st.renew != nil {
		w.st.renew() // send_timeout, renewed before each write as nginx does
	}
	var n int64
	for _, p := range bufs {
		for len(p) > 0 {
			if len(w.buf) == 0 && len(p) >= w.chunk {
				if err := w.frame(p[:w.chunk]); err != nil {
					return n, err
				}
				n, p = n+int64(w.chunk), p[w.chunk:]
				continue
			}
			k := min(len(p), w.chunk-len(w.buf))
			w.buf = append(w.buf, p[:k]...)
			n, p = n+int64(k), p[k:]
			if len(w.buf) == w.chunk {
				if err := w.frame(w.buf); err != nil {
					return n, err
				}
				w.buf = w.buf[:0]
			}
		}
	}
	if len(w.buf) > 0 {
		if err := w.frame(w.buf); err != nil {
			return n, err
		}
		w.buf = w.buf[:0]
	}
	return n, w.st.rc.Flush()
}

// frame hands one DATA frame's bytes to http2 (p is at least http2's own
// 4k buffer, or the last bytes of a write: either way one frame).
//
// http2 returns once the frame is written, which takes a while on a busy
// connection even when the stream's window is open: a frame counts as
// stalled (the spool hears of it until it goes out) only once it has
// waited h2StallAfter and the connection's writes say that it waits on its
// client, not its turn (h2Progress.stalled; HTTP/3: the wait alone).
func (w *h2Writer) frame(p []byte) error {
	if w.st.limit.on() { // limit_rate: a step at a time (limitrate.go)
		_, err := w.st.limit.write(p, w.frameStep, w.st.done(), nil)
		return err
	}
	return w.frameOnce(p)
}

// frameStep is frameOnce for rateLimit.write.
func (w *h2Writer) frameStep(p []byte) (int, error) {
	if err := w.frameOnce(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// frameOnce hands p to http2 as one frame (frame).
func (w *h2Writer) frameOnce(p []byte) error {
	if w.st.spool != nil {
		w.since.Store(time.Now().UnixNano())
		if pr := w.st.prog; pr != nil {
			w.mark.Store(pr.writes.Load())
			pr.pending.Add(1)
		}
		w.state.Store(frameWaiting)
		if w.stall == nil {
			w.stall = time.AfterFunc(h2StallAfter, w.check)
		} else {
			w.stall.Reset(h2StallAfter)
		}
	}
	_, err := w.st.w.Write(p)
	if err == nil && len(p) < 4<<10 {
		err = w.st.rc.Flush() // http2 kept it in its buffer
	}
	if w.st.spool != nil {
		if pr := w.st.prog; pr != nil {
			pr.pending.Add(-1)
		}
		if !w.state.CompareAndSwap(frameWaiting, frameDone) {
			// The timer said so, or is saying so: wait for it to have
			// told the spool, then take it back.
			for w.state.Load() != frameStalled {
				runtime.Gosched()
			}
			w.st.spool.SetStalled(false)
			w.state.Store(frameDone)
		}
		w.stall.Stop()
	}
	return err
}

// check is the stall timer's: the frame in flight has waited h2StallAfter
// (or longer); it is stalled, or checked again after h2StallAfter.
func (w *h2Writer) check() {
	if w.state.Load() != frameWaiting {
		return
	}
	now := time.Now().UnixNano()
	since := w.since.Load()
	if wait := now - since; wait < int64(h2StallAfter) {
		w.stall.Reset(h2StallAfter - time.Duration(wait)) // armed for an earlier frame
		return
	}
	if pr := w.st.prog; pr != nil && !pr.stalled(since, w.mark.Load(), now) {
		w.stall.Reset(h2StallAfter)
		return
	}
	if w.state.CompareAndSwap(frameWaiting, frameStalling) {
		w.st.spool.SetStalled(true)
		w.state.Store(frameStalled)
	}
}

// h2StallAfter is how long a DATA frame may wait to be written before the
// stream can count as stalled. Counting every frame in flight as a stall
// spilled 99.5% of 64k responses under h2load -c 64 -m 10 on a loaded
// 2-core machine (nginx: none); with 20ms alone, 13% in that run and 65% in
// a later one on a busier machine, where frames waited longer than that
// for their turn on the connection; with the connection's writes asked too
// (h2Progress.stalled), 0.9% in the same run
// (docs/measured/h2load-2026-12-07.md). A closed window keeps the frame
// waiting for good, so the stream spills h2StallAfter + proxy_spill_grace
// after its client stopped reading, or h2StallIdle + proxy_spill_grace when
// the windows of several streams of a connection close at once.
const h2StallAfter = 20 * time.Millisecond

// h2StallWrites is the least h2Progress.turn: socket writes of a
// connection past a waiting frame that make it stalled. Frames go out in
// turn, a frame per stream, and a stream has at most one frame in flight
// from this side, so an open window sees its frame out within about one
// write per stream (http2_max_concurrent_streams, 128 by default) and one
// flush each.
const h2StallWrites = 1024

// h2StallIdle: how long a connection with frames waiting may write nothing
// before they are stalled (their windows are closed).
const h2StallIdle = time.Second

// h2cConn is a client connection on a plain HTTP/2 address: its first
// bytes say whether it speaks HTTP/2 with prior knowledge (the preface)
// or HTTP/1.x. Handshake and ConnectionState make fasthttp ask
// (getNextProto); the negotiated protocol is "h2c" for the preface.
type h2cConn struct {
	*clientConn
	decided, h2 bool
}

func (c *h2cConn) Handshake() error {
	if c.decided {
		return nil
	}
	c.decided = true
	// An error (a timeout, a close) is left to fasthttp's first read,
	// which meets it again and logs it as for any plain connection.
	c.h2, _ = peekPreface(c.clientConn.TCPConn)
	return nil
}

func (c *h2cConn) ConnectionState() tls.ConnectionState {
	if c.h2 {
		return tls.ConnectionState{NegotiatedProtocol: "h2c"}
	}
	return tls.ConnectionState{}
}

// peekPreface reads the client's first bytes without consuming them (recv
// MSG_PEEK) until they differ from HTTP/2's preface or are all of it.
func peekPreface(c *net.TCPConn) (bool, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, err
	}
	var b [len(h2Preface)]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if rerr == syscall.EAGAIN {
			return false
		}
		if rerr != nil || n == 0 {
			return true
		}
		// A prefix of the preface: wait for more (the poller is
		// edge-triggered, so this waits for new bytes).
		return n == len(b) || string(b[:n]) != h2Preface[:n]
	})
	switch {
	case err != nil:
		return false, err
	case rerr != nil:
		return false, rerr
	}
	return n == len(b) && string(b[:]) == h2Preface, nil
}

// h2Sent is an HTTP/2 stream's $bytes_sent and head size as spillway
// estimates them: streams share the connection's socket and x/net's
// server neither counts a stream's frames nor exposes its HPACK'd head.
// nginx 1.22 counts a stream's HEADERS frame (9 bytes and its HPACK
// block) and each DATA frame's 9 bytes as head, and the DATA payload as
// body: $body_bytes_sent is the body bytes handed to the stream, the same
// figure, and $bytes_sent adds a head of the size its fields would take
// uncompressed in HTTP/1 (docs/config.md says so).
func (x *exchange) h2Sent() (sent, head int64) {
	resp := &x.ctx.Response
	head = int64(len(resp.Header.Header()))
	return head + x.bodyBytes, head
}
