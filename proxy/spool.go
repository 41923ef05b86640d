package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"spillway/buffer"
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
// The producer owns x.cur, x.attempts and x.uresp until done is closed; the
// consumer touches only the spool and x.bodyBytes.
type spoolStream struct {
	x    *exchange
	a    *upstream.Attempt
	uc   *upstream.Conn // the upstream connection, kept for the consumer's abort
	sp   *buffer.Spool
	done chan struct{} // closed by the producer when it has let go of a and uc

	// state arbitrates the upstream connection between the producer, which
	// releases it, and a consumer that goes away early and closes it to wake
	// a producer blocked in read(2).
	state atomic.Uint32

	direct *socketWriter // set when the body goes straight to the client socket
	// chunked: direct writes are framed as HTTP/1.1 chunks (a body without a
	// Content-Length, e.g. from FastCGI; see chunkedSocketWriter).
	chunked bool

	upFailed bool // the producer logged an upstream or temp-file failure (read after done)
	closed   bool
}

// copyBufSize is the producer's read size from the upstream: large reads
// mean few read(2) calls for big bodies, and with the passthrough few
// write(2) calls to the client (64 KiB against 32 KiB: 5-9% less CPU per
// 64 KiB response on the harness). The buffer is pooled and held only while
// a producer runs; like fasthttp's connection buffers it is outside
// buffer_memory_limit, which bounds what responses keep.
const copyBufSize = 64 << 10

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
	_ = x.uresp.CloseBodyStream()
	if n := len(x.attempts); n > 0 {
		x.attempts[n-1].ResponseTime = time.Since(a.Start)
	}
	var te *buffer.TempFileError
	var ie *inflateError
	switch {
	case werr == nil && rerr == io.EOF:
		over := x.bodyOverran(a, true, upstream.PhaseReadBody) // more than Content-Length: not reused
		s.sp.CloseWrite(nil)
		// The whole body is in the spool: the upstream is free now.
		x.release(a, s.state.CompareAndSwap(spoolRunning, spoolReleased) && !over)
	case errors.As(werr, &te):
		// nginx: [crit] open() "..." failed (20: Not a directory) while
		// reading upstream, and the client gets what was buffered.
		s.upFailed = true
		x.logTempFile(te, upstream.PhaseReadBody.String(), x.upstreamURL(s.uc.Peer().Addr()))
		s.sp.CloseWrite(werr)
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
		x.site.counters[s.uc.Peer()].failure(ue)
		x.logUpstream(errorlog.Error, ue, ue.Peer)
		s.sp.CloseWrite(ue)
		x.release(a, false)
	}
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
// head is already flushed) and go straight to the socket: a write that would
// block tells the spool the client is stalled, so that it spills only then
// (nginx's rule), and whatever was written before an upstream failure has
// really reached the client, not a buffer that fasthttp drops on the error.
// A chunked body goes through fasthttp's writer, which frames and flushes
// every chunk.
func (s *spoolStream) WriteTo(w io.Writer) (int64, error) {
	if s.direct != nil {
		w = s.direct
		if s.chunked {
			w = &chunkedSocketWriter{socketWriter: s.direct}
		}
	} else if _, h2 := w.(*h2Writer); !h2 && s.x.loc.conf.SendTimeout > 0 {
		w = &sendWriter{w: w, x: s.x} // h2Writer renews it itself, and keeps WriteVec (http2.go)
	}
	n, err := s.sp.WriteTo(w)
	s.x.bodyBytes += n
	return n, err
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
	_ = s.sp.Close()
	if s.state.CompareAndSwap(spoolRunning, spoolAborted) {
		s.uc.Close() // wakes a producer waiting on the upstream
	}
	<-s.done
	x := s.x
	if err != nil && !s.upFailed && !errors.Is(err, buffer.ErrClosed) {
		x.clientWriteFailed(err)
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

const sendfileStep = 1 << 20

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
		step := io.LimitedReader{R: lr.R, N: min(lr.N, sendfileStep)}
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

// socketWriter writes to the client's TCP socket directly, with non-blocking
// write(2) through the runtime's poller, and reports EAGAIN to the spool as
// "stalled". ReadFrom hands temp-file ranges to the socket's sendfile.
type socketWriter struct {
	conn    *net.TCPConn
	rc      syscall.RawConn
	sp      *buffer.Spool
	x       *exchange
	stalled bool

	p     []byte // the write in progress, for the callback
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
	fnTry func(fd uintptr) bool // write without waiting (passthrough)
	pass  func(p []byte) int    // passthrough, for the spool
	pp    []byte                // passthrough's write, on the producer's goroutine
	pn    int
	iov   [16]syscall.Iovec // WriteVec's iovecs
	nvec  int
	fnv   func(fd uintptr) bool

	sfIn  int // sendfile's source descriptor, offset and count
	sfOff int64
	sfN   int
	fnsf  func(fd uintptr) bool
}

func newSocketWriter(c *clientConn, x *exchange) *socketWriter {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	w := &socketWriter{conn: c.TCPConn, rc: rc, x: x}
	w.fn, w.fnv, w.fnsf, w.fnTry = w.write, w.writev, w.sendfile, w.tryWrite
	w.pass = w.passthrough
	return w
}

// passthrough is the spool's Passthrough: one write(2) that never waits,
// from the producer while the consumer is idle. A full socket or an error
// takes nothing; the consumer then meets the same condition on its own write
// and handles it (the stall, the client's error) as usual.
func (w *socketWriter) passthrough(p []byte) int {
	w.pp, w.pn = p, 0
	err := w.rc.Write(w.fnTry)
	w.pp = nil
	if err != nil {
		return 0
	}
	return w.pn
}

// tryWrite is passthrough's callback: it never asks to wait, and only a
// write that went through counts.
func (w *socketWriter) tryWrite(fd uintptr) bool {
	if n, errno := writeFD(fd, w.pp); errno == 0 {
		w.pn = n
	}
	return true
}

func (w *socketWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		w.x.sendDeadline()
		w.p, w.n, w.errno = p, 0, 0
		err := w.rc.Write(w.fn)
		total += w.n
		p = p[w.n:]
		if err == nil && w.errno != 0 {
			err = &net.OpError{Op: "write", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("write", w.errno)}
		}
		if err != nil {
			return total, err
		}
	}
	w.setStalled(false)
	return total, nil
}

// WriteVec writes bufs with writev(2), the spool's ready chunks at once.
func (w *socketWriter) WriteVec(in [][]byte) (int64, error) {
	var local [16 + 2][]byte // the caller's slices stay as they are (the spool's 16, plus chunk framing)
	bufs := local[:copy(local[:], in)]
	var total int64
	for len(bufs) > 0 {
		w.x.sendDeadline()
		w.nvec = 0
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			if w.nvec == len(w.iov) {
				break
			}
			w.iov[w.nvec] = syscall.Iovec{Base: &b[0]}
			w.iov[w.nvec].SetLen(len(b))
			w.nvec++
		}
		if w.nvec == 0 {
			break
		}
		w.n, w.errno = 0, 0
		err := w.rc.Write(w.fnv)
		total += int64(w.n)
		if err == nil && w.errno != 0 {
			err = &net.OpError{Op: "writev", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("writev", w.errno)}
		}
		if err != nil {
			return total, err
		}
		// Drop what was written.
		n := w.n
		for len(bufs) > 0 && n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
		if len(bufs) > 0 {
			bufs[0] = bufs[0][n:]
		}
	}
	clear(w.iov[:])
	w.setStalled(false)
	return total, nil
}

func (w *socketWriter) writev(fd uintptr) bool {
	for {
		n, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.nvec))
		switch e {
		case 0:
			w.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			w.setStalled(true)
			return false
		}
		w.errno = e
		return true
	}
}

// setStalled tells the spool when the client's socket stops or starts
// taking bytes (EAGAIN, then a write that went through).
func (w *socketWriter) setStalled(v bool) {
	if w.stalled != v {
		w.stalled = v
		w.sp.SetStalled(v)
	}
}

// write is the raw callback: false means "wait until writable, then call
// again", which is when the client has stopped draining.
func (w *socketWriter) write(fd uintptr) bool {
	n, errno := writeFD(fd, w.p)
	switch errno {
	case 0:
		w.n = n
	case syscall.EAGAIN:
		w.setStalled(true)
		return false
	default:
		w.errno = errno
	}
	return true
}

// writeFD is one write(2) to a non-blocking socket, retried on EINTR.
func writeFD(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, err := syscall.Write(int(fd), p)
		if err == nil {
			return n, 0
		}
		if errno := err.(syscall.Errno); errno != syscall.EINTR {
			return n, errno
		}
	}
}

// ReadFrom sends a temp-file range with sendfile(2) through the runtime's
// poller, a step at a time (send_timeout bounds each step), reporting EAGAIN
// to the spool as a stall like Write does: while the client keeps up with
// the file, the producer waits for memory instead of spilling more.
func (w *socketWriter) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	var f *os.File
	if ok {
		f, ok = lr.R.(*os.File)
	}
	if !ok {
		w.x.sendDeadline()
		return w.conn.ReadFrom(r)
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	err = frc.Control(func(in uintptr) {
		w.sfIn, w.sfOff = int(in), off
		for lr.N > 0 {
			w.x.sendDeadline()
			w.sfN, w.n, w.errno = int(min(lr.N, sendfileStep)), 0, 0
			if err = w.rc.Write(w.fnsf); err == nil && w.errno != 0 {
				err = &net.OpError{Op: "sendfile", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("sendfile", w.errno)}
			}
			total += int64(w.n)
			lr.N -= int64(w.n)
			if err != nil || w.n == 0 {
				return
			}
		}
	})
	if err == nil && lr.N > 0 {
		err = io.ErrUnexpectedEOF // the file is shorter than the spool said
	}
	if err == nil {
		w.setStalled(false)
	}
	return total, err
}

func (w *socketWriter) sendfile(fd uintptr) bool {
	for {
		n, err := syscall.Sendfile(int(fd), w.sfIn, &w.sfOff, w.sfN)
		switch err {
		case nil:
			w.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if n > 0 {
				w.n = n
				return true
			}
			w.setStalled(true)
			return false
		}
		w.errno = err.(syscall.Errno)
		return true
	}
}
