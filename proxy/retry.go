package proxy

import (
	"time"

	"spillway/proxy/config"
	"spillway/proxy/upstream"
)

// retryInput is everything the retry decision reads. It is a plain value so
// the decision can be table-tested without sockets.
type retryInput struct {
	Err           *upstream.Error     // the attempt's failure; nil when the upstream answered
	Status        int                 // the upstream's status when it answered (Err nil)
	Mask          config.NextUpstream // proxy_next_upstream
	NonIdempotent bool                // POST, LOCK, PATCH
	Replayable    bool                // the request body is fully buffered
	Tries         int                 // attempts made so far (free retries excluded)
	MaxTries      int                 // proxy_next_upstream_tries, 0 = unlimited
	Elapsed       time.Duration       // since the first attempt started
	MaxElapsed    time.Duration       // proxy_next_upstream_timeout, 0 = unlimited
	FreeUsed      bool                // the one free stale-keepalive retry was used
	Budget        budget              // retry_budget; nil = unlimited
	Now           time.Time
}

// budget is what the decision asks last, once everything else says retry:
// may the group take one more retry? (*upstream.RetryBudget; tests pass a
// fake.)
type budget interface{ Spend(now time.Time) bool }

// retryVerdict says whether to try again, and why (or why not): the reason
// goes into the error log's decision line and the metrics.
type retryVerdict struct {
	Retry bool
	Fresh bool // stale keepalive: retry on a fresh connection, same peer allowed, no try used
	Why   string
}

// decideRetry is the only retry decision in spillway, for a failed attempt
// (in.Err) and for an answer whose status proxy_next_upstream lists
// (http_502, ...) alike. It follows nginx's ngx_http_upstream_next, plus
// one improvement nginx lacks (the free fresh-connection retry below). Its
// default answer is no.
func decideRetry(in retryInput) retryVerdict {
	e := in.Err
	// Once the response body is being read nothing can be retried: the
	// client may have a status line it cannot take back (nginx, Go,
	// Pingora agree). The decision is made before any byte is relayed.
	if e != nil && e.Phase >= upstream.PhaseReadBody {
		return retryVerdict{Why: "response already started"}
	}
	if in.Mask == config.NextOff {
		return retryVerdict{Why: "proxy_next_upstream off"}
	}
	// A request body that was streamed and not kept cannot be sent again:
	// not after a failure that wrote to the upstream, and not after an
	// answer, which came once the body had gone (nginx's
	// ngx_http_upstream_next: u->request_sent with
	// r->request_body_no_buffering ends the request, http_502 listed or
	// not).
	if !in.Replayable && (e == nil || e.Phase >= upstream.PhaseSend && e.Written > 0) {
		return retryVerdict{Why: "request body not buffered"}
	}
	var ft config.NextUpstream
	switch {
	case e == nil:
		ft = statusType(in.Status) // 0 for a status nginx never passes on
	case e.Kind == upstream.KindTimeout:
		ft = config.NextTimeout
	case e.Kind == upstream.KindInvalidHeader, e.Kind == upstream.KindTooBigHeader:
		ft = config.NextInvalidHeader
	case e.Kind == upstream.KindNoValidHTTP:
		// nginx passes an HTTP/0.9 answer through and never retries it;
		// spillway answers 502 but keeps the no-retry rule.
		return retryVerdict{Why: "upstream sent no valid HTTP"}
	case e.Kind == upstream.KindNoLive:
		return retryVerdict{Why: "no live upstreams"}
	default:
		ft = config.NextError
	}
	if in.Mask&ft == 0 {
		return retryVerdict{Why: "not listed in proxy_next_upstream"}
	}
	// Nothing was sent on a failed connect: safe for every method. An
	// answer means the request was sent.
	sent := e == nil || e.Phase >= upstream.PhaseSend
	// The stale keepalive race: a reused connection that failed with an
	// error (not a timeout) before any response byte. nginx gives it a free
	// try but still holds POST back; we do the same, once per request, and
	// on a fresh connection. A non-idempotent request goes again only when
	// nothing at all left our socket.
	if e != nil && e.Reused && e.Kind != upstream.KindTimeout && e.Read == 0 && !in.FreeUsed &&
		(!in.NonIdempotent || e.Written == 0 || in.Mask&config.NextNonIdempotent != 0) {
		return retryVerdict{Retry: true, Fresh: true, Why: "stale keepalive connection"}
	}
	if sent && in.NonIdempotent && in.Mask&config.NextNonIdempotent == 0 {
		return retryVerdict{Why: "non-idempotent request already sent"}
	}
	if in.MaxTries > 0 && in.Tries >= in.MaxTries {
		return retryVerdict{Why: "tries exhausted"}
	}
	if in.MaxElapsed > 0 && in.Elapsed >= in.MaxElapsed {
		return retryVerdict{Why: "proxy_next_upstream_timeout reached"}
	}
	if in.Budget != nil && !in.Budget.Spend(in.Now) {
		return retryVerdict{Why: "retry budget exhausted"}
	}
	return retryVerdict{Retry: true, Why: "next upstream"}
}

// statusType is the proxy_next_upstream flag that passes an answer with
// this status on (http_500, http_502, ...); 0 for any other status.
func statusType(status int) config.NextUpstream {
	switch status {
	case 500:
		return config.NextHTTP500
	case 502:
		return config.NextHTTP502
	case 503:
		return config.NextHTTP503
	case 504:
		return config.NextHTTP504
	case 403:
		return config.NextHTTP403
	case 404:
		return config.NextHTTP404
	case 429:
		return config.NextHTTP429
	}
	return 0
}

// statusListed reports whether proxy_next_upstream (mask) names status. It
// is the cheap first test, made on every response before the retry input
// is gathered for decideRetry.
func statusListed(status int, mask config.NextUpstream) bool {
	ft := statusType(status)
	return ft != 0 && mask&ft != 0
}
