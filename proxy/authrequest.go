package proxy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// auth_request (ngx_http_auth_request_module): the access phase's last
// check asks another location, by a subrequest, whether the request may
// go on. The subrequest is an exchange of its own (its location's
// proxy_pass, timeouts, proxy_next_upstream and error lines, with
// nginx's "subrequest:" field), that answers its parent instead of the
// client. As nginx 1.22 (measured):
//
//   - it is a GET whatever the client's method, with the client's headers
//     (Content-Length as the client declared it, unless proxy_set_header
//     Content-Length "" removes it) and never a body;
//   - its upstream's 2xx lets the request on, 401 is the answer with the
//     upstream's first WWW-Authenticate, 403 is the answer, and any other
//     status, a failed upstream's 502 or 504 included, is 500 and the line
//     "auth request unexpected status: N while sending to client";
//   - auth_request_set is evaluated with the subrequest's variables
//     ($upstream_status, $upstream_http_NAME) whatever the status;
//   - the subrequest is not in the access log, nor in the main request's
//     $upstream_* variables; its body is never read (the upstream
//     connection is kept only when the answer has none).
//
// A target location that answers with return (nginx-tests' shape) needs no
// exchange on the wire: its status is the subrequest's.

// statusClientClosed is nginx's 499: the client closed its connection.
const statusClientClosed = 499

// authRequest is an auth_request compiled: the URI is literal, so its
// location is found once, at load.
type authRequest struct {
	uri string
	loc *location
	set []authSet
	// ret is the status of the location's return when it answers the
	// subrequest itself (location = /auth { return 204; }); 0: it proxies.
	ret int
}

// authSet is one auth_request_set: the variable's slot and its value.
type authSet struct {
	slot  int
	value *vars.Value
}

// compileAuthRequest routes ar's URI in vh. spillway makes the subrequest
// to a location that proxies with proxy_pass or answers with return, and
// refuses other targets at load rather than answer differently.
func (s *site) compileAuthRequest(vh *vhost, ar *config.AuthRequest) (*authRequest, error) {
	if ar.URI == "" {
		return nil, nil
	}
	c := &authRequest{uri: ar.URI, loc: vh.match([]byte(ar.URI))}
	switch l := c.loc; {
	case l == nil:
		return nil, fmt.Errorf("auth_request %s: no location matches it (nginx would answer every request 500)", ar.URI)
	case l.rw != nil && l.rw.ret != nil && len(l.rw.ops) == 1 && l.rw.ret.conf.Code != 444: // a return alone
		c.ret = l.rw.ret.conf.Code // its status is all auth_request reads of it
	case l.rw != nil:
		return nil, fmt.Errorf("auth_request %s: location %q has rewrite (or return 444), which spillway's subrequests do not run", ar.URI, l.conf.Path)
	case l.pass != nil:
		return nil, fmt.Errorf("auth_request %s: location %q has proxy_pass with variables, which spillway's subrequests do not evaluate", ar.URI, l.conf.Path)
	case l.group == nil || l.fcgi != nil || l.uwsgi != nil || l.grpc != nil:
		return nil, fmt.Errorf("auth_request %s: location %q neither proxy_passes nor returns (spillway's subrequests go to a proxy_pass or return location)", ar.URI, l.conf.Path)
	}
	for _, as := range ar.Set {
		slot, ok := s.maps.SetIndex(as.Variable)
		if !ok {
			return nil, fmt.Errorf("auth_request_set $%s: not in scope", as.Variable) // authSetNames lists every one
		}
		v, err := vars.Compile(as.Value, s.maps)
		if err != nil {
			return nil, fmt.Errorf("auth_request_set $%s: %w", as.Variable, err)
		}
		c.set = append(c.set, authSet{slot: slot, value: v})
	}
	return c, nil
}

// authSetNames are the variables of every auth_request_set in cfg, each
// once: in scope in every value, as nginx adds them to the http block's.
func authSetNames(cfg *config.Config) []string {
	var names []string
	seen := map[string]bool{}
	add := func(ar *config.AuthRequest) {
		for _, s := range ar.Set {
			if !seen[s.Variable] {
				seen[s.Variable] = true
				names = append(names, s.Variable)
			}
		}
	}
	for _, sc := range cfg.Servers {
		add(&sc.AuthRequest)
		for _, lc := range sc.AllLocations() {
			add(&lc.AuthRequest)
		}
	}
	return names
}

// authRequest runs ar's subrequest and returns the access check's answer
// (accessOK, 401 with the challenge to send, 403, or 500), and with it
// sets the request's auth_request_set variables.
func (x *exchange) authRequest(ar *authRequest) (rc int, challenge string) {
	if ar == nil {
		return accessDeclined, ""
	}
	sub := x.p.exchanges.Get().(*exchange)
	sub.beginSubrequest(x, ar)
	status, gone := ar.ret, false
	if status == 0 {
		status, gone = sub.runSubrequest()
		x.subDone = true // the upstream left nginx's action at "sending to client"; a return does not
	}
	if gone {
		// The client went while the subrequest waited (its info line
		// is logged, the connection closed): nginx's 499, nothing more.
		sub.endSubrequest()
		return statusClientClosed, ""
	}
	x.setAuthVars(ar, sub)
	if status == fasthttp.StatusUnauthorized {
		challenge = string(sub.uresp.Header.Peek("WWW-Authenticate"))
	}
	sub.endSubrequest()
	switch {
	case status >= 200 && status < 300:
		return accessOK, ""
	case status == fasthttp.StatusUnauthorized || status == fasthttp.StatusForbidden:
		return status, challenge
	}
	x.logf(errorlog.Error, "auth request unexpected status: "+strconv.Itoa(status), 0, "") // "while sending to client": subDone
	return fasthttp.StatusInternalServerError, ""
}

// beginSubrequest makes x the subrequest of parent to ar's location: the
// parent's connection, head and log fields, ar's URI as $uri.
func (x *exchange) beginSubrequest(parent *exchange, ar *authRequest) {
	x.p, x.site, x.ctx, x.vh, x.loc = parent.p, parent.site, parent.ctx, parent.vh, ar.loc
	x.parent = parent
	x.start = time.Now()
	x.conn = parent.conn
	x.client = append(x.client[:0], parent.client...)
	x.clientPort, x.serverPort = parent.clientPort, parent.serverPort
	x.reqLine = append(x.reqLine[:0], parent.reqLine...)
	x.host = append(x.host[:0], parent.host...)
	x.referer = append(x.referer[:0], parent.referer...)
	x.ignored = append(x.ignored[:0], parent.ignored...) // names nginx ignores are not sent in the subrequest either
	x.fields = errorlog.Fields{
		Client: bstr(x.client), Server: x.vh.name, Request: bstr(x.reqLine),
		Host: bstr(x.host), Referrer: bstr(x.referer), Subrequest: ar.uri,
	}
	x.path = append(x.path[:0], ar.uri...)
	x.redirected = true // its URI, not the client's target, goes upstream (upstreamURI)
	x.beginVars()
}

// runSubrequest makes the subrequest's attempts, as its location retries
// them, and returns the status it got: the upstream's, or the error
// status a failure would have answered (502, 504); gone when the client
// went away meanwhile (watched as for any upstream exchange: nginx checks
// the main connection for its subrequests too).
func (x *exchange) runSubrequest() (status int, gone bool) {
	_ = x.buildHead() // always true: the subrequest's location proxy_passes
	x.watchClient()
	out := x.tryOnce()
	for out == tryNext {
		out = x.tryOnce()
	}
	if out == tryDone {
		gone = x.doneCause() != nil // the client went, or a hard stop came (cancel.go)
		x.watch.stop()
		return x.status, gone // page or clientAborted recorded it
	}
	x.watch.stop()
	status = x.uresp.Header.StatusCode()
	// nginx reads no body of a subrequest made for its headers: the
	// connection is kept only when there is none to read.
	empty := noBody(nil, status) || x.uresp.Header.ContentLength() == 0
	x.release(x.cur, empty)
	x.cur = nil
	return status, false
}

// endSubrequest recycles a subrequest's exchange: nothing to log (nginx
// logs no subrequest in the access log).
func (x *exchange) endSubrequest() {
	if x.cur != nil {
		x.release(x.cur, false)
	}
	p := x.p
	x.reset()
	p.exchanges.Put(x)
}

// setAuthVars evaluates ar's auth_request_set values with sub's variables
// into x's slots.
func (x *exchange) setAuthVars(ar *authRequest, sub *exchange) {
	if len(ar.set) == 0 {
		return
	}
	if n := x.site.maps.Sets(); len(x.authVars) < n {
		x.authVars = append(x.authVars[:0], make([][]byte, n)...)
	}
	if x.authBuf == nil {
		x.authBuf = make([]byte, 0, 128)
	}
	// Append every value first, then slice them: an append may move the
	// buffer.
	type span struct{ slot, start, end int }
	var spans [8]span
	sp := spans[:0]
	for _, s := range ar.set {
		start := len(x.authBuf)
		x.authBuf = s.value.Append(x.authBuf, sub)
		sp = append(sp, span{s.slot, start, len(x.authBuf)})
	}
	for _, s := range sp {
		x.authVars[s.slot] = x.authBuf[s.start:s.end:s.end] // not nil: set, maybe to ""
	}
}

// authKept carries what the access phase run before "100 Continue" left
// for the request's serve (a fasthttp user value under authKeptKey):
// auth_request_set's values, and whether a subrequest went upstream.
type authKept struct {
	vars    [][]byte
	subDone bool
}

type authKeptKey struct{}

// keepAuthVars copies x's auth_request_set values and subDone into ctx.
func (x *exchange) keepAuthVars() {
	if len(x.authVars) == 0 && !x.subDone {
		return
	}
	k := &authKept{vars: make([][]byte, len(x.authVars)), subDone: x.subDone}
	for i, v := range x.authVars {
		if v != nil {
			k.vars[i] = append([]byte{}, v...)
		}
	}
	x.ctx.SetUserValue(authKeptKey{}, k)
}

// restoreAuthVars takes what keepAuthVars kept, over the slots: the
// values set wrote in this serve's rewrite phases stay (rewrite.go).
func (x *exchange) restoreAuthVars() {
	if k, ok := x.ctx.UserValue(authKeptKey{}).(*authKept); ok {
		if len(x.authVars) < len(k.vars) {
			x.authVars = append(x.authVars, make([][]byte, len(k.vars)-len(x.authVars))...)
		}
		for i, v := range k.vars {
			if v != nil {
				x.authVars[i] = v
			}
		}
		x.subDone = k.subDone
	}
}
