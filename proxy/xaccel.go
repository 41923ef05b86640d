package proxy

import (
	"bytes"
	"slices"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
)

// X-Accel-Redirect, as nginx's ngx_http_upstream_process_headers: an
// upstream answer that names a URI in X-Accel-Redirect (unless
// proxy_ignore_headers lists it) is not relayed. Its connection is let go,
// the few headers nginx marks "redirect" are copied to the answer to come
// (Content-Type, Set-Cookie with the proxy_cookie_* rewrites,
// Content-Disposition, Cache-Control, Expires, Accept-Ranges), and the
// request is internally redirected:
//
//	@name        to the named location, method and $uri kept
//	/uri[?args]  $uri (percent-decoded) and $args become the target's, the
//	             method GET (HEAD stays), the location is found again; an
//	             unsafe URI ("..", "/../", "/..", NUL, also once decoded) is
//	             nginx's [error] "unsafe URI ... was detected" and 404
//
// The redirect counts against nginx's limit of internal redirects (the
// eleventh is "rewrite or internal redirection cycle", 500), and the
// upstream's head stays for $upstream_http_NAME.

// xaccelCopied are the upstream headers nginx carries into the answer of an
// X-Accel-Redirect (the "redirect" flag of ngx_http_upstream_headers_in).
var xaccelCopied = [...]string{"Content-Type", "Set-Cookie", "Content-Disposition", "Cache-Control", "Expires", "Accept-Ranges"}

// accelHeader is one header an X-Accel-Redirect carries into the answer.
type accelHeader struct{ key, value string }

// accelRedirect carries out the upstream answer's X-Accel-Redirect, if it
// has one. It returns false when it has none (the answer is relayed);
// otherwise true, and streaming is process's result for the target.
func (x *exchange) accelRedirect() (done, streaming bool) {
	if x.loc.up.ignoreXAR || x.loc.grpc != nil {
		return false, false
	}
	u := &x.uresp.Header
	if !x.uhead.hasAccelRedirect {
		return false, false
	}
	target := x.uhead.accelRedirect // may be empty: nginx's unsafe URI "" (accelTarget)
	target = append([]byte(nil), target...)
	x.accel = x.accel[:0]
	for k, v := range u.All() {
		for _, name := range xaccelCopied {
			if !bytes.EqualFold(k, []byte(name)) {
				continue
			}
			if name == "Set-Cookie" {
				if nv := x.rewriteHeader(k, v); nv != nil {
					v = nv
				}
			}
			x.accel = append(x.accel, accelHeader{key: name, value: string(v)})
		}
	}
	// nginx finalizes the upstream side first: the body is never read.
	x.watch.stop() // before the redirect's own phases (clientabort.go)
	x.release(x.cur, noBody(x.ctx.Request.Header.Method(), u.StatusCode()))
	x.cur = nil
	x.keepUpstreamHead = true // $upstream_http_NAME still reads this head (restart)
	x.accelFrom = x.attempts[len(x.attempts)-1].Addr
	ok := x.accelTarget(target)
	x.accelFrom = ""
	if !ok {
		return true, false
	}
	return true, x.process()
}

// accelTarget redirects to target; false when the client has been
// answered instead (an unsafe URI, a cycle).
func (x *exchange) accelTarget(target []byte) bool {
	if len(target) > 0 && target[0] == '@' {
		return x.namedRedirect(string(target))
	}
	uri, args, ok := unsafeURI(target)
	if !ok {
		x.redirectLog("unsafe URI \"" + string(uri) + "\" was detected")
		x.accel = x.accel[:0]
		x.page(fasthttp.StatusNotFound)
		return false
	}
	if !x.ctx.IsHead() {
		x.ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	}
	return x.errorPageRedirect(string(uri), string(args))
}

// redirectLog writes an internal redirect's [error] line: while an
// X-Accel-Redirect is carried out, nginx is still reading the upstream's
// header, and the line says so and names the upstream.
func (x *exchange) redirectLog(msg string) {
	if x.accelFrom != "" {
		x.logPeer(errorlog.Error, upstream.PhaseReadHeader, msg, 0, x.accelFrom)
		return
	}
	x.logf(errorlog.Error, msg, 0, "")
}

// unsafeURI is nginx's ngx_http_parse_unsafe_uri: the path and the
// arguments of an X-Accel-Redirect target, the path percent-decoded when
// it had a "%". ok is false for what nginx refuses: an empty target or one
// that starts with "?", a ".." segment, a NUL, before or after decoding;
// uri is then what nginx names in its line.
func unsafeURI(target []byte) (uri, args []byte, ok bool) {
	if len(target) == 0 || target[0] == '?' {
		return target, nil, false
	}
	uri = target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		uri, args = target[:i], target[i+1:]
	}
	if !safePath(uri) {
		return uri, nil, false
	}
	if bytes.IndexByte(uri, '%') >= 0 {
		uri = unescapePath(uri)
		if !safePath(uri) {
			return uri, nil, false
		}
	}
	return uri, args, true
}

// safePath reports whether p has no NUL and no ".." segment: at its start
// ("..", "../"), or after a "/" ("/../", a trailing "/..").
func safePath(p []byte) bool {
	if bytes.IndexByte(p, 0) >= 0 {
		return false
	}
	dotdot := func(s []byte) bool {
		return len(s) >= 2 && s[0] == '.' && s[1] == '.' && (len(s) == 2 || s[2] == '/')
	}
	if dotdot(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && dotdot(p[i+1:]) {
			return false
		}
	}
	return true
}

// unescapePath decodes %XX as nginx's ngx_unescape_uri (type 0): a "%"
// not followed by two hex digits stays as it is.
func unescapePath(p []byte) []byte {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if hi, lo := unhex(p[i+1]), unhex(p[i+2]); hi >= 0 && lo >= 0 {
				out = append(out, byte(hi<<4|lo))
				i += 2
				continue
			}
		}
		out = append(out, p[i])
	}
	return out
}

// accelType is the Content-Type an answer of its own type def has: the
// one an X-Accel-Redirect carried, if any (nginx's ngx_http_set_content_type
// keeps a type already set).
func (x *exchange) accelType(def string) string {
	for _, h := range x.accel {
		if h.key == "Content-Type" {
			return h.value
		}
	}
	return def
}

// addAccelHeaders puts the headers an X-Accel-Redirect carried (but its
// Content-Type, accelType's) on the answer, in place of any of the same
// name.
func (x *exchange) addAccelHeaders(out *fasthttp.ResponseHeader) {
	var done []string
	for _, h := range x.accel {
		if h.key == "Content-Type" {
			continue
		}
		if !slices.Contains(done, h.key) {
			delHeader(out, h.key)
			done = append(done, h.key)
		}
		out.Add(h.key, h.value)
	}
}
