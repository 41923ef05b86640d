package proxy

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"spillway/buffer"
	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/deadline"
	"spillway/proxy/upstream"
)

// spoolStream is a buffered upstream body (proxy_buffering on): nginx's
// proxy_buffers and temp file, as a buffer.Spool between two goroutines.
//
// The producer (produce, its own goroutine) reads the upstream as fast as it
// sends, into the spool's chunks and, when the client is slower, its temp
// file; at the end it releases the upstream connection to the keepalive
// cache at once, whether or not the client has finished reading. The
// consumer is fasthttp's connection goroutine, which calls WriteTo (memory
// chunks whole, temp-file ranges through sendfile) and then CloseWithError,
// which waits for the producer and finishes the exchange.
//
// When the body goes straight to the client's socket (direct, with a
// Content-Length), the producer writes to the socket itself while the
// consumer is idle with nothing buffered (the spool's Passthrough): a client
// that keeps up costs one copy and no goroutine hand-off, as with buffering
// off; only what the socket does not take at once is buffered.
//
// A body that the upstream's socket holds whole when its head comes (up to
// a copy buffer) skips the producer: the connection's goroutine reads it
// and writes it with the head (spoolWhole), and a spool is made only for
// what the client does not take at once.
//
// The producer owns x.cur, x.attempts, x.uresp and x.watch until done is closed; the
// consumer touches only the spool and x.bodyBytes.
type spoolStream struct {
	x    *exchange
	a    *upstream.Attempt
	uc   *upstream.Conn // the upstream connection, kept for the consumer's abort
	sp   *buffer.Spool
	done chan struct{} // closed by the producer when it has let go of a and uc
	// quit ends a producer's proxy_limit_rate pause when the consumer
	// goes (nil without a limit; limitrate.go).
	quit chan struct{}

	// state arbitrates the upstream connection between the producer, which
	// releases it, and a consumer that goes away early and closes it to wake
	// a producer blocked in read(2).
	state atomic.Uint32

	direct *client.SocketWriter // set when the body goes straight to the client socket
	// holder is the client connection while its head flush goes to direct
	// (clientConn.holder), until WriteTo.
	holder *clientConn
	// chunked: direct writes are framed as HTTP/1.1 chunks (a body without a
	// Content-Length, e.g. from FastCGI; see chunkedSocketWriter).
	chunked bool

	// whole is a body read whole by the connection's goroutine (spoolWhole),
	// in bp, a copy buffer held until the client or the spool has the
	// bytes (feed, CloseWithError); the upstream is released already, and
	// a spool (sp) and a goroutine (feed) are made only for what the
	// client does not take at once.
	whole []byte
	bp    *[]byte

	upFailed bool // the producer logged an upstream or temp-file failure, or the client's going (read after done)
	closed   bool
}

// copyBufSize is the producer's read size from the upstream: large reads
// mean few read(2) calls for big bodies, and with the passthrough few
// write(2) calls to the client (64 KiB against 32 KiB: 5-9% less CPU per
// 64 KiB response on the harness). Not a multiple of 64 KiB: over loopback
// (an upstream on the same host, the harness) 64, 128 and 192 KiB reads
// cost 25-35% more CPU per 1 MiB response than 60, 96 or 256 KiB ones, in
// the kernel, and 96 KiB was also the cheapest per 64 KiB response
// (docs/measured/copybuf-2026-12-07.md). The buffer is pooled and held only
// while a producer runs, or until a body read whole (spoolWhole) is with
// the client or the spool; like fasthttp's connection buffers it is
// outside buffer_memory_limit, which bounds what responses keep.
const copyBufSize = 96 << 10

const (
	spoolRunning uint32 = iota
	spoolReleased
	spoolAborted
)

// produce copies the upstream body into the spool. It runs on its own
// goroutine and must not touch ctx.
func (s *spoolStream) produce(r io.Reader) {
	x, a := s.x, s.a
	defer close(s.done)
	bp := x.p.copyBufs.Get().(*[]byte)
	buf := *bp
	var rerr, werr error
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr = s.sp.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			rerr = err
			break
		}
	}
	x.p.copyBufs.Put(bp)
	// The upstream's part is over: the watch ends before its connection
	// goes back to the cache (a client that goes from here on is the
	// consumer's write failure, as nginx's ngx_http_test_reading).
	gone := x.watch.stop()
	_ = x.uresp.CloseBodyStream()
	if n := len(x.attempts); n > 0 {
		x.attempts[n-1].ResponseTime = time.Since(a.Start)
	}
	var te *buffer.TempFileError
	var ie *inflateError
	switch {
	case werr == nil && rerr == io.EOF:
		over := x.bodyOverran(a, true, upstream.PhaseReadBody) // more than Content-Length: not reused
		// The whole body is in the spool: the upstream is free now, and
		// back in the keepalive cache before the client can see the end
		// of the body (CloseWrite), so the client's next request finds it
		// there (nginx frees it before sending the last buffer).
		// A client that went after the body's last read only woke the
		// connection (clientabort.go): it is kept as well.
		x.release(a, s.state.CompareAndSwap(spoolRunning, spoolReleased) && !over)
		s.sp.CloseWrite(nil)
	case errors.As(werr, &te):
		// nginx: [crit] open() "..." failed (20: Not a directory) while
		// reading upstream, and the client gets what was buffered.
		s.upFailed = true
		x.logTempFile(te, upstream.PhaseReadBody.String(), x.upstreamURL(s.uc.Peer().Addr()))
		s.sp.CloseWrite(werr)
		x.release(a, false)
	case gone:
		// The watch saw the client go and woke the read of the
		// upstream's body (clientabort.go): nginx's line, no
		// failure counted, and the consumer, whose write may have
		// failed as well, logs nothing more.
		s.state.CompareAndSwap(spoolRunning, spoolReleased)
		s.upFailed = true
		x.bodyAborted(s.uc.Peer().Addr())
		s.sp.CloseWrite(errClientGone)
		x.release(a, false)
	case werr != nil || s.state.Load() == spoolAborted:
		// The client went away; its side logs it.
		x.release(a, false)
	case errors.As(rerr, &ie):
		// The gunzip filter's: the client gets what was decompressed.
		s.upFailed = true
		x.logPeer(errorlog.Error, upstream.PhaseSendClient, ie.msg, 0, s.uc.Peer().Addr())
		s.sp.CloseWrite(ie)
		x.release(a, false)
	default:
		s.upFailed = true
		ue := bodyError(a, rerr, true, x.upstreamChunked())
		x.counters(s.uc.Peer()).failure(ue)
		x.logUpstream(errorlog.Error, ue, ue.Peer)
		s.sp.CloseWrite(ue)
		x.release(a, false)
	}
}

// newSpool is the spool of s's body: lc's proxy_buffers, its temp file and
// limits. stalls says the writer reports a full socket (SetStalled), so
// that the spool spills only then; pass is the direct writer's passthrough.
func (x *exchange) newSpool(s *spoolStream, stalls bool, pass func([]byte) int) *buffer.Spool {
	lc := x.loc.conf
	return buffer.NewSpool(buffer.SpoolOptions{
		Pool:                 x.p.budget.Pool(int(lc.Upstream.Buffers.Size)),
		Buffers:              lc.Upstream.Buffers.N,
		TempDir:              lc.Upstream.TempPath,
		MaxTempFileSize:      lc.Upstream.MaxTempFileSize,
		TempFileWriteSize:    int(lc.Upstream.TempFileWriteSize),
		SpillOnlyWhenStalled: stalls,
		StallGrace:           lc.Upstream.SpillGrace,
		OnSpill:              s.onSpill,
		OnFull:               s.onFull, // stream on instead of failing (diskfull.go)
		Passthrough:          pass,
	})
}

// spoolWhole is the spool's shortcut for a body of cl bytes (over the
// proxy buffers, up to a copy buffer) that the upstream's socket holds
// whole when its head comes, to a client written directly: the
// connection's goroutine reads it at once, releases the upstream (nginx
// frees it before the last buffer goes out), and WriteTo sends the head
// and the body in one writev(2) that does not wait. Only what the client
// does not take at once goes through a spool, fed by a goroutine of its
// own (writeWhole), so proxy_buffers, the temp file and its limits apply
// to a slow client as before. A client that keeps up costs no goroutine,
// no spool and no hand-off. It reports false, having read nothing, when
// the body is not all there (or the client cannot be written directly):
// the producer then reads it.
func (x *exchange) spoolWhole(a *upstream.Attempt, cl int) bool {
	cc, ok := x.ctx.Conn().(*clientConn)
	if !ok || cc.TCPConn == nil {
		return false
	}
	br := a.Conn.Reader()
	more := false // bytes past the body: the overrun check looks (bodyOverran)
	if have := br.Buffered(); have < cl {
		rc := a.Conn.RawSocket()
		if rc == nil {
			return false
		}
		avail := 0
		_ = rc.Control(func(fd uintptr) { avail = socketUnread(fd) })
		if have+avail < cl {
			return false
		}
		more = have+avail > cl
	} else {
		more = have > cl
	}
	s := &x.spooled
	*s = spoolStream{x: x, uc: a.Conn, holder: cc}
	if s.direct = client.NewSocketWriter(cc.TCPConn, s); s.direct == nil {
		return false
	}
	bp := x.p.copyBufs.Get().(*[]byte)
	body := (*bp)[:cl]
	// The bytes are in the socket: the reads do not wait (a failure
	// here is one that came with them, an RST after the data).
	n, err := io.ReadFull(br, body)
	x.watch.stop() // not armed: no read waited
	if err != nil {
		ue := bodyError(a, err, true, false)
		x.bodyFailed(ue)
		fb := &failedBody{x: x, data: append([]byte(nil), body[:n]...), err: ue}
		x.p.copyBufs.Put(bp)
		x.ctx.Response.ImmediateHeaderFlush = true
		x.ctx.SetBodyStream(fb, cl)
		return true // fb finishes the exchange
	}
	x.release(a, !x.bodyOverran(a, more, upstream.PhaseReadBody))
	s.state.Store(spoolReleased) // s.uc is only its Peer from here on
	s.whole, s.bp = body, bp
	s.direct.Sent = &cc.sent // $bytes_sent (clientConn.sent)
	cc.holder = s.direct     // the head goes with the body (WriteTo)
	x.ctx.Response.ImmediateHeaderFlush = true
	x.setBody(s, cl)
	return true
}

// writeWhole sends a body read whole (spoolWhole) after the held head, in
// one writev(2) that does not wait. What the client does not take at once
// goes through a spool, as any body the client is slower than: memory,
// then the temp file once the socket stalls, with nginx's warning.
func (s *spoolStream) writeWhole() (int64, error) {
	k := s.direct.Passthrough()(s.whole)
	n := int64(k)
	var err error
	if rest := s.whole[k:]; len(rest) > 0 {
		s.sp = s.x.newSpool(s, true, s.direct.Passthrough())
		s.direct.Stalls = s.sp
		s.done = make(chan struct{})
		go s.feed(rest)
		m, werr := s.sp.WriteTo(s.direct)
		n, err = n+m, werr
	}
	s.x.bodyBytes += n
	return n, err
}

// feed writes p, the part of a body read whole that the client did not
// take at once, into the spool, on its own goroutine as produce does.
func (s *spoolStream) feed(p []byte) {
	defer close(s.done)
	_, err := s.sp.Write(p)
	// The spool has the bytes (or will take no more): the copy buffer,
	// outside buffer_memory_limit, is not kept while a slow client drains.
	s.x.p.copyBufs.Put(s.bp)
	s.bp, s.whole = nil, nil
	var te *buffer.TempFileError
	switch {
	case err == nil:
		s.sp.CloseWrite(nil)
	case errors.As(err, &te):
		// nginx: [crit] open() "..." failed while reading upstream; the
		// client gets what was buffered.
		s.upFailed = true
		s.x.logTempFile(te, upstream.PhaseReadBody.String(), s.x.upstreamURL(s.uc.Peer().Addr()))
		s.sp.CloseWrite(err)
	}
	// Otherwise the client went: its side logs it.
}

// onSpill logs nginx's warning, once per response, from the producer.
func (s *spoolStream) onSpill(path string) {
	x := s.x
	x.logPeer(errorlog.Warn, upstream.PhaseReadBody,
		"an upstream response is buffered to a temporary file "+path, 0, s.uc.Peer().Addr())
}

// Read serves fasthttp when it cannot use WriteTo.
func (s *spoolStream) Read(p []byte) (int, error) {
	s.x.sendDeadline()
	if s.sp == nil { // a body read whole (spoolWhole)
		if len(s.whole) == 0 {
			return 0, io.EOF
		}
		n := copy(p, s.whole)
		s.whole = s.whole[n:]
		s.x.bodyBytes += int64(n)
		return n, nil
	}
	n, err := s.sp.Read(p)
	s.x.bodyBytes += int64(n)
	return n, err
}

// SupportsBodyWriteTo makes fasthttp call WriteTo (fasthttp.BodyWriterTo).
func (s *spoolStream) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the body to the client as it arrives, renewing send_timeout
// before every write as nginx does.
//
// With a Content-Length the bytes bypass fasthttp's buffered writer (the
// head, flushed before, is held by the direct writer: clientConn.holder)
// and go straight to the socket, the head with the first of them in one
// writev(2): a client waiting in epoll is woken once for both (64 KiB
// responses: 0.86-0.98x the CPU of a head written alone,
// docs/measured/spool64k-2026-12-07.md). A write that would
// block tells the spool the client is stalled, so that it spills only then
// (nginx's rule), and whatever was written before an upstream failure has
// really reached the client, not a buffer that fasthttp drops on the error.
// A chunked body goes through fasthttp's writer, which frames and flushes
// every chunk.
func (s *spoolStream) WriteTo(w io.Writer) (int64, error) {
	s.unhold()
	if s.whole != nil {
		n, err := s.writeWhole()
		if ferr := s.direct.FlushHeld(); err == nil {
			err = ferr
		}
		return n, err
	}
	if s.direct != nil {
		w = s.direct
		if s.chunked {
			w = &chunkedSocketWriter{SocketWriter: s.direct}
		}
	} else if _, h2 := w.(*h2Writer); !h2 && s.x.loc.conf.SendTimeout > 0 {
		w = &sendWriter{w: w, x: s.x} // h2Writer renews it itself, and keeps WriteVec (http2.go)
	}
	n, err := s.sp.WriteTo(w)
	s.x.bodyBytes += n
	if s.direct != nil {
		// No body byte came to carry the head (an upstream that failed
		// at once): it goes alone, as nginx sends it before the body.
		if ferr := s.direct.FlushHeld(); err == nil {
			err = ferr
		}
	}
	return n, err
}

// unhold ends the head's diversion to the direct writer (clientConn.holder):
// the head, flushed before WriteTo, is held by now.
func (s *spoolStream) unhold() {
	if s.holder != nil {
		s.holder.holder = nil
		s.holder = nil
	}
}

// Close does nothing: fasthttp calls CloseWithError right after it.
func (s *spoolStream) Close() error { return nil }

// CloseWithError ends the response. A client that leaves early stops the
// producer (its Write fails and its upstream connection is closed, nginx's
// behaviour without proxy_ignore_client_abort); then the exchange finishes.
func (s *spoolStream) CloseWithError(err error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.unhold()
	if s.sp != nil {
		_ = s.sp.Close()
	}
	if s.state.CompareAndSwap(spoolRunning, spoolAborted) {
		s.uc.Close() // wakes a producer waiting on the upstream
	}
	if s.quit != nil {
		close(s.quit) // or in a proxy_limit_rate pause
	}
	if s.done != nil { // nil for a body read whole that the client took at once
		<-s.done
	}
	x := s.x
	if s.bp != nil {
		x.p.copyBufs.Put(s.bp)
		s.bp, s.whole = nil, nil
	}
	if err != nil && !s.upFailed && !errors.Is(err, buffer.ErrClosed) {
		x.relayWriteFailed(err, upstream.PhaseSendClient)
	}
	x.finish()
	return nil
}

// sendWriter renews the client's write deadline (send_timeout) before each
// write. ReadFrom keeps sendfile for temp-file ranges, a slice at a time so
// that the timeout stays a bound on each step rather than on the whole file.
type sendWriter struct {
	w io.Writer
	x *exchange
}

func (w *sendWriter) Write(p []byte) (int, error) {
	w.x.sendDeadline()
	return w.w.Write(p)
}

func (w *sendWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.w.(io.ReaderFrom)
	lr, limited := r.(*io.LimitedReader)
	if !ok || !limited {
		w.x.sendDeadline()
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	return w.x.sendSteps(rf, lr)
}

// sendSteps hands lr to rf (sendfile when rf is a TCP socket, directly or
// behind a writer that keeps ReadFrom) a step at a time, renewing
// send_timeout before each step so that it bounds each step, as nginx's
// bounds each write, rather than the whole file.
func (x *exchange) sendSteps(rf io.ReaderFrom, lr *io.LimitedReader) (int64, error) {
	var total int64
	for lr.N > 0 {
		x.sendDeadline()
		step := io.LimitedReader{R: lr.R, N: min(lr.N, client.SendfileStep)}
		n, err := rf.ReadFrom(&step)
		total += n
		lr.N -= n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// RenewSendDeadline is the direct socket writer's send_timeout renewal
// (client.Deadline).
func (s *spoolStream) RenewSendDeadline() { s.x.sendDeadline() }

// sendDeadline renews send_timeout on the client connection, lazily as
// upstream.Conn does (see deadline.Stale): a body written in many steps updates the timer
// only when the deadline has drifted by more than 1/16 of the timeout.
func (x *exchange) sendDeadline() {
	if st := x.loc.conf.SendTimeout; st > 0 {
		if now := time.Now(); deadline.Stale(x.clientWDL, st, now) {
			x.clientWDL = now.Add(st)
			_ = x.ctx.SetWriteDeadline(x.clientWDL)
		}
	}
}
