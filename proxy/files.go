package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/valyala/fasthttp"
	"golang.org/x/text/transform"

	"spillway/proxy/charset"
	"spillway/proxy/errorlog"
	"spillway/proxy/static"
)

// maxInternalRedirects is nginx's NGX_HTTP_MAX_URI_CHANGES + 1: an index
// or try_files fallback that keeps redirecting ends in a 500.
const maxInternalRedirects = 10

// serveFiles answers a location that serves files (proxy/static): the
// file, a 304/412/206/416, nginx's error page, or — after an internal
// redirect (index, try_files's last URI) — whatever the new location does.
// done false means the new location proxies: serve goes on with it.
// streaming means the file body is being written and finish runs after it.
func (x *exchange) serveFiles() (done, streaming bool) {
	defer func() {
		if done {
			x.varyAcceptEncoding() // gzip_static found a .gz (gzip.go)
		}
	}()
	method := string(x.ctx.Method())
	for changes := 0; ; changes++ {
		if x.loc.fcgi != nil {
			// try_files may test $fastcgi_script_name (Debian's
			// snippets/fastcgi-php.conf): nginx computes it from $uri
			// whenever it is read.
			x.splitScriptName()
			x.vars.req.ScriptName, x.vars.req.PathInfo = bstr(x.fcgi.script), bstr(x.fcgi.pinfo)
		}
		r := x.loc.files.ResolveGzip(method, string(x.path), x, x.gzipStatic())
		x.vars.req.Filename = r.Filename
		x.gzipVary = x.gzipVary || r.Vary
		for _, l := range r.Logs {
			lv := errorlog.Error
			if l.Level == "crit" {
				lv = errorlog.Crit
			}
			x.logf(lv, l.Msg, uintptr(l.Errno), "")
		}
		switch r.Kind {
		case static.Status:
			x.codePage(r.Code)
			return true, false
		case static.Redirect:
			x.redirectSlash()
			return true, false
		case static.Serve:
			return true, x.sendFile(r)
		case static.Listing: // autoindex: nginx sends it chunked
			typ := r.Type
			if r.Format == "jsonp" {
				cb, problem := static.JSONPCallback(string(x.args))
				if problem != "" {
					x.logf(errorlog.Info, problem, 0, "")
					x.page(fasthttp.StatusBadRequest)
					return true, false
				}
				if cb != "" {
					r.Body, typ = static.JSONP(cb, r.Body), "application/javascript"
				}
			}
			x.status = x.answerStatus(fasthttp.StatusOK) // an error page's listing has the error's status (errorpage.go)
			x.ctx.SetStatusCode(x.status)
			x.ctx.Response.Header.SetContentType(typ)
			x.addHeaders(x.status)
			if rc := x.charsetFilter(x.status, nil); rc != nil && !x.ctx.IsHead() {
				r.Body = rc.Bytes(r.Body)
			}
			if x.gzipFor(x.status, -1) && !x.ctx.IsHead() { // gzip compresses listings too (gzip.go)
				r.Body = x.gzipBytes(r.Body)
			}
			if x.ctx.IsHead() {
				return true, false
			}
			// Chunked, or close-delimited for HTTP/1.0 (unframed.go), as
			// nginx; the stream's close finishes the exchange.
			x.setBody(&listingBody{r: bytes.NewReader(r.Body), x: x}, -1)
			return true, true
		case static.Pass: // the location's own handler goes on with the file's URI
			x.setPath(r.URI, "")
			return false, false
		case static.Named: // $uri unchanged; config made sure the name exists
			x.loc = x.vh.named[r.URI]
			x.vars.req.Root = x.loc.conf.Root
			if !x.checkAccess(&x.loc.conf.Access, x.loc.auth, x.loc.authRq, x.loc.conf.SatisfyAny) {
				return true, false
			}
			if x.loc.files == nil {
				return false, false
			}
			continue
		}
		if changes+1 >= maxInternalRedirects {
			x.logf(errorlog.Error, "rewrite or internal redirection cycle while internally redirecting to \""+r.URI+"\"", 0, "")
			x.page(fasthttp.StatusInternalServerError)
			return true, false
		}
		x.setPath(r.URI, r.Args)
		x.redirected, x.internal = true, true
		if x.rewritePhases() { // nginx runs the rewrite phases again (rewrite.go)
			return true, false
		}
		if x.loc == nil {
			x.page(fasthttp.StatusNotFound)
			return true, false
		}
		// nginx runs the access phase again for the new location (an
		// internal one is reachable now); limit_req and limit_conn count
		// a request once (r->main), so they are not run again.
		if !x.checkAccess(&x.loc.conf.Access, x.loc.auth, x.loc.authRq, x.loc.conf.SatisfyAny) {
			return true, false
		}
		if x.loc.files == nil {
			return false, false
		}
	}
}

// codePage answers code with nginx's error page, or, for a code nginx has
// none for (try_files =418), with an empty body and no Content-Type
// (ngx_http_send_special_response).
func (x *exchange) codePage(code int) {
	if nginxHasPage(code) {
		x.page(code)
		return
	}
	x.ctx.Response.Reset()
	x.ctx.Response.Header.DisableNormalizing() // add_header's names as written (Reset turned it back on)
	x.ctx.SetStatusCode(code)
	setReason(&x.ctx.Response.Header, code, nil)
	x.ctx.Response.Header.SetContentLength(0)
	x.status = code
}

// nginxHasPage lists ngx_http_error_pages (nginx 1.22) entries with a page.
func nginxHasPage(code int) bool {
	switch {
	case code == 301, code == 302, code == 303, code == 307, code == 308:
		return true
	case code >= 400 && code <= 416, code == 421, code == 429, code >= 494 && code <= 497:
		return true
	case code >= 500 && code <= 505, code == 507:
		return true
	}
	return false
}

// setPath changes $uri (and, when args is not "", $args) for what follows.
func (x *exchange) setPath(uri, args string) {
	x.path = append(x.path[:0], uri...)
	x.vars.req.URI = bstr(x.path)
	if args != "" {
		x.args = []byte(args)
		x.vars.req.Args = bstr(x.args)
	}
}

// sendFile answers with r.File after the not_modified and range filters.
func (x *exchange) sendFile(r static.Result) bool {
	f, fi := r.File, r.Info
	files := x.loc.files
	ctx := x.ctx
	h := &ctx.Request.Header
	etag := files.ETag(fi)
	if code := x.answerStatus(fasthttp.StatusOK); code != fasthttp.StatusOK {
		// An error page's file: nginx's not-modified and range filters
		// pass anything but a 200 by.
		return x.sendWhole(r, code, etag)
	}
	switch static.Precondition(fi.ModTime(), etag, string(h.Peek("If-Unmodified-Since")), string(h.Peek("If-Match")),
		string(h.Peek("If-Modified-Since")), string(h.Peek("If-None-Match")), x.loc.conf.IfModifiedSince) {
	case http.StatusPreconditionFailed:
		f.Close()
		x.page(fasthttp.StatusPreconditionFailed)
		return false
	case http.StatusNotModified:
		f.Close()
		x.fileHead(fasthttp.StatusNotModified, "", fi, etag)
		x.status = x.answerStatus(fasthttp.StatusNotModified)
		return false
	}
	size := fi.Size()
	// nginx's filters see a 200 (the range filter, last, makes it a 206):
	// add_header, charset, then gzip, which takes the ranges away.
	x.fileHead(fasthttp.StatusOK, x.accelType(files.ContentType(string(x.path))), fi, etag) // an X-Accel-Redirect's type first (xaccel.go)
	resp := &ctx.Response.Header
	if r.Gzip {
		resp.Set("Content-Encoding", "gzip") // the charset filter then leaves the body alone
	}
	rc := x.charsetFilter(fasthttp.StatusOK, nil) // charset (charset.go)
	ct := string(resp.ContentType())
	cl := int(size)
	if rc != nil && rc.ChangesLength() {
		cl = -1 // no Content-Length, hence no ranges either (nginx's range filter needs one)
	}
	if !r.Gzip && x.gzipFor(fasthttp.StatusOK, cl) {
		return x.sendFileGzip(f, rc)
	}
	if cl < 0 {
		return x.sendFileRecoded(f, rc)
	}
	spans, code := []static.Span{{Start: 0, End: size}}, fasthttp.StatusOK
	// A .gz from gzip_static takes no ranges (nginx's allow_ranges is unset).
	// max_ranges 0 turns the range filter off: no ranges, no Accept-Ranges.
	ranges := !x.loc.conf.NoRanges
	if rh := h.Peek("Range"); len(rh) > 0 && ranges && !r.Gzip && x.ifRange(fi, etag) {
		switch sp, rc := static.Ranges(string(rh), size, maxRanges(x.loc.conf)); rc {
		case fasthttp.StatusRequestedRangeNotSatisfiable:
			f.Close()
			x.page(fasthttp.StatusRequestedRangeNotSatisfiable)
			// nginx's headers filter ran while this was a 200, and its
			// special response keeps what it added.
			x.addHeadersFor(fasthttp.StatusOK, 0)
			ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			return false
		case fasthttp.StatusPartialContent:
			spans, code = sp, fasthttp.StatusPartialContent
			ctx.Response.SetStatusCode(code)
			setReason(resp, code, nil)
		}
	}
	body := &fileBody{x: x, f: f, recode: rc} // a byte-for-byte recoding keeps the ranges, applied to what it sends
	switch {
	case r.Gzip:
		body.parts = []filePart{{off: 0, n: size}}
	case code == fasthttp.StatusOK:
		if ranges {
			resp.Set("Accept-Ranges", "bytes") // nginx's range filter drops it from a 206
		}
		body.parts = []filePart{{off: 0, n: size}}
	case len(spans) == 1:
		resp.Set("Content-Range", contentRange(spans[0], size))
		body.parts = []filePart{{off: spans[0].Start, n: spans[0].End - spans[0].Start}}
	default:
		// ngx_http_range_multipart_header: the boundary is nginx's next
		// temp number, 20 digits.
		boundary := fmt.Sprintf("%020d", x.p.tempNums.Add(1))
		resp.SetContentType("multipart/byteranges; boundary=" + boundary)
		for _, sp := range spans {
			head := "\r\n--" + boundary + "\r\nContent-Type: " + ct + "\r\nContent-Range: " + contentRange(sp, size) + "\r\n\r\n"
			body.parts = append(body.parts, filePart{head: []byte(head), off: sp.Start, n: sp.End - sp.Start})
		}
		body.tail = []byte("\r\n--" + boundary + "--\r\n")
	}
	for _, p := range body.parts {
		body.n += int64(len(p.head)) + p.n
	}
	body.n += int64(len(body.tail))
	return x.sendBody(body, code)
}

// sendWhole answers with the whole file r as an error page's answer, with
// status code.
func (x *exchange) sendWhole(r static.Result, code int, etag string) bool {
	x.fileHead(code, x.accelType(x.loc.files.ContentType(string(x.path))), r.Info, etag)
	body := &fileBody{x: x, f: r.File, parts: []filePart{{off: 0, n: r.Info.Size()}}, n: r.Info.Size()}
	return x.sendBody(body, code)
}

// sendBody sends body behind the head fileHead set; true when it streams.
func (x *exchange) sendBody(body *fileBody, code int) bool {
	ctx, f, resp := x.ctx, body.f, &x.ctx.Response.Header
	x.status = x.answerStatus(code) // "=200"'s 206 is logged 200, as nginx's $status
	if ctx.IsHead() || body.n == 0 {
		f.Close()
		resp.SetContentLength(int(body.n))
		if ctx.IsHead() {
			ctx.Response.SkipBody = true
		}
		return false
	}
	ctx.Response.ImmediateHeaderFlush = true // the body goes out with sendfile(2) behind the head
	n := int(body.n)
	if x.trailers {
		n = -1 // chunked, for add_trailer
	}
	ctx.SetBodyStream(x.trailing(body), n) // add_trailer's at its end (headers.go)
	return true
}

// sendFileGzip answers with f, recoded by rc when it is not nil (the
// charset filter comes first), compressed by the gzip filter (gzipFor has
// made the head): chunked, or a head alone for HEAD.
func (x *exchange) sendFileGzip(f *os.File, rc *charset.Recoder) bool {
	return x.sendFileStream(f, newGzipBody(recodeBody(f, rc), x.gzipConf().Level, false))
}

// sendFileRecoded answers with f recoded by rc, whose output has another
// length: chunked, without ranges, as nginx once the charset filter took
// Content-Length away.
func (x *exchange) sendFileRecoded(f *os.File, rc *charset.Recoder) bool {
	return x.sendFileStream(f, rc.Reader(f))
}

// sendFileStream answers with r, read from f, of unknown length: chunked,
// or close-delimited for HTTP/1.0 (unframed.go), or a head alone for HEAD.
func (x *exchange) sendFileStream(f *os.File, r io.Reader) bool {
	x.status = fasthttp.StatusOK
	if x.ctx.IsHead() {
		f.Close()
		x.ctx.Response.SkipBody = true
		return false
	}
	body := &gzipFileBody{fb: &fileBody{x: x, f: f}, gz: r}
	x.ctx.Response.ImmediateHeaderFlush = true
	x.setBody(body, -1)
	return true
}

// listingBody is an autoindex listing as the response body; its close
// finishes the exchange.
type listingBody struct {
	r      *bytes.Reader
	x      *exchange
	closed bool
}

func (b *listingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.x.bodyBytes += int64(n)
	return n, err
}

func (b *listingBody) Close() error { return nil }

func (b *listingBody) CloseWithError(err error) error {
	if b.closed {
		return nil
	}
	b.closed = true
	if err != nil {
		b.x.clientWriteFailed(err)
	}
	b.x.finish()
	return nil
}

// gzipFileBody is a file's compressed (or recoded) bytes as the response
// body; closing it closes the file and finishes the exchange, as
// fileBody's.
type gzipFileBody struct {
	fb *fileBody
	gz io.Reader
}

func (b *gzipFileBody) Read(p []byte) (int, error) {
	b.fb.x.sendDeadline()
	n, err := b.gz.Read(p)
	b.fb.x.bodyBytes += int64(n)
	return n, err
}

func (b *gzipFileBody) Close() error                   { return b.fb.Close() }
func (b *gzipFileBody) CloseWithError(err error) error { return b.fb.CloseWithError(err) }

// contentRange is a Content-Range value for sp of a size-byte file.
func contentRange(sp static.Span, size int64) string {
	return "bytes " + strconv.FormatInt(sp.Start, 10) + "-" + strconv.FormatInt(sp.End-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// fileHead sets a file answer's status and validators.
func (x *exchange) fileHead(code int, contentType string, fi os.FileInfo, etag string) {
	resp := &x.ctx.Response
	resp.SetStatusCode(code)
	setReason(&resp.Header, code, nil)
	if contentType != "" {
		resp.Header.SetContentType(contentType)
	}
	if !lastModifiedDropped([]byte("Last-Modified"), code) {
		resp.Header.Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
	}
	if etag != "" {
		resp.Header.Set("ETag", etag)
	}
	x.pageHeaders()
	x.addHeaders(code) // add_header, expires (headers.go)
}

// ifRange is nginx's If-Range test: absent, or the entity tag or exact
// Last-Modified of the file, lets the Range apply.
func (x *exchange) ifRange(fi os.FileInfo, etag string) bool {
	v := string(x.ctx.Request.Header.Peek("If-Range"))
	if v == "" {
		return true
	}
	if v[0] == '"' || len(v) > 1 && v[:2] == "W/" {
		return etag != "" && v == etag
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Unix() == fi.ModTime().Unix()
}

// fileBody is a file's bytes as the response body: fasthttp hands WriteTo
// its writer, whose ReadFrom reaches the socket's sendfile(2); CloseWithError
// closes the file and finishes the exchange.
type fileBody struct {
	x      *exchange
	f      *os.File
	parts  []filePart       // the file's ranges, each after its multipart head
	tail   []byte           // the closing boundary of a multipart body
	n      int64            // the whole body's length
	recode *charset.Recoder // the charset filter's byte-for-byte recoding, or nil
	closed bool
}

// filePart is n bytes of the file at off, after head.
type filePart struct {
	head   []byte
	off, n int64
}

// Read serves fasthttp if it ever cannot use WriteTo: a single part only.
func (b *fileBody) Read(p []byte) (int, error) {
	if len(b.parts) != 1 || b.parts[0].head != nil {
		return 0, errors.New("static file body: Read of a multipart body")
	}
	pt := &b.parts[0]
	if pt.n <= 0 {
		return 0, io.EOF
	}
	n, err := b.f.ReadAt(p[:min(int64(len(p)), pt.n)], pt.off)
	pt.off += int64(n)
	pt.n -= int64(n)
	if err == io.EOF && pt.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// SupportsBodyWriteTo makes fasthttp call WriteTo (fasthttp.BodyWriterTo).
func (b *fileBody) SupportsBodyWriteTo() bool { return true }

func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	if b.recode == nil {
		n, err := b.writeParts(w)
		b.x.bodyBytes += n
		return n, err
	}
	// Recoded: no sendfile(2), the bytes go through the recoder.
	cw := &recodedWriter{x: b.x, w: w}
	tw := transform.NewWriter(cw, b.recode)
	_, err := b.writeParts(tw)
	if err == nil {
		err = tw.Close()
	}
	b.x.bodyBytes += cw.n
	return cw.n, err
}

// recodedWriter writes to the client with send_timeout renewed before each
// write, and counts what it wrote.
type recodedWriter struct {
	x *exchange
	w io.Writer
	n int64
}

func (s *recodedWriter) Write(p []byte) (int, error) {
	s.x.sendDeadline()
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

// writeParts writes the parts and the tail to w; it returns what it wrote.
func (b *fileBody) writeParts(w io.Writer) (int64, error) {
	var total int64
	write := func(p []byte) error {
		b.x.sendDeadline()
		n, err := w.Write(p)
		total += int64(n)
		return err
	}
	for _, pt := range b.parts {
		if len(pt.head) > 0 {
			if err := write(pt.head); err != nil {
				return total, err
			}
		}
		if _, err := b.f.Seek(pt.off, io.SeekStart); err != nil {
			return total, err
		}
		lr := &io.LimitedReader{R: b.f, N: pt.n}
		var n int64
		var err error
		if rf, ok := w.(io.ReaderFrom); ok {
			n, err = b.x.sendSteps(rf, lr) // sendfile(2) to the socket
		} else {
			b.x.sendDeadline()
			n, err = io.Copy(w, lr)
		}
		total += n
		if err == nil && n < pt.n {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
		if err != nil {
			return total, err
		}
	}
	var err error
	if len(b.tail) > 0 {
		err = write(b.tail)
	}
	return total, err
}

func (b *fileBody) Close() error { return b.CloseWithError(nil) }

func (b *fileBody) CloseWithError(err error) error {
	if b.closed {
		return nil
	}
	b.closed = true
	_ = b.f.Close()
	if err != nil {
		b.x.clientWriteFailed(err)
	}
	b.x.finish()
	return nil
}
