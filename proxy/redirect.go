package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
	"spillway/proxy/config"

	"spillway/proxy/internal/nginxuri"
)

// nginx's auto_redirect (ngx_http_core_find_static_location): a location
// whose name ends with "/" and that proxies (proxy_pass, fastcgi_pass)
// answers the same path without the slash with a 301 to the slashed one,
// unless a location is named exactly that path. nginx decides it before
// any regex location is tried, so "/admin" never reaches another
// location's upstream ("/"'s, or a regex's).

// autoRedirect reports whether path gets nginx's 301 to path+"/".
func (vh *vhost) autoRedirect(path []byte) bool { return vh.slashedFor(path) != nil }

// slashedFor is the location whose auto_redirect answers path, or nil:
// nginx's static search, level by level (a server's locations, then those
// nested in the longest prefix that matched), stops at a location named
// exactly path, or at a proxying one named path+"/".
func (vh *vhost) slashedFor(path []byte) *location {
	if len(path) == 0 {
		return nil
	}
	for t := &vh.locTree; t != nil; {
		for _, l := range t.exact {
			if string(path) == l.conf.Path {
				return nil
			}
		}
		var longest *location
		for _, l := range t.prefix {
			if bytes.HasPrefix(path, []byte(l.conf.Path)) {
				longest = l
				break
			}
		}
		if l := t.slashed[string(path)]; l != nil && (longest == nil || longest.conf.Path != string(path)) {
			return l
		}
		if longest == nil {
			return nil
		}
		t = longest.nested
	}
	return nil
}

// slashedLocations indexes a server's proxying exact and prefix locations
// named "/something/" by "/something" (the first one wins, as in nginx's
// location tree, where "= /a/" and "/a/" share a node).
func slashedLocations(locs ...[]*location) map[string]*location {
	m := map[string]*location{}
	for _, ls := range locs {
		for _, l := range ls {
			p := l.conf.Path
			if len(p) < 2 || p[len(p)-1] != '/' || l.group == nil {
				continue
			}
			if _, ok := m[p[:len(p)-1]]; !ok {
				m[p[:len(p)-1]] = l
			}
		}
	}
	return m
}

// redirectSlash answers nginx's 301 for autoRedirect: Location is the
// location's name, escaped as nginx's escaped_name, with "?" and $args when
// there are any, made absolute as nginx's header filter does with
// that location's absolute_redirect, server_name_in_redirect and
// port_in_redirect (absoluteLocation): by default the Host line's host
// (lower-cased, without its port or a final dot), else the local address,
// and the local port unless it is the scheme's own.
func (x *exchange) redirectSlash() {
	// The slashed location's absolute_redirect...; a directory a static
	// location serves (files.go) redirects with that location's own.
	var rd config.Redirect
	if l := x.vh.slashedFor(x.path); l != nil {
		rd = l.conf.Redirect
	} else if x.loc != nil {
		rd = x.loc.conf.Redirect
	}
	loc := x.absoluteLocation(nil, nginxuri.AppendEscaped(nil, append(append([]byte(nil), x.path...), '/')), rd)
	if len(x.args) > 0 {
		loc = append(append(loc, '?'), x.args...)
	}
	x.page(fasthttp.StatusMovedPermanently)
	x.ctx.Response.Header.Set("Location", string(loc))
}

// expectRedirect answers autoRedirect's 301 to a request with "Expect:
// 100-continue", as nginx does, without inviting the body.
func (p *Proxy) expectRedirect(ctx *fasthttp.RequestCtx, s *site, vhosts []*vhost) int {
	p.requests.begin()
	x := p.exchanges.Get().(*exchange)
	x.begin(p, s, ctx, vhosts)
	x.redirectSlash()
	return x.expectAnswer()
}

// redirectHost is nginx's r->headers_in.server from a Host line: without
// the port, lower-cased, without a final dot.
func redirectHost(host []byte) []byte {
	h := []byte(string(hostOnly(host)))
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			h[i] = c + 'a' - 'A'
		}
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}
