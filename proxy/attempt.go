package proxy

import (
	"io"

	"spillway/proxy/upstream"
)

// exchangeHead runs the first three phases of one attempt against pr:
// connect (or reuse an idle connection), send the request, read the response
// head into x.uresp. The returned attempt is never nil; its connection is
// closed when the error is not nil.
func (p *Proxy) exchangeHead(x *exchange, pr *upstream.Peer, fresh bool) (*upstream.Attempt, *upstream.Error) {
	lc := x.loc.conf
	a := &x.attemptBuf
	// A client gone or a hard stop ends the dial: the context is made
	// only for one (cancel.go).
	err := p.transport.Open(x.context, a, pr, upstream.OpenOptions{
		Fresh: fresh, AlwaysProbe: isNonIdempotent(x.ctx.Request.Header.Method()), TLS: x.loc.tls, H2: x.loc.upstreamH2(),
		ConnectTimeout: lc.Upstream.ConnectTimeout, ReadTimeout: lc.Upstream.ReadTimeout, SendTimeout: lc.Upstream.SendTimeout,
		HeaderBuffer: int(lc.Upstream.BufferSize), Stale: &p.stale, Log: idleLog{p},
	})
	switch {
	case err != nil && err.Phase == upstream.PhaseSSLHandshake:
		p.nextConnID() // connected: the connection had its *N
		return a, err
	case err != nil:
		return a, err
	case !a.Reused:
		p.nextConnID() // an upstream connection takes an nginx *N too
		p.stats.dials.Add(1)
	}
	uc := a.Conn
	// From here the send and the header read end when the socket is
	// closed under them: by the watch when the client goes (use), by
	// Transport.CloseAll on a hard stop. Neither is kept once the context
	// is done (tryOnce).
	if cause := x.doneCause(); cause != nil || !x.watch.use(uc) { // the client went, or the stop came, while this connection was made
		uc.Close()
		if cause == nil {
			cause = errClientGone
		}
		return a, &upstream.Error{Phase: upstream.PhaseConnect, Kind: upstream.KindOther, Peer: pr.Addr(), Reused: a.Reused, Err: cause}
	}
	defer x.watch.use(nil)
	var body io.Reader
	if x.body != nil && x.loc.conf.Upstream.PassRequestBody && x.loc.body == nil { // off: the head (Content-Length too) and no body, as nginx; proxy_set_body: its body is in x.head
		body = x.proto.Frame(x.body.reader()) // FastCGI frames it as STDIN records
	}
	if err := a.Send(x.head, body); err != nil {
		uc.Close()
		return a, err
	}
	if err := x.proto.ReadHeader(a, &x.uresp.Header); err != nil { // HTTP or FastCGI (fcgi.go)
		uc.Close()
		return a, err
	}
	x.uhead.note(&x.uresp.Header, a.PlainHead) // one walk for the names respond looks up (upstreamhead.go)
	a.Answered()                               // least_time's response times (upstream/leasttime.go)
	return a, nil
}
