package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// A client that goes away while its request waits for the upstream
// (connect, send, response header) ends the exchange at once, as in nginx
// (ngx_http_upstream_check_broken_connection): the upstream connection is
// closed, no other server is tried, the server is not counted as failed,
// and the line is
//
//	[info] epoll_wait() reported that client prematurely closed connection,
//	so upstream connection is closed too while sending request to upstream
//
// with "(104: Connection reset by peer)" before "while" after an RST. The
// phase is nginx's log action at that moment: "connecting to upstream"
// before the connection is up, "sending request to upstream" until the
// first response byte (even once the request is sent), then "reading
// response header from upstream". The access log says 499.
// proxy_ignore_client_abort on turns the watch off: the exchange goes on.
//
// The watch goes on while the upstream's body is read, as nginx's does
// (its client read handler stays ngx_http_upstream_rd_check_broken_connection
// whether or not it buffers): a client that goes away then closes the
// upstream connection at once, even while the upstream is silent, with the
// same line "while reading upstream" (measured, nginx 1.22, difftest's
// sent-client-resets-midway*). The head has gone out, so the access log
// keeps the upstream's status and the bytes the socket took. The watch
// ends when the upstream's part does: the relay's end unbuffered
// (bodyStream), the producer's end buffered (spoolStream: a client that
// goes while the rest of a read body is written is the write's failure,
// "client prematurely closed connection ... while sending to client", as
// nginx's ngx_http_test_reading says it), before the connection goes back
// to the keepalive cache. In the body's read the watch wakes the reader
// (Conn.Wake, a read deadline in the past) rather than closing the
// connection: a client may have had the whole body, and closed, before the
// reader saw the end (nginx, one thread, sees the end first); then the
// exchange ends as any, and the connection is kept.
//
// Most requests get their response header within a few milliseconds, and
// watching the client's socket costs syscalls, so the watch is armed only
// once the upstream has been awaited for clientWatchDelay: until then it is
// an entry on a pending list, which a sweep arms 5 to 7.5 ms after the
// start (clientabort_sweep.go). Armed, a goroutine parks on the client
// socket in the runtime's poller (no thread; the poller is edge-triggered
// and watches EPOLLRDHUP) and, at each event, asks poll(2) for POLLRDHUP
// without waiting: the client's FIN or RST means it is gone, as nginx's
// EPOLLRDHUP does, even behind unread bytes (a pipelined request, a TLS
// close_notify); bytes alone mean nothing, and it parks again.

// clientWatchDelay is how long the upstream is awaited, at least, before the
// client's socket is watched (at most half as long again: the sweep's
// period, clientabort_sweep.go).
const clientWatchDelay = 5 * time.Millisecond

type watchState uint8

const (
	watchOff      watchState = iota // not watching (before, after, or ignore_client_abort)
	watchPending                    // on the pending list, for its sweep
	watchArmed                      // the watcher goroutine peeks and parks on the socket
	watchGone                       // the client is gone
	watchStopping                   // stop is waking the watcher
)

// clientWatch is one exchange's watch on its client; it lives in the
// pooled exchange and is reused.
type clientWatch struct {
	mu     sync.Mutex
	cc     *clientConn
	state  watchState
	isGone atomic.Bool    // state == watchGone, stored with it: gone takes no lock
	gen    uint32         // starts so far: a pending entry arms only its own (due)
	exited chan struct{}  // closed when an armed watcher returns
	errno  syscall.Errno  // ECONNRESET for an RST, 0 for a FIN
	up     *upstream.Conn // the upstream connection to close when the client goes
	// body: up's body is being read; the client's going wakes its reader
	// (Conn.Wake) instead of closing it, for a body read whole by then
	// (the client had all of it and closed) keeps its connection.
	body bool
	// spoke: when the client went, the upstream had sent bytes the
	// exchange had not read yet (nginx's action is then "reading response
	// header": its read event came before the client's).
	spoke bool
	// cancel cancels the request's context when the client goes
	// (cancel.go): that ends a dial or a backoff pause; closing up ends
	// a send or a header read.
	cancel context.CancelCauseFunc
	// h2stop ends the watch on an HTTP/2 stream (watchH2).
	h2stop func() bool
}

// start begins watching x's client, unless proxy_ignore_client_abort is on
// or the request body is still being read from the client while it is sent
// (proxy_request_buffering off): the client's socket is then the body's.
func (w *clientWatch) start(x *exchange) {
	if x.loc.conf.Upstream.IgnoreClientAbort {
		return
	}
	if _, ok := x.body.(*streamedBody); ok {
		return
	}
	if b, ok := x.body.(*grpcBody); ok && b.shared {
		// A gRPC body streams from the same socket (grpc.go): the
		// watcher's read would hold the socket's read lock against it.
		return
	}
	// x.rcancel is nil until a wait makes the context (adopt).
	if x.h2 != nil {
		w.watchH2(x.h2.ctx, x.rcancel)
		return
	}
	if cc := clientConnOf(x.ctx.Conn()); cc != nil {
		w.pend(cc, x.rcancel, x.p.watchListFor(cc))
	}
}

// pend makes the watch on cc pending on the list l, whose sweep arms it
// once clientWatchDelay has passed.
func (w *clientWatch) pend(cc *clientConn, cancel context.CancelCauseFunc, l *watchList) {
	w.mu.Lock()
	w.cc, w.cancel, w.state, w.errno, w.spoke = cc, cancel, watchPending, 0, false
	w.gen++
	gen := w.gen
	w.mu.Unlock()
	l.add(w, gen)
}

// adopt is given the request's context's cancel when a wait makes the
// context after the watch started: the watch cancels it when the client
// goes, at once when it already went.
func (w *clientWatch) adopt(cancel context.CancelCauseFunc) {
	w.mu.Lock()
	gone := w.state == watchGone
	if w.state != watchOff {
		w.cancel = cancel
	}
	w.mu.Unlock()
	if gone {
		cancel(errClientGone)
	}
}

// gone reports whether the watch saw the client go.
func (w *clientWatch) gone() bool {
	return w != nil && w.isGone.Load()
}

// use names the upstream connection the exchange is waiting on (nil when
// none): the watcher closes it when the client goes, which ends the wait.
// It reports false when the client is already gone.
func (w *clientWatch) use(uc *upstream.Conn) bool {
	return w.useFor(uc, false)
}

// useFor is use, for the body's reading when body is set.
func (w *clientWatch) useFor(uc *upstream.Conn, body bool) bool {
	w.mu.Lock()
	w.up, w.body = uc, body
	st := w.state
	w.mu.Unlock()
	return st != watchGone
}

// stop ends the watch; the watcher goroutine, if armed, has returned (and
// no longer touches the client's socket, nor the upstream connection) when
// stop does. gone reports whether the client had gone: the upstream
// connection the watch was told of (use) was then closed under its reader,
// or, for a body's read (useFor), woken.
func (w *clientWatch) stop() (gone bool) {
	if w == nil {
		return false
	}
	w.mu.Lock()
	st, done, cc, h2stop := w.state, w.exited, w.cc, w.h2stop
	w.up, w.body = nil, false
	switch st {
	case watchOff, watchPending: // the usual case: the answer came before the watch was armed
		// A pending entry stays on its list: its sweep finds watchOff,
		// or a later start's generation, and drops it.
		w.state = watchOff
		w.cancel, w.cc, w.exited, w.h2stop = nil, nil, nil, nil
		w.mu.Unlock()
		return false
	case watchArmed:
		w.state = watchStopping
	}
	w.mu.Unlock()
	switch {
	case st == watchArmed && cc == nil: // an HTTP/2 stream
		if h2stop() {
			close(done) // h2Gone never ran, and never will
		}
		<-done
	case st == watchArmed:
		// Wake the parked watcher: a read deadline in the past. fasthttp
		// sets its own before it reads the next request.
		_ = cc.SetReadDeadline(aLongTimeAgo)
		<-done
		_ = cc.SetReadDeadline(time.Time{})
	case st == watchGone:
		<-done
	}
	w.mu.Lock()
	w.state = watchOff
	w.isGone.Store(false)
	w.cancel, w.cc, w.exited, w.h2stop = nil, nil, nil, nil
	w.mu.Unlock()
	return st == watchGone
}

// watchH2 watches an HTTP/2 stream: there is no socket of its own to
// watch, but the stream's context ends when the client resets the stream
// (RST_STREAM) or the connection goes, and nothing costs anything until
// then, so the watch is armed at once.
func (w *clientWatch) watchH2(stream context.Context, cancel context.CancelCauseFunc) {
	w.mu.Lock()
	w.cc, w.cancel, w.state, w.errno, w.spoke = nil, cancel, watchArmed, 0, false
	w.exited = make(chan struct{})
	done := w.exited
	w.h2stop = context.AfterFunc(stream, func() { w.h2Gone(done) })
	w.mu.Unlock()
}

// h2Gone is arm's end for a stream the client gave up.
func (w *clientWatch) h2Gone(done chan struct{}) {
	defer close(done)
	w.went(0)
}

// went is an armed watch's client gone (errno: ECONNRESET for an RST, 0
// for a FIN or a stream given up), unless stop came first. It cancels the
// request's context, which ends a dial or a backoff pause, and ends the
// exchange's wait on the upstream connection at once: a send or a header
// read by closing it (the exchange closes it properly when its call
// returns), a body's read by waking it.
func (w *clientWatch) went(errno syscall.Errno) {
	w.mu.Lock()
	if w.state != watchArmed { // stop came first: the upstream answered
		w.mu.Unlock()
		return
	}
	w.state, w.errno = watchGone, errno
	w.isGone.Store(true)
	cancel, up, body := w.cancel, w.up, w.body
	if up != nil {
		w.spoke = up.Unread()
	}
	w.mu.Unlock()
	if cancel != nil { // nil: no wait has made the request's context (cancel.go)
		cancel(errClientGone)
	}
	switch {
	case up == nil:
	case body:
		_ = up.Wake()
	default:
		_ = up.Abort()
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// due is the sweep's look at the watch's start of generation gen: it
// reports whether that start is still pending, and keeps its entry, unless
// old is set. Then the watch is armed, and arm parks on the client's socket
// in a goroutine of its own. A start that was stopped (and maybe followed
// by another, of the next generation) is dropped.
func (w *clientWatch) due(gen uint32, old bool) (keep bool) {
	w.mu.Lock()
	if w.state != watchPending || w.gen != gen {
		w.mu.Unlock()
		return false
	}
	if !old {
		w.mu.Unlock()
		return true
	}
	w.state = watchArmed
	w.exited = make(chan struct{})
	cc, done := w.cc, w.exited
	w.mu.Unlock()
	go w.arm(cc, done)
	return false
}

// arm watches cc once the upstream has been awaited for clientWatchDelay,
// until the client goes or stop wakes it, and closes done when it returns.
func (w *clientWatch) arm(cc *clientConn, done chan struct{}) {
	defer close(done)

	rc, err := cc.TCPConn.SyscallConn()
	if err != nil {
		return
	}
	var goneErrno syscall.Errno
	gone := false
	_ = rc.Read(func(fd uintptr) bool {
		// nginx's EPOLLRDHUP check: the peer's FIN or RST, whether or not
		// unread bytes (a pipelined request, a TLS alert) come before it.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | pollRDHUP}}
		for {
			if _, err := unix.Poll(pfd, 0); err != unix.EINTR {
				break
			}
		}
		if !peerClosed(int(fd), pfd[0].Revents) {
			return false // nothing, or bytes only: park until the next event (or stop's deadline)
		}
		// An RST leaves its error on the socket, as nginx reads it.
		if e, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil {
			goneErrno = syscall.Errno(e)
		}
		gone = true
		return true
	})
	if gone {
		w.went(goneErrno)
	}
}

// errClientGone is the cause of a request context the watch canceled.
var errClientGone = errors.New("client prematurely closed connection")

// clientAborted ends an exchange whose client went away while addr was
// being connected to or awaited: nginx's info line, 499, no failure counted
// and nothing sent. a is the attempt (nil during a backoff pause) and ue its
// error (nil when the header had arrived), from which the phase comes; the
// attempt's $upstream_status is the status line, if one had arrived. addr
// "" is a client gone while the upstream's name was being resolved (a
// proxy_pass with variables): nginx's line then has no upstream and no
// action (measured, nginx 1.22), and $upstream_addr is empty.
func (x *exchange) clientAborted(addr string, ue *upstream.Error, a *upstream.Attempt) {
	phase, status, start := upstream.PhaseConnect, 0, time.Now()
	if a != nil {
		start = a.Start
	}
	switch {
	case ue != nil:
		phase = ue.Phase
		if phase == upstream.PhaseReadHeader && ue.Read == 0 && !x.watch.spoke {
			// nginx's action stays "sending request" until the
			// upstream has sent a byte. Whether it had is asked of the
			// socket when the client went (spoke), not of this
			// goroutine, which may not have run since the bytes came.
			phase = upstream.PhaseSend
		}
		if phase == upstream.PhaseReadHeader && x.loc.fcgi == nil && a.Conn != nil {
			status = partialStatus(a.Conn.Reader())
		}
	case a != nil: // the header came as the client went
		phase, status = upstream.PhaseReadHeader, x.uresp.Header.StatusCode()
		a.Conn.Close()
	}
	if addr != "" {
		x.addAttempt(vars.Attempt{Addr: addr, Status: status, ResponseTime: time.Since(start), ConnectTime: -1, HeaderTime: -1})
		x.logPeer(errorlog.Info, phase,
			"epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too", x.watch.errno, addr)
	} else {
		x.logf(errorlog.Info, "epoll_wait() reported that client prematurely closed connection", uintptr(x.watch.errno), "")
	}
	x.status = 499
	x.closeSilently()
}

// relayWatched names the upstream connection whose body is about to be
// read to the watch, which wakes its reader when the client goes (useFor),
// and reports false when the client has already gone.
func (x *exchange) relayWatched(uc *upstream.Conn) bool {
	if x.watch == nil {
		return true
	}
	if x.loc.upstreamH2() {
		// An HTTP/2 upstream's socket is read by http2's reader for the
		// whole connection: a wake would end the connection, not the
		// stream, also for a client that closed once it had the whole
		// body. The watch ends with the head there.
		return !x.watch.stop()
	}
	return x.watch.useFor(uc, true)
}

// bodyAborted writes nginx's line for a client that went away while the
// upstream's body was being read (the watch woke the reader): "while
// reading upstream", info, no failure counted.
// The caller stops the watch first, and then closes the connection.
func (x *exchange) bodyAborted(addr string) {
	x.logPeer(errorlog.Info, upstream.PhaseReadBody,
		"epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too", x.watch.errno, addr)
}

// relayAborted ends the exchange whose client went away before or while a
// body that is not streamed was read (relayWatched, the small body
// respond reads whole): nginx's line, the upstream connection closed, and
// the client's connection closed without the answer; the status stays the
// upstream's (nginx had sent the head). It reports false: nothing streams.
func (x *exchange) relayAborted(a *upstream.Attempt) bool {
	x.watch.stop()
	x.bodyAborted(a.Conn.Peer().Addr())
	x.release(a, false)
	x.closeSilently()
	return false
}

// watchClient starts the watch on x's client for the upstream exchange.
func (x *exchange) watchClient() {
	if x.watch == nil {
		x.watch = &clientWatch{}
	}
	x.watch.start(x)
}

// partialStatus is the status of a response head cut short, when its
// status line had arrived whole (nginx's $upstream_status has it), else 0.
func partialStatus(br *bufio.Reader) int {
	if br == nil {
		return 0
	}
	b, _ := br.Peek(br.Buffered()) // what was read; the connection is closed
	line, _, ok := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !ok || !httphead.ValidStatusLine(line) {
		return 0
	}
	return int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
}
