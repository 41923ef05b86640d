package proxy

import (
	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/nginxuri"
)

// parseURI computes $uri and $args from the request target as nginx does
// (ngx_http_parse_complex_uri, package nginxuri): routing, proxy_pass's
// URI rewriting, FastCGI's script name and every $uri use the result, never
// fasthttp's ctx.Path() (which clamps ".." at the root instead of refusing
// it, and decodes a NUL). As in nginx, the merge_slashes of the address's
// default server applies: the request line is parsed before Host is read.
// A target nginx refuses leaves x.uriInvalid set and $uri empty; serve's
// check answers it (client.Check).
func (x *exchange) parseURI(dflt *vhost) {
	target := originForm(x.ctx.Request.Header.RequestURI())
	if len(target) == 0 || target[0] != '/' {
		// "*" (OPTIONS) or an authority (CONNECT): there is no path to
		// normalise; the method checks answer these requests.
		x.path = append(x.path[:0], x.ctx.Path()...)
		x.args = x.ctx.URI().QueryString()
		return
	}
	u, err := nginxuri.Parse(x.path[:0], target, dflt.conf.MergeSlashes)
	if err != nil {
		x.uriInvalid, x.path = true, x.path[:0]
		return
	}
	x.path, x.args, x.quoted = u.Path, u.Args, u.Quoted
}

// expectURIValid is parseURI's verdict for the Expect: 100-continue check,
// which runs before serve: a target nginx refuses gets its 400 (and the
// log line) instead of an invitation to send the body.
func (p *Proxy) expectURIValid(ctx *fasthttp.RequestCtx, s *site, vhosts []*vhost) (path []byte, status int) {
	var buf [256]byte
	target := originForm(ctx.Request.Header.RequestURI())
	if len(target) == 0 || target[0] != '/' {
		return ctx.Path(), 0
	}
	u, err := nginxuri.Parse(buf[:0], target, vhosts[0].conf.MergeSlashes)
	if err == nil {
		return u.Path, 0
	}
	p.requests.begin()
	x := p.exchanges.Get().(*exchange)
	x.begin(p, s, ctx, vhosts)
	head := x.clientHead(vhosts[0])
	head.LogInvalidURI() // the request line: the default server's log (levellog.go)
	x.page(fasthttp.StatusBadRequest)
	return nil, x.expectAnswer()
}
