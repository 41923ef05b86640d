package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Kind classifies an upstream failure the way proxy_next_upstream and the
// metrics see it. It is derived once, when the error is made.
type Kind uint8

const (
	KindOther         Kind = iota
	KindRefused            // connect() failed: ECONNREFUSED (nothing was sent)
	KindReset              // ECONNRESET / EPIPE
	KindClosed             // FIN before the response was complete ("prematurely closed")
	KindTimeout            // connect/send/read timeout
	KindInvalidHeader      // a response header line nginx would reject
	KindTooBigHeader       // the response head does not fit proxy_buffer_size
	KindNoValidHTTP        // no HTTP status line at all (nginx would pass HTTP/0.9 through)
	KindBadChunked         // broken chunked framing in the body
	KindNoLive             // no live upstreams: every server is down or already tried
)

var kindNames = [...]string{"other", "refused", "reset", "closed", "timeout", "invalid_header",
	"too_big_header", "no_valid_http", "bad_chunked", "no_live"}

func (k Kind) String() string { return kindNames[k] }

// ErrNoLiveUpstreams is returned when every server of a group is marked down
// (nginx: "no live upstreams while connecting to upstream").
var ErrNoLiveUpstreams = errors.New("no live upstreams")

// Error is what a failed attempt returns: where it happened, against
// which peer, and what had crossed the wire, so that the retry decision, the
// status code and nginx's log line are all derived from one value.
type Error struct {
	Phase    Phase
	Kind     Kind
	Peer     string // ip:port of the upstream server
	Reused   bool   // the connection came from the keepalive cache
	Written  int64  // request bytes the kernel accepted on this attempt
	Read     int64  // response bytes received on this attempt
	Err      error  // the raw cause; a syscall.Errno stays in the chain
	Detail   string // for invalid headers: the offending line, escaped as nginx does
	Buffered bool   // the body was being read into proxy buffers (nginx says readv())
	Msg      string // when set, nginx's message for a fault the Kind cannot word (FastCGI's own)
	// Field is, for an HTTP/2 (gRPC) response head that nginx refuses, the
	// field its check named, "NAME: VALUE": nginx writes "upstream sent
	// invalid header: "NAME: VALUE"" before the attempt's own line.
	Field string
	// Unprocessed: the server said it did not act on the request (HTTP/2
	// REFUSED_STREAM, http2.go), so it counts as not sent, whatever went out.
	Unprocessed bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s while %s (upstream %s): %v", e.Kind, e.Phase, e.Peer, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout: nginx answers 504 for
// those and 502 for every other upstream failure.
func (e *Error) Timeout() bool { return e.Kind == KindTimeout }

// Status is the status nginx gives the client for this failure.
func (e *Error) Status() int {
	if e.Kind == KindTimeout {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// Errno is the system error number nginx prints in parentheses, 0 for none.
// Timeouts are reported as ETIMEDOUT, as nginx does ("110: Connection timed out").
func (e *Error) Errno() syscall.Errno {
	if e.Kind == KindTimeout {
		return syscall.ETIMEDOUT
	}
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		return errno
	}
	return 0
}

// Message is the text of nginx's error-log line before " (errno: ...)" and
// " while ...": "recv() failed", "upstream prematurely closed connection", ...
func (e *Error) Message() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Phase == PhaseSSLHandshake && e.Kind != KindTimeout {
		return sslUpstreamMessage(e) // upstream_tls.go
	}
	if m, ok := unixConnectMessage(e); ok {
		return m
	}
	switch e.Kind {
	case KindTimeout:
		return "upstream timed out"
	case KindClosed:
		return "upstream prematurely closed connection"
	case KindInvalidHeader:
		return "upstream sent invalid header: \"" + e.Detail + "...\""
	case KindTooBigHeader:
		return "upstream sent too big header"
	case KindNoValidHTTP:
		return "upstream sent no valid HTTP/1.0 header"
	case KindBadChunked:
		return "upstream sent invalid chunked response"
	case KindNoLive:
		return "no live upstreams"
	}
	switch e.Phase {
	case PhaseConnect:
		return "connect() failed"
	case PhaseSend:
		return "writev() failed"
	case PhaseReadBody:
		if e.Buffered {
			return "readv() failed"
		}
	}
	return "recv() failed"
}

// Classify turns a raw error from a phase into a Kind. The raw error must be
// the socket's own (see Conn), not fasthttp's rewrite of it.
func Classify(phase Phase, err error) Kind {
	var ne net.Error
	switch {
	case err == nil:
		return KindOther
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindClosed
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		return KindTooBigHeader
	}
	if phase == PhaseReadBody && isBadChunk(err) {
		return KindBadChunked
	}
	return KindOther
}

// isBadChunk reports whether err is fasthttp's verdict on a chunked body's
// framing: ErrBrokenChunk, which it returns as a value (a pointer target
// alone never matched, and nginx's "upstream sent invalid chunked
// response" became "readv() failed"), or the size line's hex errors, which
// are unexported sentinels known only by their text.
func isBadChunk(err error) bool {
	var p *fasthttp.ErrBrokenChunk
	var v fasthttp.ErrBrokenChunk
	if errors.Is(err, errInvalidChunk) || errors.As(err, &p) || errors.As(err, &v) {
		return true
	}
	msg := err.Error()
	return msg == "empty hex number" || msg == "too large hex number"
}
