package proxy

import (
	"context"
	"errors"
	"time"

	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// A request's context (exchange.context) is done when the request may no
// longer wait on anything:
//
//   - its client went away while the upstream was awaited (the watch,
//     clientabort.go), cause errClientGone;
//   - a stop may no longer wait (Shutdown out of time, Close), cause
//     errHardStop: it derives from the proxy's stop context.
//
// The waits of a request use it: the upstream dial (net.Dialer.DialContext,
// and the TLS handshake), the pause before a same-server retry (backoff)
// and limit_req's delay. The send and the response header read end when
// the upstream socket is closed under them, by whoever cancels: the watch
// closes the connection it was told of (clientWatch.use), a hard stop every
// upstream connection (Transport.CloseAll); the exchange then finds the
// context done. A deadline brought forward would not hold (upstream.Conn
// renews its deadline before each read), and a context.AfterFunc per
// attempt cost five allocations per request (BenchmarkProxy). The context
// is made on first use, by a wait that needs one (a dial, a pause, a
// resolver query), so a request served on a cached upstream connection
// never registers with the proxy's: that registration and its removal
// locked the stop context's mutex twice per request (about 3% of the CPU
// of a 1 KiB GET, measured with the harness's load); reset cancels it.
// Until it is made, doneCause asks the watch and the stop context
// themselves, and a context made after the client went is born canceled.

// errHardStop is the cause of a context a hard stop canceled.
var errHardStop = errors.New("stopping: the drain deadline passed")

// context is the request's context, made on first use.
func (x *exchange) context() context.Context {
	if x.rctx == nil {
		x.rctx, x.rcancel = context.WithCancelCause(x.p.stopCtx)
		if x.watch != nil {
			x.watch.adopt(x.rcancel) // the watch cancels it from now on
		}
	}
	return x.rctx
}

// doneCause is why the request may no longer wait, nil while it may:
// errClientGone when the watch saw its client go, else the stop's cause.
func (x *exchange) doneCause() error {
	if x.rctx != nil {
		if x.rctx.Err() == nil {
			return nil
		}
		return context.Cause(x.rctx)
	}
	if x.watch != nil && x.watch.gone() {
		return errClientGone
	}
	if x.p.stopCtx.Err() != nil {
		return errHardStop
	}
	return nil
}

// ended reports whether the request's context is done and, if so, ends
// the exchange as nginx does for the cause: a client gone is its 499 and
// info line (clientAborted), a hard stop ends it without a line (stopped).
// addr, ue and a are what clientAborted takes.
func (x *exchange) ended(addr string, ue *upstream.Error, a *upstream.Attempt) bool {
	cause := x.doneCause()
	if cause == nil {
		return false
	}
	if cause == errClientGone {
		x.clientAborted(addr, ue, a)
	} else {
		x.stopped(addr, a)
	}
	return true
}

// stopped ends an exchange that a hard stop cut short while addr was
// being connected to or awaited (a nil during a backoff pause), as nginx
// when worker_shutdown_timeout ends a request waiting for its upstream
// (measured, nginx 1.22): no error line, no failure counted, no other
// server tried, the client's connection closed without an answer, and in
// the access log status 000 with "-" for the attempt.
func (x *exchange) stopped(addr string, a *upstream.Attempt) {
	start := time.Now()
	if a != nil {
		start = a.Start
		if a.Conn != nil {
			a.Conn.Close()
		}
	}
	if addr != "" {
		x.addAttempt(vars.Attempt{Addr: addr, ResponseTime: time.Since(start), ConnectTime: -1, HeaderTime: -1})
	}
	x.status = 0
	x.closeSilently()
}
