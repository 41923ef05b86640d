package charset

import (
	"bytes"
	"strings"
)

// Conf is what the charset filter does at one level (http, server or
// location), inherited as nginx merges it.
type Conf struct {
	// Charset is charset: the charset named in Content-Type ("" is off),
	// or a variable ("$arg_cs", IsVariable) whose value it is, per answer.
	Charset string
	// Source is source_charset: the charset a response without one in its
	// Content-Type is in ("" is off), or a variable.
	Source string
	// Override is override_charset: a proxied response whose Content-Type
	// names a charset gets Charset instead (and is recoded to it).
	Override bool
	// Types is charset_types, lower-cased ("*" is every type); text/html
	// is always in.
	Types []string
	// Set is every charset the whole configuration names and the
	// charset_map tables between them (nginx's main conf), shared by every
	// level; nil when the configuration names none.
	Set *Set
}

// DefaultTypes is charset_types' default (ngx_http_charset_default_types).
var DefaultTypes = []string{"text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
	"application/javascript", "application/rss+xml"}

// IsVariable: a charset or source_charset value that is a variable
// ("$name"), as nginx's ngx_http_set_charset_slot tells them apart.
func IsVariable(v string) bool { return strings.HasPrefix(v, "$") }

// Result is the filter's decision for one response head.
type Result struct {
	// ContentType is the new Content-Type, nil to leave it as it is.
	ContentType []byte
	// Recode recodes the body, nil when it passes as it is.
	Recode *Recoder
	// Error is the line nginx logs at error level, "" when none.
	Error string
}

// named is charset or source_charset's name and its index in the set (-1
// when the configuration never names it): a variable's value as it is
// (false when the variable is not found), else the set's spelling.
func (c *Conf) named(name string, eval func(string) (string, bool)) (string, int, bool) {
	if IsVariable(name) {
		v, ok := eval(name)
		if !ok {
			return "", -1, false
		}
		return v, c.Set.Index(v), true
	}
	i := c.Set.Index(name)
	if i >= 0 {
		name = c.Set.Name(i)
	}
	return name, i, true
}

// Header is ngx_http_charset_header_filter for a response of status whose
// Content-Type is ct. override is the upstream's X-Accel-Charset; encoded
// says the response has a Content-Encoding (nothing is recoded then, nor
// is a charset named that would need it).
//
// A variable charset or source_charset is given by eval (its value, and
// whether the variable was found); its value is named as it is, and a
// variable that is not found leaves the answer as it is (nginx fails the
// request: it closes the connection without an answer).
func (c *Conf) Header(status int, ct, override []byte, encoded bool, eval func(string) (string, bool)) Result {
	if c == nil || len(ct) == 0 {
		return Result{}
	}
	typ, src := Split(ct)
	dst, di := "", -1
	switch {
	case len(override) > 0: // ngx_http_destination_charset's X-Accel-Charset
		if di = c.Set.Index(string(override)); di < 0 {
			return Result{Error: `unknown charset "` + string(override) + `" to override`}
		}
		dst = c.Set.Name(di)
	case c.Charset == "":
		return Result{}
	case src != nil && !c.Override:
		return Result{}
	case src == nil && !TypeListed(c.Types, typ):
		return Result{}
	default:
		var ok bool
		if dst, di, ok = c.named(c.Charset, eval); !ok {
			return Result{}
		}
	}
	// ngx_http_source_charset: the response's own charset, else
	// source_charset.
	srcName, si := "", -1
	switch {
	case src != nil:
		srcName = string(src)
		si = c.Set.Index(srcName)
	case c.Source == "": // source_charset off: name dst, nothing to recode
		return Result{ContentType: withCharset(status, ct, dst)}
	default:
		var ok bool
		if srcName, si, ok = c.named(c.Source, eval); !ok {
			return Result{}
		}
	}
	if si < 0 || di < 0 {
		// A charset the configuration never names: nginx compares the
		// names (dst's length of them, as ngx_strncasecmp) and, when they
		// are the same, names dst without cutting the original parameter.
		if si != di || len(srcName) < len(dst) || !strings.EqualFold(srcName[:len(dst)], dst) {
			return Result{Error: noMap(srcName, dst)}
		}
		return Result{ContentType: withCharset(status, ct, dst)}
	}
	if si == di {
		return Result{ContentType: withCharset(status, typ, dst)}
	}
	if encoded {
		return Result{}
	}
	rc := c.Set.Recoder(si, di)
	if rc == nil {
		return Result{Error: noMap(srcName, dst)}
	}
	return Result{ContentType: withCharset(status, typ, dst), Recode: rc}
}

func noMap(src, dst string) string {
	return `no "charset_map" between the charsets "` + src + `" and "` + dst + `"`
}

// withCharset is ngx_http_set_charset and the header filter's output: typ
// with "; charset=cs" unless typ still has its own charset parameter
// (then it is sent as it is), and nothing added for a 301 or 302 (old
// browsers took a redirect's charset for the next page's).
func withCharset(status int, typ []byte, cs string) []byte {
	out := append([]byte(nil), typ...)
	if _, own := Split(typ); own != nil || cs == "" || status == 301 || status == 302 {
		return out
	}
	return append(append(out, "; charset="...), cs...)
}

// Split splits a Content-Type as ngx_http_upstream_copy_content_type does:
// the part before a ";" that a "charset=" parameter follows, and that
// parameter's value (the rest of the header, without quotes); cs is nil
// when there is none.
func Split(ct []byte) (typ, cs []byte) {
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

// TypeListed is ngx_http_test_content_type: the whole type (lower-cased)
// is in the list, or the list has "*".
func TypeListed(types []string, typ []byte) bool {
	for _, t := range types {
		if t == "*" || bytes.EqualFold(typ, []byte(t)) {
			return true
		}
	}
	return false
}
