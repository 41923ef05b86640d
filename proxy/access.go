package proxy

import (
	"net"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// access is nginx's access phase, which runs once the location is known
// and before anything is read from the body or sent upstream: allow/deny
// (ngx_http_access_module) answer 403 with nginx's error line "access
// forbidden by rule", then auth_basic (authbasic.go) 401 with
// WWW-Authenticate, in nginx's order (access first). A request no location
// matches is checked with its server's directives, as nginx checks it
// against the server's location configuration before its 404. It returns
// false when it has answered.
//
// A declared body over client_max_body_size is left to readBody: nginx
// refuses it with 413 in its find-config phase, before the access phase.
func (x *exchange) access() bool {
	rules, auth := &x.vh.conf.Access, x.vh.auth
	if x.loc != nil {
		if x.bodyOverLimit() {
			return true
		}
		rules, auth = &x.loc.conf.Access, x.loc.auth
	}
	if rules.Empty() && auth == nil {
		return true
	}
	code := accessDeclined
	if deniedBy(rules, x.ctx) {
		x.logf(errorlog.Level(config.LevelError), "access forbidden by rule", 0, "")
		code = fasthttp.StatusForbidden
	}
	realm := ""
	if code <= accessOK {
		code, realm = x.authBasic(auth)
	}
	if code <= accessOK {
		return true
	}
	x.page(code)
	if code == fasthttp.StatusUnauthorized {
		x.ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	}
	return false
}

// deniedBy checks the client of ctx against rules.
func deniedBy(rules *config.AccessRules, ctx *fasthttp.RequestCtx) bool {
	if rules.Empty() {
		return false
	}
	switch a := ctx.RemoteAddr().(type) {
	case *net.TCPAddr:
		return rules.Denies(a.AddrPort().Addr())
	case *net.UnixAddr:
		return rules.DeniesUnix()
	}
	return true // an address spillway cannot tell: fail closed
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
		return !loc.conf.Access.Empty() || loc.auth != nil
	}
	return !vh.conf.Access.Empty() || vh.auth != nil
}

// discard recycles an exchange that answered nothing and logs nothing (the
// access phase run for an Expect header, which serve runs again).
func (x *exchange) discard() {
	p := x.p
	x.reset()
	p.exchanges.Put(x)
	p.requests.end()
}
