package proxy

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// Response rates, as nginx's:
//
//   - limit_rate and limit_rate_after (ngx_http_write_filter): a request's
//     answer, head and body, goes to the client at limit_rate bytes per
//     second once limit_rate_after bytes went out. The rate is the
//     request's (an HTTP/2 stream's), counted from its start. Its value is
//     taken once, as the answer starts: limit_rate's (with variables), unless
//     "set $limit_rate" or the upstream's X-Accel-Limit-Rate set it before,
//     which then holds across internal redirects. $limit_rate reads it.
//   - proxy_limit_rate (fastcgi_, uwsgi_; ngx_event_pipe_read_upstream): a
//     buffered response's body is read from the upstream at that many bytes
//     per second (spool.go's producer).
//
// Both use nginx's arithmetic (rateLimit): before a write (a read) the
// bytes allowed are rate × (seconds since the start + 1) − (bytes so far −
// after); none allowed is a wait until one is, and each write of n bytes
// past after is followed by a pause of n/rate before the next one. So the
// throttle costs one timer per write, not per byte, and a goroutine that
// waits is parked, not spinning. Every wait ends early when the request may
// no longer wait: the proxy's hard stop, the HTTP/2 stream's end, the
// spool's abort (a client gone).
//
// The HTTP/1.x answer is throttled where it meets the socket
// (clientConn.Write and ReadFrom, frontConn.Write under TLS), for as long as
// the loop writes it; an HTTP/2 stream's in streamServer.write.

// rateValue is a config.SizeValue compiled: a literal, or a value with
// variables read as a size per request.
type rateValue struct {
	n int64
	v *vars.Value
}

func compileRate(sv config.SizeValue, maps *vars.Maps) (rateValue, error) {
	if sv.Vars == "" {
		return rateValue{n: sv.N}, nil
	}
	v, err := vars.Compile(sv.Vars, maps)
	return rateValue{v: v}, err
}

// eval is the value for x (nginx's ngx_http_complex_value_size): a value
// that is not a size is 0, with nginx's [error] line, "while sending to
// client" with the upstream when one answered, else "while sending
// response to client" (measured).
func (r rateValue) eval(x *exchange) int64 {
	if r.v == nil {
		return r.n
	}
	b := r.v.Append(nil, x)
	n, err := config.ParseSize(string(b))
	if err != nil {
		msg := `invalid size "` + string(b) + `"`
		if k := len(x.attempts); k > 0 {
			x.logPeer(errorlog.Error, upstream.PhaseSendClient, msg, 0, x.attempts[k-1].Addr)
		} else {
			x.logf(errorlog.Error, msg, 0, "sending response to client")
		}
		return 0
	}
	return n
}

// clientRate is the request's limit_rate, taken once (nginx's
// r->limit_rate_set): set $limit_rate's or X-Accel-Limit-Rate's if one
// came, else the location's limit_rate.
func (x *exchange) clientRate() int64 {
	if !x.limitRateSet && x.loc != nil {
		x.limitRateSet = true
		x.vars.req.LimitRate = x.loc.limitRate.eval(x)
	}
	return x.vars.req.LimitRate
}

// setLimitRate is "set $limit_rate value" (nginx's
// ngx_http_variable_set_limit_rate): a size, else nginx's [error] line and
// no change.
func (x *exchange) setLimitRate(v []byte) {
	n, err := config.ParseSize(string(v))
	if err != nil {
		x.logf(errorlog.Error, `invalid $limit_rate "`+string(v)+`"`, 0, "")
		return
	}
	x.vars.req.LimitRate, x.limitRateSet = n, true
}

// accelLimitRate is the upstream's X-Accel-Limit-Rate (nginx's
// ngx_http_upstream_process_limit_rate): a number of bytes per second
// for the rest of the request, unless *_ignore_headers names it.
func (x *exchange) accelLimitRate() {
	if x.loc.up.ignoreXLR || x.loc.grpc != nil {
		return
	}
	v := x.uhead.accelLimitRate
	if len(v) == 0 {
		return
	}
	if n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil && n >= 0 {
		x.vars.req.LimitRate, x.limitRateSet = n, true
	}
}

// noteRate hands the request's limit_rate to whatever writes its answer,
// once serve has made it: the loop's connection (HTTP/1.x) or the stream
// (HTTP/2).
func (x *exchange) noteRate() {
	if x.parent != nil || x.loc == nil {
		return
	}
	l := x.clientLimit()
	if !l.on() {
		return
	}
	if x.h2 != nil {
		x.h2.limit = l
		return
	}
	if cc := x.loopWrites(); cc != nil {
		l.timer, l.sendTimeout = cc.limit.timer, x.loc.conf.SendTimeout
		cc.limit = l
	}
}

// hijackRate is c throttled at the request's limit_rate, for an answer a
// hijack handler writes (an HTTP/1.0 client's unframed body); nil without
// a limit.
func (x *exchange) hijackRate(c net.Conn) net.Conn {
	if x.loc == nil {
		return nil
	}
	l := x.clientLimit()
	if !l.on() {
		return nil
	}
	return &rateConn{Conn: c, l: l, done: x.p.stopCtx.Done()}
}

// clientLimit is the request's limit_rate and limit_rate_after, counted
// from the request's start; the zero value (no limit) without a rate.
// x.loc is set.
func (x *exchange) clientLimit() rateLimit {
	rate := x.clientRate()
	if rate <= 0 {
		return rateLimit{}
	}
	return rateLimit{rate: rate, after: x.loc.limitRateAfter.eval(x), start: x.start}
}

// rateConn is a connection whose writes go at l's rate.
type rateConn struct {
	net.Conn
	l    rateLimit
	done <-chan struct{}
}

func (c *rateConn) Write(p []byte) (int, error) { return c.l.write(p, c.Conn.Write, c.done, nil) }

// rateLimit is nginx's arithmetic for one request's writes to its client
// (limit_rate) or one response's reads from its upstream (*_limit_rate).
// The zero value limits nothing.
type rateLimit struct {
	rate  int64     // bytes per second; 0 = no limit
	after int64     // bytes that go before the limit applies
	start time.Time // the count's start: the request's (the read's)
	done  int64     // bytes so far
	until time.Time // the pause after the last step ends then
	timer *time.Timer
	// sendTimeout is renewed on the socket after a pause (a client
	// connection's write; 0 = none): the pause is not the client's.
	sendTimeout time.Duration
}

// errRateStopped is a throttled write or read the request's end cut short.
var errRateStopped = errors.New("stopped while throttled")

// on reports whether l limits anything.
func (l *rateLimit) on() bool { return l.rate > 0 }

// next waits until bytes may go and returns how many, at most want; paused
// says it waited. ok is false when done closed first.
func (l *rateLimit) next(want int, done <-chan struct{}) (n int, paused, ok bool) {
	for {
		now := time.Now()
		if now.Before(l.until) {
			if !l.sleep(l.until.Sub(now), done) {
				return 0, true, false
			}
			paused = true
			continue
		}
		// nginx: limit = rate × (now − start + 1) − (sent − after)
		allowed := float64(l.rate)*(now.Sub(l.start).Seconds()+1) - float64(l.done-l.after)
		if allowed < 1 {
			// nginx: a pause of −limit/rate, plus a millisecond
			wait := time.Duration((1-allowed)/float64(l.rate)*float64(time.Second)) + time.Millisecond
			if !l.sleep(wait, done) {
				return 0, true, false
			}
			paused = true
			continue
		}
		if allowed < float64(want) {
			want = int(allowed)
		}
		return want, paused, true
	}
}

// took counts n bytes written (read): the bytes past after make the pause
// before the next step, in whole milliseconds as nginx's timer (none under
// one).
func (l *rateLimit) took(n int) {
	before := max(l.done-l.after, 0)
	l.done += int64(n)
	past := max(l.done-l.after, 0) - before
	if past <= 0 {
		return
	}
	ms := float64(past) * 1000 / float64(l.rate)
	if ms >= 1 && ms < math.MaxInt64/float64(time.Millisecond) {
		l.until = time.Now().Add(time.Duration(ms) * time.Millisecond)
	}
}

// sleep waits d, or until done closes (false).
func (l *rateLimit) sleep(d time.Duration, done <-chan struct{}) bool {
	if l.timer == nil {
		l.timer = time.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	select {
	case <-l.timer.C:
		return true
	case <-done:
		l.timer.Stop()
		return false
	}
}

// write writes p with w at l's rate, a step at a time; renew, if not nil,
// is called after a pause.
func (l *rateLimit) write(p []byte, w func([]byte) (int, error), done <-chan struct{}, renew func()) (int, error) {
	total := 0
	for len(p) > 0 {
		n, paused, ok := l.next(len(p), done)
		if !ok {
			return total, errRateStopped
		}
		if paused && renew != nil {
			renew()
		}
		k, err := w(p[:n])
		total += k
		l.took(k)
		p = p[k:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// readFrom copies r to rf at l's rate, a step at a time, each step one
// ReadFrom (sendfile for a file behind a *io.LimitedReader, as without a
// limit).
func (l *rateLimit) readFrom(rf io.ReaderFrom, r io.Reader, done <-chan struct{}, renew func()) (int64, error) {
	src, left := r, int64(math.MaxInt64)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	var total int64
	for left > 0 {
		n, paused, ok := l.next(int(min(left, math.MaxInt32)), done)
		if !ok {
			return total, errRateStopped
		}
		if paused && renew != nil {
			renew()
		}
		k, err := rf.ReadFrom(&io.LimitedReader{R: src, N: int64(n)})
		total += k
		left -= k
		l.took(int(k))
		if err != nil {
			return total, err
		}
		if k < int64(n) {
			break // the end of r
		}
	}
	return total, nil
}

// throttledReader reads at l's rate (proxy_limit_rate): each Read is
// cut to what the rate allows, and waits first when nothing is.
type throttledReader struct {
	r    io.Reader
	l    rateLimit
	done <-chan struct{}
}

func (t *throttledReader) Read(p []byte) (int, error) {
	n, _, ok := t.l.next(len(p), t.done)
	if !ok {
		return 0, errRateStopped
	}
	k, err := t.r.Read(p[:n])
	t.l.took(k)
	return k, err
}
