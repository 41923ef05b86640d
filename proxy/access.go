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
// forbidden by rule". A request no location matches is checked against
// its server's rules, as nginx checks it against the server's location
// configuration before its 404. It returns false when it has answered.
//
// A declared body over client_max_body_size is left to readBody: nginx
// refuses it with 413 in its find-config phase, before the access phase.
func (x *exchange) access() bool {
	if !x.denied() {
		return true
	}
	x.logf(errorlog.Level(config.LevelError), "access forbidden by rule", 0, "")
	x.page(fasthttp.StatusForbidden)
	return false
}

// denied reports whether the rules in effect refuse the client.
func (x *exchange) denied() bool {
	rules := &x.vh.conf.Access
	if x.loc != nil {
		rules = &x.loc.conf.Access
		if x.bodyOverLimit() {
			return false
		}
	}
	return deniedBy(rules, x.ctx)
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

// expectDenied is the access check for "Expect: 100-continue": nginx sends
// 100 Continue only when the proxy module reads the body, after the access
// phase.
func expectDenied(ctx *fasthttp.RequestCtx, vh *vhost, loc *location) bool {
	rules := &vh.conf.Access
	if loc != nil {
		rules = &loc.conf.Access
	}
	return deniedBy(rules, ctx)
}
