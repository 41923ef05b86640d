package proxy

import (
	"net"
	"strconv"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// nginx's rewrite module "return" (ngx_http_rewrite_return,
// ngx_http_script_return_code, ngx_http_send_response), at two points of
// serve: a server's return in the server rewrite phase, before a location
// is chosen (and before nginx's auto_redirect); a location's in the
// location rewrite phase. Both come before access control (allow/deny,
// auth_basic, limit_req and limit_conn run later in nginx), so a return
// answers a client a deny would refuse, as in nginx.
//
//	return 301|302|303|307|308 URL   nginx's page for the code, Location: URL
//	                                 (a URL starting with "/" is made absolute)
//	return CODE TEXT, or CODE < 400  TEXT as the body, text/plain (204: no body)
//	return CODE >= 400               nginx's page for the code
//	return 444                       the connection is closed, nothing is sent

// compiledReturn is a return with its text compiled by proxy/vars.
type compiledReturn struct {
	conf config.Return
	text *vars.Value
}

func compileReturn(r config.Return, maps *vars.Maps) (*compiledReturn, error) {
	if r.Code == 0 {
		return nil, nil
	}
	v, err := vars.CompileCaptures(r.Text, maps)
	if err != nil {
		return nil, err
	}
	return &compiledReturn{conf: r, text: v}, nil
}

// answerReturn answers the request with r; its text may use the captures
// of the last regex matched ($1: a regex location's, a rewrite's, an
// if's); rd is its level's redirect settings.
func (x *exchange) answerReturn(r *compiledReturn, rd config.Redirect) {
	code := r.conf.Code
	if code == 444 { // nginx's "close the connection": no response at all
		x.status = 444
		if x.h2 != nil {
			_ = x.h2.Close() // RST_STREAM: nginx closes the stream (http2.go)
			return
		}
		hijack(x.ctx, func(c net.Conn) { _ = c.Close() })
		return
	}
	text := r.text.AppendCaptures(nil, x, x.caps.src, x.caps.loc)
	switch {
	case r.conf.IsRedirect():
		x.page(code)
		if len(text) > 0 && text[0] == '/' {
			text = x.absoluteLocation(nil, text, rd)
		}
		x.ctx.Response.Header.Set("Location", string(text))
	case code < 400 || r.conf.HasText || errorPages[code] == nil:
		// nginx has no page for some codes (418, 451, 599...): an empty
		// body without a Content-Type.
		resp := &x.ctx.Response
		resp.Reset()
		// add_header's names as written, as nginx's (Reset turned it back on)
		resp.Header.DisableNormalizing()
		shown := x.answerStatus(code) // an error page's answer has the error's status (errorpage.go)
		x.ctx.SetStatusCode(shown)
		setReason(&resp.Header, shown, nil)
		switch {
		case code == fasthttp.StatusNoContent: // nginx's header filter: no body, no type, no length
			resp.SkipBody = true
			resp.Header.SetNoDefaultContentType(true)
		case code >= 400 && !r.conf.HasText:
			resp.Header.SetNoDefaultContentType(true)
		default:
			resp.Header.SetContentType(x.returnType()) // by $uri's extension, else default_type
			resp.SetBody(text)
		}
		x.status = shown
		x.bodyBytes = int64(len(resp.Body()))
		x.addHeaders(shown)               // add_header, expires: nginx's headers filter (headers.go)
		rc := x.charsetFilter(shown, nil) // charset: the text's type names it, the text is recoded (charset.go)
		x.chunkRecoded(rc)
		x.pageHeaders() // an error page's WWW-Authenticate, close (errorpage.go)
		if closeAfter(code) {
			x.ctx.SetConnectionClose()
			x.lingerAfterPage()
		}
	default:
		x.page(code)
	}
}

// absoluteLocation appends the Location nginx's header filter makes of
// path, which starts with "/": with absolute_redirect on, the scheme, the
// request's host (an absolute-form target's, else the Host line's; else
// the local address) or with
// server_name_in_redirect the server's first name, the local port with
// port_in_redirect unless it is the scheme's own, then path.
func (x *exchange) absoluteLocation(dst, path []byte, rd config.Redirect) []byte {
	if !rd.Absolute {
		return append(dst, path...)
	}
	scheme := x.scheme()
	dst = append(append(dst, scheme...), "://"...)
	n := len(dst)
	if rd.ServerName {
		dst = append(dst, x.vh.name...)
	} else {
		// nginx's headers_in.server: an absolute-form target's host
		// before the Host line's
		dst = append(dst, redirectHost(client.RouteHost(x.ctx.Request.Header.RequestURI(), x.host))...)
		if len(dst) == n {
			if a, ok := x.ctx.LocalAddr().(*net.TCPAddr); ok {
				dst = append(dst, a.IP.String()...)
			}
		}
	}
	if p := x.serverPort; rd.Port && p != 0 && !(scheme == "http" && p == 80) && !(scheme == "https" && p == 443) {
		dst = strconv.AppendInt(append(dst, ':'), int64(p), 10)
	}
	return append(dst, path...)
}

// returnType is a return text's Content-Type: nginx's types for $uri's
// extension (a rewrite to /maintenance.html answers text/html), else
// default_type; a location that serves no files has nginx's defaults.
func (x *exchange) returnType() string {
	if x.loc != nil && x.loc.files != nil {
		return x.accelType(x.loc.files.ContentType(bstr(x.path)))
	}
	return x.accelType(config.DefaultContentType(bstr(x.path))) // an X-Accel-Redirect's type first (xaccel.go)
}
