package proxy

import (
	"bytes"
	"strings"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// nginx's charset filter (ngx_http_charset_filter_module), its header part:
// charset, source_charset, override_charset, charset_types and the
// upstream's X-Accel-Charset. Without charset_map (which spillway does not
// have) nginx never recodes a body, so neither does spillway: the filter
// only decides the "; charset=" of Content-Type, or logs that it has no map.
// It runs after add_header and before gzip, as in nginx's filter order.

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

// charsetFilter applies charsetType to the Content-Type of the answer whose
// head is in x.ctx.Response. override is the upstream's X-Accel-Charset.
func (x *exchange) charsetFilter(status int, override []byte) {
	out := &x.ctx.Response.Header
	ct := out.ContentType()
	if nct := x.charsetType(status, ct, override); nct != nil {
		out.SetContentTypeBytes(nct)
	}
}

// charsetType is ngx_http_charset_header_filter for a Content-Type ct: the
// new Content-Type, or nil to leave it as it is. It logs nginx's errors.
func (x *exchange) charsetType(status int, ct, override []byte) []byte {
	c := x.charsetConf()
	if c == nil || len(ct) == 0 {
		return nil
	}
	typ, src := splitCharset(ct)
	var dst string
	switch {
	case len(override) > 0: // ngx_http_destination_charset's override_charset
		if !knownCharset(c, override) {
			x.logf(errorlog.Error, `unknown charset "`+string(override)+`" to override`, 0, "")
			return nil
		}
		dst = string(override)
	case c.Charset == "":
		return nil
	case src != nil && !c.Override:
		return nil
	case src == nil && !typeListed(c.Types, typ):
		return nil
	default:
		dst = c.Charset
	}
	if src == nil {
		if c.Source == "" { // source_charset off: name dst
			return withCharset(status, typ, dst)
		}
		src = []byte(c.Source)
	}
	switch {
	case bytes.EqualFold(src, []byte(dst)):
		return withCharset(status, typ, dst)
	case !knownCharset(c, src):
		// fall through to the error: an unknown charset has no map
	case len(respPeekFold(&x.ctx.Response.Header, "Content-Encoding")) > 0:
		return nil // nginx would not recode an encoded body anyway
	}
	x.logf(errorlog.Error, `no "charset_map" between the charsets "`+string(src)+`" and "`+dst+`"`, 0, "")
	return nil
}

// knownCharset: the configuration names the charset (nginx's charsets
// array, which charset_map would also fill).
func knownCharset(c *config.Charset, name []byte) bool {
	return c.Known[strings.ToLower(string(name))] || bytes.EqualFold(name, []byte(c.Charset)) || bytes.EqualFold(name, []byte(c.Source))
}

// withCharset is typ with "; charset=cs", except for a 301 or 302
// (ngx_http_set_charset: old browsers took a redirect's charset for the
// next page's).
func withCharset(status int, typ []byte, cs string) []byte {
	out := append([]byte(nil), typ...)
	if status == 301 || status == 302 {
		return out
	}
	return append(append(out, "; charset="...), cs...)
}

// splitCharset splits a Content-Type as ngx_http_upstream_copy_content_type
// does: the part before a ";" that a "charset=" parameter follows, and that
// parameter's value (the rest of the header, without quotes); cs is nil
// when there is none.
func splitCharset(ct []byte) (typ, cs []byte) {
	for i := 0; i < len(ct); i++ {
		if ct[i] != ';' {
			continue
		}
		j := i + 1
		for j < len(ct) && ct[j] == ' ' {
			j++
		}
		if j == len(ct) {
			return ct, nil
		}
		if len(ct)-j < 8 || !bytes.EqualFold(ct[j:j+8], []byte("charset=")) {
			continue
		}
		v := ct[j+8:]
		v = bytes.TrimPrefix(v, []byte(`"`))
		v = bytes.TrimSuffix(v, []byte(`"`))
		return ct[:i], v
	}
	return ct, nil
}

// typeListed is ngx_http_test_content_type: the whole type (lower-cased)
// is in the list, or the list has "*".
func typeListed(types []string, typ []byte) bool {
	for _, t := range types {
		if t == "*" || bytes.EqualFold(typ, []byte(t)) {
			return true
		}
	}
	return false
}
