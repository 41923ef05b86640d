package client

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/internal/nginxuri"
)

// Head is what the checks read of a request head fasthttp parsed.
type Head struct {
	Header *fasthttp.RequestHeader
	// Fields are the request's log fields: the client, the server the
	// Host line (or an absolute target) chose, the request line as read,
	// host and referrer. Check only reads them (a line's own fields are
	// a copy).
	Fields *errorlog.Fields
	Conn   uint64 // nginx's *N
	// Default is the address's default server, nginx's until it has read
	// the Host line; Chosen is the server the Host line chose. A line is
	// written to the error log of the server nginx has chosen when it
	// refuses: the default server's for the request line and the header
	// lines before Host, the chosen one's after (measured, nginx 1.22).
	Default, Chosen Server
	HTTP2           bool // from an HTTP/2 stream: HTTP/2.0 is no request line
	// URIInvalid: nginx's URI parser refused the target
	// (nginxuri.Parse).
	URIInvalid bool
	// LF is the connection's head reader (HTTP/1.x): header lines it
	// changed for fasthttp are logged as sent (HeadLF.Restore).
	LF *HeadLF
}

// Server is a server block as the checks see it: the name nginx logs as
// "server:", its settings and its error log.
type Server struct {
	Name string
	Conf *config.Server
	Log  *errorlog.Log
}

// Refusal is nginx's answer to a request it refuses before its phases. A
// zero Status means the request passed.
type Refusal struct {
	Status int
	// Close: the connection closes after the answer, error page or not
	// (nginx's 405 for CONNECT and TRACE comes before keepalive is set).
	Close bool
	// AtLine: refused in the request line's target, before nginx read a
	// header: the default server answers, with no host or referrer.
	AtLine bool
	// Request, when not empty, is the $request nginx has: only what one
	// buffer held of a request line too long for it (414).
	Request string
}

// Check is what nginx checks of a request before its server rewrite
// phase, in nginx's order; each refusal has written its line (at info) to
// the error log of the server nginx had chosen by then (Head.Default,
// Head.Chosen) by the time Check returns it. Header names nginx ignores
// (not forwarded) are appended to ignored, which Check returns.
func Check(h *Head, ignored [][]byte) (Refusal, [][]byte) {
	dflt, chosen := h.Default.Log, h.Chosen.Log
	if !h.methodValid(dflt) { // "get /": nginx takes A-Z, '_' and '-' only
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if !h.targetValid(dflt) { // CONNECT host:port, "*", "http://a..b/": nginx's 400 at the line (target.go)
		return Refusal{Status: fasthttp.StatusBadRequest, AtLine: true}, ignored
	}
	ok, ignored := h.headerNamesValid(ignored) // a name fasthttp let through but nginx refuses
	if !ok {
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if !h.hostValid(dflt) { // "Host: ", "Host: .", "Host: a..b": nginx's 400
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if !h.versionSupported(dflt) { // HTTP/2.0 and up in a request line: nginx's 505
		return Refusal{Status: fasthttp.StatusHTTPVersionNotSupported}, ignored
	}
	if h.URIInvalid { // "/../x", "%00": nginx's 400 (nginxuri)
		h.LogInvalidURI()
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if r := h.linesFit(); r.Status != 0 { // one line over a large header buffer: nginx's 414 / 494
		return r, ignored
	}
	if !h.unique() { // a second If-Match, Authorization...: nginx's 400
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if !h.hostSent(dflt) { // HTTP/1.9 without Host: nginx's 400 (version.go)
		return Refusal{Status: fasthttp.StatusBadRequest}, ignored
	}
	if !h.methodAllowed(chosen) { // CONNECT, TRACE: nginx's 405, then close (target.go)
		return Refusal{Status: fasthttp.StatusMethodNotAllowed, Close: true}, ignored
	}
	if !h.codingKnown(chosen) { // "Transfer-Encoding: identity": nginx's 501
		return Refusal{Status: fasthttp.StatusNotImplemented, Close: true}, ignored
	}
	return Refusal{}, ignored
}

// hostSent refuses what nginx refuses and fasthttp lets through: a
// request nginx takes as HTTP/1.1 ("HTTP/1.9", version.go) without a Host
// line is nginx's 400 and `client sent HTTP/1.1 request without "Host"
// header while reading client request headers`, with the default server.
// (fasthttp checks Host for HTTP/1.1 itself: ParseErrorEntry.)
func (h *Head) hostSent(log *errorlog.Log) bool {
	if h.HTTP2 || !laterHTTP1(h.Header.Protocol()) || rawHasHeader(h.Header.RawHeaders(), "host") {
		return true
	}
	if log.Enabled(errorlog.Info) {
		f := errorlog.Fields{Client: h.Fields.Client, Server: h.Default.Name, Request: h.Fields.Request}
		h.write(log, `client sent HTTP/1.1 request without "Host" header`, "reading client request headers", &f)
	}
	return false
}

// ValidHost is nginx's ngx_http_validate_host: a host (with a port, or an
// IP literal in brackets) is refused when it is empty (a trailing dot
// aside), has two dots in a row, a NUL, a '/', a control byte or a space.
// fasthttp's own host check (URI.Parse) is not nginx's: it takes these and
// refuses IPvFuture literals nginx takes, so the connection loop leaves
// the Host line to this one.
func ValidHost(host []byte) bool {
	dot, end := len(host), len(host)
	const usual, literal, rest = 0, 1, 2
	state := usual
	for i, c := range host {
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' {
			continue // most of a name or an address: the switch's default, in fewer comparisons
		}
		switch c {
		case '.':
			if dot == i-1 {
				return false
			}
			dot = i
		case ':':
			if state == usual {
				end, state = i, rest
			}
		case '[':
			if i == 0 {
				state = literal
			}
		case ']':
			if state == literal {
				end, state = i+1, rest
			}
		default:
			if c == '/' || c <= 0x20 || c == 0x7f { // a NUL among them
				return false
			}
		}
	}
	if dot == end-1 {
		end--
	}
	return end > 0
}

// hostValid is nginx's check of the Host line (ValidHost), which refuses
// an empty, "." or "a..b" value fasthttp takes: 400 and `client sent
// invalid host header while reading client request headers`, with the
// default server (the line chose none), the value as host (`host: ""` for
// an empty one) and the referrer if it came before.
func (h *Head) hostValid(log *errorlog.Log) bool {
	host := h.Header.Host()
	if ValidHost(host) {
		return true
	}
	raw := h.Header.RawHeaders()
	if len(host) == 0 && (h.HTTP2 || !rawHasHeader(raw, "host")) {
		return true // no Host line
	}
	if log.Enabled(errorlog.Info) {
		f := errorlog.Fields{Client: h.Fields.Client, Server: h.Default.Name, Request: h.Fields.Request,
			Host: string(host), HostEmpty: len(host) == 0}
		for len(raw) > 0 {
			var line []byte
			line, raw = httphead.CutLine(raw)
			name, value, _ := bytes.Cut(line, []byte(":"))
			if httphead.NameIs(name, "Host") {
				break
			}
			if httphead.NameIs(name, "Referer") && f.Referrer == "" {
				f.Referrer = string(bytes.Trim(value, " \t"))
			}
		}
		h.write(log, "client sent invalid host header", "reading client request headers", &f)
	}
	return false
}

// codingKnown refuses what nginx refuses and fasthttp lets through: a
// Transfer-Encoding other than chunked. fasthttp refuses the other codings
// itself (ParseErrorStatus) but takes "identity" and drops the line; nginx
// answers 501 with `client sent unknown "Transfer-Encoding": "identity"
// while reading client request headers`.
func (h *Head) codingKnown(log *errorlog.Log) bool {
	if h.HTTP2 || h.Header.ContentLength() == -1 { // chunked: known
		return true
	}
	if h.LF != nil && !h.LF.MayHaveCoding() { // the head scan saw no such line: not walked again
		return true
	}
	raw := h.Header.RawHeaders()
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !httphead.NameIs(name, "Transfer-Encoding") { // every request's every line: ASCII, lengths first
			continue
		}
		if log.Enabled(errorlog.Info) {
			v := string(bytes.Trim(value, " \t"))
			h.write(log, `client sent unknown "Transfer-Encoding": "`+v+`"`, "reading client request headers", h.Fields)
		}
		return false
	}
	return true
}

// write logs msg at info with fields f.
func (h *Head) write(log *errorlog.Log, msg, action string, f *errorlog.Fields) {
	log.Write(&errorlog.Entry{Level: errorlog.Info, Conn: h.Conn, Msg: msg, Action: action, Fields: f})
}

// lineFields are the fields of a line logged before nginx read a header:
// the client, the default server and the request line.
func (h *Head) lineFields() *errorlog.Fields {
	return &errorlog.Fields{Client: h.Fields.Client, Server: h.Default.Name, Request: h.Fields.Request}
}

// methodValid refuses what nginx refuses and fasthttp lets through: a
// method with a byte other than A-Z, '_' and '-' ("get") is nginx's 400
// and `client sent invalid method while reading client request line`,
// with the default server's name and no host (nginx has not read the
// headers yet).
func (h *Head) methodValid(log *errorlog.Log) bool {
	for _, c := range h.Header.Method() {
		if (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			if log.Enabled(errorlog.Info) {
				h.write(log, "client sent invalid method", "reading client request line", h.lineFields())
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
func (h *Head) versionSupported(log *errorlog.Log) bool {
	if h.HTTP2 {
		return true // HTTP/2.0 from an HTTP/2 stream, not a request line
	}
	proto := h.Header.Protocol()
	if len(proto) < 6 || !bytes.HasPrefix(proto, []byte("HTTP/")) || proto[5] <= '1' {
		return true
	}
	if log.Enabled(errorlog.Info) {
		h.write(log, "client sent invalid version", "reading client request line", h.lineFields())
	}
	return false
}

// LogInvalidURI writes nginx's line for a target its URI parser refuses
// (URIInvalid): a ".." that climbs above "/", a %-escape that decodes to
// NUL, a broken %-escape or a control byte is nginx's 400 and `client sent
// invalid request while reading client request line`, with the default
// server's name and no host (nginx has not read the headers yet).
func (h *Head) LogInvalidURI() {
	if log := h.Default.Log; log.Enabled(errorlog.Info) {
		h.write(log, nginxuri.ErrInvalid.Error(), "reading client request line", h.lineFields())
	}
}

// headerNamesValid refuses what nginx refuses and fasthttp lets through:
// a header name with a byte that is not an HTTP token character (a space
// inside the name, a control byte: `client sent invalid header line:
// "Bad\x20..."`), and Content-Length together with chunked
// Transfer-Encoding. Both get nginx's 400. A name with a token character
// nginx does not take in names ('_' unless underscores_in_headers is on,
// '.', '!', ...) is dropped, as nginx's ignore_invalid_headers does
// (namesInOrder). The lines go to the log of the server chosen so far: the
// default one's before the Host line, the chosen one's after it and for
// the checks of the whole head.
func (h *Head) headerNamesValid(ignored [][]byte) (bool, [][]byte) {
	unusual := false
names:
	for k := range h.Header.All() {
		for _, c := range k {
			if !isNginxNameChar(c) {
				unusual = true
				break names
			}
		}
	}
	log := h.Chosen.Log
	if unusual || h.LF != nil && h.LF.Folded() { // the head scan saw a folded line: nginx's 400 at it
		var ok, bad bool
		ok, bad, ignored = h.namesInOrder(ignored)
		if !ok {
			return false, ignored
		}
		if bad { // not found in the raw lines: report what fasthttp parsed
			for k := range h.Header.All() {
				for i, c := range k {
					if !isTokenChar(c) {
						if log.Enabled(errorlog.Info) {
							h.write(log, `client sent invalid header line: "`+httphead.EscapeUpTo(k, i)+`..."`, "reading client request headers", h.Fields)
						}
						return false, ignored
					}
				}
			}
		}
	}
	if h.Header.ContentLength() == -1 && rawHasHeader(h.Header.RawHeaders(), "content-length") {
		// fasthttp lets chunked win and drops the length; nginx refuses
		// the ambiguity outright (request smuggling's classic shape).
		if log.Enabled(errorlog.Info) {
			h.write(log, `client sent "Content-Length" and "Transfer-Encoding" headers at the same time`, "reading client request headers", h.Fields)
		}
		return false, ignored
	}
	return true, ignored
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
// referrer only if they came before it. As nginx, the request line's is the
// default server's (its log and name), a header line's the server chosen so
// far. The zero Refusal: the head fits.
func (h *Head) linesFit() Refusal {
	sc := h.Chosen.Conf
	size := int(sc.LargeClientHeaderBuffers.Size)
	line := h.Fields.Request
	raw := h.Header.RawHeaders()
	head := len(line) + 2 + len(raw) + 2
	if head <= int(sc.ClientHeaderBufferSize) || (len(line)+2 <= size && len(raw) <= size) {
		return Refusal{} // the common case: no line can be over the limit
	}
	if len(line)+2 > size {
		f := errorlog.Fields{Client: h.Fields.Client, Server: h.Default.Name, Request: (line + "\r\n")[:size]}
		h.write(h.Default.Log, "client sent too long URI", "reading client request line", &f)
		// $request too is what nginx's buffer holds of the line.
		return Refusal{Status: fasthttp.StatusRequestURITooLong, Request: f.Request}
	}
	srv, host, referer := h.Default, false, false
	for len(raw) > 0 {
		var l []byte
		l, raw = httphead.CutLine(raw)
		if len(l)+2 > size {
			f := h.fieldsSoFar(srv.Name, host, referer)
			q := (string(l) + "\r\n")[:min(size, 1748)] // nginx quotes its buffer: a CR too, at the edge
			h.write(srv.Log, `client sent too long header line: "`+q+`..."`, "reading client request headers", &f)
			return Refusal{Status: 494}
		}
		if !host && len(l) > 5 && bytes.EqualFold(l[:5], []byte("host:")) {
			host, srv = true, h.Chosen
		}
		referer = referer || (len(l) > 8 && bytes.EqualFold(l[:8], []byte("referer:")))
	}
	return Refusal{}
}

// namesInOrder is nginx's header-name check, line by line in the order
// the client sent them, for a head with an unusual name or a folded line
// (the rare cases): a name byte that is not a token character is nginx's
// 400, `client sent invalid header line: "Bad\x20..."` (ok false), and so
// is a line that starts with a space or a tab (obs-fold: `"\x20..."`); a name with '_' (unless
// underscores_in_headers is on in the server chosen so far) or another
// token character nginx does not take in names is logged at info with the
// whole line, `client sent invalid header line: "X_Under: 1"`, and
// appended to ignored so that it is not forwarded. As in nginx, the server
// (its name, its underscores_in_headers and its error log) is the default one until the
// Host line, and host and referrer are logged once they came. bad reports
// a name fasthttp holds with a non-token byte that the raw lines did not
// show.
func (h *Head) namesInOrder(ignored [][]byte) (ok, bad bool, _ [][]byte) {
	srv, host, referer := h.Default, false, false
	fields := func() *errorlog.Fields {
		f := h.fieldsSoFar(srv.Name, host, referer)
		return &f
	}
	raw := h.Header.RawHeaders()
	for i := 0; len(raw) > 0; i++ {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: fasthttp joins the line to the value before it,
			// nginx 1.22 refuses it as a header line without a name.
			h.write(srv.Log, `client sent invalid header line: "`+httphead.EscapeUpTo(line, 0)+`..."`, "reading client request headers", fields())
			return false, false, ignored
		}
		held := line // as fasthttp holds it
		if h.LF != nil {
			line = h.LF.Restore(i, line) // as sent: a name byte fasthttp refuses was made '.'
		}
		name, _, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		ignore := false
		for i, c := range name {
			if nameIgnored(c) {
				ignore = true
				continue
			}
			if !isTokenChar(c) {
				h.write(srv.Log, `client sent invalid header line: "`+httphead.EscapeUpTo(line, i)+`..."`, "reading client request headers", fields())
				return false, false, ignored
			}
			if !isNginxNameChar(c) && (c != '_' || !srv.Conf.UnderscoresInHeaders) {
				ignore = true
			}
		}
		if ignore {
			if srv.Log.Enabled(errorlog.Info) {
				q := bytes.TrimRight(line, " \t")
				h.write(srv.Log, `client sent invalid header line: "`+string(q)+`"`, "reading client request headers", fields())
			}
			ignored = append(ignored, held[:len(name)])
			continue
		}
		switch {
		case !host && bytes.EqualFold(name, []byte("host")):
			host, srv = true, h.Chosen
		case bytes.EqualFold(name, []byte("referer")):
			referer = true
		}
	}
	for k := range h.Header.All() {
		for _, c := range k {
			if !isTokenChar(c) {
				return true, true, ignored
			}
		}
	}
	return true, false, ignored
}

// uniqueHeaders are the headers nginx 1.22 takes once
// (ngx_http_process_unique_header_line) that fasthttp lets through
// repeated; it refuses a second Host, Content-Length and Transfer-Encoding
// itself (ParseErrorEntry).
var uniqueHeaders = []string{"if-modified-since", "if-unmodified-since", "if-match",
	"if-none-match", "content-range", "if-range", "expect", "authorization"}

// unique refuses what nginx refuses and fasthttp lets through: a second
// line of a header nginx takes once (uniqueHeaders) is nginx's 400 and
// `client sent duplicate header line: "If-Match: b", previous value:
// "If-Match: a" while reading client request headers`, names as sent and
// values without their spaces, logged by the server chosen so far (the
// default one before the Host line) with host and referrer once they
// came. HTTP/2 heads have no raw lines here: not checked.
func (h *Head) unique() bool {
	raw := h.Header.RawHeaders()
	if h.HTTP2 || len(raw) == 0 || h.LF != nil && !h.LF.MayHaveOnceOnly() { // the head scan saw no such line: not walked
		return true
	}
	var seen [8][]byte // the first line of each uniqueHeaders name
	srv, host, referer := h.Default, false, false
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			continue
		}
		for i, u := range uniqueHeaders {
			if !httphead.NameIs(name, u) { // ASCII, as nginx's lowcase, lengths first (a name's bytes from 0x80 are '.': HeadLF)
				continue
			}
			kv := append(append(append([]byte(nil), name...), ": "...), bytes.Trim(value, " \t")...)
			if seen[i] == nil {
				seen[i] = kv
				break
			}
			if srv.Log.Enabled(errorlog.Info) {
				f := h.fieldsSoFar(srv.Name, host, referer)
				h.write(srv.Log, `client sent duplicate header line: "`+string(kv)+`", previous value: "`+string(seen[i])+`"`, "reading client request headers", &f)
			}
			return false
		}
		switch {
		case !host && bytes.EqualFold(name, []byte("host")):
			host, srv = true, h.Chosen
		case bytes.EqualFold(name, []byte("referer")):
			referer = true
		}
	}
	return true
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

// fieldsSoFar are the request's error-log fields while its header lines
// are read: the server chosen so far (server), and host and referrer only
// once their lines came, as nginx logs them at that point.
func (h *Head) fieldsSoFar(server string, host, referer bool) errorlog.Fields {
	f := *h.Fields
	f.Server = server
	if !host {
		f.Host = ""
	}
	if !referer {
		f.Referrer = ""
	}
	return f
}
