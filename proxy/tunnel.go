package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"spillway/proxy/errorlog"
	"spillway/proxy/internal/liveset"
	"spillway/proxy/upstream"
)

// A client that asked to upgrade (its request carried an Upgrade header:
// nginx's r->headers_in.upgrade) and an upstream that answered 101 make a
// tunnel: nginx's ngx_http_upstream_upgrade. The Upgrade and Connection
// headers only reach the upstream when proxy_set_header sends them (they
// are hop-by-hop, request.go); the usual configuration is
//
//	proxy_http_version 1.1;
//	proxy_set_header Upgrade $http_upgrade;
//	proxy_set_header Connection "upgrade";
//
// After the 101 head both directions are copied as bytes, what either side
// sent early included (the client's bytes fasthttp already read, the
// upstream's after the 101 head), as nginx 1.22 does:
//
//   - proxy_read_timeout is an idle timeout: nginx re-arms the upstream
//     read timer whenever the tunnel moves in either direction, so the
//     tunnel ends after proxy_read_timeout with nothing moving, with
//     "[info] upstream timed out (110: Connection timed out) while
//     proxying upgraded connection" (info: nginx logs it on the client's
//     connection). proxy_send_timeout bounds a write to the upstream,
//     send_timeout one to the client.
//   - No half-close: nginx ends the tunnel as soon as one side's read
//     reaches EOF (or fails) and what it sent before has been written to
//     the other side (ngx_http_upstream_process_upgraded, "http upstream
//     upgraded done"); both connections are then closed. A client's FIN
//     after its last bytes closes the tunnel at once, whatever the
//     upstream still had to say. An EOF is not logged; a reset is, as
//     nginx's recv() logs it: [error] for the upstream, [info] for the
//     client. Measured against nginx 1.22.1 (docs/config.md).
//   - The access log line is written when the tunnel ends, with status 101
//     (the head was sent: nginx never changes the logged status after it)
//     and $body_bytes_sent counting what the upstream sent through it.
//   - The upstream connection is never pooled.
//   - A reload or QUIT keeps open tunnels until they end, or until
//     worker_shutdown_timeout (reload.go, drain).
//
// Memory: each direction copies through one proxy_buffer_size buffer from
// a pool, two per open tunnel, outside buffer_memory_limit (nothing is
// buffered beyond one read).

// tunnelBuf hands out the copy buffers of tunnels, one pool per size:
// each direction of a tunnel copies through one buffer of the location's
// proxy_buffer_size, as nginx's upgraded handler does (u->buffer and
// u->from_client), so an idle tunnel holds two of them (4k each by
// default). A larger proxy_buffer_size moves large messages faster (about
// 15% for 64 KiB messages with 16k) at that cost per open tunnel.
func (p *Proxy) tunnelBuf(size int) (*[]byte, *sync.Pool) {
	v, ok := p.tunBufs.Load(size)
	if !ok {
		v, _ = p.tunBufs.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	}
	pool := v.(*sync.Pool)
	return pool.Get().(*[]byte), pool
}

// tunnelSet counts a generation's open tunnels, so that its drain waits for
// them, and closes them when worker_shutdown_timeout passes.
type tunnelSet struct {
	n     atomic.Int64
	conns liveset.Set[*tunnel]
}

// wait polls until no tunnel is open or ctx is done; false means ctx ended
// first.
func (s *tunnelSet) wait(ctx context.Context) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// tunnel is one open tunnel: its two connections, for closing from drain.
type tunnel struct {
	client   net.Conn
	upstream *upstream.Conn
	closed   atomic.Bool
}

// Close ends the tunnel from outside (worker_shutdown_timeout, a stop).
func (t *tunnel) Close() error {
	t.closed.Store(true)
	_ = t.client.Close()
	return t.upstream.Abort()
}

// tunnelEnd is how one direction of a tunnel ended.
type tunnelEnd struct {
	readErr  error // from the side read (nil: EOF)
	writeErr error // from the side written
}

// runTunnel relays both directions after the 101 head has been built. The
// client connection c is the hijacked one; the exchange finishes here.
func (x *exchange) runTunnel(c net.Conn, a *upstream.Attempt, head []byte) {
	uc := a.Conn
	ts := &x.site.tunnels
	defer ts.n.Add(-1) // counted in switchProtocols, before the hijack
	x.p.stats.tunnels.Add(1)
	defer x.p.stats.tunnels.Add(-1)

	x.clientWDL = time.Time{} // fasthttp cleared the deadlines before the hijack
	x.sendDeadline()
	if _, err := c.Write(head); err != nil {
		x.clientWriteFailed(err)
		x.release(a, false)
		x.finish()
		return
	}
	t := &tunnel{client: c, upstream: uc}
	if !ts.conns.Add(t) { // the generation was stopped meanwhile
		x.release(a, false)
		x.finish()
		return
	}
	defer ts.conns.Remove(t)

	readTimeout := x.loc.conf.Upstream.ReadTimeout
	uc.SetReadTimeout(0) // the idle deadline is set below, from both directions
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	touch := func() { last.Store(time.Now().UnixNano()) }

	// client → upstream: no read timeout on the client (nginx has none),
	// proxy_send_timeout on each write (upstream.Conn.Write).
	up := make(chan tunnelEnd, 1)
	var clientDone atomic.Bool
	bufSize := int(max(x.loc.conf.Upstream.BufferSize, 1<<10))
	go func() {
		bp, pool := x.p.tunnelBuf(bufSize)
		defer pool.Put(bp)
		buf := *bp
		var end tunnelEnd
		for {
			n, err := c.Read(buf)
			if n > 0 {
				touch()
				if _, werr := uc.Write(buf[:n]); werr != nil {
					end.writeErr = werr
					break
				}
				touch()
			}
			if err != nil {
				if err != io.EOF {
					end.readErr = err
				}
				break
			}
		}
		// The other direction stops too (nginx ends the tunnel on the first
		// EOF): an immediate read deadline wakes it. The flag first: the
		// loop below checks it after each deadline it sets.
		clientDone.Store(true)
		_ = uc.SetReadDeadline(time.Unix(1, 0))
		up <- end
	}()

	// upstream → client, here: the idle deadline is the last movement either
	// way plus proxy_read_timeout.
	var down tunnelEnd
	timedOut := false
	clientFirst := false // the client's side ended the tunnel
	w := &countingWriter{w: c, x: x}
	bp, pool := x.p.tunnelBuf(bufSize)
	buf := *bp
	for {
		if readTimeout > 0 {
			_ = uc.SetReadDeadline(time.Unix(0, last.Load()).Add(readTimeout))
		}
		if clientDone.Load() {
			clientFirst = true
			break
		}
		n, err := uc.Reader().Read(buf) // the bytes after the 101 head first
		if n > 0 {
			touch()
			if _, werr := w.Write(buf[:n]); werr != nil {
				down.writeErr = werr
				break
			}
			touch()
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if clientDone.Load() || t.closed.Load() {
				clientFirst = clientDone.Load()
				break
			}
			if readTimeout > 0 && time.Since(time.Unix(0, last.Load())) < readTimeout {
				continue // the client side moved: the tunnel is not idle
			}
			timedOut = true
			break
		}
		if err != io.EOF && !t.closed.Load() {
			down.readErr = err
		}
		break
	}
	pool.Put(bp)
	// Ends the client → upstream copy if it is still running: blocked on
	// the client (a deadline) or on the upstream (closed; never reused).
	_ = c.SetReadDeadline(time.Unix(1, 0))
	if !clientFirst {
		_ = uc.Abort()
	}
	upEnd := <-up

	switch {
	case t.closed.Load():
		// worker_shutdown_timeout or a stop: nginx logs nothing above debug.
	case clientFirst:
		switch {
		case upEnd.readErr != nil:
			x.logClientSide(upEnd.readErr, "recv() failed")
		case upEnd.writeErr != nil && errors.Is(upEnd.writeErr, os.ErrDeadlineExceeded):
			x.logTunnel(errorlog.Info, "upstream timed out", syscall.ETIMEDOUT) // proxy_send_timeout
		case errorlog.ErrnoOf(upEnd.writeErr) != 0: // not a close of ours (a stop)
			x.logTunnel(errorlog.Error, "send() failed", errorlog.ErrnoOf(upEnd.writeErr))
		}
	case timedOut:
		// [info]: nginx logs it on the client's connection
		// (ngx_connection_error), whose errors are info.
		x.logTunnel(errorlog.Info, "upstream timed out", syscall.ETIMEDOUT)
	case errorlog.ErrnoOf(down.readErr) != 0: // not a close of ours (a stop)
		x.logTunnel(errorlog.Error, "recv() failed", errorlog.ErrnoOf(down.readErr))
	case down.writeErr != nil:
		x.logClientSide(down.writeErr, "send() failed")
	}
	x.release(a, false) // never reused
	x.finish()
}

// logClientSide logs a failure on the client's side of a tunnel as nginx
// does: [info], since client connections log their errors at info.
func (x *exchange) logClientSide(err error, op string) {
	if errors.Is(err, os.ErrDeadlineExceeded) { // send_timeout
		x.logTunnel(errorlog.Info, "client timed out", syscall.ETIMEDOUT)
		return
	}
	if errno := errorlog.ErrnoOf(err); errno != 0 {
		x.logTunnel(errorlog.Info, op, errno)
	}
}

// logTunnel writes "MSG (ERRNO: ...) while proxying upgraded connection"
// with the request's fields and the upstream.
func (x *exchange) logTunnel(lv errorlog.Level, msg string, errno syscall.Errno) {
	if !x.log().Enabled(lv) {
		return
	}
	f := x.fields
	if len(x.attempts) > 0 {
		f.Upstream = x.upstreamURL(x.attempts[len(x.attempts)-1].Addr)
	}
	x.log().Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: msg, Errno: errno,
		Action: "proxying upgraded connection", Fields: &f})
}
