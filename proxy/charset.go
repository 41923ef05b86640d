package proxy

import (
	"bytes"
	"fmt"
	"io"

	"spillway/proxy/charset"
	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// nginx's charset filter (package proxy/charset): charset, source_charset,
// override_charset, charset_types, charset_map and the upstream's
// X-Accel-Charset. The head decides the "; charset=" of Content-Type and
// whether the body is recoded; it runs after add_header and before gzip,
// as in nginx's filter order, so gzip compresses the recoded body.

// charsetConf is the charset level of the answer: the location's, or the
// server's for an answer no location made.
func (x *exchange) charsetConf() *config.Charset {
	switch {
	case x.loc != nil:
		return &x.loc.conf.Charset
	case x.vh != nil:
		return &x.vh.conf.Charset
	}
	return nil
}

// charsetFilter is the filter's hook for an answer whose head is in
// x.ctx.Response: it sets Content-Type's charset and, when the body is to
// be recoded, returns the recoder (nil: the body passes as it is). A body
// already in the response (a page, return's text) is recoded here; the
// caller of a streamed body wraps it with recodeBody. override is the
// upstream's X-Accel-Charset. When the recoder ChangesLength, the caller
// sends the body without Content-Length (chunked) and serves no range:
// chunkRecoded for a body in the response, files.go and respond.go for
// theirs.
func (x *exchange) charsetFilter(status int, override []byte) *charset.Recoder {
	return x.charsetHead(status, override, func(msg string) { x.logf(errorlog.Error, msg, 0, "sending response to client") })
}

// charsetProxied is charsetFilter for the upstream's answer: nginx logs
// its lines while reading the response header, naming the upstream.
func (x *exchange) charsetProxied(status int, override []byte) *charset.Recoder {
	return x.charsetHead(status, override, func(msg string) {
		x.logPeer(errorlog.Error, upstream.PhaseReadHeader, msg, 0, x.attempts[len(x.attempts)-1].Addr)
	})
}

// charsetHead is charsetFilter with the filter's error lines written by logErr.
func (x *exchange) charsetHead(status int, override []byte, logErr func(string)) *charset.Recoder {
	c := x.charsetConf()
	if c == nil || c.Charset == "" && len(override) == 0 {
		return nil // charset off (the default): no scan of the head for Content-Encoding (charset.Conf.Header)
	}
	resp := &x.ctx.Response
	out := &resp.Header
	r := c.Header(status, out.ContentType(), override, len(respPeekFold(out, "Content-Encoding")) > 0, x.charsetVar)
	if r.Error != "" {
		logErr(r.Error)
	}
	if r.ContentType != nil {
		out.SetContentTypeBytes(r.ContentType)
	}
	if r.Recode == nil || resp.IsBodyStream() {
		return r.Recode
	}
	if body := resp.Body(); len(body) > 0 {
		b := r.Recode.Bytes(body)
		x.bodyBytes = int64(len(b))
		resp.SetBody(b)
	}
	return r.Recode
}

// chunkRecoded sends a body in the response, which rc recoded to another
// length, chunked as nginx (its charset filter took Content-Length away);
// an HTTP/1.0 client gets it with its length (fasthttp has no
// close-delimited form for it), and a HEAD no Content-Length. The
// caller's last step, after gzip.
func (x *exchange) chunkRecoded(rc *charset.Recoder) {
	resp := &x.ctx.Response
	if rc == nil || !rc.ChangesLength() || resp.IsBodyStream() {
		return
	}
	if x.ctx.IsHead() { // the head alone, without the length nginx no longer knows
		resp.ResetBody()
		resp.SkipBody = true
		return
	}
	if x.h2 == nil && !client.HTTP11(&x.ctx.Request.Header) {
		return
	}
	resp.SetBodyStream(bytes.NewReader(append([]byte(nil), resp.Body()...)), -1)
}

// recodeBody is body recoded by rc (the answer's charsetFilter result).
func recodeBody(body io.Reader, rc *charset.Recoder) io.Reader {
	if rc == nil {
		return body
	}
	return rc.Reader(body)
}

// charsetVar is a charset or source_charset variable's value for this
// request.
func (x *exchange) charsetVar(name string) (string, bool) {
	v := x.site.charsetVars[name]
	if v == nil {
		return "", false
	}
	return string(v.Append(nil, x)), true
}

// compileCharsetVars compiles every charset and source_charset that is a
// variable, once per site.
func compileCharsetVars(cfg *config.Config, maps *vars.Maps) (map[string]*vars.Value, error) {
	out := map[string]*vars.Value{}
	add := func(c *config.Charset) error {
		for _, n := range []string{c.Charset, c.Source} {
			if !charset.IsVariable(n) || out[n] != nil {
				continue
			}
			v, err := vars.Compile(n, maps)
			if err != nil {
				return fmt.Errorf("charset %s: %w", n, err)
			}
			out[n] = v
		}
		return nil
	}
	for _, s := range cfg.Servers {
		if err := add(&s.Charset); err != nil {
			return nil, err
		}
		for _, l := range s.AllLocations() {
			if err := add(&l.Charset); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
