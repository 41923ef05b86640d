package proxy

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/internal/nginxuri"
)

// hopByHop are never forwarded upstream: they describe the client's
// connection, not the request (RFC 9110 7.6.1). nginx's proxy module drops
// the same set (ngx_http_proxy_headers) and sets its own framing.
var hopByHop = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Expect", "Content-Length"}

// upstreamURI is the request target sent upstream, nginx's proxy_pass
// rule (ngx_http_proxy_create_request). Without a URI part: the client's
// target as it was sent, in origin form (safe because a target whose ".."
// climbs above "/" never gets here). With one: the location's prefix in
// $uri replaced by it (an exact location's whole $uri), the rest re-escaped
// with NGX_ESCAPE_URI when the client's path had a %-escape, then "?" and
// $args when there are any.
func (x *exchange) upstreamURI(dst []byte) []byte {
	// After an internal redirect nginx escapes $uri (r->internal).
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
// framing (the body is always sent with a Content-Length: it was buffered).
func (x *exchange) appendHead(dst []byte, uri []byte, bodyLen int64, hasBody bool) []byte {
	req := &x.ctx.Request.Header
	if x.parent != nil {
		dst = append(dst, fasthttp.MethodGet...) // a subrequest is a GET (authrequest.go)
	} else {
		dst = append(dst, req.Method()...)
	}
	dst = append(dst, ' ')
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/"...)
	dst = append(dst, x.loc.conf.ProxyHTTPVersion...)
	dst = append(dst, "\r\n"...)

	for i := range x.loc.set {
		h := &x.loc.set[i]
		mark := len(dst)
		dst = append(dst, h.name...)
		dst = append(dst, ": "...)
		vstart := len(dst)
		dst = h.value.Append(dst, x)
		if len(dst) == vstart { // an empty value removes the header (nginx)
			dst = dst[:mark]
			continue
		}
		dst = append(dst, "\r\n"...)
	}

	connection := req.Peek("Connection")
	for k, v := range req.AllInOrder() {
		if x.dropHeader(k, connection) {
			continue
		}
		dst = append(dst, k...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		dst = append(dst, "\r\n"...)
	}
	if hasBody {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, bodyLen, 10)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func (x *exchange) dropHeader(name, connection []byte) bool {
	for _, n := range x.ignored { // names nginx ignores (namesInOrder)
		if bytes.Equal(name, n) {
			return true
		}
	}
	for _, h := range hopByHop {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	for i := range x.loc.set {
		if bytes.EqualFold(name, []byte(x.loc.set[i].name)) {
			return true
		}
	}
	// Headers listed in Connection are hop-by-hop too (RFC 9110 7.6.1).
	for len(connection) > 0 {
		var tok []byte
		tok, connection, _ = bytes.Cut(connection, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(tok), name) {
			return true
		}
	}
	return false
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

// headerNamesValid refuses what nginx refuses and fasthttp lets through:
// a header name with a byte that is not an HTTP token character (a space
// inside the name, a control byte: `client sent invalid header line:
// "Bad\x20..."`), and Content-Length together with chunked
// Transfer-Encoding. Both get nginx's 400. A name with a token character
// nginx does not take in names ('_' unless underscores_in_headers is on,
// '.', '!', ...) is dropped, as nginx's ignore_invalid_headers does
// (namesInOrder). dflt is the address's default server, whose settings and
// name apply until the Host line.
func (x *exchange) headerNamesValid(dflt *vhost) bool {
	unusual := false
names:
	for k := range x.ctx.Request.Header.All() {
		for _, c := range k {
			if !isNginxNameChar(c) {
				unusual = true
				break names
			}
		}
	}
	if unusual {
		ok, bad := x.namesInOrder(dflt)
		if !ok {
			return false
		}
		if bad { // not found in the raw lines: report what fasthttp parsed
			for k := range x.ctx.Request.Header.All() {
				for i, c := range k {
					if !isTokenChar(c) {
						x.logf(errorlog.Info, `client sent invalid header line: "`+httphead.EscapeUpTo(k, i)+`..."`, 0, "reading client request headers")
						return false
					}
				}
			}
		}
	}
	h := &x.ctx.Request.Header
	if h.ContentLength() == -1 && rawHasHeader(h.RawHeaders(), "content-length") {
		// fasthttp lets chunked win and drops the length; nginx refuses
		// the ambiguity outright (request smuggling's classic shape).
		x.logf(errorlog.Info, `client sent "Content-Length" and "Transfer-Encoding" headers at the same time`, 0, "reading client request headers")
		return false
	}
	return true
}

// methodValid refuses what nginx refuses and fasthttp lets through: a
// method with a byte other than A-Z, '_' and '-' ("get") is nginx's 400
// and `client sent invalid method while reading client request line`,
// with the default server's name and no host (nginx has not read the
// headers yet).
func (x *exchange) methodValid(dflt *vhost) bool {
	for _, c := range x.ctx.Request.Header.Method() {
		if (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			if lv := errorlog.Info; x.p.errorLog(dflt, nil).Enabled(lv) {
				f := errorlog.Fields{Client: x.fields.Client, Server: dflt.name, Request: x.fields.Request}
				x.p.errorLog(dflt, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: "client sent invalid method", Action: "reading client request line", Fields: &f})
			}
			return false
		}
	}
	return true
}

// versionSupported refuses what nginx refuses and fasthttp lets through:
// a request line whose major version is above 1 ("GET / HTTP/2.0" in plain
// text) gets nginx's 505 and `client sent invalid version while reading
// client request line` (without the host field: nginx has not read the
// headers yet).
func (x *exchange) versionSupported() bool {
	if x.h2 != nil {
		return true // HTTP/2.0 from an HTTP/2 stream, not a request line (http2.go)
	}
	proto := x.ctx.Request.Header.Protocol()
	if len(proto) < 6 || !bytes.HasPrefix(proto, []byte("HTTP/")) || proto[5] <= '1' {
		return true
	}
	if lv := errorlog.Info; x.p.errorLog(x.vh, nil).Enabled(lv) {
		f := errorlog.Fields{Client: x.fields.Client, Server: x.fields.Server, Request: x.fields.Request}
		x.p.errorLog(x.vh, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: "client sent invalid version", Action: "reading client request line", Fields: &f})
	}
	return false
}

// linesFit is nginx's large_client_header_buffers rule, which fasthttp
// (one read buffer of number × size for the whole head) lacks: a head
// larger than client_header_buffer_size must have its request line and
// each header line fit in ONE buffer of size. A longer request line is
// 414 and `client sent too long URI while reading client request line`
// (request, and $request in the access log: the first size bytes of the
// line and its CRLF); a longer header line is nginx's 494
// (400 "Request Header Or Cookie Too Large") and `client sent too long
// header line: "<first size bytes, at most 1748>..."`, with host and
// referrer only if they came before it. It returns 0 when the head fits.
func (x *exchange) linesFit() int {
	sc := x.vh.conf
	size := int(sc.LargeClientHeaderBuffers.Size)
	raw := x.ctx.Request.Header.RawHeaders()
	head := len(x.reqLine) + 2 + len(raw) + 2
	if head <= int(sc.ClientHeaderBufferSize) || (len(x.reqLine)+2 <= size && len(raw) <= size) {
		return 0 // the common case: no line can be over the limit
	}
	lv := errorlog.Info
	if len(x.reqLine)+2 > size {
		f := errorlog.Fields{Client: x.fields.Client, Server: x.fields.Server, Request: (x.fields.Request + "\r\n")[:size]}
		x.p.errorLog(x.vh, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: "client sent too long URI", Action: "reading client request line", Fields: &f})
		// $request too is what nginx's buffer holds of the line (a new
		// slice: x.fields aliases the old one).
		x.reqLine = []byte(f.Request)
		return 414
	}
	host, referer := false, false
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if len(line)+2 > size {
			f := x.fields
			if !host {
				f.Host = ""
			}
			if !referer {
				f.Referrer = ""
			}
			q := (string(line) + "\r\n")[:min(size, 1748)] // nginx quotes its buffer: a CR too, at the edge
			x.p.errorLog(x.vh, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: `client sent too long header line: "` + q + `..."`, Action: "reading client request headers", Fields: &f})
			return 494
		}
		host = host || (len(line) > 5 && bytes.EqualFold(line[:5], []byte("host:")))
		referer = referer || (len(line) > 8 && bytes.EqualFold(line[:8], []byte("referer:")))
	}
	return 0
}

// namesInOrder is nginx's header-name check, line by line in the order
// the client sent them, for a head with an unusual name (the rare case): a
// name byte that is not a token character is nginx's 400, `client sent
// invalid header line: "Bad\x20..."` (ok false); a name with '_' (unless
// underscores_in_headers is on in the server chosen so far) or another
// token character nginx does not take in names is logged at info with the
// whole line, `client sent invalid header line: "X_Under: 1"`, and
// remembered in x.ignored so that it is not forwarded. As in nginx, the
// server (its name and its underscores_in_headers) is the default one
// until the Host line, and host and referrer are logged once they came.
// bad reports a name fasthttp holds with a non-token byte that the raw
// lines did not show.
func (x *exchange) namesInOrder(dflt *vhost) (ok, bad bool) {
	lv := errorlog.Info
	vh, host, referer := dflt, false, false
	fields := func() *errorlog.Fields {
		f := x.fields
		f.Server = vh.name
		if !host {
			f.Host = ""
		}
		if !referer {
			f.Referrer = ""
		}
		return &f
	}
	raw := x.ctx.Request.Header.RawHeaders()
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // a folded line belongs to the value before it
		}
		name, _, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		ignore := false
		for i, c := range name {
			if !isTokenChar(c) {
				x.p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: `client sent invalid header line: "` + httphead.EscapeUpTo(line, i) + `..."`, Action: "reading client request headers", Fields: fields()})
				return false, false
			}
			if !isNginxNameChar(c) && (c != '_' || !vh.conf.UnderscoresInHeaders) {
				ignore = true
			}
		}
		if ignore {
			if x.p.errorLog(vh, nil).Enabled(lv) {
				q := bytes.TrimRight(line, " \t")
				x.p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: `client sent invalid header line: "` + string(q) + `"`, Action: "reading client request headers", Fields: fields()})
			}
			x.ignored = append(x.ignored, name)
			continue
		}
		switch {
		case !host && bytes.EqualFold(name, []byte("host")):
			host, vh = true, x.vh
		case bytes.EqualFold(name, []byte("referer")):
			referer = true
		}
	}
	for k := range x.ctx.Request.Header.All() {
		for _, c := range k {
			if !isTokenChar(c) {
				return true, true
			}
		}
	}
	return true, false
}

// isNginxNameChar reports whether nginx takes c in a header name as it is
// (its lowcase table): letters, digits and '-'.
func isNginxNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// rawHasHeader reports whether the raw header block (no request line)
// has a line named lowerName.
func rawHasHeader(raw []byte, lowerName string) bool {
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if len(line) > len(lowerName) && line[len(lowerName)] == ':' &&
			bytes.EqualFold(line[:len(lowerName)], []byte(lowerName)) {
			return true
		}
	}
	return false
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c < 0x7f && c > 0x20 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
