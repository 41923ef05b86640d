package client

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
)

// Request targets and methods that nginx 1.22 refuses and fasthttp lets
// through (measured against nginx 1.22.1, see docs/differential.md):
//
//	CONNECT example.com:443   400  client sent invalid request while reading client request line
//	OPTIONS * (any method *)  400  client sent invalid request while reading client request line
//	GET http://u@h/, bad host 400  client sent invalid request while reading client request line
//	CONNECT /x                405  client sent CONNECT method while reading client request headers
//	TRACE /                   405  client sent TRACE method while reading client request headers
//
// None reaches an upstream. A request-line error is logged before nginx has
// read the headers: no host field, the default server, and $host is that
// server's name, never the CONNECT target (Refusal.AtLine). The 405s are
// decided after the headers (host field, the server the host selects) and
// close the connection too: nginx has not set keepalive yet.
//
// An absolute-form target (GET http://Evil.COM:8080/a) is nginx's: the
// request line's host, lowercased and without its port, is $host and
// selects the server block (RouteHost); $request_uri and the URI sent
// upstream are the origin form (/a); the "host:" field of the error log
// stays the Host header.

// targetValid applies nginx's request-line parser to the target: origin
// form ("/..."), or absolute form with a scheme of letters (digits, '+',
// '-', '.' after the first) and a host of letters, digits, '.' and '-', an
// optional numeric port, then '/', '?' or the end. Anything else (authority
// form, "*", userinfo, '_' in the host) is nginx's 400. An absolute form's
// host must then pass nginx's ValidHost ("http://./", "http://a..b/"):
// `client sent invalid host in request line`, with the default server
// and no host.
func (h *Head) targetValid(log *errorlog.Log) bool {
	host, ok := TargetHost(h.Header.RequestURI())
	msg := "client sent invalid request"
	switch {
	case ok && (host == nil || ValidHost(host)):
		return true
	case ok:
		msg = "client sent invalid host in request line"
	}
	if log.Enabled(errorlog.Info) {
		h.write(log, msg, "reading client request line", h.lineFields())
	}
	return false
}

// methodAllowed is nginx's ngx_http_process_request_header for CONNECT
// (since 1.21.1) and TRACE: 405, logged with the request's fields, and the
// connection is closed after the page.
func (h *Head) methodAllowed(log *errorlog.Log) bool {
	m := h.Header.Method()
	if string(m) != "CONNECT" && string(m) != "TRACE" {
		return true
	}
	if log.Enabled(errorlog.Info) {
		h.write(log, "client sent "+string(m)+" method", "reading client request headers", h.Fields)
	}
	return false
}

// TargetHost checks a request target as nginx's parser does and returns
// the host of an absolute-form target (nil for origin form).
func TargetHost(t []byte) (host []byte, ok bool) {
	if len(t) > 0 && t[0] == '/' {
		return nil, true
	}
	i := 0
	for ; i < len(t); i++ {
		c := t[i] | 0x20
		if c >= 'a' && c <= 'z' || i > 0 && (t[i] >= '0' && t[i] <= '9' || t[i] == '+' || t[i] == '-' || t[i] == '.') {
			continue
		}
		break
	}
	if i == 0 || !bytes.HasPrefix(t[i:], []byte("://")) {
		return nil, false
	}
	t = t[i+3:]
	j := 0
	if len(t) > 0 && t[0] == '[' { // an IPv6 literal
		k := bytes.IndexByte(t, ']')
		if k < 0 {
			return nil, false
		}
		for _, c := range t[1:k] {
			if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' || c == ':' || c == '.') {
				return nil, false
			}
		}
		j = k + 1
	} else {
		for ; j < len(t); j++ {
			c := t[j] | 0x20
			if !(c >= 'a' && c <= 'z' || t[j] >= '0' && t[j] <= '9' || t[j] == '.' || t[j] == '-') {
				break
			}
		}
	}
	host = t[:j]
	if j < len(t) && t[j] == ':' {
		j++
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
	}
	if j < len(t) && t[j] != '/' && t[j] != '?' {
		return nil, false
	}
	return host, len(host) > 0
}

// RouteHost is the host that selects the server block: the request line's
// for an absolute-form target, else the Host header.
func RouteHost(target, hostHeader []byte) []byte {
	if h, ok := TargetHost(target); ok && h != nil {
		return h
	}
	return hostHeader
}

// fasthttp reads an origin-form target that starts with "//" and has a
// "://" further on ("//:://", "//a:b:c://x") as a scheme-relative URL,
// takes what follows "//" as a host, and refuses the request when that
// host is not one ("invalid host \"::\" with multiple port delimiters"):
// a 400 before the handler runs. nginx takes such a target as a path
// (`$uri` "/::/"). MaskTarget, fasthttp's HeaderReceived hook, runs before
// fasthttp parses the target and turns the leading "//" into "/ /", which
// fasthttp reads as a path; UnmaskTarget, first thing in every handler,
// puts the "//" back. No target read from a request line starts with
// "/ /": a space ends the target.
func MaskTarget(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	t := h.RequestURI()
	if len(t) > 1 && t[0] == '/' && t[1] == '/' && bytes.Contains(t, []byte("://")) {
		m := make([]byte, 0, len(t)+1)
		m = append(append(m, "/ "...), t[1:]...)
		h.SetRequestURIBytes(m)
	}
	return fasthttp.RequestConfig{} // the server's limits and timeouts
}

// UnmaskTarget undoes MaskTarget and HeadReceived's version mask
// (version.go).
func UnmaskTarget(ctx *fasthttp.RequestCtx) {
	unmaskVersion(&ctx.Request.Header)
	t := ctx.Request.Header.RequestURI()
	if len(t) > 2 && t[0] == '/' && t[1] == ' ' && t[2] == '/' {
		u := make([]byte, 0, len(t)-1)
		u = append(append(u, '/'), t[2:]...)
		ctx.Request.Header.SetRequestURIBytes(u)
	}
}
