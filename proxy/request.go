package proxy

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/internal/nginxuri"
)

// hopByHop are never forwarded upstream: they describe the client's
// connection, not the request (RFC 9110 7.6.1). nginx's proxy module drops
// the same set (ngx_http_proxy_headers) and sets its own framing.
var hopByHop = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Expect", "Content-Length"}

// dropNames is the set of client header names a location never forwards:
// the hop-by-hop ones and those proxy_set_header sets (set), compared as
// nginx compares names. Built once, with the location: dropHeader looks a
// name up in it for every header of every request.
func dropNames(set []compiledHeader) httphead.NameSet {
	names := append([]string(nil), hopByHop[:]...)
	for _, h := range set {
		names = append(names, h.name)
	}
	return httphead.NewNameSet(names...)
}

// upstreamURI is the request target sent upstream, nginx's proxy_pass
// rule (ngx_http_proxy_create_request). Without a URI part: the client's
// target as it was sent, in origin form (safe because a target whose ".."
// climbs above "/" never gets here). With one: the location's prefix in
// $uri replaced by it (an exact location's whole $uri), the rest re-escaped
// with NGX_ESCAPE_URI when the client's path had a %-escape, then "?" and
// $args when there are any.
func (x *exchange) upstreamURI(dst []byte) []byte {
	// After an internal redirect nginx escapes $uri (r->internal).
	if len(x.loc.passURI) > 0 {
		// proxy_pass with variables and a URI part: that URI, as
		// evaluated (ngx_http_proxy_create_request's first case).
		return append(dst, x.loc.passURI...)
	}
	u := nginxuri.URI{Path: x.path, Args: x.args, Quoted: x.quoted || x.redirected}
	if x.redirected && (!x.loc.conf.ProxyPass.HasURI || x.rewriteBroke) {
		// nginx after an internal redirect (index, try_files's fallback,
		// a rewrite): the new $uri, escaped, and $args; the client's
		// target no more. After a rewrite's break flag (r->valid_location
		// cleared) proxy_pass's URI part is left out too.
		dst = nginxuri.AppendEscaped(dst, u.Path)
		if len(u.Args) > 0 {
			dst = append(append(dst, '?'), u.Args...)
		}
		return dst
	}
	return upstreamURI(dst, x.loc.conf, x.ctx.Request.Header.RequestURI(), u)
}

// upstreamURI is exchange.upstreamURI for location lc, the client's
// request target and its normalised form u.
func upstreamURI(dst []byte, lc *config.Location, target []byte, u nginxuri.URI) []byte {
	pp := &lc.ProxyPass
	if !pp.HasURI {
		return append(dst, originForm(target)...)
	}
	rest := u.Path
	if n := len(lc.Path); lc.Match != config.MatchRegex && lc.Match != config.MatchRegexCaseless && n <= len(rest) {
		rest = rest[n:] // config refuses a URI part in a regex location, as nginx
	}
	dst = append(dst, pp.URI...)
	if u.Quoted {
		dst = nginxuri.AppendEscaped(dst, rest)
	} else {
		dst = append(dst, rest...)
	}
	if len(u.Args) > 0 {
		dst = append(append(dst, '?'), u.Args...)
	}
	return dst
}

// appendHead builds the request head sent upstream: the request line, the
// proxy_set_header headers in file order, then the client's headers in the
// order and case they arrived, minus hop-by-hop headers, headers named in
// Connection, and headers that proxy_set_header replaces; then our own
// framing: a Content-Length, or Transfer-Encoding: chunked for a chunked body
// streamed with proxy_http_version 1.1 (bodyLen -1), as nginx.
func (x *exchange) appendHead(dst []byte, uri []byte, bodyLen int64, hasBody bool) []byte {
	req := &x.ctx.Request.Header
	x.closeAsked = false
	switch {
	case x.loc.method != nil: // proxy_method
		dst = x.loc.method.Append(dst, x)
	case x.parent != nil:
		dst = append(dst, fasthttp.MethodGet...) // a subrequest is a GET (authrequest.go)
	default:
		dst = append(dst, req.Method()...)
	}
	dst = append(dst, ' ')
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/"...)
	dst = append(dst, x.loc.conf.ProxyHTTPVersion...)
	dst = append(dst, "\r\n"...)

	for i := range x.loc.set {
		h := &x.loc.set[i]
		if h.none {
			continue // never sent: an empty value removes the header (nginx)
		}
		mark := len(dst)
		dst = append(dst, h.name...)
		dst = append(dst, ": "...)
		vstart := len(dst)
		if h.proxyHost {
			dst = append(dst, x.vars.req.ProxyHost...) // what $proxy_host reads (compiledHeader)
		} else {
			dst = h.value.Append(dst, x)
		}
		if len(dst) == vstart { // an empty value removes the header (nginx)
			dst = dst[:mark]
			continue
		}
		if h.name == "Connection" && string(dst[vstart:]) == "close" {
			x.closeAsked = true // the connection is not kept (reusable)
		}
		dst = append(dst, "\r\n"...)
	}

	if x.loc.conf.Upstream.PassRequestHeaders { // off: proxy_set_header's only
		dst = x.appendClientHeaders(dst, req)
	}
	switch {
	case hasBody && bodyLen < 0: // a chunked body streamed (body.go's streamsBody)
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case hasBody:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, bodyLen, 10)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendClientHeaders appends the client's header lines that go
// upstream (dropHeader), in the order and case they came, each as its
// name, ": ", its value as fasthttp's AllInOrder yields it, and CRLF. The
// raw lines are cut here (httphead.CutField) rather than walked with
// AllInOrder, which checks every byte again as the parse of the head did
// (about 1,100 instructions of a 1 KiB GET's 34,000,
// docs/measured/headout-2026-12-07.md); a head with a line CutField leaves
// to fasthttp (a folded one: the checks refuse it before this) goes
// through AllInOrder whole, from its first line.
func (x *exchange) appendClientHeaders(dst []byte, req *fasthttp.RequestHeader) []byte {
	var tokens connectionTokens
	tokens.split(req.PeekCanonical([]byte(fasthttp.HeaderConnection))) // Peek would copy and check the name first
	start := len(dst)
	for raw := req.RawHeaders(); ; {
		name, value, rest, cut := httphead.CutField(raw)
		switch cut {
		case httphead.FieldsEnd:
			return dst
		case httphead.FieldOdd:
			dst = dst[:start]
			for k, v := range req.AllInOrder() {
				dst = x.appendClientHeader(dst, k, v, &tokens)
			}
			return dst
		}
		dst = x.appendClientHeader(dst, name, value, &tokens)
		raw = rest
	}
}

// appendClientHeader appends the client's header name: value unless it
// is dropped.
func (x *exchange) appendClientHeader(dst, name, value []byte, tokens *connectionTokens) []byte {
	if x.dropHeader(name, tokens) {
		return dst
	}
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// connectionTokens are the names listed in the client's Connection
// header, split once per request (and only when it came) rather than for
// each header: up to len(first), without the spaces around them, then the
// rest of the list as it came.
type connectionTokens struct {
	first [4][]byte
	n     int
	rest  []byte
}

func (t *connectionTokens) split(list []byte) {
	for len(list) > 0 && t.n < len(t.first) {
		var tok []byte
		tok, list, _ = bytes.Cut(list, []byte(","))
		if tok = bytes.TrimSpace(tok); len(tok) > 0 { // an empty one names no header
			t.first[t.n] = tok
			t.n++
		}
	}
	t.rest = list
}

// names reports whether name is one of the tokens: compared as
// bytes.EqualFold compares (Unicode's simple folding, as this check has
// always been: not nginx's, which does not drop these headers).
func (t *connectionTokens) names(name []byte) bool {
	for _, tok := range t.first[:t.n] {
		if bytes.EqualFold(tok, name) {
			return true
		}
	}
	for list := t.rest; len(list) > 0; {
		var tok []byte
		tok, list, _ = bytes.Cut(list, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(tok), name) {
			return true
		}
	}
	return false
}

// appendSetBody is the request proxy_set_body sends: the head with the
// value's length as its Content-Length, then the value (nginx's
// ngx_http_proxy_create_request with body_values: the client's body is
// read, and not sent).
func (x *exchange) appendSetBody(dst, uri []byte) []byte {
	start := len(dst)
	dst = x.loc.body.Append(dst, x)
	body := append([]byte(nil), dst[start:]...)
	dst = x.appendHead(dst[:start], uri, int64(len(body)), true)
	return append(dst, body...)
}

// dropHeader reports whether the client's header name is not forwarded:
// a name nginx ignores (client.Check), a hop-by-hop one or one
// proxy_set_header sets (the location's drop set), or one the client's
// Connection header lists.
func (x *exchange) dropHeader(name []byte, connection *connectionTokens) bool {
	for _, n := range x.ignored { // names nginx ignores (client.Check)
		if bytes.Equal(name, n) {
			return true
		}
	}
	// Headers listed in Connection are hop-by-hop too (RFC 9110 7.6.1);
	// without a token in first, none came (split fills it first).
	return x.loc.drop.Has(name) || connection.n > 0 && connection.names(name)
}

// isNonIdempotent is nginx's rule: POST, LOCK and PATCH are not passed to the
// next upstream once the request was sent (NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT).
// Every other method is treated as idempotent, as nginx does.
func isNonIdempotent(method []byte) bool {
	switch string(method) {
	case fasthttp.MethodPost, fasthttp.MethodPatch, "LOCK":
		return true
	}
	return false
}

// originForm turns an absolute-form request target
// ("http://host/path?q") into its origin form ("/path?q"), as nginx sends
// it upstream: forwarding the absolute form next to a Host header naming
// another authority would let the upstream pick a different site than the
// proxy did.
func originForm(uri []byte) []byte {
	if len(uri) == 0 || uri[0] == '/' {
		return uri
	}
	i := bytes.Index(uri, []byte("://"))
	if i <= 0 {
		return uri
	}
	rest := uri[i+3:]
	if j := bytes.IndexAny(rest, "/?"); j >= 0 {
		if rest[j] == '?' {
			return append([]byte("/"), rest[j:]...) // rare: one allocation
		}
		return rest[j:]
	}
	return []byte("/")
}
