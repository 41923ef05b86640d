package proxy

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"spillway/buffer"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
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
// The producer owns x.cur, x.attempts and x.uresp until done is closed; the
// consumer touches only the spool and x.bodyBytes.
type spoolStream struct {
	x    *exchange
	a    *attempt
	uc   *upConn // the upstream connection, kept for the consumer's abort
	sp   *buffer.Spool
	done chan struct{} // closed by the producer when it has let go of a and uc

	// state arbitrates the upstream connection between the producer, which
	// releases it, and a consumer that goes away early and closes it to wake
	// a producer blocked in read(2).
	state atomic.Uint32

	upFailed bool // the producer logged an upstream or temp-file failure (read after done)
	closed   bool
}

// copyBufSize is the producer's read size from the upstream: large reads
// mean few read(2) calls for big bodies.
const copyBufSize = 32 << 10

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
		x.attempts[n-1].dur = time.Since(a.start)
	}
	var te *buffer.TempFileError
	switch {
	case werr == nil && rerr == io.EOF:
		s.sp.CloseWrite(nil)
		// The whole body is in the spool: the upstream is free now.
		x.release(a, s.state.CompareAndSwap(spoolRunning, spoolReleased))
	case errors.As(werr, &te):
		// nginx: [crit] open() "..." failed (20: Not a directory) while
		// reading upstream, and the client gets what was buffered.
		s.upFailed = true
		x.logTempFile(te, PhaseReadBody.String(), x.upstreamURL(s.uc.peer.addr))
		s.sp.CloseWrite(werr)
		x.release(a, false)
	case werr != nil || s.state.Load() == spoolAborted:
		// The client went away; its side logs it.
		x.release(a, false)
	default:
		s.upFailed = true
		ue := bodyError(a, rerr, true)
		x.logUpstream(errorlog.Level(config.LevelError), ue, "", ue.Peer)
		s.sp.CloseWrite(ue)
		x.release(a, false)
	}
}

// onSpill logs nginx's warning, once per response, from the producer.
func (s *spoolStream) onSpill(path string) {
	x := s.x
	x.logUpstream(errorlog.Level(config.LevelWarn), &UpstreamError{Phase: PhaseReadBody},
		"an upstream response is buffered to a temporary file "+path, s.uc.peer.addr)
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
func (s *spoolStream) WriteTo(w io.Writer) (int64, error) {
	if s.x.loc.conf.SendTimeout > 0 {
		w = &sendWriter{w: w, x: s.x}
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
		s.uc.close() // wakes a producer waiting on the upstream
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
	var total int64
	for lr.N > 0 {
		w.x.sendDeadline()
		step := &io.LimitedReader{R: lr.R, N: min(lr.N, sendfileStep)}
		n, err := rf.ReadFrom(step)
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

// sendDeadline renews send_timeout on the client connection.
func (x *exchange) sendDeadline() {
	if st := x.loc.conf.SendTimeout; st > 0 {
		_ = x.ctx.SetWriteDeadline(time.Now().Add(st))
	}
}
