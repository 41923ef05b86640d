package proxy

import (
	"errors"
	"strconv"
	"strings"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// uwsgi is one more upstream protocol for the same pipeline, as FastCGI
// is (fcgi.go): a location with uwsgi_pass has loc.uwsgi set, and only the
// head differs. nginx's ngx_http_uwsgi_module sends one uwsgi packet —
// modifier1, the vars block's size (16 bits, little-endian), modifier2,
// then each var as a 16-bit little-endian length and its bytes, name then
// value — and then the request body as it is. The application answers
// with an HTTP response, which is read, relayed and retried as a proxy_pass
// answer (upstream.HTTP1), except that the connection is never reused:
// nginx keeps no uwsgi connection alive.

// maxUwsgiVars is the largest vars block the packet's 16-bit size holds.
const maxUwsgiVars = 65535

// uwsgiLocation is a location's uwsgi settings, compiled once per site.
type uwsgiLocation struct {
	params     []fcgiParam
	mod1, mod2 byte
	headers    bool // uwsgi_pass_request_headers
	// override: the HTTP_* names a uwsgi_param sets; the client's header
	// of that name is not sent again (nginx).
	override []string
}

// compileUwsgi compiles uwsgi_param values; unknown variables are an
// error, as in nginx.
func compileUwsgi(lc *config.Location, maps *vars.Maps) (*uwsgiLocation, error) {
	uc := lc.Uwsgi
	u := &uwsgiLocation{mod1: byte(uc.Modifier1), mod2: byte(uc.Modifier2), headers: lc.Upstream.PassRequestHeaders}
	for _, p := range uc.Params {
		v, err := vars.Compile(p.Value, maps)
		if err != nil {
			return nil, errors.New("uwsgi_param " + p.Name + ": " + err.Error())
		}
		u.params = append(u.params, fcgiParam{name: p.Name, value: v, ifNotEmpty: p.IfNotEmpty})
		if h, ok := strings.CutPrefix(p.Name, "HTTP_"); ok {
			u.override = append(u.override, h)
		}
	}
	return u, nil
}

// appendUwsgiVar appends one var of the packet: name and value, each with
// its 16-bit little-endian length.
func appendUwsgiVar(b, name, value []byte) []byte {
	b = append(b, byte(len(name)), byte(len(name)>>8))
	b = append(b, name...)
	b = append(b, byte(len(value)), byte(len(value)>>8))
	return append(b, value...)
}

// buildUwsgiHead renders the uwsgi packet once: retries resend it. It
// reports false, after nginx's [alert] line, when the vars do not fit the
// packet's 16-bit size (nginx answers 500).
func (x *exchange) buildUwsgiHead() bool {
	u := x.loc.uwsgi
	x.uri = x.uri[:0] // nginx logs uwsgi://host:port with no URI
	if h := &x.ctx.Request.Header; x.body != nil && (x.body.Size() > 0 || h.ContentLength() == -1 || len(h.Peek("Content-Length")) > 0) {
		// $content_length: the buffered body's size (a chunked body has
		// one now, 0 for an empty one: uwsgi_body.t); empty for a
		// request that sent no body, as in nginx.
		x.vars.req.BodyLength = x.body.Size()
	}
	head := append(x.head[:0], u.mod1, 0, 0, u.mod2)
	val := x.fcgi.val[:0]
	for i := range u.params {
		p := &u.params[i]
		val = p.value.Append(val[:0], x)
		if p.ifNotEmpty && len(val) == 0 {
			continue
		}
		head = appendUwsgiVar(head, []byte(p.name), val)
	}
	x.fcgi.val = val
	if u.headers {
		// Every client header as HTTP_NAME, as fastcgi_pass does (nginx
		// builds both the same way), except those a uwsgi_param sets.
		var name []byte
		for k, v := range x.ctx.Request.Header.AllInOrder() {
			var ok bool
			if name, ok = cgiHeaderName(name[:0], k); !ok || overridden(u.override, name[5:]) {
				continue
			}
			head = appendUwsgiVar(head, name, v)
		}
	}
	x.head = head
	n := len(head) - 4
	if n > maxUwsgiVars {
		x.logf(errorlog.Alert, "uwsgi request is too big: "+strconv.Itoa(n), 0, "")
		return false
	}
	head[1], head[2] = byte(n), byte(n>>8)
	return true
}
