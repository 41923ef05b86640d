package proxy

import (
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/upstream"
)

func TestDecideRetry(t *testing.T) {
	def := config.NextError | config.NextTimeout
	ue := func(ph upstream.Phase, k upstream.Kind, reused bool, written, read int64) *upstream.Error {
		return &upstream.Error{Phase: ph, Kind: k, Reused: reused, Written: written, Read: read}
	}
	cases := []struct {
		name  string
		in    retryInput
		retry bool
		fresh bool
		why   string
	}{
		// nginx: connect failures are retried for every method: nothing was sent.
		{"refused POST", retryInput{Err: ue(upstream.PhaseConnect, upstream.KindRefused, false, 0, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		{"reset GET", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, false, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		// nginx: POST is not passed on once sent, unless non_idempotent.
		{"reset POST", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, false, 100, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "non-idempotent request already sent"},
		{"reset POST non_idempotent", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, false, 100, 0), Mask: def | config.NextNonIdempotent, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		// A request that failed while sending already counts as sent (nginx sets request_sent before writing).
		{"send reset POST", retryInput{Err: ue(upstream.PhaseSend, upstream.KindReset, false, 0, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "non-idempotent request already sent"},
		{"timeout GET", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindTimeout, false, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		{"timeout not listed", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindTimeout, false, 100, 0), Mask: config.NextError, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "not listed in proxy_next_upstream"},
		// invalid_header is not in the default set.
		{"invalid header default", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindInvalidHeader, false, 100, 10), Mask: def, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "not listed in proxy_next_upstream"},
		{"too big header listed", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindTooBigHeader, false, 100, 10), Mask: def | config.NextInvalidHeader, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		{"no valid http", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindNoValidHTTP, false, 100, 10), Mask: def | config.NextInvalidHeader, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "upstream sent no valid HTTP"},
		{"off", retryInput{Err: ue(upstream.PhaseConnect, upstream.KindRefused, false, 0, 0), Mask: config.NextOff, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "proxy_next_upstream off"},
		{"mid body", retryInput{Err: ue(upstream.PhaseReadBody, upstream.KindReset, false, 100, 500), Mask: def, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "response already started"},
		{"tries exhausted", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, false, 100, 0), Mask: def, Replayable: true, Tries: 2, MaxTries: 2}, false, false, "tries exhausted"},
		{"timeout budget", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, false, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 3, Elapsed: time.Second, MaxElapsed: 500 * time.Millisecond}, false, false, "proxy_next_upstream_timeout reached"},
		{"not replayable", retryInput{Err: ue(upstream.PhaseSend, upstream.KindReset, false, 10, 0), Mask: def, Tries: 1, MaxTries: 2}, false, false, "request body not buffered"},
		// Stale keepalive: a free retry on a fresh connection, even with tries used up.
		{"stale GET", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindClosed, true, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 1}, true, true, "stale keepalive connection"},
		{"stale GET second time", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindClosed, true, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 1, FreeUsed: true}, false, false, "tries exhausted"},
		{"stale POST written", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, true, 100, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 1}, false, false, "non-idempotent request already sent"},
		// ...but when nothing at all left the socket, the upstream cannot have acted on it.
		{"stale POST nothing written", retryInput{Err: ue(upstream.PhaseSend, upstream.KindReset, true, 0, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 1}, true, true, "stale keepalive connection"},
		{"stale timeout is not stale", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindTimeout, true, 100, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 1}, false, false, "tries exhausted"},
		{"stale off", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindClosed, true, 100, 0), Mask: config.NextOff, Replayable: true, Tries: 1, MaxTries: 1}, false, false, "proxy_next_upstream off"},
		// With non_idempotent a stale POST goes again like a GET, on a fresh connection.
		{"stale POST written non_idempotent", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, true, 100, 0), Mask: def | config.NextNonIdempotent, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 1}, true, true, "stale keepalive connection"},
		// nginx gives a cached connection its free try only when "error" is listed.
		{"stale error not listed", retryInput{Err: ue(upstream.PhaseReadHeader, upstream.KindReset, true, 100, 0), Mask: config.NextTimeout, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "not listed in proxy_next_upstream"},
		// A connect timeout sent nothing either: retried for POST (retry-connect_timeout-default-POST).
		{"connect timeout POST", retryInput{Err: ue(upstream.PhaseConnect, upstream.KindTimeout, false, 0, 0), Mask: def, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		// A streamed (unbuffered) body does not stop a retry when nothing was sent.
		{"not replayable refused", retryInput{Err: ue(upstream.PhaseConnect, upstream.KindRefused, false, 0, 0), Mask: def, Tries: 1, MaxTries: 2}, true, false, "next upstream"},
		{"no live", retryInput{Err: ue(upstream.PhaseConnect, upstream.KindNoLive, false, 0, 0), Mask: def, Replayable: true, Tries: 1, MaxTries: 2}, false, false, "no live upstreams"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := decideRetry(c.in)
			if v.Retry != c.retry || v.Fresh != c.fresh || v.Why != c.why {
				t.Fatalf("got %+v, want retry=%v fresh=%v why=%q", v, c.retry, c.fresh, c.why)
			}
		})
	}
}

// An answer whose status proxy_next_upstream lists goes through the same
// decision as a failure, with the same reasons (for the log and metrics).
func TestDecideRetryStatus(t *testing.T) {
	broad := config.NextError | config.NextTimeout | config.NextHTTP500 | config.NextHTTP502 | config.NextHTTP503 | config.NextHTTP504
	const notListed = "not listed in proxy_next_upstream"
	cases := []struct {
		name   string
		status int
		in     retryInput
		retry  bool
		why    string
	}{
		{"502 default", 502, retryInput{Mask: config.NextError | config.NextTimeout, Replayable: true, Tries: 1, MaxTries: 2}, false, notListed},
		{"502 broad", 502, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		// nginx: a POST that was answered was sent; not passed on without non_idempotent.
		{"502 broad POST", 502, retryInput{Mask: broad, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, false, "non-idempotent request already sent"},
		{"502 broad last server", 502, retryInput{Mask: broad, Replayable: true, Tries: 2, MaxTries: 2}, false, "tries exhausted"},
		{"404 broad", 404, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, false, notListed},
		{"404 listed", 404, retryInput{Mask: config.NextHTTP404, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"500 broad", 500, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"503 broad", 503, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"504 broad", 504, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"502 broad POST non_idempotent", 502, retryInput{Mask: broad | config.NextNonIdempotent, NonIdempotent: true, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"502 broad timeout reached", 502, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 3, Elapsed: time.Second, MaxElapsed: 500 * time.Millisecond}, false, "proxy_next_upstream_timeout reached"},
		{"403 broad", 403, retryInput{Mask: broad, Replayable: true, Tries: 1, MaxTries: 2}, false, notListed},
		{"403 listed", 403, retryInput{Mask: config.NextHTTP403, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"429 listed", 429, retryInput{Mask: config.NextHTTP429, Replayable: true, Tries: 1, MaxTries: 2}, true, "next upstream"},
		{"502 off", 502, retryInput{Mask: config.NextOff, Replayable: true, Tries: 1, MaxTries: 2}, false, "proxy_next_upstream off"},
		// A streamed body went with the request: an answer is passed to the
		// client, listed or not, as nginx (u->request_sent with
		// request_body_no_buffering), non_idempotent or not.
		{"502 broad not replayable", 502, retryInput{Mask: broad, Tries: 1, MaxTries: 2}, false, "request body not buffered"},
		{"404 listed not replayable", 404, retryInput{Mask: config.NextHTTP404, Tries: 1, MaxTries: 2}, false, "request body not buffered"},
		{"502 POST non_idempotent not replayable", 502, retryInput{Mask: broad | config.NextNonIdempotent, NonIdempotent: true, Tries: 1, MaxTries: 2}, false, "request body not buffered"},
		{"501 never", 501, retryInput{Mask: ^config.NextUpstream(0), Replayable: true, Tries: 1, MaxTries: 2}, false, notListed},
		{"200", 200, retryInput{Mask: ^config.NextUpstream(0), Replayable: true, Tries: 1, MaxTries: 2}, false, notListed},
	}
	for _, c := range cases {
		c.in.Status = c.status
		v := decideRetry(c.in)
		if v.Retry != c.retry || v.Fresh || v.Why != c.why {
			t.Errorf("%s: got %+v, want retry=%v why=%q", c.name, v, c.retry, c.why)
		}
		// statusListed, the cheap test made on every answer, agrees.
		if listed := statusListed(c.status, c.in.Mask); listed != (c.why != notListed && c.why != "proxy_next_upstream off") {
			t.Errorf("%s: statusListed = %v", c.name, listed)
		}
	}
}

// The retry decision's note on a reused connection: how long it was idle
// and how it was found closed; under a millisecond it says the upstream
// closed it right after its previous response instead of "idle 0.000s".
func TestReuseNote(t *testing.T) {
	for _, c := range []struct {
		idle time.Duration
		kind upstream.Kind
		want string
	}{
		{1500 * time.Millisecond, upstream.KindReset, "reused connection, idle 1.500s, closed by RST"},
		{20 * time.Millisecond, upstream.KindClosed, "reused connection, idle 0.020s, closed by FIN"},
		{time.Millisecond, upstream.KindTimeout, "reused connection, idle 0.001s"},
		{0, upstream.KindClosed, "reused connection, idle under 0.001s: closed by FIN right after the previous response"},
		{400 * time.Microsecond, upstream.KindReset, "reused connection, idle under 0.001s: closed by RST right after the previous response"},
		{0, upstream.KindTimeout, "reused connection, idle under 0.001s"},
	} {
		if got := reuseNote(c.idle, c.kind); got != c.want {
			t.Errorf("reuseNote(%v, %v) = %q, want %q", c.idle, c.kind, got, c.want)
		}
	}
}
