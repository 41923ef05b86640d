package proxy

import (
	"io"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/static"
)

// nginx's range filter on a proxied answer (ngx_http_range_header_filter
// with the upstream's allow_ranges and single_range): with
// proxy_force_ranges on, a Range on the upstream's 200 of known length is
// answered from its body whatever the upstream said of ranges: one range
// is a 206 of those bytes, several the whole body (single_range), an
// unsatisfiable one 416; If-Range compares the upstream's Last-Modified or
// ETag. The upstream's Accept-Ranges gives way to the filter's own. Without
// proxy_force_ranges (and without a cache, which spillway has not) nginx
// passes the upstream's answer and its Accept-Ranges as they are.

// forceRange decides a proxied answer's range: status 0 (the whole body),
// 206 with span, or 416. shown is the status the client gets, status the
// upstream's; compressed means gzip or gunzip changes the body (their
// filters run first and leave no length).
func (x *exchange) forceRange(shown, status, cl int, compressed bool) (static.Span, int) {
	lc := x.loc.conf
	if !lc.ProxyForceRanges || shown != fasthttp.StatusOK || status != fasthttp.StatusOK || cl < 0 || compressed ||
		lc.NoRanges || x.parent != nil {
		return static.Span{}, 0
	}
	out := &x.ctx.Response.Header
	rh := x.ctx.Request.Header.Peek("Range")
	if len(rh) < 7 || !x.ifRangeUpstream(out) {
		out.Set("Accept-Ranges", "bytes")
		return static.Span{}, 0
	}
	spans, code := static.Ranges(string(rh), int64(cl), 1) // single_range: one, or the whole body
	switch code {
	case fasthttp.StatusPartialContent:
		x.ctx.SetStatusCode(code)
		x.status = code
		setReason(out, code, nil)
		out.Set("Content-Range", contentRange(spans[0], int64(cl)))
		return spans[0], code
	case fasthttp.StatusRequestedRangeNotSatisfiable:
		return static.Span{}, code
	}
	out.Set("Accept-Ranges", "bytes")
	return static.Span{}, 0
}

// maxRanges is static.Ranges' limit for lc: max_ranges, or none.
func maxRanges(lc *config.Location) int {
	if lc.MaxRanges <= 0 {
		return -1
	}
	return lc.MaxRanges
}

// ifRangeUpstream is If-Range against the answer's own validators: an
// entity tag equal to its ETag, or a date equal to its Last-Modified.
func (x *exchange) ifRangeUpstream(out *fasthttp.ResponseHeader) bool {
	v := string(x.ctx.Request.Header.Peek("If-Range"))
	if v == "" {
		return true
	}
	if v[0] == '"' || len(v) > 1 && v[:2] == "W/" {
		etag := string(out.Peek("ETag"))
		return etag != "" && v == etag
	}
	t, err := http.ParseTime(v)
	lm, lerr := http.ParseTime(string(out.Peek("Last-Modified")))
	return err == nil && lerr == nil && t.Unix() == lm.Unix()
}

// rangeNotSatisfiable answers nginx's 416 for a size-byte answer.
func (x *exchange) rangeNotSatisfiable(size int64) {
	x.page(fasthttp.StatusRequestedRangeNotSatisfiable)
	x.ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
}

// rangeReader passes n bytes of r after skip, then reads r to its end
// (discarded) so that the upstream's answer is read whole, as nginx's
// range body filter lets the upstream side finish.
type rangeReader struct {
	r       io.Reader
	skip, n int64
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	if rr.skip > 0 {
		if _, err := io.CopyN(io.Discard, rr.r, rr.skip); err != nil {
			return 0, err
		}
		rr.skip = 0
	}
	if rr.n <= 0 {
		if _, err := io.Copy(io.Discard, rr.r); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > rr.n {
		p = p[:rr.n]
	}
	n, err := rr.r.Read(p)
	rr.n -= int64(n)
	if err == io.EOF && rr.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
