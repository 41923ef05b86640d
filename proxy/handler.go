package proxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// serve is a request's whole life, in nginx's order. Each step is one method
// and each returns false when it has already answered the client (an error
// page) so that serve only has to stop.
//
//	read request (fasthttp) → check it → route → buffer body → [pick upstream →
//	connect → send → read header → retry?]… → respond (buffer or spill body) → log
//
// An error that error_page sends elsewhere is not answered where it happens:
// page records the error page, and serve's loop carries it out (nginx's
// internal redirect, errorpage.go) and runs the phases again for the new URI
// or named location.
func (p *Proxy) serve(ctx *fasthttp.RequestCtx, s *site, vhosts []*vhost) {
	p.requests.begin()
	p.stats.requests.Add(1)
	x := p.exchanges.Get().(*exchange)
	x.begin(p, s, ctx, vhosts)
	// Plain HTTP on an ssl address is nginx's 400 (tls.go), "error_page 497
	// https://..." its redirect; then the request's own checks.
	if !x.httpsPortPlain() && x.requestValid(vhosts[0]) && x.clientCertValid(vhosts) && x.process() { // the body is streamed: finish runs when it is done
		x.noteKeepalive() // the location's keepalive_* for the loop (keepalive.go)
		x.noteRate()      // limit_rate for whatever writes the answer (limitrate.go)
		return
	}
	for x.takeErrorPage() { // error_page: an internal redirect, then the phases again (errorpage.go)
		if x.process() {
			x.noteKeepalive()
			x.noteRate()
			return
		}
	}
	x.noteKeepalive()
	x.noteRate()
	x.putTrailers(false) // an answer in memory: its trailers now (headers.go)
	x.finish()
}

// requestValid is what nginx checks of a request before its server rewrite
// phase (client.Check writes nginx's line); false means the client has been
// answered (or an error page is due).
func (x *exchange) requestValid(dflt *vhost) bool {
	// Each line goes to the error_log of the server nginx has chosen when
	// it refuses: the default one's before the Host line (levellog.go).
	r, ignored := client.Check(x.clientHead(dflt), x.ignored)
	x.ignored = ignored // header names nginx ignores: not forwarded (headers.go)
	if r.Status == 0 {
		return true
	}
	if r.AtLine { // nginx has read no header yet: the default server
		x.vh = dflt
		x.host = x.host[:0]
		x.fields.Host, x.fields.Referrer, x.fields.Server = "", "", dflt.name
	}
	if r.Request != "" {
		x.reqLine = []byte(r.Request) // $request too (a new slice: x.fields aliases the old one)
	}
	if r.Close {
		x.errPage.close = true // error page or not (errorpage.go)
	}
	x.page(r.Status)
	return false
}

// clientHead is what client.Check reads of the request; dflt is the
// address's default server.
func (x *exchange) clientHead(dflt *vhost) *client.Head {
	x.chead = client.Head{
		Header: &x.ctx.Request.Header, Fields: &x.fields, Conn: x.conn,
		Default: client.Server{Name: dflt.name, Conf: dflt.conf, Log: x.p.errorLog(dflt, nil)},
		Chosen:  client.Server{Name: x.vh.name, Conf: x.vh.conf, Log: x.p.errorLog(x.vh, nil)},
		HTTP2:   x.h2 != nil, URIInvalid: x.uriInvalid,
	}
	if cc := clientConnOf(x.ctx.Conn()); cc != nil && x.h2 == nil {
		x.chead.LF = &cc.head
	}
	return &x.chead
}

// process runs nginx's phases from the server rewrite phase (after a
// redirect to a named location, from that location's rewrite phase) to the
// answer. It returns true when the body is streamed: finish then runs when
// it is done; otherwise the client has its answer, or an error page is due.
func (x *exchange) process() (streaming bool) {
	if x.errPage.uriChanges == 0 {
		x.applyRealIP(&x.vh.conf.RealIP) // set_real_ip_from: nginx's post-read phase, once (realip.go)
	}
	if x.rewritePhases() { // server rewrite, find config, rewrite, post rewrite: answered by a return, a redirect, the cycle limit (rewrite.go)
		return false
	}
	if x.loc != nil {
		x.applyRealIP(&x.loc.conf.RealIP) // the location's, if the server's did not: preaccess (realip.go)
	}
	if !x.accessPhase() { // allow/deny, auth_basic, limit_req, limit_conn: nginx's 403/401/503 (access.go)
		return false
	}
	if x.noUpstream() { // an earlier if block's proxy_pass, with none here (rewrite.go)
		return false
	}
	if x.loc != nil && x.loc.conf.StubStatus {
		x.stubStatus()
		return false
	}
	if x.loc != nil && x.loc.files != nil { // root, alias, index, try_files (files.go)
		done, streaming := x.serveFiles()
		if streaming || done {
			return streaming
		}
	}
	if x.loc == nil || !x.loc.proxies() {
		x.page(fasthttp.StatusNotFound)
		return false
	}
	if x.body == nil && !x.readBody() { // client_max_body_size, client_body_buffer_size, temp file
		return false
	}
	if x.loc.pass != nil && !x.passTarget() { // proxy_pass with variables: its upstream, resolved (passvars.go)
		return false
	}
	if !x.buildHead() { // a uwsgi packet too big: nginx's [alert] and 500
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	x.watchClient()    // a client that goes away ends the wait, and the body's reading (clientabort.go)
	out := x.tryOnce() // pick, connect, send, read header
	for out == tryNext {
		out = x.tryOnce()
	}
	if out == tryDone {
		x.watch.stop()
		return false
	}
	x.accelLimitRate()       // X-Accel-Limit-Rate, even on an answer that gives way (limitrate.go)
	if x.interceptErrors() { // proxy_intercept_errors: the upstream's answer gives way to an error page (errorpage.go)
		x.watch.stop()
		return false
	}
	if done, streaming := x.accelRedirect(); done { // X-Accel-Redirect: an internal redirect instead (xaccel.go)
		return streaming
	}
	return x.respond() // the body is streamed: finish runs when it is done; the watch ends with the upstream's part
}

// expect answers "Expect: 100-continue" before fasthttp sends 100 Continue:
// a declared body over client_max_body_size gets nginx's 413 (line, page,
// access log) and never an invitation to send it.
func (p *Proxy) expect(ctx *fasthttp.RequestCtx, s *site, vhosts []*vhost) int {
	cl := ctx.Request.Header.ContentLength()
	path, refused := p.expectURIValid(ctx, s, vhosts)
	if refused != 0 {
		return refused
	}
	vh := vhostFor(vhosts, client.RouteHost(ctx.Request.Header.RequestURI(), ctx.Request.Header.Host()))
	if vh.rw != nil && vh.rw.ret != nil { // nginx invites the body it discards (rewrite.go)
		return fasthttp.StatusContinue
	}
	// nginx's find-config phase: a client's internal location is 404
	// (guarded), else a declared body over the location's (the server's)
	// client_max_body_size is 413, before auto_redirect's 301 and the
	// location's return (declaredTooLarge).
	loc := vh.match(path)
	limit := vh.conf.ClientMaxBodySize
	if loc != nil {
		limit = loc.conf.ClientMaxBodySize
	}
	tooLarge := (loc == nil || !loc.conf.Internal) && cl > 0 && limit != 0 && int64(cl) > limit
	if !tooLarge && vh.autoRedirect(path) { // nginx's 301, and no 100 Continue (redirect.go)
		return p.expectRedirect(ctx, s, vhosts)
	}
	if !tooLarge && loc != nil && loc.rw != nil && loc.rw.ret != nil {
		return fasthttp.StatusContinue
	}
	if !tooLarge && !guarded(vh, loc) {
		return fasthttp.StatusContinue
	}
	p.requests.begin()
	x := p.exchanges.Get().(*exchange)
	x.begin(p, s, ctx, vhosts)
	x.errPage.located = true // the location's error_page answers
	if tooLarge {
		x.declaredTooLarge() // refuses on the declared length alone
	} else if x.accessPhases(true) { // a refused client is never invited to send its body
		ctx.SetUserValue(accessDone{}, true) // serve goes on without a second check
		x.discard()
		return fasthttp.StatusContinue
	}
	if cc := clientConnOf(ctx.Conn()); cc != nil && x.loc != nil {
		cc.linger = x.loc.conf.Lingering // how the loop waits for the body it discards (conn.go)
	}
	x.noteKeepalive()
	return x.expectAnswer()
}

// expectAnswer finishes an exchange refused before "100 Continue" and
// returns the status to send. fasthttp sends ctx.Response as the answer
// (serve is not called), so an error page page chose is made here.
func (x *exchange) expectAnswer() int {
	ctx := x.ctx
	for x.takeErrorPage() {
		if x.process() {
			return ctx.Response.StatusCode() // the body streams, finish runs after it: x is not ours to read
		}
	}
	status := x.status
	x.finish()
	return status
}

// buildHead renders the upstream request head once; retries resend it. It
// reports false when there is nothing to send (uwsgi.go).
func (x *exchange) buildHead() bool {
	if x.loc.fcgi != nil {
		x.buildFastCGIHead() // BEGIN_REQUEST and PARAMS instead (fcgi.go)
		x.proto = &x.fcgi
		return true
	}
	if x.loc.grpc != nil {
		x.buildGrpcHead() // an HTTP/2 request (grpc.go)
		return true
	}
	x.proto = upstream.HTTP1{}
	if x.loc.uwsgi != nil {
		return x.buildUwsgiHead() // the uwsgi packet, answered with HTTP (uwsgi.go)
	}
	x.uri = x.upstreamURI(x.uri[:0])
	var n int64
	if x.body != nil {
		n = x.body.Size()
	}
	hasBody := x.body != nil
	if x.parent != nil {
		// nginx's subrequest has no body but the client's headers: the
		// Content-Length it declared (authrequest.go)
		cl := x.ctx.Request.Header.ContentLength()
		n, hasBody = int64(cl), cl >= 0 && !x.loc.sets("Content-Length")
	}
	if x.loc.h2 != nil {
		x.buildH2Head(x.loc.h2, false, n, hasBody) // proxy_http_version 2: an HTTP/2 request (grpc.go)
		return true
	}
	if x.loc.body != nil {
		x.head = x.appendSetBody(x.head[:0], x.uri) // proxy_set_body: the head and its body (request.go)
		return true
	}
	x.head = x.appendHead(x.head[:0], x.uri, n, hasBody)
	return true
}

// tryOutcome is what one attempt leaves the request with.
type tryOutcome uint8

const (
	tryRelay tryOutcome = iota // a response head arrived and will be relayed
	tryNext                    // the failure was logged: try again
	tryDone                    // the client was answered (an error page) or went away
)

// balance is the request's side of its group's pick: the hash key,
// evaluated once as nginx does when the upstream request starts, the
// client address for ip_hash, and the draws kept between tries.
func (x *exchange) balance() *upstream.Balance {
	if !x.balSet {
		x.balSet = true
		if x.loc.hashKey != nil {
			x.bal.Key = x.loc.hashKey.Append(x.bal.Key[:0], x)
		}
		if x.realip {
			x.bal.Addr = x.clientIP // the realip module's address, as nginx's ip_hash sees it
		} else if a, ok := x.ctx.RemoteAddr().(*net.TCPAddr); ok {
			x.bal.Addr = a.AddrPort().Addr() // not unmapped: nginx hashes a mapped IPv4 as IPv6
		}
	}
	return &x.bal
}

// tryOnce makes one attempt: pick, connect, send, read the header, and the
// retry decision when it failed or its status is listed.
func (x *exchange) tryOnce() tryOutcome {
	g := x.loc.group
	pr, fresh := x.freshNext, x.freshNext != nil
	x.freshNext = nil
	if fresh {
		x.backoff() // the same server again: give it a moment
		// The client went, or the stop came, meanwhile.
		if x.ended(pr.Addr(), nil, nil) {
			return tryDone
		}
	}
	if pr == nil {
		pr = g.PickFor(x.tried, x.balance())
	}
	if pr == nil {
		x.noLive()
		return tryDone
	}
	first := x.firstTry.IsZero()
	if first {
		g.Budget().Earn()
	}
	a, ue := x.p.exchangeHead(x, pr, fresh)
	if first {
		x.firstTry = a.Start // proxy_next_upstream_timeout counts from here
	}
	if x.ended(pr.Addr(), ue, a) { // nginx: no failure, no other server; 499 for a client gone
		x.counters(pr).abandoned() // an attempt all the same: the server may have read the head
		return tryDone
	}
	took := time.Since(a.Start) // one clock read for the metric and $upstream_response_time
	x.counters(pr).attempt(ue, took)
	if ue == nil {
		return x.answered(pr, a, took)
	}

	if x.grpcBodyTooLarge(pr.Addr()) { // a streamed gRPC body past client_max_body_size
		x.record(pr, 0, a, took, false)
		x.page(fasthttp.StatusRequestEntityTooLarge)
		return tryDone
	}
	var ce *clientReadError
	if errors.As(ue.Err, &ce) {
		// The client's body broke off while it was being streamed to the
		// upstream (proxy_request_buffering off): the client's fault.
		x.record(pr, 0, a, took, false)
		if !x.streamedTooLarge(ce.err, pr.Addr()) {
			x.clientBodyError(ce.err)
		}
		return tryDone
	}
	x.record(pr, ue.Status(), a, took, false)
	verdict := decideRetry(x.retryInput(ue, 0))
	x.counters(pr).decision(verdict)
	// nginx logs "temporarily disabled" before a timeout's error line and
	// after any other error's line. A stale keepalive connection is not the
	// server's fault, so it is not counted against max_fails (nginx counts it).
	counted := !verdict.Fresh
	if counted && ue.Kind == upstream.KindTimeout && g.Failed(pr) {
		x.logDisabled(pr, ue.Phase)
		counted = false
	}
	x.logUpstream(ue.ConnectLogLevel(), ue, pr.Addr())
	if counted && ue.Kind != upstream.KindTimeout && g.Failed(pr) {
		x.logDisabled(pr, ue.Phase)
	}
	x.logDecision(ue, 0, verdict, a, pr.Addr())
	switch {
	case verdict.Fresh:
		x.p.staleReuse(pr, a, ue) // what the idle timeout learner observes (idle.go)
		x.freeUsed = true
		x.freshNext = pr
		return tryNext
	case verdict.Retry:
		x.tried = append(x.tried, pr)
		x.tries++
		return tryNext
	}
	x.page(ue.Status())
	return tryDone
}

// answered handles a response head from pr: relayed, unless its status is
// one proxy_next_upstream lists (http_5xx/403/404/429) and the retry
// decision passes the request on.
func (x *exchange) answered(pr *upstream.Peer, a *upstream.Attempt, took time.Duration) tryOutcome {
	g := x.loc.group
	status := x.uresp.Header.StatusCode()
	x.record(pr, status, a, took, true)
	if !statusListed(status, x.loc.conf.Upstream.NextUpstream) { // the usual case: no decision to make
		x.cur, x.headAt = a, a.Start.Add(took)
		g.Succeeded(pr)
		return tryRelay
	}
	verdict := decideRetry(x.retryInput(nil, status))
	x.counters(pr).decision(verdict)
	if !verdict.Retry {
		x.logDecision(nil, status, verdict, a, pr.Addr())
		x.cur, x.headAt = a, a.Start.Add(took)
		g.Succeeded(pr)
		return tryRelay
	}
	// Drop this answer and go on. 403 and 404 are never counted as
	// failures (nginx).
	x.release(a, false)
	if status != 403 && status != 404 && g.Failed(pr) {
		x.logDisabled(pr, upstream.PhaseReadHeader)
	}
	x.logDecision(nil, status, verdict, a, pr.Addr())
	x.tried = append(x.tried, pr)
	x.tries++
	return tryNext
}

// backoff waits before a retry to a server this request already tried
// (proxy_next_upstream_backoff; 0 retries at once, as nginx).
func (x *exchange) backoff() {
	lc := x.loc.conf
	if lc.ProxyNextUpstreamBackoff <= 0 {
		return
	}
	d := backoffDelay(lc.ProxyNextUpstreamBackoff, x.sameRetries, time.Since(x.firstTry), lc.Upstream.NextUpstreamTimeout, rand.Float64())
	x.sameRetries++
	if d <= 0 {
		return
	}
	// Cut short by the request's context: a client that goes away, a
	// stop that may no longer wait (cancel.go).
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-x.context().Done():
	}
}

// backoffDelay is full jitter: u × base × 2^k for u in [0, 1), never past
// what is left of maxElapsed (proxy_next_upstream_timeout, 0 = no limit).
func backoffDelay(base time.Duration, k int, elapsed, maxElapsed time.Duration, u float64) time.Duration {
	d := time.Duration(u * float64(base<<min(k, 16)))
	if maxElapsed > 0 {
		d = max(min(d, maxElapsed-elapsed), 0)
	}
	return d
}

func (x *exchange) retryInput(ue *upstream.Error, status int) retryInput {
	lc := x.loc.conf
	max := lc.Upstream.NextUpstreamTries
	if n := x.loc.group.Tries(); max == 0 || max > n {
		max = n
	}
	nonIdem := isNonIdempotent(x.ctx.Request.Header.Method())
	if nonIdem && lc.ProxyNextUpstreamIdempotencyKey && len(x.ctx.Request.Header.Peek("Idempotency-Key")) > 0 {
		// proxy_next_upstream_idempotency_key on: the client vouches that
		// the upstream deduplicates this request.
		nonIdem = false
	}
	replayable := x.body == nil || x.body.replayable()
	if gb, ok := x.body.(*grpcBody); ok && !gb.preread && (ue == nil || !ue.Unprocessed) {
		// nginx's grpc module streams a body (request_body_no_buffering):
		// once any of the request left for the upstream, no try follows,
		// non_idempotent or not (measured, difftest's TestGrpcDifferential).
		// The bytes grpcBody keeps serve a REFUSED_STREAM only. A request
		// without a body (grpc_next_upstream.t), or whose body came with
		// its head (nginx's "pre-read" body), is retried as any other.
		replayable = false
	}
	in := retryInput{
		Err: ue, Status: status, Mask: lc.Upstream.NextUpstream,
		NonIdempotent: nonIdem,
		Replayable:    replayable,
		Tries:         x.tries + 1, MaxTries: max,
		Elapsed: time.Since(x.firstTry), MaxElapsed: lc.Upstream.NextUpstreamTimeout,
		FreeUsed: x.freeUsed,
		Now:      time.Now(),
	}
	if b := x.loc.group.Budget(); b != nil {
		in.Budget = b
	}
	return in
}

// record adds the attempt a against p to $upstream_*: took is its time so
// far, read once with the metric's (tryOnce), which is also the header's
// time ($upstream_header_time) when headed: the upstream's head came.
func (x *exchange) record(p *upstream.Peer, status int, a *upstream.Attempt, took time.Duration, headed bool) {
	via := vars.ViaFresh
	if a.Reused {
		via = vars.ViaReused
	}
	header, response := time.Duration(-1), took
	if headed { // the response time is known once the body is in (release)
		header, response = took, -1
	}
	x.addAttempt(vars.Attempt{Addr: p.Addr(), Status: status, ResponseTime: response,
		ConnectTime: a.Connect, HeaderTime: header, Via: via, IdleAge: a.Idle})
}

// noLive answers nginx's "no live upstreams": every server is down or has
// been tried. The upstream field names the group, not a peer.
func (x *exchange) noLive() {
	e := &upstream.Error{Phase: upstream.PhaseConnect, Kind: upstream.KindNoLive, Err: upstream.ErrNoLiveUpstreams}
	x.logUpstream(errorlog.Error, e, x.loc.group.Name())
	x.addAttempt(vars.Attempt{Addr: x.loc.group.Name(), Status: fasthttp.StatusBadGateway, ConnectTime: -1, HeaderTime: -1})
	x.page(fasthttp.StatusBadGateway)
}

func (x *exchange) logDisabled(p *upstream.Peer, phase upstream.Phase) {
	x.logPeer(errorlog.Warn, phase, "upstream server temporarily disabled", 0, p.Addr())
}
