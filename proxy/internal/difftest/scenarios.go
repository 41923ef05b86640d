package difftest

import (
	"encoding/base64"
	"strings"
	"time"

	b "spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// Helpers that keep the scenario table readable.

// srv is an upstream server with a behaviour script.
func srv(bs ...b.Behavior) Server { return Server{Behaviors: bs} }

// with adds nginx server parameters ("backup", "max_fails=2").
func (s Server) with(params string) Server { s.Params = params; return s }

func get(path string) Request { return Request{Method: "GET", Path: path} }

func req(method, path string, body int) Request {
	return Request{Method: method, Path: path, Body: body}
}

func times(n int, r Request) []Request {
	out := make([]Request, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func reqs(rs ...Request) []Request { return rs }

// closing adds "Connection: close": nginx keeps an HTTP/0.9 passthrough's
// client connection open otherwise, and the client would wait for its
// own timeout.
func closing(r Request) Request { r.Header = append(r.Header, "Connection: close"); return r }

func raw(s string) Request { return Request{Raw: s} }

// dirs takes name, value pairs.
func dirs(kv ...string) []Directive {
	var out []Directive
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Directive{kv[i], kv[i+1]})
	}
	return out
}

// keepaliveDirs are what upstream keepalive needs, in nginx and in spillway.
var keepaliveDirs = dirs("proxy_http_version", "1.1", "proxy_set_header", `Connection ""`)

func join(ds ...[]Directive) []Directive {
	var out []Directive
	for _, d := range ds {
		out = append(out, d...)
	}
	return out
}

// long is a behaviour duration that outlasts every proxy timeout: the
// upstream is closed (ending the wait) when the scenario ends.
const long = time.Minute

// idlePause is waited before a request meant to find its keepalive
// connection closed by an upstream idle timer of 300ms. (The bench
// upstream also applies that timer to a fresh connection's first request,
// so the timer must be long against a loaded machine's connect-to-send
// delay, and the pause well beyond it.)
const idlePause = time.Second

// broad is nginx-reference.md's "broad" proxy_next_upstream.
const broad = "error timeout invalid_header http_500 http_502 http_503 http_504"

// Differences documented once, shared by scenarios.
var (
	diffHTTP09 = &Difference{
		Aspects: []Aspect{AspectStatus, AspectBody, AspectEnd, AspectAccess},
		Reason:  "deliberate (README): an upstream answer without a status line: nginx passes the bytes through as HTTP/0.9 and closes (access log `009`), spillway answers its 502 page (access log `502`); both log `upstream sent no valid HTTP/1.0 header`",
	}
	diffHTTP09Counted = &Difference{
		Aspects: []Aspect{AspectStatus, AspectBody, AspectEnd, AspectAccess, AspectLog},
		Reason:  diffHTTP09.Reason + "; spillway counts the 502 as a failure (`upstream server temporarily disabled`), nginx's passthrough is no failure",
	}
	diffStaleTwoServers = &Difference{
		Aspects: []Aspect{AspectConns, AspectHits, AspectLog},
		Reason:  "deliberate (README): a reused keepalive connection the upstream had silently dropped: nginx counts the failure against the server (`temporarily disabled`) and retries on the next server; spillway retries once on a fresh connection to the same server and does not count it (a stale connection is not the server's fault)",
	}
	diffRawControl = &Difference{
		Aspects: []Aspect{AspectLog},
		Reason:  "deliberate (proxy/errorlog): nginx writes the control bytes of a refused request line raw into the error log's `request:`; spillway writes them as `\\xNN`, so that one entry is always one line and a terminal shows it safely (the access log's `$request` is escaped alike by both)",
	}
	diffBadChunkedLate = &Difference{
		Aspects: []Aspect{AspectBody},
		Reason:  "deliberate (README): a chunked body whose framing breaks after the head went out: both log `upstream sent invalid chunked response` and close without the last chunk, but nginx drops what its buffers still held (36719 of 65536 bytes with proxy_buffering on, here), spillway relays every byte before the break",
	}
	diffRawCR = &Difference{
		Aspects: []Aspect{AspectLog},
		Reason:  "deliberate (proxy/errorlog): nginx quotes the first buffer-size bytes of the too long line, which here end in the line's CR, and writes that CR raw; spillway writes it as `\\x0d` so that one entry is always one line",
	}
)

// nginxOverrunRead is why the overrun warning of a large body is racy.
const nginxOverrunRead = "nginx warns `upstream sent more data than specified` only when the extra bytes come in the same read as the body's last bytes (it stops reading at Content-Length): for a 64k body most runs, not all; spillway checks its read buffer and the socket when the body ends"

// nginxNonBufferedOverrun is why the phase of the overrun warning is racy
// with proxy_buffering off.
const nginxNonBufferedOverrun = nginxOverrunRead + "; with proxy_buffering off nginx also names the phase of the handler that ran its read loop: `while sending to client` when the last body bytes and the extra ones were read after a client write event (every run seen here), `while reading upstream` when an upstream read event brought them; spillway says `sending to client` once body bytes went out before the read that found the extra bytes"

// nginxNonBufferedPhase is why the error line's phase is racy with
// proxy_buffering off.
const nginxNonBufferedPhase = "with proxy_buffering off nginx names the phase of the connection's current handler: `while sending to client` when the upstream's FIN/RST arrived with the body bytes it was still forwarding, `while reading upstream` when it arrived later; spillway always says `reading upstream`"

// abort is a GET whose client closes once it reached an upstream.
func abort(how string) Request { r := get("/x"); r.Abort = how; return r }

// Scenarios is the differential suite. docs/differential.md lists it
// (TestDocInSync).
var Scenarios = []Scenario{
	// ---- every behaviour of spillway upstream, one server, GET ----
	{Area: "behaviour", Name: "ok", Servers: []Server{srv(b.OK())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "ok-64k", Servers: []Server{srv(b.OK())}, Requests: reqs(get("/size/64k"))},
	{Area: "behaviour", Name: "reset", Servers: []Server{srv(b.Reset())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "reset_after_header", Servers: []Server{srv(b.ResetAfterHeader())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "reset_mid_body-buffering_on", Servers: []Server{srv(b.ResetMidBody(1000))}, Requests: reqs(get("/x")),
		Racy: []Aspect{AspectBody}, RacyReason: "nginx with proxy_buffering on delivers the 1000 body bytes it read before the RST in some runs and none in others (nginx-reference.md saw only 0): when readv() fails, what is still in its output chain is dropped; spillway always delivers them"},
	{Area: "behaviour", Name: "reset_mid_body-buffering_off", Servers: []Server{srv(b.ResetMidBody(1000))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x")),
		Racy: []Aspect{AspectLog}, RacyReason: nginxNonBufferedPhase},
	{Area: "behaviour", Name: "close_before_header", Servers: []Server{srv(b.CloseBeforeHeader())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "close_mid_body", Servers: []Server{srv(b.CloseMidBody(1000))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "length_mismatch", Servers: []Server{srv(b.LengthMismatch(10))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "length_mismatch-64k", Servers: []Server{srv(b.LengthMismatch(10))}, Requests: reqs(get("/size/64k")),
		Racy: []Aspect{AspectLog}, RacyReason: nginxOverrunRead},
	{Area: "behaviour", Name: "length_mismatch-buffering_off", Servers: []Server{srv(b.LengthMismatch(10))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/size/64k")),
		Racy: []Aspect{AspectLog}, RacyReason: nginxNonBufferedOverrun},
	{Area: "behaviour", Name: "length_mismatch-buffering_off-small", Servers: []Server{srv(b.LengthMismatch(10))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x"))},
	// The extra bytes make the connection unusable: neither reuses it.
	{Area: "behaviour", Name: "length_mismatch-keepalive", Servers: []Server{srv(b.LengthMismatch(10))}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: times(2, get("/x")), CompareConns: true},
	{Area: "behaviour", Name: "invalid_header", Servers: []Server{srv(b.InvalidHeader())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "no_valid_http", Servers: []Server{srv(b.NoValidHTTP())}, Requests: reqs(closing(get("/x"))), Diff: diffHTTP09},
	{Area: "behaviour", Name: "huge_header", Servers: []Server{srv(b.HugeHeader(8 << 10))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "slow_header", Servers: []Server{srv(b.SlowHeader(long))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "slow_body", Servers: []Server{srv(b.SlowBody(long))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "status_503", Servers: []Server{srv(b.Status(503))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "status_500", Servers: []Server{srv(b.Status(500))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "status_404", Servers: []Server{srv(b.Status(404))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "status_204", Servers: []Server{srv(b.Status(204))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "kill_after", Servers: []Server{srv(b.KillAfter(200 * time.Millisecond))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "fail_ratio", Servers: []Server{srv(b.FailRatio(0.5, b.Reset()))}, Requests: times(4, get("/x"))},
	{Area: "behaviour", Name: "headers_then_stall", Servers: []Server{srv(b.HeadersThenStall())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "chunked_truncated", Servers: []Server{srv(b.ChunkedTruncated(1024))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "bad_chunked-buffering_on", Servers: []Server{srv(b.BadChunked(1000))}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "bad_chunked-buffering_off", Servers: []Server{srv(b.BadChunked(1000))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x"))},
	// Broken after 64 KiB: both send the head and close without the last
	// chunk; what reached the client before depends on nginx's buffers.
	{Area: "behaviour", Name: "bad_chunked-64k-buffering_on", Servers: []Server{srv(b.BadChunked(64 << 10))}, Requests: reqs(get("/x")),
		Diff: diffBadChunkedLate},
	{Area: "behaviour", Name: "bad_chunked-64k-buffering_off", Servers: []Server{srv(b.BadChunked(64 << 10))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x")),
		Racy: []Aspect{AspectLog, AspectBody}, RacyReason: nginxNonBufferedPhase + "; and whether the bytes of nginx's last read before the break reach the client is a race too (65391 of 65536 in one run, all of them in another: not a difference to document); spillway relays every byte before the break"},
	{Area: "behaviour", Name: "refuse", Servers: []Server{srv(b.Refuse())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "header_limit", Servers: []Server{srv(b.HeaderLimit(1024, b.Reply431))},
		Requests: reqs(Request{Method: "GET", Path: "/x", Header: []string{"X-Pad: " + strings.Repeat("p", 2000)}})},
	{Area: "behaviour", Name: "body_limit", Servers: []Server{srv(b.BodyLimit(1024, b.Reply413))}, Requests: reqs(req("POST", "/echo", 4096))},
	{Area: "behaviour", Name: "expect-continue", Servers: []Server{srv(b.Expect(b.ExpectReject))},
		Requests: reqs(Request{Method: "POST", Path: "/echo", Body: 100, Header: []string{"Expect: 100-continue"}})},
	{Area: "behaviour", Name: "keepalive_requests", Servers: []Server{srv(b.KeepaliveRequests(2))}, Keepalive: 4,
		Directives: keepaliveDirs, Requests: times(3, get("/x")), CompareConns: true},
	{Area: "behaviour", Name: "idle_fin", Servers: []Server{srv(b.IdleFIN(300 * time.Millisecond))}, Keepalive: 4,
		Directives: keepaliveDirs, Requests: reqs(get("/x"), Request{Method: "GET", Path: "/x", Pause: idlePause}), CompareConns: true},
	{Area: "behaviour", Name: "idle_rst", Servers: []Server{srv(b.IdleRST(300 * time.Millisecond))}, Keepalive: 4,
		Directives: keepaliveDirs, Requests: reqs(get("/x"), Request{Method: "GET", Path: "/x", Pause: idlePause}), CompareConns: true},
	// A 101 the client did not ask for: relayed with the upstream's bytes
	// until proxy_read_timeout, and its connection is never reused (the
	// next request would be echoed back by the switched stream).
	{Area: "behaviour", Name: "switch", Servers: []Server{srv(b.Switch())}, Requests: reqs(get("/switch"))},
	{Area: "behaviour", Name: "switch-keepalive", Servers: []Server{srv(b.Switch().At("/switch"), b.OK())}, Keepalive: 4,
		Directives: keepaliveDirs, Requests: reqs(get("/switch"), get("/x"), get("/x")), CompareConns: true},
	{Area: "behaviour", Name: "bare_lf", Servers: []Server{srv(b.BareLF())}, Requests: reqs(get("/x"))},
	{Area: "behaviour", Name: "bare_lf-keepalive", Servers: []Server{srv(b.BareLF())}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: times(2, get("/x")), CompareConns: true},
	{Area: "behaviour", Name: "bare_lf-chunked-keepalive", Servers: []Server{srv(b.Behavior{Kind: b.KindBareLF, Chunks: 2})}, Keepalive: 4,
		Directives: keepaliveDirs, Requests: times(2, get("/x")), CompareConns: true},

	// ---- methods: reset on the first server, ok on the second ----
	{Area: "method", Name: "GET-reset-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(get("/x"))},
	{Area: "method", Name: "HEAD-reset-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("HEAD", "/x", 0))},
	{Area: "method", Name: "POST-reset-not-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("POST", "/echo", 100))},
	{Area: "method", Name: "PUT-reset-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("PUT", "/echo", 100))},
	{Area: "method", Name: "PATCH-reset-not-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("PATCH", "/echo", 100))},
	{Area: "method", Name: "DELETE-reset-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("DELETE", "/x", 0))},
	{Area: "method", Name: "OPTIONS-reset-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: reqs(req("OPTIONS", "/x", 0))},
	{Area: "method", Name: "HEAD-ok", Servers: []Server{srv(b.OK())}, Requests: reqs(req("HEAD", "/size/1k", 0))},
	{Area: "method", Name: "POST-ok-echo", Servers: []Server{srv(b.OK())}, Requests: reqs(req("POST", "/echo", 5000))},
	{Area: "method", Name: "POST-close_before_header-not-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())}, Requests: reqs(req("POST", "/echo", 100))},
	{Area: "method", Name: "POST-slow_header-not-retried", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())}, Requests: reqs(req("POST", "/echo", 100))},
	{Area: "method", Name: "POST-refused-retried", Servers: []Server{srv(b.Refuse()), srv(b.OK())}, Requests: reqs(req("POST", "/echo", 100))},
	{Area: "method", Name: "POST-reset-non_idempotent", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 100))},
	{Area: "method", Name: "PATCH-reset-non_idempotent", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("PATCH", "/echo", 100))},

	// ---- proxy_next_upstream variants ----
	{Area: "next_upstream", Name: "off-reset", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "off"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "off-refused", Servers: []Server{srv(b.Refuse()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "off"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "timeout-only-reset", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "timeout"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "error-only-slow_header", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "default-slow_header", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())}, Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "http_502-listed", Servers: []Server{srv(b.Status(502)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout http_502"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "http_502-not-listed", Servers: []Server{srv(b.Status(502)), srv(b.OK())}, Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "http_503-listed", Servers: []Server{srv(b.Status(503)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout http_503"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "http_503-all-fail", Servers: []Server{srv(b.Status(503)), srv(b.Status(503))},
		Directives: dirs("proxy_next_upstream", "error timeout http_503"), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "http_503-POST", Servers: []Server{srv(b.Status(503)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout http_503"), Requests: reqs(req("POST", "/echo", 10))},
	{Area: "next_upstream", Name: "http_500-POST-non_idempotent", Servers: []Server{srv(b.Status(500)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout http_500 non_idempotent"), Requests: reqs(req("POST", "/echo", 10))},
	{Area: "next_upstream", Name: "http_404-listed", Servers: []Server{srv(b.Status(404)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", "error timeout http_404"), Requests: times(3, get("/x"))},
	{Area: "next_upstream", Name: "invalid_header-listed", Servers: []Server{srv(b.InvalidHeader()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", broad), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "invalid_header-not-listed", Servers: []Server{srv(b.InvalidHeader()), srv(b.OK())}, Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "huge_header-listed", Servers: []Server{srv(b.HugeHeader(8 << 10)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", broad), Requests: reqs(get("/x"))},
	{Area: "next_upstream", Name: "no_valid_http-listed", Servers: []Server{srv(b.NoValidHTTP()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", broad), Requests: reqs(closing(get("/x"))), Diff: diffHTTP09Counted},
	{Area: "next_upstream", Name: "mid-body-not-retried", Servers: []Server{srv(b.CloseMidBody(1000)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream", broad), Requests: reqs(get("/x"))},

	// ---- proxy_next_upstream_tries / _timeout ----
	{Area: "tries", Name: "tries-2-of-3", Servers: []Server{srv(b.Reset()), srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream_tries", "2"), Requests: reqs(get("/x"))},
	{Area: "tries", Name: "tries-0-all", Servers: []Server{srv(b.Reset()), srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream_tries", "0"), Requests: reqs(get("/x"))},
	{Area: "tries", Name: "tries-1", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_next_upstream_tries", "1"), Requests: reqs(get("/x"))},
	{Area: "tries", Name: "timeout-500ms-one-attempt", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream_timeout", "500ms"), Requests: reqs(get("/x"))},
	{Area: "tries", Name: "timeout-3s-two-attempts", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Directives: dirs("proxy_next_upstream_timeout", "3s"), Requests: reqs(get("/x"))},

	// ---- max_fails / fail_timeout / backup ----
	{Area: "health", Name: "max_fails-1-disables", Servers: []Server{srv(b.Reset()), srv(b.OK())}, Requests: times(3, get("/x"))},
	{Area: "health", Name: "max_fails-2", Servers: []Server{srv(b.Reset()).with("max_fails=2 fail_timeout=10s"), srv(b.OK())}, Requests: times(4, get("/x"))},
	{Area: "health", Name: "max_fails-0", Servers: []Server{srv(b.Reset()).with("max_fails=0"), srv(b.OK())}, Requests: times(3, get("/x"))},
	{Area: "health", Name: "all-down-no-live-upstreams", Servers: []Server{srv(b.Reset()), srv(b.Reset())}, Requests: times(3, get("/x"))},
	{Area: "health", Name: "single-server-never-disabled", Servers: []Server{srv(b.Reset())}, Requests: times(3, get("/x"))},
	{Area: "health", Name: "backup-used", Servers: []Server{srv(b.Reset()), srv(b.OK()).with("backup")}, Requests: times(2, get("/x"))},
	{Area: "health", Name: "backup-idle", Servers: []Server{srv(b.OK()), srv(b.OK()).with("backup")}, Requests: times(2, get("/x"))},
	{Area: "health", Name: "weight", Servers: []Server{srv(b.OK()).with("weight=2"), srv(b.OK())}, Requests: times(6, get("/x"))},
	{Area: "health", Name: "down", Servers: []Server{srv(b.OK()).with("down"), srv(b.OK())}, Requests: times(2, get("/x"))},
	{Area: "health", Name: "fail_timeout-expires", Servers: []Server{srv(b.Reset()).with("max_fails=1 fail_timeout=1s"), srv(b.OK())},
		// nginx compares fail_timeout in whole seconds: 2.5s always re-enables (nginx-reference.md).
		Requests: reqs(get("/x"), get("/x"), Request{Method: "GET", Path: "/x", Pause: 2500 * time.Millisecond}, get("/x"))},
	{Area: "health", Name: "timeout-counts", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())}, Requests: times(3, get("/x"))},

	// ---- upstream keepalive ----
	{Area: "keepalive", Name: "reuse", Servers: []Server{srv(b.OK())}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: times(3, get("/x")), CompareConns: true},
	{Area: "keepalive", Name: "off-by-default", Servers: []Server{srv(b.OK())}, Requests: times(3, get("/x")), CompareConns: true},
	{Area: "keepalive", Name: "http-1.0-no-reuse", Servers: []Server{srv(b.OK())}, Keepalive: 4,
		Requests: times(3, get("/x")), CompareConns: true},
	{Area: "keepalive", Name: "error-not-cached", Servers: []Server{srv(b.FailRatio(0.5, b.Status(500)))}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: times(4, get("/x")), CompareConns: true},
	{Area: "keepalive", Name: "stale-silent-GET", Servers: []Server{srv(b.IdleDrop(300 * time.Millisecond))}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: reqs(get("/x"), Request{Method: "GET", Path: "/x", Pause: idlePause}), CompareConns: true},
	{Area: "keepalive", Name: "stale-silent-POST", Servers: []Server{srv(b.IdleDrop(300 * time.Millisecond))}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: reqs(get("/x"), Request{Method: "POST", Path: "/echo", Body: 10, Pause: idlePause}), CompareConns: true},
	{Area: "keepalive", Name: "stale-silent-two-servers", Servers: []Server{srv(b.IdleDrop(300 * time.Millisecond)), srv(b.OK())}, Keepalive: 4, Directives: keepaliveDirs,
		Requests: reqs(get("/x"), get("/x"), Request{Method: "GET", Path: "/x", Pause: idlePause}), CompareConns: true,
		Diff: diffStaleTwoServers},

	// ---- response buffers and temp files ----
	{Area: "buffers", Name: "small-buffers-64k", Servers: []Server{srv(b.OK())},
		Directives: dirs("proxy_buffer_size", "1k", "proxy_buffers", "4 1k"), Requests: reqs(get("/size/64k"))},
	{Area: "buffers", Name: "too-big-header-1k", Servers: []Server{srv(b.HugeHeader(2 << 10))},
		Directives: dirs("proxy_buffer_size", "1k", "proxy_buffers", "4 1k"), Requests: reqs(get("/x"))},
	{Area: "buffers", Name: "header-fits-8k", Servers: []Server{srv(b.HugeHeader(6 << 10))},
		Directives: dirs("proxy_buffer_size", "8k", "proxy_buffers", "8 8k"), Requests: reqs(get("/x"))},
	{Area: "buffers", Name: "temp-file-slow-client", Servers: []Server{srv(b.OK())},
		Directives: dirs("proxy_buffers", "4 4k"), Requests: reqs(Request{Method: "GET", Path: "/size/4m", SlowRead: true})},
	{Area: "buffers", Name: "max_temp_file_size-0", Servers: []Server{srv(b.OK())},
		Directives: dirs("proxy_buffers", "4 4k", "proxy_max_temp_file_size", "0"), Requests: reqs(get("/size/2m"))},
	{Area: "buffers", Name: "buffering-off-2m", Servers: []Server{srv(b.OK())},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/size/2m"))},
	{Area: "buffers", Name: "buffering-off-slow_body", Servers: []Server{srv(b.SlowBody(long))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x"))},
	{Area: "buffers", Name: "buffering-off-close_mid_body", Servers: []Server{srv(b.CloseMidBody(1000))},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(get("/x")),
		Racy: []Aspect{AspectLog}, RacyReason: nginxNonBufferedPhase},

	// ---- client request bodies ----
	{Area: "client_body", Name: "too-large-413", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "1k"), Requests: reqs(req("POST", "/echo", 2048))},
	{Area: "client_body", Name: "too-large-chunked-413", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "1k"), Requests: reqs(Request{Method: "POST", Path: "/echo", Body: 2048, Chunked: true})},
	// The head alone, no Expect: the answer comes before any body byte.
	{Area: "client_body", Name: "too-large-head-only-413", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "1k"),
		Requests:   reqs(Request{Raw: "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n"})},
	{Area: "client_body", Name: "too-large-expect-413", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "1k"), Requests: reqs(Request{Method: "POST", Path: "/echo", Body: 2048, Header: []string{"Expect: 100-continue"}})},
	{Area: "client_body", Name: "at-limit", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "1k"), Requests: reqs(req("POST", "/echo", 1024))},
	{Area: "client_body", Name: "unlimited-0", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_max_body_size", "0", "proxy_read_timeout", "10s"), Requests: reqs(req("POST", "/echo", 1100<<10))},
	{Area: "client_body", Name: "temp-file", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_body_buffer_size", "1k"), Requests: reqs(req("POST", "/echo", 8192))},
	{Area: "client_body", Name: "in-memory", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_body_buffer_size", "16k"), Requests: reqs(req("POST", "/echo", 8192))},
	{Area: "client_body", Name: "chunked-temp-file", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_body_buffer_size", "1k"), Requests: reqs(Request{Method: "POST", Path: "/echo", Body: 8192, Chunked: true})},
	{Area: "client_body", Name: "default-limit-1m-413", Servers: []Server{srv(b.OK())}, Requests: reqs(req("POST", "/echo", 2<<20))},
	// A 64 KiB body and an upstream that fails right after the head: with
	// reset the RST races the proxy's writev (both nginx and spillway log
	// either writev() or recv()), so these use close_before_header, whose
	// FIN leaves the upstream reading (lingering) until the body is in.
	{Area: "client_body", Name: "request_buffering-off-64k-not-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off"), Requests: reqs(req("PUT", "/echo", 65536))},
	// An answer whose status proxy_next_upstream lists is not passed on
	// either once a streamed body went with the request: the first
	// server's 502 is the client's.
	{Area: "client_body", Name: "request_buffering-off-64k-502-not-retried", Servers: []Server{srv(b.Status(502)), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "proxy_next_upstream", "error timeout http_502"), Requests: reqs(req("PUT", "/echo", 65536))},
	{Area: "client_body", Name: "request_buffering-off-small-retried", Servers: []Server{srv(b.Reset()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 100))},
	// nginx reads the body before it contacts the upstream, and can resend
	// it, when the body came whole with the head (the 100 and 600 byte
	// bodies fit client_header_buffer_size with the head) or fits
	// client_body_buffer_size (8k here); otherwise it streams.
	{Area: "client_body", Name: "request_buffering-off-600-buffer-100-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "client_body_buffer_size", "100", "proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 600))},
	{Area: "client_body", Name: "request_buffering-off-8k-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 8192))},
	{Area: "client_body", Name: "request_buffering-off-12k-not-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 12000))},
	{Area: "client_body", Name: "request_buffering-off-4k-buffer-1k-not-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("proxy_request_buffering", "off", "client_body_buffer_size", "1k", "proxy_next_upstream", "error timeout non_idempotent"), Requests: reqs(req("POST", "/echo", 4096))},
	{Area: "client_body", Name: "temp-file-replayed", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
		Directives: dirs("client_body_buffer_size", "1k"), Requests: reqs(req("PUT", "/echo", 65536))},

	// ---- bad requests ----
	{Area: "bad_request", Name: "header-too-long", Servers: []Server{srv(b.OK())},
		Directives: dirs("large_client_header_buffers", "4 1k"),
		Requests:   reqs(Request{Method: "GET", Path: "/x", Header: []string{"X-Big: " + strings.Repeat("a", 2000)}})},
	{Area: "bad_request", Name: "uri-too-long", Servers: []Server{srv(b.OK())},
		Directives: dirs("large_client_header_buffers", "4 1k"), Requests: reqs(get("/" + strings.Repeat("u", 2000)))},
	{Area: "bad_request", Name: "uri-at-buffer-size", Servers: []Server{srv(b.OK())},
		// The request line and its CRLF are one byte over the 1k buffer.
		Directives: dirs("large_client_header_buffers", "4 1k"), Requests: reqs(get("/" + strings.Repeat("u", 1009))), Diff: diffRawCR},
	{Area: "bad_request", Name: "uri-fits-buffer", Servers: []Server{srv(b.OK())},
		Directives: dirs("large_client_header_buffers", "4 1k"), Requests: reqs(get("/" + strings.Repeat("u", 1000)))},
	{Area: "bad_request", Name: "header-at-buffer-size", Servers: []Server{srv(b.OK())},
		// The header line and its CRLF are one byte over the 1k buffer.
		Directives: dirs("large_client_header_buffers", "4 1k"),
		Requests:   reqs(Request{Method: "GET", Path: "/x", Header: []string{"X-Big: " + strings.Repeat("a", 1016)}}), Diff: diffRawCR},
	{Area: "bad_request", Name: "header-too-long-host-after", Servers: []Server{srv(b.OK())},
		Directives: dirs("large_client_header_buffers", "4 1k"),
		Requests:   reqs(raw("GET /x HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "header-9k-default-buffers", Servers: []Server{srv(b.OK())},
		Requests: reqs(Request{Method: "GET", Path: "/x", Header: []string{"X-Big: " + strings.Repeat("a", 9000)}})},
	{Area: "bad_request", Name: "long-lines-that-fit", Servers: []Server{srv(b.OK())},
		Directives: dirs("large_client_header_buffers", "4 1k"),
		Requests:   reqs(Request{Method: "GET", Path: "/" + strings.Repeat("u", 900), Header: []string{"X-A: " + strings.Repeat("a", 900), "X-B: " + strings.Repeat("b", 900)}})},
	{Area: "bad_request", Name: "bad-method", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("G@T /x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "garbage-line", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("hello\r\n\r\n"))},
	// A connection that closes before its first byte: nginx's [info] line
	// with the listen address as server, and no access-log line.
	{Area: "protocol", Name: "connect-and-close", Servers: []Server{srv(b.OK())}, Requests: reqs(Request{Leave: AbortFIN})},
	{Area: "protocol", Name: "connect-and-reset", Servers: []Server{srv(b.OK())}, Requests: reqs(Request{Leave: AbortRST})},
	{Area: "bad_request", Name: "version-2.0", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/2.0\r\nHost: localhost\r\n\r\n"))},
	{Area: "protocol", Name: "version-1.9-ok", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.9\r\nHost: localhost\r\n\r\n"))},
	// nginx takes HTTP/1.9 as 1.1: the connection is kept for the next request.
	{Area: "protocol", Name: "version-1.9-keepalive", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.9\r\nHost: localhost\r\n\r\n"), raw("GET /y?a=1 HTTP/1.5\r\nHost: localhost\r\n\r\n"), raw("GET /z HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	// fasthttp's parser refuses a two-digit minor version and chunked in a
	// request other than HTTP/1.1: nginx takes both as HTTP/1.1 (the
	// second request shows the connection kept; $request as sent).
	{Area: "protocol", Name: "version-1.10-keepalive", Servers: []Server{srv(b.OK())},
		Requests: reqs(Request{Raw: "POST /echo HTTP/1.10\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nab" +
			"\r\nGET /y HTTP/1.99\r\nHost: localhost\r\nConnection: close\r\n\r\n", RawAnswers: 2})},
	{Area: "protocol", Name: "version-1.9-chunked", Servers: []Server{srv(b.OK())},
		Requests: reqs(Request{Raw: "POST /echo HTTP/1.9\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n" +
			"GET /y HTTP/1.12\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n", RawAnswers: 2})},
	{Area: "bad_request", Name: "version-1.100", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.100\r\nHost: localhost\r\n\r\n"))},
	{Area: "protocol", Name: "version-1.9-connection-close", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.9\r\nHost: localhost\r\nConnection: close\r\n\r\n"))},
	{Area: "bad_request", Name: "version-1.9-missing-host", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.9\r\n\r\n"))},
	{Area: "bad_request", Name: "version-garbage", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTX/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "missing-host-1.1", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.1\r\n\r\n"))},
	{Area: "protocol", Name: "no-host-1.0-ok", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.0\r\n\r\n"))},
	{Area: "protocol", Name: "http-1.0-client-chunked-upstream", Servers: []Server{srv(b.ChunkedTruncated(1024))},
		Requests: reqs(raw("GET /x HTTP/1.0\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "connect-authority", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))},
	{Area: "bad_request", Name: "connect-origin-form", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("CONNECT /x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "options-asterisk", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "trace", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("TRACE /x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "absolute-form-userinfo", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET http://user@evil.com/x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "protocol", Name: "absolute-form", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET http://Evil.COM:8080/x?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"), raw("GET https://evil.com/y HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	// Names with bytes nginx ignores (ignore_invalid_headers) and
	// fasthttp's parser refuses: the lines are dropped and logged, 200;
	// a pipelined second request has one after its Host line.
	{Area: "protocol", Name: "header-name-invalid-bytes-ignored", Servers: []Server{srv(b.OK())},
		Requests: reqs(Request{Raw: "GET /x HTTP/1.1\r\nX@y: 1\r\nHost: localhost\r\nA(b: 2\r\n\xc3\xa9t: 3\r\nX-Ok: 4\r\n\r\n" +
			"GET /y HTTP/1.1\r\nHost: localhost\r\nReferer: http://r/\r\nX[]: 5\r\nConnection: close\r\n\r\n", RawAnswers: 2})},
	{Area: "bad_request", Name: "header-name-space", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n"))},
	{Area: "bad_request", Name: "cl-and-te", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))},
	{Area: "bad_request", Name: "te-gzip", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\nHost: localhost\r\nReferer: http://r/\r\n\r\n"))},
	{Area: "bad_request", Name: "te-identity", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n"))},
	{Area: "bad_request", Name: "te-http-1.0", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))},
	{Area: "bad_request", Name: "te-duplicate", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))},
	{Area: "bad_request", Name: "bad-content-length", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n"))},
	{Area: "bad_request", Name: "lowercase-method", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("get /x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "duplicate-content-length", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"))},
	{Area: "bad_request", Name: "duplicate-host", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n"))},
	{Area: "bad_request", Name: "nul-in-value", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\x00b\r\n\r\n"))},
	{Area: "bad_request", Name: "nul-in-value-before-host", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nX-Foo: a\x00b\r\nHost: localhost\r\n\r\n"))},
	// nginx's ngx_http_validate_host, which fasthttp's host check is not:
	// an empty (HTTP/1.0), "." or "a..b" host is 400, `client sent invalid
	// host header` (or `... in request line` for an absolute target); an
	// IPvFuture literal is a host.
	{Area: "bad_request", Name: "host-empty-http10", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.0\r\nReferer: http://r/\r\nHost: \r\n\r\n"))},
	{Area: "bad_request", Name: "host-dot", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: .\r\n\r\n"))},
	{Area: "bad_request", Name: "host-double-dot", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: ..examp-LE.com\r\n\r\n"))},
	{Area: "bad_request", Name: "absolute-host-double-dot", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET http://com.exa-m.45..:/x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "host-ipvfuture", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: [v1a.!$&'()*+,;=-._~Ab:]\r\nConnection: close\r\n\r\n"))},
	// obs-fold: a header line that starts with a space or a tab is nginx
	// 1.22's 400 (`client sent invalid header line: "\x20..."`), with the
	// host and referrer that came before it; fasthttp would unfold it.
	{Area: "bad_request", Name: "obs-fold", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nReferer: http://r/\r\nX-A: a\r\n b\r\n\r\n"))},
	{Area: "bad_request", Name: "obs-fold-tab", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n\tb\r\n\r\n"))},
	{Area: "bad_request", Name: "obs-fold-before-host", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\n Host: localhost\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "obs-fold-bare-lf", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.0\nHost: localhost\nX-A: a\n b\n\n"))},
	{Area: "bad_request", Name: "bad-uri", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET x HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "request-line-extra", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.1 extra\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "negative-content-length", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("POST /echo HTTP/1.1\r\nContent-Length: -1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "underscore-header", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nX_Under: x\r\n\r\n"))},
	// Before the Host line: no host field.
	{Area: "bad_request", Name: "underscore-header-before-host", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /x HTTP/1.1\r\nX_Under: x \r\nX.Dot: y\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "underscore-header-on", Servers: []Server{srv(b.OK())},
		Directives: dirs("underscores_in_headers", "on"),
		Requests:   reqs(raw("GET /x HTTP/1.1\r\nHost: localhost\r\nX_Under: x\r\nX.Dot: y\r\n\r\n"))},
	// What a scanner sends (issue 16): every one of these has nginx's
	// access-log line, $request as nginx renders a line it refused
	// (compared as the access aspect), which fail2ban's nginx-bad-request
	// filter counts.
	{Area: "bad_request", Name: "garbage-upper", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GARBAGE\r\n\r\n"))},
	{Area: "bad_request", Name: "space-in-uri", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "control-byte-in-uri", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x\x01y HTTP/1.1\r\nHost: localhost\r\n\r\n")), Diff: diffRawControl},
	{Area: "bad_request", Name: "version-foo", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET / FOO/1.1\r\nHost: localhost\r\n\r\n"))},
	{Area: "bad_request", Name: "tls-to-plain-port", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("\x16\x03\x01\x00\x05hello\r\n")), Diff: diffRawControl},
	{Area: "bad_request", Name: "empty-host", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: \r\n\r\n"))},
	{Area: "bad_request", Name: "several-bad-in-a-row", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GARBAGE\r\n\r\n"), raw("GET /x HTTP/1.1\r\n\r\n"), get("/x"), raw("get /x HTTP/1.1\r\nHost: localhost\r\n\r\n"), raw("GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n"))},
	// client_header_timeout cuts a head off: 408, nothing sent, $request
	// what came of the line; a connection that sent nothing is no request.
	{Area: "bad_request", Name: "head-timeout", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_header_timeout", "1s"), Requests: reqs(raw("GET /x HTTP/1.1\r\nHo"))},
	{Area: "bad_request", Name: "line-timeout", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_header_timeout", "1s"), Requests: reqs(raw("GET /sl"))},
	{Area: "bad_request", Name: "silent-timeout", Servers: []Server{srv(b.OK())},
		Directives: dirs("client_header_timeout", "1s"), Requests: reqs(raw(""))},
	// Bare LF line ends in every head of a keep-alive connection, the
	// second pipelined behind the first.
	{Area: "bad_request", Name: "bare-lf-keepalive", Servers: []Server{srv(b.OK())},
		Requests: reqs(Request{Raw: "GET /a HTTP/1.1\nHost: localhost\n\nGET /b HTTP/1.1\nHost: localhost\nConnection: close\n\n", RawAnswers: 2})},
	{Area: "bad_request", Name: "invalid-host", Servers: []Server{srv(b.OK())}, Requests: reqs(raw("GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n"))},
	// A refused request line longer than the 200 bytes fasthttp's error
	// quotes: $request is the whole line.
	{Area: "bad_request", Name: "long-bad-line", Servers: []Server{srv(b.OK())},
		Requests: reqs(raw("GET /" + strings.Repeat("a", 300) + " HTTP/1.1 extra\r\nHost: localhost\r\n\r\n"))},

	// ---- allow/deny (ngx_http_access_module); the client is 127.0.0.1 ----
	{Area: "access", Name: "deny-all", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "all"), Requests: reqs(get("/x"), req("POST", "/echo", 100))},
	{Area: "access", Name: "allow-client-then-deny-all", Servers: []Server{srv(b.OK())},
		Directives: dirs("allow", "127.0.0.1", "deny", "all"), Requests: reqs(get("/x"))},
	{Area: "access", Name: "deny-client-then-allow-all", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "127.0.0.0/8", "allow", "all"), Requests: reqs(get("/x"))},
	{Area: "access", Name: "first-match-wins", Servers: []Server{srv(b.OK())},
		Directives: dirs("allow", "127.0.0.1/32", "deny", "127.0.0.0/8"), Requests: reqs(get("/x"))},
	{Area: "access", Name: "ipv6-rules-only", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "::1", "deny", "::/0"), Requests: reqs(get("/x"))},
	{Area: "access", Name: "unix-rule", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "unix:"), Requests: reqs(get("/x"))},
	{Area: "access", Name: "keepalive-after-403", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "all"),
		Requests:   reqs(Request{Raw: "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", RawAnswers: 2})},
	{Area: "access", Name: "too-large-body-before-access", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "all", "client_max_body_size", "1k"), Requests: reqs(req("POST", "/echo", 2048))},
	// Refused after Expect: 100-continue, nginx keeps the connection: the
	// body the client sends all the same is discarded, the next request
	// answered.
	{Area: "access", Name: "expect-100-continue-denied-keepalive", Servers: []Server{srv(b.OK())},
		Locations: []Location{{Path: "/deny", Directives: dirs("deny", "all", "proxy_pass", "http://app")}},
		Requests: reqs(Request{Raw: "POST /deny HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n0123456789" +
			"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", RawAnswers: 2})},
	{Area: "access", Name: "expect-100-continue-denied", Servers: []Server{srv(b.OK())},
		Directives: dirs("deny", "all"),
		Requests:   reqs(raw("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"))},

	// ---- auth_basic (ngx_http_auth_basic_module) ----
	{Area: "auth_basic", Name: "every-hash-scheme", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: authDirs, Requests: authRequests("apr1", "bcrypt", "bcryptb", "bcrypta", "md5", "sha256", "sha512", "sha", "ssha", "plain", "extra", "last")},
	{Area: "auth_basic", Name: "refused", Servers: []Server{srv(b.OK())}, Files: htpasswdFile, Directives: authDirs,
		Requests: reqs(get("/x"), withAuth(get("/x"), "plain:nope"), withAuth(get("/x"), "bcrypt:nope"), withAuth(get("/x"), "ghost:s3cret"),
			withAuth(get("/x"), "# comment:x"), withAuth(get("/x"), ":s3cret"), withAuth(get("/x"), "nocolon"),
			withHeader(get("/x"), "Authorization: Bearer abc"), withHeader(get("/x"), "Authorization: Basic !!!!"),
			withHeader(get("/x"), "Authorization: basic cGxhaW46czNjcmV0"))},
	// auth_basic_user_file with variables: the request's file
	{Area: "auth_basic", Name: "user-file-with-variables", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: dirs("auth_basic", "Restricted", "auth_basic_user_file", "{DIR}/$arg_f"),
		Requests:   reqs(withAuth(get("/x?f=htpasswd"), "plain:s3cret"), get("/x?f=htpasswd"), withAuth(get("/x?f=nx"), "plain:s3cret"))},
	{Area: "auth_basic", Name: "realm-with-spaces", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: dirs("auth_basic", `"Members only"`, "auth_basic_user_file", "{DIR}/htpasswd"), Requests: reqs(get("/x"))},
	{Area: "auth_basic", Name: "missing-file", Servers: []Server{srv(b.OK())},
		Directives: dirs("auth_basic", "Restricted", "auth_basic_user_file", "{DIR}/nonexistent"),
		Requests:   reqs(get("/x"), withAuth(get("/x"), "plain:s3cret"))},
	{Area: "auth_basic", Name: "off", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: dirs("auth_basic", "off", "auth_basic_user_file", "{DIR}/htpasswd"), Requests: reqs(get("/x"))},
	{Area: "auth_basic", Name: "without-user-file", Servers: []Server{srv(b.OK())},
		Directives: dirs("auth_basic", "Restricted"), Requests: reqs(get("/x"))},
	{Area: "auth_basic", Name: "access-first", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: join(dirs("deny", "all"), authDirs), Requests: reqs(get("/x"), withAuth(get("/x"), "plain:s3cret"))},
	{Area: "auth_basic", Name: "post-body-401", Servers: []Server{srv(b.OK())}, Files: htpasswdFile, Directives: authDirs,
		Requests: reqs(req("POST", "/echo", 100), withAuth(req("POST", "/echo", 100), "plain:s3cret"))},

	// ---- satisfy: allow/deny and auth_basic together ----
	{Area: "satisfy", Name: "any-allowed-by-rule", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: join(dirs("satisfy", "any", "allow", "127.0.0.1", "deny", "all"), authDirs), Requests: reqs(get("/x"))},
	{Area: "satisfy", Name: "any-denied-by-rule", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: join(dirs("satisfy", "any", "deny", "all"), authDirs),
		Requests:   reqs(get("/x"), withAuth(get("/x"), "plain:bad"), withAuth(get("/x"), "plain:s3cret"))},
	{Area: "satisfy", Name: "any-no-rule-matches", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: join(dirs("satisfy", "any", "allow", "10.0.0.0/8"), authDirs), Requests: reqs(get("/x"), withAuth(get("/x"), "plain:s3cret"))},
	{Area: "satisfy", Name: "any-without-auth", Servers: []Server{srv(b.OK())},
		Directives: dirs("satisfy", "any", "deny", "all"), Requests: reqs(get("/x"))},
	{Area: "satisfy", Name: "all", Servers: []Server{srv(b.OK())}, Files: htpasswdFile,
		Directives: join(dirs("satisfy", "all", "allow", "127.0.0.1", "deny", "all"), authDirs),
		Requests:   reqs(get("/x"), withAuth(get("/x"), "plain:s3cret"))},

	// ---- limit_req (ngx_http_limit_req_module); 1r/m drains 0.016 a second ----
	{Area: "limit_req", Name: "over-the-rate", Servers: []Server{srv(b.OK())},
		Directives: limitDirs("1r/m", "zone=one"), Requests: times(3, get("/x")), Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "burst-nodelay", Servers: []Server{srv(b.OK())},
		Directives: limitDirs("1r/m", "zone=one burst=2 nodelay"), Requests: times(4, get("/x")), Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "delay", Servers: []Server{srv(b.OK())},
		Directives: limitDirs("10r/s", "zone=one burst=5"), Requests: times(2, get("/x")), Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "status-429", Servers: []Server{srv(b.OK())},
		Directives: join(limitDirs("1r/m", "zone=one"), dirs("limit_req_status", "429", "limit_req_log_level", "warn")),
		Requests:   times(2, get("/x")), Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "dry-run", Servers: []Server{srv(b.OK())},
		Directives: join(limitDirs("1r/m", "zone=one"), dirs("limit_req_dry_run", "on")), Requests: times(3, get("/x")),
		Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "before-access", Servers: []Server{srv(b.OK())},
		Directives: join(limitDirs("1r/m", "zone=one"), dirs("deny", "all")), Requests: times(2, get("/x")),
		Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},
	{Area: "limit_req", Name: "empty-key-not-limited", Servers: []Server{srv(b.OK())},
		Directives: dirs("limit_req_zone", "$http_x_key zone=one:1m rate=1r/m", "limit_req", "zone=one"), Requests: times(3, get("/x"))},

	// ---- limit_conn (ngx_http_limit_conn_module): one request at a time ----
	{Area: "limit_conn", Name: "count-given-back", Servers: []Server{srv(b.OK())},
		Directives: dirs("limit_conn_zone", "$binary_remote_addr zone=addr:1m", "limit_conn", "addr 1"), Requests: times(3, get("/x"))},
	{Area: "limit_conn", Name: "with-limit_req", Servers: []Server{srv(b.OK())},
		Directives: join(limitDirs("1r/m", "zone=one burst=1 nodelay"), dirs("limit_conn_zone", "$binary_remote_addr zone=addr:1m", "limit_conn", "addr 1")),
		Requests:   times(3, get("/x")), Racy: []Aspect{AspectLog}, RacyReason: limitReqRacy},

	// ---- the client goes away while the upstream is awaited ----
	// nginx closes the upstream connection, tries no other server and
	// counts no failure; the phase stays "sending request" until a
	// response byte came.
	{Area: "client_abort", Name: "abort-before-header", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Requests: reqs(abort(AbortFIN))},
	{Area: "client_abort", Name: "abort-before-header-rst", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Requests: reqs(abort(AbortRST))},
	{Area: "client_abort", Name: "abort-mid-header", Servers: []Server{srv(b.PartialHeader()), srv(b.OK())},
		Requests: reqs(abort(AbortFIN))},
	{Area: "client_abort", Name: "abort-before-header-buffering_off", Servers: []Server{srv(b.SlowHeader(long)), srv(b.OK())},
		Directives: dirs("proxy_buffering", "off"), Requests: reqs(abort(AbortFIN))},
	// proxy_ignore_client_abort on: both read the upstream's answer and
	// write it to the socket the client has left: after an RST the write
	// fails (`writev() failed (104: ...)`); after a FIN it goes out, the
	// client's kernel answers it with an RST, and the lingering close of a
	// connection that is not kept (Connection: close, or the stop the
	// scenario's end begins) fails its shutdown() (107).
	{Area: "client_abort", Name: "abort-ignore-client-abort", Servers: []Server{srv(b.SlowHeader(300 * time.Millisecond)), srv(b.OK())},
		Directives: dirs("proxy_ignore_client_abort", "on"), Requests: reqs(abort(AbortFIN))},
	{Area: "client_abort", Name: "abort-ignore-client-abort-rst", Servers: []Server{srv(b.SlowHeader(300 * time.Millisecond)), srv(b.OK())},
		Directives: dirs("proxy_ignore_client_abort", "on"), Requests: reqs(abort(AbortRST))},
	{Area: "client_abort", Name: "abort-ignore-client-abort-close", Servers: []Server{srv(b.SlowHeader(300 * time.Millisecond)), srv(b.OK())},
		Directives: dirs("proxy_ignore_client_abort", "on"), Requests: reqs(closing(abort(AbortFIN)))},
}

// limitReqRacy: the excess in the log lines depends on the milliseconds
// between requests (1r/m drains one thousandth every 62 ms).
const limitReqRacy = "the excess in `limiting requests, excess: N` / `delaying request, excess: N` depends on the milliseconds between the requests (1.000 within 62 ms at 1r/m, 0.999 after); statuses and upstream hits are exact"

// limitDirs is a zone keyed by client address at rate, and limit_req with args.
func limitDirs(rate, args string) []Directive {
	return dirs("limit_req_zone", "$binary_remote_addr zone=one:1m rate="+rate, "limit_req", args)
}

// htpasswdFile has one user per hash scheme, every password "s3cret", a
// comment, a third field and a last line without a newline.
var htpasswdFile = map[string]string{"htpasswd": testutil.Htpasswd}

var authDirs = dirs("auth_basic", "Restricted", "auth_basic_user_file", "{DIR}/htpasswd")

func withHeader(r Request, h string) Request { r.Header = append(r.Header, h); return r }

func withAuth(r Request, userpass string) Request {
	return withHeader(r, "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(userpass)))
}

// authRequests is one GET /u/USER per user, with the password "s3cret".
func authRequests(users ...string) []Request {
	var out []Request
	for _, u := range users {
		out = append(out, withAuth(get("/u/"+u), u+":s3cret"))
	}
	return out
}

// uriScenarios are nginx's URI normalisation (ngx_http_parse_complex_uri):
// each set of targets without a proxy_pass URI part (the client's target
// goes upstream as sent) and with one (the location's prefix in the
// normalised $uri is replaced, re-escaped when the client used a
// %-escape); a ".." above "/" and a decoded NUL are 400.
func uriScenarios() []Scenario {
	sets := []struct {
		name  string
		paths []string
	}{
		{"dotdot", []string{"/a/b/../x?q=1", "/a/b/.."}},
		{"dotdot-above-root", []string{"/../x", "/a/../../x"}},
		{"double-slash", []string{"//x//y?q", "//"}},
		// A path, not a scheme-relative URL with a host (fasthttp's reading).
		{"double-slash-colon", []string{"//:://", "//a:b:c://x?q=1", "//[x://"}},
		{"encoded-dotdot", []string{"/a/%2e%2e/x", "/a/.%2E/%2e%2e/x"}},
		{"nul", []string{"/x.jpg%00.php"}},
		{"tilde-escaped", []string{"/%7Euser/a%20b", "/a%3Fb?c"}},
		{"dot-segment", []string{"/a/./x/.", "/./x"}},
	}
	var out []Scenario
	for _, set := range sets {
		var rs []Request
		for _, p := range set.paths {
			rs = append(rs, get(p))
		}
		out = append(out,
			Scenario{Area: "uri", Name: "uri-" + set.name, Servers: []Server{srv(b.OK())}, Requests: rs},
			Scenario{Area: "uri", Name: "uri-" + set.name + "-proxy_pass-uri", Servers: []Server{srv(b.OK())}, ProxyPassURI: "/base/", Requests: rs})
	}
	return append(out, Scenario{Area: "uri", Name: "uri-merge_slashes-off-proxy_pass-uri", Servers: []Server{srv(b.OK())},
		ProxyPassURI: "/base/", Directives: dirs("merge_slashes", "off"), Requests: reqs(get("//x//y/../z"), get("/a/%2F%2Fb"))})
}

func init() { Scenarios = append(Scenarios, uriScenarios()...) }

// Unix-domain socket upstreams (server unix:/path): the same answers, log
// lines (ngx_event_connect_peer's "connect() to unix:... failed", crit for
// a missing file) and keepalive reuse as nginx.
func init() {
	unix := func(kind string, bs ...b.Behavior) Server { return Server{Behaviors: bs, Unix: kind} }
	Scenarios = append(Scenarios,
		Scenario{Area: "unix", Name: "unix-ok", Servers: []Server{unix(UnixListen, b.OK())}, ProxyPassURI: "/base/",
			Requests: reqs(get("/x?a=1"), req("POST", "/echo", 1000))},
		Scenario{Area: "unix", Name: "unix-keepalive", Servers: []Server{unix(UnixListen, b.OK())}, Keepalive: 4,
			Directives: keepaliveDirs, Requests: times(3, get("/x")), CompareConns: true},
		Scenario{Area: "unix", Name: "unix-missing", Servers: []Server{unix(UnixMissing)}, Requests: reqs(get("/x"))},
		Scenario{Area: "unix", Name: "unix-refused", Servers: []Server{unix(UnixRefused)}, Requests: reqs(get("/x"))},
		Scenario{Area: "unix", Name: "unix-missing-next-tcp", Servers: []Server{unix(UnixMissing), srv(b.OK())},
			Requests: times(2, get("/x"))},
		Scenario{Area: "unix", Name: "unix-reset", Servers: []Server{unix(UnixListen, b.Reset())}, Requests: reqs(get("/x"))},
	)
}
