package proxy

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/buffer"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/deadline"
	"spillway/proxy/upstream"
)

// reqBody is the request body as the upstream exchange sees it: a size for
// Content-Length and a reader per try.
type reqBody interface {
	Size() int64
	// reader returns the body from byte 0, or nil when it is empty. A
	// streamed body (proxy_request_buffering off) can be read once only.
	reader() io.Reader
	// replayable: every try can send the body again.
	replayable() bool
	Close() error
}

// emptyBody is a request that declared Content-Length: 0.
type emptyBody struct{}

func (emptyBody) Size() int64       { return 0 }
func (emptyBody) reader() io.Reader { return nil }
func (emptyBody) replayable() bool  { return true }
func (emptyBody) Close() error      { return nil }

// bufferedBody is a request body received in full before any upstream is
// contacted, in memory chunks up to the larger of client_body_buffer_size and
// client_body_memory_max while the buffer budget allows, and in a temp file
// beyond: every try replays it from byte 0.
//
// It is pooled (reqBodies) with its reader, the client reader that fills it
// and its spill callback, so that a body costs no allocation of its own.
type bufferedBody struct {
	b       buffer.Body
	r       buffer.BodyReader // the reader every try rewinds
	cr      clientReader
	x       *exchange // the request, for onSpill's log line
	onSpill func(path string)
	pool    *sync.Pool // nil once Close gave it back
	vec     [][]byte   // a splitBody's slices for one writev, kept with the body
}

func (s *bufferedBody) Size() int64 { return s.b.Size() }
func (s *bufferedBody) reader() io.Reader {
	s.r.Reset(&s.b) // tries run one after another: one reader, from byte 0 each time
	return &s.r
}
func (s *bufferedBody) replayable() bool { return true }

// Close releases the body's chunks and temp file and gives it back to its
// pool; the caller must not use it afterwards.
func (s *bufferedBody) Close() error {
	err := s.b.Close()
	if pool := s.pool; pool != nil {
		s.pool, s.x, s.cr = nil, nil, clientReader{}
		pool.Put(s)
	}
	return err
}

func (s *bufferedBody) spilled(path string) {
	s.x.logf(errorlog.Warn, "a client request body is buffered to a temporary file "+path, 0, "")
}

// reqBodies are the proxy's request-body chunk pools, one per chunk size
// (bodyChunk, bodyChunkMedium, bodyChunkLarge, bodyChunkHuge), and its pool of
// bufferedBodies.
type reqBodies struct {
	small, medium, large, huge *buffer.Pool
	pool                       sync.Pool
}

func (r *reqBodies) init(budget *buffer.Budget) {
	r.small, r.medium, r.large = budget.Pool(bodyChunk), budget.Pool(bodyChunkMedium), budget.Pool(bodyChunkLarge)
	r.huge = budget.Pool(bodyChunkHuge)
	r.pool.New = func() any {
		s := &bufferedBody{}
		s.onSpill = s.spilled // one method value per pooled body, not per request
		return s
	}
}

// get returns an empty body with opts (OnSpill is its own).
func (r *reqBodies) get(x *exchange, opts buffer.BodyOptions) *bufferedBody {
	s := r.pool.Get().(*bufferedBody)
	s.pool, s.x = &r.pool, x
	opts.OnSpill = s.onSpill
	s.b.Init(opts)
	return s
}

// prereadBody is a Content-Length body that came whole with its head
// and is within the memory the body may take: it stays where the read put
// it, in the client connection's read buffer, as nginx keeps a pre-read
// body in the head's buffer (r->header_in), and every try sends it from
// there (after the upstream head, in the same writev). No chunk of the
// budget, no copy: those cost a small POST more than its bytes did.
//
// The bytes are the read buffer's until the connection loop reads the next
// request, which is after the answer is written and the exchange recycled
// (conn.go): the body is marked read at once (so that nothing is left to
// discard), and nothing reads the connection in between.
type prereadBody struct {
	b []byte
	r bytes.Reader // the reader every try rewinds
}

func (s *prereadBody) Size() int64 { return int64(len(s.b)) }
func (s *prereadBody) reader() io.Reader {
	s.r.Reset(s.b)
	return &s.r
}
func (s *prereadBody) replayable() bool { return true }
func (s *prereadBody) Close() error {
	s.b = nil
	s.r.Reset(nil)
	return nil
}

// splitBody is a Content-Length body of which the first bytes came with
// the head and the rest after, within the memory the body may take: the
// first bytes stay where the head's read put them, in the client
// connection's read buffer, as prereadBody's (nginx's pre-read part in
// r->header_in), and only the rest is read, straight from the socket
// (clientBody.keepBuffered), into chunks of the budget. A 64 KiB POST's
// first 16 KiB were copied out of the read buffer into its chunk (a
// memmove of about 1.2 µs per POST, docs/measured/bodies-2026-12-07.md).
// Every try sends the head, those bytes and the rest's chunks in one
// writev (WriteTo). The first bytes are valid as prereadBody's are; the
// rest spills to a temp file as any buffered body, which then holds the
// rest only.
type splitBody struct {
	pre  []byte
	rest *bufferedBody
	off  int64 // the reader's position (a splitBody is its own reader)
}

func (s *splitBody) Size() int64 { return int64(len(s.pre)) + s.rest.Size() }
func (s *splitBody) reader() io.Reader {
	s.off = 0
	s.rest.r.Reset(&s.rest.b)
	return s
}
func (s *splitBody) replayable() bool { return true }
func (s *splitBody) Close() error {
	if s.rest == nil {
		return nil
	}
	err := s.rest.Close()
	s.pre, s.rest = nil, nil
	return err
}

func (s *splitBody) Read(p []byte) (int, error) {
	if s.off < int64(len(s.pre)) {
		n := copy(p, s.pre[s.off:])
		s.off += int64(n)
		return n, nil
	}
	n, err := s.rest.r.Read(p)
	s.off += int64(n)
	return n, err
}

// WriteTo writes the rest of the body to w: to a BuffersWriter (the
// upstream connection's, upstream.Attempt.Send) the first bytes and the
// rest's memory chunks in one WriteBuffers call; otherwise, or when the
// rest spilled, the first bytes with one Write and then the rest's WriteTo.
func (s *splitBody) WriteTo(w io.Writer) (int64, error) {
	pre := int64(len(s.pre))
	var total int64
	if s.off < pre {
		if bw, ok := w.(buffer.BuffersWriter); ok {
			v, mem := s.rest.r.AppendBuffers(append(s.rest.vec[:0], s.pre[s.off:]))
			if mem {
				n, err := bw.WriteBuffers(v)
				clear(v) // keep no reference to the read buffer or the chunks
				s.rest.vec = v[:0]
				s.off += n
				if s.off > pre {
					_, _ = s.rest.r.Seek(s.off-pre, io.SeekStart)
				}
				if err == nil && s.off < s.Size() {
					err = io.ErrShortWrite
				}
				return n, err
			}
			clear(v)
			s.rest.vec = v[:0]
		}
		n, err := w.Write(s.pre[s.off:])
		s.off += int64(n)
		total += int64(n)
		if err == nil && s.off < pre {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
	n, err := s.rest.r.WriteTo(w)
	s.off += n
	return total + n, err
}

// streamedBody is proxy_request_buffering off (nginx's
// request_body_no_buffering): the client's bytes go to the first upstream
// as they arrive, so once the first try has read any of them the body
// cannot be sent again. It is an upstream.Streamed: what the client sent
// with its head (nginx's preread) goes out with the upstream head, then
// every part as it comes.
type streamedBody struct {
	r    clientReader
	cb   *clientBody // HTTP/1.x: what is ready without waiting; nil: every read is sent at once
	size int64       // Content-Length; -1 for a chunked body
	// chunk: the chunked body is sent chunked (proxy_http_version 1.1);
	// FastCGI frames it as any other.
	chunk bool
	enc   chunkEncoder
	used  bool
}

func (s *streamedBody) Size() int64 { return s.size }
func (s *streamedBody) reader() io.Reader {
	s.used = true // from now on only a try that read nothing may resend it
	if s.chunk {
		s.enc = chunkEncoder{src: s, buf: s.enc.buf[:0]}
		return &s.enc
	}
	return s
}
func (s *streamedBody) replayable() bool { return !s.used || s.r.n == 0 }
func (s *streamedBody) Close() error     { return nil }

func (s *streamedBody) Read(p []byte) (int, error) { return s.r.Read(p) }

// Ready reports whether a Read returns without waiting for the client
// (upstream.Streamed).
func (s *streamedBody) Ready() bool { return s.cb != nil && s.cb.ready() }

// chunkEncoder sends a streamed chunked body chunked, as nginx's proxy
// module does with proxy_http_version 1.1 (ngx_http_proxy_body_output_filter):
// what the client sent that is ready becomes one chunk, whatever the
// client's own chunks were, and the last chunk goes with the last data.
type chunkEncoder struct {
	src  *streamedBody
	buf  []byte // encoded bytes not yet returned: buf[off:]
	off  int
	done bool // the last chunk was queued
}

// chunkData bounds the data of one chunk sent upstream.
const chunkData = 16 << 10

func (e *chunkEncoder) Read(p []byte) (int, error) {
	for e.off == len(e.buf) {
		if e.done {
			return 0, io.EOF
		}
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.buf[e.off:])
	e.off += n
	return n, nil
}

// Ready: encoded bytes are waiting, or the client's are ready.
func (e *chunkEncoder) Ready() bool { return e.off < len(e.buf) || e.done || e.src.Ready() }

// fill reads what is ready (at least one read) and encodes it as a chunk.
func (e *chunkEncoder) fill() error {
	const room = 16 + 2 // the size line: 16 hex digits at most and CRLF
	if cap(e.buf) < room+chunkData+7 {
		e.buf = make([]byte, 0, room+chunkData+7)
	}
	b := e.buf[:cap(e.buf)]
	data := b[room : room+chunkData]
	n := 0
	var err error
	for n < len(data) {
		var m int
		m, err = e.src.Read(data[n:])
		n += m
		if err != nil || !e.src.Ready() {
			break
		}
	}
	if err != nil && err != io.EOF {
		return err
	}
	start, end := room, room+n
	if n > 0 {
		var line [room]byte
		l := append(strconv.AppendInt(line[:0], int64(n), 16), '\r', '\n')
		start -= len(l)
		copy(b[start:], l)
		end += copy(b[end:], "\r\n")
	}
	if err == io.EOF {
		end += copy(b[end:], "0\r\n\r\n")
		e.done = true
	}
	e.buf, e.off = b[start:end], 0
	return nil
}

// clientReader reads the client's body with client_body_timeout per read and
// marks its errors as the client's, so that a failure while sending to the
// upstream is not blamed on the upstream.
type clientReader struct {
	ctx      *fasthttp.RequestCtx
	r        io.Reader
	timeout  time.Duration
	n        int64
	declared int64     // Content-Length, or -1 for a chunked body
	dl       time.Time // the read deadline last set
	// read: the whole body came with the head and is in the connection's
	// read buffer, so reading it never waits and needs no deadline.
	read bool
}

func (c *clientReader) Read(p []byte) (int, error) {
	if c.timeout > 0 && !c.read {
		// Renewed before each read, as nginx re-arms client_body_timeout,
		// unless the last one is still within t/16 of exact: setting one
		// takes a lock and moves a runtime timer.
		if now := time.Now(); deadline.Stale(c.dl, c.timeout, now) {
			c.dl = now.Add(c.timeout)
			_ = c.ctx.Conn().SetReadDeadline(c.dl)
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF && c.declared >= 0 && c.n < c.declared {
		// The client closed before sending what it declared: the
		// request is incomplete and must not reach an upstream.
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		err = &clientReadError{err}
	}
	return n, err
}

// clientReadError is a failure reading the client's request body.
type clientReadError struct{ err error }

func (e *clientReadError) Error() string { return "reading client request body: " + e.err.Error() }
func (e *clientReadError) Unwrap() error { return e.err }

// declaredTooLarge is the check of nginx's find-config phase
// (ngx_http_core_find_config_phase): a declared Content-Length over the
// client_max_body_size of the location found (the server's when none is)
// answers 413, logged as readBody does, before the location's rewrite
// phase, so also in front of a return, a rewrite, files and auto_redirect;
// again after each rewrite that changes $uri. A body already read (an
// internal redirect after proxying began), or discarded by an error page
// (its redirect: nginx's r->discard_body), is not refused again.
func (x *exchange) declaredTooLarge() bool {
	limit := x.vh.conf.ClientMaxBodySize
	if x.loc != nil {
		limit = x.loc.conf.ClientMaxBodySize
	}
	cl := x.ctx.Request.Header.ContentLength()
	if x.body != nil || x.errPage.code != 0 || cl <= 0 || limit <= 0 || int64(cl) <= limit {
		return false
	}
	x.logf(errorlog.Error, "client intended to send too large body: "+strconv.Itoa(cl)+" bytes", 0, "")
	x.page(fasthttp.StatusRequestEntityTooLarge)
	return true
}

// readBody receives the client's body before any upstream is contacted
// (proxy_request_buffering on), enforcing client_max_body_size the way nginx
// does: a declared Content-Length over the limit is refused at once; a
// chunked body is counted as it arrives.
func (x *exchange) readBody() bool {
	ctx := x.ctx
	lc := x.loc.conf
	h := &ctx.Request.Header
	cl := h.ContentLength() // -1 chunked, -2 none
	limit := lc.ClientMaxBodySize
	if cl > 0 && limit > 0 && int64(cl) > limit {
		x.logf(errorlog.Error, "client intended to send too large body: "+strconv.Itoa(cl)+" bytes", 0, "")
		x.page(fasthttp.StatusRequestEntityTooLarge)
		return false
	}
	r := ctx.RequestBodyStream()
	if r == nil || cl == 0 {
		// A Content-Length header is one with a value: fasthttp keeps its
		// storage across the requests a RequestCtx serves (a kept-alive
		// connection, or a context its pool hands to a new one), so a
		// request without the header peeks it empty, not nil.
		if cl == 0 || len(h.PeekCanonical([]byte(fasthttp.HeaderContentLength))) > 0 { // Peek, without copying and checking the name
			x.body = emptyBody{}
		}
		return true
	}
	cb, _ := r.(*clientBody) // HTTP/1.x: the connection loop's reader (clientbody.go)
	cr := clientReader{ctx: ctx, r: r, timeout: lc.ClientBodyTimeout, declared: int64(cl),
		read: cb != nil && cb.inBuffer()}
	if cb != nil && cl < 0 {
		cb.setLimit(limit) // nginx refuses the chunk-size line that passes it
	}
	if x.loc.grpc != nil {
		// nginx's grpc module never buffers a request body: a client
		// stream goes to the upstream as it comes (grpc.go).
		gb := newGrpcBody(cr, int64(cl), lc.ClientBodyBufferSize, limit, x.h2 == nil)
		// An HTTP/1.x body that came with the head is one nginx has
		// "pre-read" whole: it clears request_body_no_buffering, and the
		// call is retried as any POST (measured: difftest's
		// http1-reset-non-idempotent).
		head := len(x.reqLine) + 2 + len(h.RawHeaders()) + 2
		gb.preread = x.h2 == nil && cl > 0 && cl <= bodyPrefetch && int64(head+cl) <= x.vh.conf.ClientHeaderBufferSize
		x.body = gb
		return true
	}
	memory := lc.ClientBodyBufferSize
	if x.streamsBody(cl, cb) {
		// nginx reads what the client has sent so far (its "preread")
		// and contacts the upstream at once, without waiting for more.
		// A body that came whole, with the head ("the whole request body
		// was pre-read": it fits the client_header_buffer_size buffer with
		// the head) or within client_body_buffer_size, is then read like
		// a buffered one, kept in memory and resent on a retry; any other
		// streams, the preread going with the upstream head.
		head := len(x.reqLine) + 2 + len(h.RawHeaders()) + 2
		whole := false
		switch {
		case cl < 0:
			// A body there whole goes with a Content-Length, as a
			// buffered one; one whose framing or size is refused there
			// is refused by reading it, before any upstream, as nginx
			// refuses it in its preread.
			done, err := cb.chunkedScan(limit)
			if !done && err == nil && cb.fillReady(x.ctx.Conn(), bodyPrefetch) {
				done, err = cb.chunkedScan(limit)
			}
			whole = err != nil || done && cb.br.Buffered() <= bodyPrefetch
			memory = max(memory, int64(cb.br.Buffered()))
		case cl > bodyPrefetch || int64(cl) > memory && int64(head+cl) > x.vh.conf.ClientHeaderBufferSize:
		default:
			// An HTTP/2 body (no clientBody) is read whole.
			whole = cb == nil || cb.inBuffer() || cb.fillReady(x.ctx.Conn(), cl) && cb.inBuffer()
			memory = max(memory, int64(cl))
		}
		if !whole {
			x.body = &streamedBody{r: cr, cb: cb, size: int64(cl), chunk: cl < 0 && x.loc.fcgi == nil}
			return true
		}
	}
	x.bodyMem = memory // nginx's in-memory body: $request_body (vars.go)
	// Spillway's own rule (client_body_memory_max, a documented
	// difference): the body stays in memory up to that cap while the
	// process-wide budget grants chunks, and spills only past the cap or
	// when the budget refuses one (buffer.Body does both). nginx's rule,
	// a temp file past client_body_buffer_size, is the cap 0.
	memory = max(memory, lc.ClientBodyMemoryMax)
	if cb != nil && cl > 0 && int64(cl) <= memory && cb.inBuffer() {
		x.preread.b = cb.preread()
		x.body = &x.preread
		return true
	}
	var pre []byte // the first bytes, kept in the read buffer (splitBody)
	if cb != nil && cl > 0 && int64(cl) <= memory && cb.br != nil && cb.br.Buffered() > 0 {
		pre = cb.keepBuffered(ctx.Conn())
		cr.n = int64(len(pre)) // read: the client's reader counts to the declared end
	}
	rest := int64(cl) - int64(len(pre)) // what the chunks take; < 0: chunked
	pool := x.p.bodies.small
	switch {
	case rest >= 0 && rest <= bodyChunk:
	case rest >= 0 && rest <= bodyChunkMedium:
		pool = x.p.bodies.medium
	case rest > 2*bodyChunkHuge:
		pool = x.p.bodies.huge
	default: // larger, or chunked
		pool = x.p.bodies.large
	}
	s := x.p.bodies.get(x, buffer.BodyOptions{
		Pool:        pool,
		MemoryLimit: memory - int64(len(pre)),
		TempDir:     lc.ClientBodyTempPath,
		Limit:       limit,
	})
	s.cr = cr
	b := &s.b
	_, err := b.ReadFrom(&s.cr)
	if err == nil {
		err = b.Seal()
	}
	if err == nil && pre != nil {
		x.split = splitBody{pre: pre, rest: s}
		x.body = &x.split
		return true
	}
	if err == nil {
		x.body = s
		return true
	}
	prev := b.Size()
	_ = s.Close()
	var le *buffer.LimitError
	var te *buffer.TempFileError
	switch {
	case errors.As(err, &le):
		x.logf(errorlog.Error, "client intended to send too large chunked body: "+
			strconv.FormatInt(prev, 10)+"+"+strconv.FormatInt(le.Size-prev, 10)+" bytes", 0, "")
		x.page(fasthttp.StatusRequestEntityTooLarge)
		return false
	case errors.As(err, &te):
		if buffer.DiskFull(te) {
			x.p.full.refused[fullCause(te)].Add(1) // diskfull.go
		}
		x.logTempFile(te, "", "")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	x.clientBodyError(err)
	if x.status == 499 {
		// nginx finalizes a body read cut short by the client with 400
		// (ngx_http_read_client_request_body_handler): the access log has
		// "POST /p HTTP/1.1" 400 0.
		x.status = fasthttp.StatusBadRequest
	}
	return false
}

// streamsBody reports whether the request body goes to the upstream as it
// arrives (nginx's request_body_no_buffering): *_request_buffering off and
// the body passed on (a body not passed on, or replaced by proxy_set_body,
// is read whole, as nginx). A
// chunked one streams to FastCGI, and proxied with proxy_http_version 1.1
// (sent chunked); otherwise the upstream head needs its length, and nginx
// buffers it (uwsgi too).
func (x *exchange) streamsBody(cl int, cb *clientBody) bool {
	u := &x.loc.conf.Upstream
	switch {
	case u.RequestBuffering || !u.PassRequestBody || x.loc.body != nil: // proxy_set_body: nginx reads the client's body whole
		return false
	case cl > 0:
		return true
	case cl != -1 || cb == nil: // no body, or an HTTP/2 one without a length
		return false
	case x.loc.fcgi != nil:
		return true
	}
	return x.loc.uwsgi == nil && x.loc.h2 == nil && x.loc.conf.ProxyHTTPVersion == "1.1"
}

// discardReady is the start of nginx's ngx_http_discard_request_body for a
// request answered without its body (a return): what the client already
// sent of a chunked body is read, and broken framing there is nginx's
// error "client sent invalid chunked body" and false (nginx then answers
// 400, or keeps an error page's status). The rest is the connection
// loop's to discard once the answer is sent (conn.go), as nginx reads it
// after answering.
func (x *exchange) discardReady() bool {
	if x.body != nil || x.h2 != nil || x.parent != nil {
		return true
	}
	cb, ok := x.ctx.RequestBodyStream().(*clientBody)
	if !ok || !cb.chunked {
		return true // a Content-Length body cannot be invalid
	}
	cb.fillReady(x.ctx.Conn(), bodyPrefetch)
	var scratch [512]byte
	for !cb.eof && cb.err == nil && cb.ready() {
		_, _ = cb.Read(scratch[:])
	}
	if cb.err != errBadChunk {
		return true
	}
	x.logf(errorlog.Error, "client sent invalid chunked body", 0, "")
	return false
}

// bodyPrefetch bounds the bodies nginx takes as "pre-read" with their head
// and those read whole before the upstream is contacted with
// proxy_request_buffering off (readBody); nothing of a body is read before
// the handler asks (clientbody.go).
const bodyPrefetch = 8 << 10

// bodyChunk is the chunk size for small request bodies: a page, so that a
// small body holds little of the budget.
const bodyChunk = 4096

// The chunk size grows with the declared length: a body up to bodyChunk
// takes one page, up to bodyChunkMedium one chunk of that size (nginx's
// default client_body_buffer_size), over 2×bodyChunkHuge bodyChunkHuge
// chunks, anything else (chunked too) bodyChunkLarge chunks. The
// connection's body reader reads straight into a window at least as large
// as its read buffer (bypassing it), and the upstream connection writes the
// head and all the chunks with one writev(2) (upstream.Attempt.Send), so
// larger chunks cut the system calls: a 64 KiB body in 64 KiB chunks took
// 44-47 µs of proxy CPU per POST /echo against 63-67 µs in 4 KiB ones
// (docs/measured/request-bodies-2026-12-07.md); a 1 MiB body in 256 KiB
// chunks takes about 7 read(2) calls instead of 19, and 7% less CPU in
// interleaved runs (1 MiB chunks: no better), docs/measured/bodies-2026-12-08.md.
// The price is budget granularity: a body holds up to one such chunk more
// than its length (at most a third more past 512 KiB).
const (
	bodyChunkMedium = 16 << 10
	bodyChunkLarge  = 64 << 10
	bodyChunkHuge   = 256 << 10
)

// logTempFile writes nginx's [crit] line for a temp file that could not be
// created, written or read: `open() "PATH" failed (20: Not a directory)`.
func (x *exchange) logTempFile(te *buffer.TempFileError, action, upstream string) {
	x.p.stats.tempErrors.Add(1)
	call := "open()"
	switch te.Op {
	case "write":
		call = "pwrite()"
	case "read":
		call = "pread()"
	}
	var errno syscall.Errno
	errors.As(te.Err, &errno)
	f := x.fields
	f.Upstream = upstream
	x.log().Write(&errorlog.Entry{Level: errorlog.Crit, Conn: x.conn,
		Msg: call + ` "` + te.Path + `" failed`, Errno: errno, Action: action, Fields: &f})
}

// streamedTooLarge answers a streamed chunked body that passed
// client_max_body_size while it was sent to the upstream peer (one that
// passed it in what came with the head is readBody's, before any
// upstream): nginx's 413 and its line, "while sending request to
// upstream" with the upstream, as its request body filter logs it.
func (x *exchange) streamedTooLarge(err error, peer string) bool {
	var le *buffer.LimitError
	s, ok := x.body.(*streamedBody)
	if !ok || !errors.As(err, &le) {
		return false
	}
	prev := s.r.n // the bytes before the refused chunk
	x.logPeer(errorlog.Error, upstream.PhaseSend, "client intended to send too large chunked body: "+
		strconv.FormatInt(prev, 10)+"+"+strconv.FormatInt(le.Size-prev, 10)+" bytes", 0, peer)
	x.page(fasthttp.StatusRequestEntityTooLarge)
	return true
}

// clientBodyError answers a body that could not be read: a timeout is 408
// with nothing sent (nginx logs nothing), a broken chunked body 400, a client
// that went away 499.
func (x *exchange) clientBodyError(err error) bool {
	switch upstream.Classify(upstream.PhaseSendClient, err) {
	case upstream.KindTimeout:
		x.status = fasthttp.StatusRequestTimeout
		x.closeSilently()
	case upstream.KindClosed, upstream.KindReset:
		x.logf(errorlog.Info, "client prematurely closed connection", 0, "")
		x.status = 499
		x.closeSilently()
	default:
		x.logf(errorlog.Error, "client sent invalid chunked body", 0, "")
		x.page(fasthttp.StatusBadRequest)
	}
	return false
}

// closeSilently drops the client connection without a response, as nginx
// does on client timeouts.
func (x *exchange) closeSilently() {
	x.ctx.Response.Reset()
	x.ctx.SetConnectionClose()
	_ = x.ctx.Conn().Close()
}
