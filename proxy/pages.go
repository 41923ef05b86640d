package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// errorPages holds spillway's answers for the statuses it produces itself,
// built like nginx's (ngx_http_special_response.c): the same lines, CRLF
// endings, and the same title and heading, with spillway's name in the
// footer where nginx puts its own.
var errorPages = func() map[int][]byte {
	m := map[int][]byte{}
	for _, e := range []struct {
		code       int
		title, sub string
	}{
		{301, "301 Moved Permanently", ""},
		{302, "302 Found", ""},
		{303, "303 See Other", ""},
		{307, "307 Temporary Redirect", ""},
		{308, "308 Permanent Redirect", ""},
		{400, "400 Bad Request", ""},
		{494, "400 Request Header Or Cookie Too Large", "Request Header Or Cookie Too Large"},
		{495, "400 The SSL certificate error", "The SSL certificate error"},
		{496, "400 No required SSL certificate was sent", "No required SSL certificate was sent"},
		{497, "400 The plain HTTP request was sent to HTTPS port", "The plain HTTP request was sent to HTTPS port"},
		{401, "401 Authorization Required", ""},
		{403, "403 Forbidden", ""},
		{404, "404 Not Found", ""},
		{402, "402 Payment Required", ""},
		{405, "405 Not Allowed", ""},
		{406, "406 Not Acceptable", ""},
		{408, "408 Request Time-out", ""},
		{409, "409 Conflict", ""},
		{410, "410 Gone", ""},
		{411, "411 Length Required", ""},
		{412, "412 Precondition Failed", ""},
		{413, "413 Request Entity Too Large", ""},
		{415, "415 Unsupported Media Type", ""},
		{416, "416 Requested Range Not Satisfiable", ""},
		{421, "421 Misdirected Request", ""},
		{429, "429 Too Many Requests", ""},
		{414, "414 Request-URI Too Large", ""},
		{416, "416 Requested Range Not Satisfiable", ""},
		{500, "500 Internal Server Error", ""},
		{501, "501 Not Implemented", ""},
		{502, "502 Bad Gateway", ""},
		{503, "503 Service Temporarily Unavailable", ""},
		{504, "504 Gateway Time-out", ""},
		{505, "505 HTTP Version Not Supported", ""},
		{507, "507 Insufficient Storage", ""},
	} {
		h1 := e.title
		if e.sub != "" {
			h1 = "400 Bad Request"
		}
		page := "<html>\r\n<head><title>" + e.title + "</title></head>\r\n<body>\r\n<center><h1>" + h1 + "</h1></center>\r\n"
		if e.sub != "" {
			page += "<center>" + e.sub + "</center>\r\n"
		}
		page += "<hr><center>" + ServerName + "</center>\r\n</body>\r\n</html>\r\n"
		m[e.code] = []byte(page)
	}
	return m
}()

// nginxReasons are nginx 1.22's reason phrases (ngx_http_status_lines in
// src/http/ngx_http_header_filter_module.c) where they differ from
// fasthttp's or fasthttp has none; codes absent here read the same in both.
var nginxReasons = map[int]string{
	302: "Moved Temporarily",
	405: "Not Allowed",
	408: "Request Time-out",
	414: "Request-URI Too Large",
	503: "Service Temporarily Unavailable",
	504: "Gateway Time-out",
}

// setReason sets the status line's reason phrase: the upstream's own when
// it sent one (nginx relays the upstream's status line as it came), else
// nginx's for the code.
func setReason(h *fasthttp.ResponseHeader, code int, upstream []byte) {
	switch {
	case len(upstream) > 0 && string(upstream) == fasthttp.StatusMessage(code):
		// The same bytes as fasthttp's own reason: its cached status line
		// is written then, not one formatted per response.
		h.SetStatusMessage(nil)
	case len(upstream) > 0:
		h.SetStatusMessage(upstream)
	default: // nginx's own reason: looked up only for an answer without one
		if r, ok := nginxReasons[code]; ok {
			h.SetStatusMessage([]byte(r))
		}
	}
}

// ServerName is what spillway calls itself in the Server header and on its
// error pages.
const ServerName = "spillway"

// closeAfter lists the statuses after which nginx closes the client
// connection (measured: 502/504 keep it, 400/413/414/500/505 close it).
func closeAfter(code int) bool {
	switch code {
	case 400, 494, 495, 496, 497, 408, 413, 414, 500, 501, 505:
		return true
	}
	return false
}

// page answers the client with one of spillway's own error pages, or, when
// error_page has one for code, leaves the answer to it (errorpage.go). 494
// is nginx's internal code for "Request Header Or Cookie Too Large": sent as
// 400.
func (x *exchange) page(code int) {
	if x.parent != nil { // a subrequest's status is its parent's to act on (authrequest.go)
		x.status = code
		return
	}
	if x.errorPage(code) {
		x.status = code // until the page answers
		return
	}
	x.builtinPage(code)
}

// builtinPage answers with spillway's own page for code, whatever
// error_page says.
func (x *exchange) builtinPage(code int) {
	x.errPage.status = 0 // the page's own status (nginx sets err_status to it)
	writePage(x.ctx, code)
	x.pageHeaders()
	x.varied = false // the head was reset, and a Vary with it
	x.status = code
	x.bodyBytes = int64(len(x.ctx.Response.Body()))
	if code >= 494 && code <= 497 {
		x.status = 400
	}
	x.addHeaders(x.status)               // add_header ... always, expires (headers.go)
	rc := x.charsetFilter(x.status, nil) // charset: nginx names it on its own pages too (charset.go)
	x.gzipPage()                         // gzip: nginx compresses its own 403 and 404 pages too (gzip.go)
	x.chunkRecoded(rc)
	if closeAfter(code) {
		x.lingerAfterPage() // lingering_close (linger.go)
	}
}

func writePage(ctx *fasthttp.RequestCtx, code int) {
	body, ok := errorPages[code]
	if !ok {
		body = []byte("<html>\r\n<head><title>" + strconv.Itoa(code) + "</title></head>\r\n<body>\r\n<hr><center>" + ServerName + "</center>\r\n</body>\r\n</html>\r\n")
	}
	ctx.Response.Reset()
	ctx.Response.Header.DisableNormalizing() // add_header's names as written, as nginx's
	status := code
	if code >= 494 && code <= 497 {
		status = 400
	}
	ctx.SetStatusCode(status)
	setReason(&ctx.Response.Header, status, nil)
	ctx.SetContentType("text/html")
	ctx.SetBody(body)
	if closeAfter(code) {
		ctx.SetConnectionClose()
	}
}
