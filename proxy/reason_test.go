package proxy

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// spillway's own pages carry nginx 1.22's status lines
// (ngx_http_status_lines), not fasthttp's ("Gateway Timeout",
// "Request URI Too Long").
func TestPageStatusLinesLikeNginx(t *testing.T) {
	for code, want := range map[int]string{
		400: "HTTP/1.1 400 Bad Request", 494: "HTTP/1.1 400 Bad Request", 497: "HTTP/1.1 400 Bad Request",
		404: "HTTP/1.1 404 Not Found", 405: "HTTP/1.1 405 Not Allowed", 408: "HTTP/1.1 408 Request Time-out",
		413: "HTTP/1.1 413 Request Entity Too Large", 414: "HTTP/1.1 414 Request-URI Too Large",
		500: "HTTP/1.1 500 Internal Server Error", 501: "HTTP/1.1 501 Not Implemented", 502: "HTTP/1.1 502 Bad Gateway",
		503: "HTTP/1.1 503 Service Temporarily Unavailable", 504: "HTTP/1.1 504 Gateway Time-out",
		505: "HTTP/1.1 505 HTTP Version Not Supported",
	} {
		var ctx fasthttp.RequestCtx
		writePage(&ctx, code)
		line, _, _ := strings.Cut(ctx.Response.Header.String(), "\r\n")
		if line != want {
			t.Errorf("page %d: status line %q, want %q", code, line, want)
		}
	}
}

// A relayed response keeps the upstream's reason phrase, as nginx relays
// the upstream's status line; without one it gets nginx's phrase.
func TestRelayedReasonPhrase(t *testing.T) {
	for _, c := range []struct {
		code     int
		upstream string
		want     string
	}{
		{504, "Custom Reason", "HTTP/1.1 504 Custom Reason"},
		{414, "URI Too Long", "HTTP/1.1 414 URI Too Long"},
		{200, "OK", "HTTP/1.1 200 OK"},
		{302, "", "HTTP/1.1 302 Moved Temporarily"},
		{504, "", "HTTP/1.1 504 Gateway Time-out"},
		{201, "", "HTTP/1.1 201 Created"},
	} {
		var h fasthttp.ResponseHeader
		h.SetStatusCode(c.code)
		setReason(&h, c.code, []byte(c.upstream))
		line, _, _ := strings.Cut(h.String(), "\r\n")
		if line != c.want {
			t.Errorf("%d %q: status line %q, want %q", c.code, c.upstream, line, c.want)
		}
	}
}
