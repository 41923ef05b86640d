package proxy

import (
	"net"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// access is nginx's preaccess phase (limit_req, limitreq.go, then
// limit_conn, limitconn.go) and access phase, which run once the location
// is known and before anything is read from the body or sent upstream.
// The access phase's checks run in nginx's order: allow/deny
// (ngx_http_access_module: 403, and "access forbidden by rule" under
// satisfy all), then auth_basic (authbasic.go: 401 with WWW-Authenticate),
// then auth_request (authrequest.go: a subrequest's 401, 403 or 500).
// Under "satisfy all" (the default) each must pass; under "satisfy any"
// the first that passes lets the request on, and when none does the answer
// is 401 if a check said 401, else 403 (logged then as "access forbidden by
// rule"), as ngx_http_core_access_phase and its post-access phase decide.
// A request no location matches is checked with its server's directives,
// as nginx checks it against the server's location configuration before
// its 404. It returns false when it has answered.
//
// A declared body over client_max_body_size is left to readBody: nginx
// refuses it with 413 in its find-config phase, before the access phase.
func (x *exchange) access() bool { return x.accessPhases(false) }

// accessPhases is access; expecting is the check made before "100
// Continue" (handler.go expect), which holds no limit_conn count: the body
// may never come, and serve takes the count.
func (x *exchange) accessPhases(expecting bool) bool {
	vh := x.vh
	rules, auth, ar, any := &vh.conf.Access, vh.auth, vh.authRq, vh.conf.SatisfyAny
	limits, lc, conns, cc := vh.limits, &vh.conf.LimitReq, vh.conns, &vh.conf.LimitConn
	if x.loc != nil {
		if x.loc.conf.Internal && !x.internal {
			// ngx_http_core_find_config_phase: a client's request for an
			// internal location is 404, before anything else.
			x.page(fasthttp.StatusNotFound)
			return false
		}
		if x.bodyOverLimit() {
			return true
		}
		l := x.loc
		rules, auth, ar, any = &l.conf.Access, l.auth, l.authRq, l.conf.SatisfyAny
		limits, lc, conns, cc = l.limits, &l.conf.LimitReq, l.conns, &l.conf.LimitConn
	}
	if rules.Empty() && auth == nil && ar == nil && len(limits) == 0 && len(conns) == 0 {
		return true
	}
	done := x.ctx.UserValue(accessDone{}) != nil // checked before "100 Continue"
	if !done {
		if code := x.limitReq(limits, lc); code != 0 { // the preaccess phase (limitreq.go)
			x.page(code)
			return false
		}
	}
	held, code := x.limitConn(conns, cc) // then limit_conn (limitconn.go)
	if expecting {
		release(held)
	} else {
		x.connHeld = held
	}
	if code != 0 {
		x.page(code)
		return false
	}
	if done {
		x.restoreAuthVars()
		return true
	}
	ok := x.checkAccess(rules, auth, ar, any)
	if ok && expecting {
		x.keepAuthVars() // for serve, which does not ask again
	}
	return ok
}

// checkAccess is the access phase proper: allow/deny, then auth_basic,
// then auth_request, under satisfy all or any. An internal redirect
// (files.go) runs it again for the new location, as nginx does.
//
// Each check that answers 401 adds its WWW-Authenticate to the response
// headers, as nginx's do: under satisfy any they are all sent with the
// answer, whatever it is (both challenges with a 401, auth_basic's with
// auth_request's 500: measured), and dropped when a later check lets the
// request in (ngx_http_core_access_phase hides the header).
func (x *exchange) checkAccess(rules *config.AccessRules, auth *basicAuth, ar *authRequest, any bool) bool {
	code := accessDeclined
	var challenges [2]string // the WWW-Authenticate of each 401, in order
	nc := 0
	for check := 0; check < 3; check++ {
		rc, rchallenge := accessDeclined, ""
		switch check {
		case 0:
			switch checkRules(rules, x) {
			case config.AccessAllow:
				rc = accessOK
			case config.AccessDeny:
				if !any {
					x.logf(errorlog.Error, "access forbidden by rule", 0, "")
				}
				rc = fasthttp.StatusForbidden
			}
		case 1:
			var realm string
			if rc, realm = x.authBasic(auth); rc == fasthttp.StatusUnauthorized {
				rchallenge = `Basic realm="` + realm + `"`
			}
		case 2:
			rc, rchallenge = x.authRequest(ar) // a subrequest (authrequest.go)
		}
		if rchallenge != "" {
			challenges[nc] = rchallenge
			nc++
		}
		switch {
		case rc == accessDeclined:
		case rc == accessOK:
			if any {
				return true
			}
		case any && (rc == fasthttp.StatusForbidden || rc == fasthttp.StatusUnauthorized):
			if code != fasthttp.StatusUnauthorized {
				code = rc
			}
		default:
			code = rc
			check = 3 // satisfy all, or a 500: answered at once
		}
	}
	if code <= accessOK {
		return true
	}
	if code == statusClientClosed { // gone during auth_request's subrequest: closed, nothing to answer
		x.status = code
		return false
	}
	if any && code == fasthttp.StatusForbidden {
		// ngx_http_core_post_access_phase: a refusal collected under
		// satisfy any is logged when it is answered.
		x.logf(errorlog.Error, "access forbidden by rule", 0, "")
	}
	for _, c := range challenges[:nc] {
		x.addWWWAuthenticate(c) // carried to the answer, an error page's too (errorpage.go)
	}
	x.page(code)
	return false
}

// checkRules checks the request's client (the real client's address once
// realip replaced it, realip.go) against rules.
func checkRules(rules *config.AccessRules, x *exchange) config.AccessVerdict {
	if rules.Empty() {
		return config.AccessNoMatch
	}
	if x.clientIP.IsValid() {
		return rules.Check(x.clientIP)
	}
	if _, ok := x.ctx.RemoteAddr().(*net.UnixAddr); ok {
		return rules.CheckUnix()
	}
	return config.AccessDeny // an address spillway cannot tell: fail closed
}

// bodyOverLimit is readBody's refusal on the declared length alone.
func (x *exchange) bodyOverLimit() bool {
	cl, limit := x.ctx.Request.Header.ContentLength(), x.loc.conf.ClientMaxBodySize
	return cl > 0 && limit > 0 && int64(cl) > limit
}

// guarded reports whether the access phase has anything to check for a
// request routed to vh and loc (for "Expect: 100-continue": nginx sends
// 100 Continue only when the proxy module reads the body, after the access
// phase).
func guarded(vh *vhost, loc *location) bool {
	if loc != nil {
		return loc.conf.Internal || !loc.conf.Access.Empty() || loc.auth != nil || loc.authRq != nil || len(loc.limits) > 0 || len(loc.conns) > 0
	}
	return !vh.conf.Access.Empty() || vh.auth != nil || vh.authRq != nil || len(vh.limits) > 0 || len(vh.conns) > 0
}

// accessDone marks a request whose access phase ran before "100 Continue"
// (a fasthttp user value), so that serve does not count it twice.
type accessDone struct{}

// discard recycles an exchange that answered nothing and logs nothing (the
// access phase run for an Expect header; serve then goes on without it).
func (x *exchange) discard() {
	p := x.p
	x.reset()
	p.exchanges.Put(x)
	p.requests.end()
}
