package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/static"
)

// nginx's gzip filter (ngx_http_gzip_filter_module and ngx_http_gzip_ok).
// The decision is made on the response head (gzipFor); the body is then
// compressed as it is read from the upstream, before it enters the spool:
// the proxy buffers and the temp file hold compressed bytes, so the buffer
// budget counts what the client will receive, a response that spills
// spills less, and the spool's sendfile path sends compressed bytes as
// they are.

// gzipConf is the gzip level of the answer: the location's, or the
// server's for an answer no location made.
func (x *exchange) gzipConf() *config.Gzip {
	switch {
	case x.loc != nil:
		return &x.loc.conf.Gzip
	case x.vh != nil:
		return &x.vh.conf.Gzip
	}
	return nil
}

// gzipFor is ngx_http_gzip_header_filter for a response whose head is in
// x.ctx.Response (after add_header and expires, as in nginx's filter
// order) and whose declared length is cl (-1: unknown). When it returns
// true the head says Content-Encoding: gzip, has no Content-Length or
// Accept-Ranges, and a strong ETag has been made weak; the caller
// compresses the body, if there is one.
func (x *exchange) gzipFor(status, cl int) bool {
	g := x.gzipConf()
	if g == nil || !g.On || status != 200 && status != 403 && status != 404 {
		return false
	}
	out := &x.ctx.Response.Header
	// A HEAD is let through, as in nginx, whose filter runs before the
	// header-only flag is set: its head says gzip, and there is no body.
	if len(respPeekFold(out, "Content-Encoding")) > 0 || cl >= 0 && int64(cl) < g.MinLength ||
		!gzipType(g.Types, out.ContentType()) {
		return false
	}
	x.gzipVary = true
	x.varyAcceptEncoding()
	if !x.gzipOK(g) {
		return false
	}
	delHeader(out, "Accept-Ranges")
	weakETag(out)
	out.Add("Content-Encoding", "gzip")
	return true
}

// weakETag is ngx_http_weak_etag: a strong entity tag is made weak,
// anything that is no entity tag at all is dropped.
func weakETag(out *fasthttp.ResponseHeader) {
	etag := respPeekFold(out, "ETag")
	if len(etag) == 0 {
		return
	}
	weak := ""
	switch {
	case bytes.HasPrefix(etag, []byte("W/")):
		weak = string(etag)
	case etag[0] == '"':
		weak = "W/" + string(etag)
	}
	name := delHeader(out, "ETag")
	if weak != "" {
		out.Add(name, weak)
	}
}

// varyAcceptEncoding is nginx's header filter adding "Vary: Accept-Encoding"
// under gzip_vary to an answer whose r->gzip_vary a filter or gzip_static
// set (x.gzipVary): once per answer.
func (x *exchange) varyAcceptEncoding() {
	if !x.gzipVary || x.varied {
		return
	}
	if g := x.gzipConf(); g == nil || !g.Vary {
		return
	}
	x.ctx.Response.Header.Add("Vary", "Accept-Encoding")
	x.varied = true
}

// gzipStatic is what gzip_static needs for the location's files.
func (x *exchange) gzipStatic() static.Gzip {
	g := &x.loc.conf.Gzip
	if g.Static == config.GzipStaticOff {
		return static.Gzip{}
	}
	return static.Gzip{Static: g.Static, OK: g.Static == config.GzipStaticOn && x.gzipOK(g), Vary: g.Vary}
}

// gzipType: the response's media type (without parameters) is in types;
// "*" takes every response, one without Content-Type too.
func gzipType(types []string, ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	for _, t := range types {
		if t == "*" || len(ct) > 0 && bytes.EqualFold(ct, []byte(t)) {
			return true
		}
	}
	return false
}

// gzipOK is ngx_http_gzip_ok: the client takes gzip, is not MSIE 4 to 6
// under gzip_disable msie6, speaks gzip_http_version, passes
// gzip_proxied when the request came through a proxy (Via), and its
// User-Agent matches no gzip_disable regex.
func (x *exchange) gzipOK(g *config.Gzip) bool {
	h := &x.ctx.Request.Header
	ae := h.Peek("Accept-Encoding")
	if len(ae) < 4 || !bytes.HasPrefix(ae, []byte("gzip,")) && !acceptsGzip(ae) {
		return false
	}
	ua := h.UserAgent()
	if g.MSIE6 && msie6(ua) {
		return false
	}
	if !client.HTTP11(h) && x.h2 == nil && !g.HTTP10 { // HTTP/2 is above gzip_http_version 1.1
		return false
	}
	if len(h.Peek("Via")) > 0 && !x.gzipProxied(g.Proxied) {
		return false
	}
	if len(ua) > 0 {
		for _, re := range g.Disable {
			if config.MatchPCRE(re, ua) {
				return false
			}
		}
	}
	return true
}

// gzipProxied is gzip_proxied's part of ngx_http_gzip_ok, in nginx's order.
func (x *exchange) gzipProxied(p config.GzipProxied) bool {
	switch {
	case p == 0:
		return false
	case p&config.GzipProxiedAny != 0:
		return true
	case p&config.GzipProxiedAuth != 0 && len(x.ctx.Request.Header.Peek("Authorization")) > 0:
		return true
	}
	out := &x.ctx.Response.Header
	if e := respPeekFold(out, "Expires"); e != nil {
		if p&config.GzipProxiedExpired == 0 {
			return false
		}
		t, err := http.ParseTime(string(e))
		return err == nil && t.Before(time.Now().Truncate(time.Second))
	}
	if cc := respHeaderValues(out, "Cache-Control"); cc != nil {
		return p&config.GzipProxiedNoCache != 0 && bytes.Contains(bytes.ToLower(cc), []byte("no-cache")) ||
			p&config.GzipProxiedNoStore != 0 && bytes.Contains(bytes.ToLower(cc), []byte("no-store")) ||
			p&config.GzipProxiedPrivate != 0 && bytes.Contains(bytes.ToLower(cc), []byte("private"))
	}
	if p&config.GzipProxiedNoLastModified != 0 && respPeekFold(out, "Last-Modified") != nil {
		return false
	}
	if p&config.GzipProxiedNoETag != 0 && respPeekFold(out, "ETag") != nil {
		return false
	}
	return true
}

// respHeaderValues joins every value of a response header with ", "; nil
// when there is none.
func respHeaderValues(out *fasthttp.ResponseHeader, name string) []byte {
	var vs []byte
	for k, v := range out.All() {
		if bytes.EqualFold(k, []byte(name)) {
			if vs != nil {
				vs = append(vs, ", "...)
			} else {
				vs = []byte{}
			}
			vs = append(vs, v...)
		}
	}
	return vs
}

// acceptsGzip is ngx_http_gzip_accept_encoding: a "gzip" coding, not part
// of another name, whose q-value is not 0.
func acceptsGzip(ae []byte) bool {
	start := 0
	for {
		i := bytes.Index(bytes.ToLower(ae[start:]), []byte("gzip"))
		if i < 0 {
			return false
		}
		p := start + i
		if p == 0 || ae[p-1] == ',' || ae[p-1] == ' ' {
			q := p + 4
			for q < len(ae) && ae[q] == ' ' {
				q++
			}
			if q == len(ae) || ae[q] == ',' {
				return true
			}
			if ae[q] == ';' {
				q++
				for q < len(ae) && ae[q] == ' ' {
					q++
				}
				return q+1 < len(ae) && ae[q] == 'q' && ae[q+1] == '=' && gzipQuantity(ae[q+2:])
			}
		}
		start = p + 4
		if start >= len(ae) {
			return false
		}
	}
}

// gzipQuantity is ngx_http_gzip_quantity: a q-value above 0 and at most 1.
func gzipQuantity(p []byte) bool {
	if len(p) == 0 || p[0] != '0' && p[0] != '1' {
		return false
	}
	q, i := int(p[0]-'0')*100, 1
	if i < len(p) && p[i] == '.' {
		i++
		for m, n := 10, 0; i < len(p) && n < 3 && p[i] >= '0' && p[i] <= '9'; i, m, n = i+1, m/10, n+1 {
			q += int(p[i]-'0') * m
		}
	}
	for i < len(p) && p[i] == ' ' {
		i++
	}
	if i < len(p) && p[i] != ',' {
		return false
	}
	return q > 0 && q <= 100
}

// msie6 is nginx's r->headers_in.msie6 (ngx_http_process_user_agent):
// "MSIE 4.", "MSIE 5." or "MSIE 6." without "SV1", and not Opera.
func msie6(ua []byte) bool {
	i := bytes.Index(ua, []byte("MSIE "))
	if i < 0 || i+7 >= len(ua) || bytes.Contains(ua, []byte("Opera")) {
		return false
	}
	m := ua[i:]
	if m[6] != '.' {
		return false
	}
	switch m[5] {
	case '4', '5':
		return true
	case '6':
		return len(m) <= 8 || !bytes.Contains(m[8:], []byte("SV1"))
	}
	return false
}

// gzipWriters keeps compressors per level (1 to 9): each holds a few
// hundred KiB of tables.
var gzipWriters [10]sync.Pool

// gzipBody compresses src as it is read. flush sends what each upstream
// read brought at once (proxy_buffering off: the client sees the stream
// as it comes, as nginx flushes its gzip stream for unbuffered upstreams).
type gzipBody struct {
	src   io.Reader
	zw    *gzip.Writer
	level int
	out   bytes.Buffer
	in    []byte
	flush bool
	err   error // once set, returned after out is drained
}

func newGzipBody(src io.Reader, level int, flush bool) *gzipBody {
	g := &gzipBody{src: src, level: level, flush: flush, in: make([]byte, 16<<10)}
	g.zw = gzipWriter(&g.out, level)
	return g
}

// gzipWriter is a pooled compressor of that level writing to w.
func gzipWriter(w io.Writer, level int) *gzip.Writer {
	if zw, ok := gzipWriters[level].Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, _ := gzip.NewWriterLevel(w, level) // level is 1..9 (config checks it)
	return zw
}

func (g *gzipBody) Read(p []byte) (int, error) {
	for g.out.Len() == 0 {
		if g.err != nil {
			return 0, g.err
		}
		n, err := g.src.Read(g.in)
		if n > 0 {
			_, _ = g.zw.Write(g.in[:n]) // into a bytes.Buffer: cannot fail
			if g.flush {
				_ = g.zw.Flush()
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			_ = g.zw.Close()
			gzipWriters[g.level].Put(g.zw)
			g.zw, g.err = nil, io.EOF
		default:
			// The upstream failed: what was compressed so far is not
			// flushed (the client gets a cut stream either way).
			g.err = err
			return 0, err
		}
	}
	n, _ := g.out.Read(p)
	return n, nil
}

// gzipPage compresses one of spillway's own pages (a 403 or 404 is
// text/html, as nginx's, which its gzip filter compresses too), sent
// chunked like nginx. An HTTP/1.0 client under gzip_http_version 1.0 gets
// it uncompressed: fasthttp has no close-delimited form for a page.
func (x *exchange) gzipPage() {
	resp := &x.ctx.Response
	body := resp.Body()
	if x.ctx.IsHead() || !x.gzipFor(x.status, len(body)) {
		return
	}
	if !client.HTTP11(&x.ctx.Request.Header) && x.h2 == nil {
		delHeader(&resp.Header, "Content-Encoding")
		return
	}
	gz := x.gzipBytes(body)
	x.bodyBytes = int64(len(gz))
	resp.SetBodyStream(bytes.NewReader(gz), -1)
}

// gzipBytes is body compressed at the answer's gzip_comp_level.
func (x *exchange) gzipBytes(body []byte) []byte {
	var b bytes.Buffer
	level := x.gzipConf().Level
	zw := gzipWriter(&b, level)
	_, _ = zw.Write(body)
	_ = zw.Close()
	gzipWriters[level].Put(zw)
	return b.Bytes()
}
