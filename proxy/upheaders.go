package proxy

import (
	"bytes"
	"fmt"
	"regexp"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// The upstream's response headers on their way to the client, as nginx's
// proxy module treats them (ngx_http_proxy_rewrite_redirect,
// ngx_http_proxy_rewrite_cookie): proxy_redirect rewrites Location and
// Refresh, proxy_cookie_domain and proxy_cookie_path rewrite Set-Cookie,
// proxy_hide_header / proxy_pass_header change which headers pass, and
// proxy_ignore_headers X-Accel-Buffering keeps buffering on.

// upHeaders is a location's config.UpstreamHeaders compiled. Immutable.
type upHeaders struct {
	redirect     []headerRewrite
	cookieDomain []headerRewrite
	cookiePath   []headerRewrite
	cookieFlags  []cookieFlags
	hide, pass   [][]byte
	ignoreAccel  bool // proxy_ignore_headers X-Accel-Buffering
	ignoreXAR    bool // proxy_ignore_headers X-Accel-Redirect (xaccel.go)
	ignoreXLR    bool // proxy_ignore_headers X-Accel-Limit-Rate (limitrate.go)
}

// headerRewrite is one rule: a prefix (or, domain, the whole value) with
// variables, or a regex whose match replaces the whole value.
type headerRewrite struct {
	pattern *vars.Value // nil with re
	re      *regexp.Regexp
	domain  bool // proxy_cookie_domain's plain form: whole value, any case, a leading "." skipped
	repl    *vars.Value
}

// cookieFlags is one proxy_cookie_flags: the cookie's name (with
// variables, any case) or a caseless regex, and the flags (variables).
type cookieFlags struct {
	name  *vars.Value // nil with re
	re    *regexp.Regexp
	flags []*vars.Value
}

func compileUpHeaders(u config.UpstreamHeaders, maps *vars.Maps) (*upHeaders, error) {
	h := &upHeaders{ignoreAccel: u.IgnoreAccelBuffering, ignoreXAR: u.IgnoreAccelRedirect, ignoreXLR: u.IgnoreAccelLimitRate}
	for _, n := range u.Hide {
		h.hide = append(h.hide, []byte(n))
	}
	for _, n := range u.Pass {
		h.pass = append(h.pass, []byte(n))
	}
	var err error
	if h.redirect, err = compileRewrites("proxy_redirect", u.Redirect, false, maps); err != nil {
		return nil, err
	}
	if h.cookieDomain, err = compileRewrites("proxy_cookie_domain", u.CookieDomain, true, maps); err != nil {
		return nil, err
	}
	if h.cookiePath, err = compileRewrites("proxy_cookie_path", u.CookiePath, false, maps); err != nil {
		return nil, err
	}
	for _, c := range u.CookieFlags {
		cf := cookieFlags{re: c.Regex}
		if c.Regex == nil {
			if cf.name, err = vars.Compile(c.Cookie, maps); err != nil {
				return nil, fmt.Errorf("proxy_cookie_flags %s: %w", c.Cookie, err)
			}
		}
		for _, f := range c.Flags {
			v, err := vars.Compile(f, maps)
			if err != nil {
				return nil, fmt.Errorf("proxy_cookie_flags %s: %w", f, err)
			}
			cf.flags = append(cf.flags, v)
		}
		h.cookieFlags = append(h.cookieFlags, cf)
	}
	return h, nil
}

func compileRewrites(name string, rs []config.HeaderRewrite, domain bool, maps *vars.Maps) ([]headerRewrite, error) {
	out := make([]headerRewrite, 0, len(rs))
	for _, r := range rs {
		hr := headerRewrite{re: r.Regex, domain: domain && r.Regex == nil}
		var err error
		if r.Regex == nil {
			if hr.pattern, err = vars.Compile(r.Pattern, maps); err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, r.Pattern, err)
			}
			hr.repl, err = vars.Compile(r.Replacement, maps)
		} else {
			hr.repl, err = vars.CompileCaptures(r.Replacement, maps)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, r.Replacement, err)
		}
		out = append(out, hr)
	}
	return out, nil
}

// passed reports whether the upstream header name reaches the client:
// not hidden by default (unless proxy_pass_header lets it through) nor by
// proxy_hide_header.
func (h *upHeaders) passed(name, connection []byte) bool {
	for _, n := range h.hide {
		if bytes.EqualFold(name, n) {
			return false
		}
	}
	if !hidden(name, connection) {
		return true
	}
	for _, n := range h.pass {
		if bytes.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// rewrite applies the first rule of rs that matches value[start:end] and
// returns the new value, or nil when none matches (nginx's
// ngx_http_proxy_rewrite_*_handler and ngx_http_proxy_rewrite).
func rewrite(rs []headerRewrite, x *exchange, value []byte, start, end int) []byte {
	for i := range rs {
		r := &rs[i]
		part := value[start:end]
		from, to := start, end
		var repl []byte
		switch {
		case r.re != nil:
			loc := config.FindSubmatchIndexPCRE(r.re, part)
			if loc == nil {
				continue
			}
			repl = r.repl.AppendCaptures(nil, x, string(part), loc)
		case r.domain:
			if len(part) > 0 && part[0] == '.' {
				from++
				part = part[1:]
			}
			if !bytes.EqualFold(r.pattern.Append(nil, x), part) {
				continue
			}
			repl = r.repl.Append(nil, x)
		default:
			p := r.pattern.Append(nil, x)
			if !bytes.HasPrefix(part, p) {
				continue
			}
			to = start + len(p)
			repl = r.repl.Append(nil, x)
		}
		out := make([]byte, 0, len(value)-(to-from)+len(repl))
		out = append(append(append(out, value[:from]...), repl...), value[to:]...)
		return out
	}
	return nil
}

// rewriteHeader is the upstream header k's new value, nil to pass it
// unchanged.
func (x *exchange) rewriteHeader(k, v []byte) []byte {
	up := x.loc.up
	switch {
	case len(up.redirect) > 0 && bytes.EqualFold(k, []byte("Location")):
		return x.redirectLocation(v)
	case len(up.redirect) > 0 && bytes.EqualFold(k, []byte("Refresh")):
		return x.rewriteRefresh(v)
	case (len(up.cookieDomain) > 0 || len(up.cookiePath) > 0 || len(up.cookieFlags) > 0) && bytes.EqualFold(k, []byte("Set-Cookie")):
		return x.rewriteCookie(v)
	}
	return nil
}

// redirectLocation is proxy_redirect on a Location header: a rewritten
// value that starts with "/" is made absolute by the header filter, as
// nginx's own redirects (absolute_redirect); nil when no rule matched.
func (x *exchange) redirectLocation(v []byte) []byte {
	out := rewrite(x.loc.up.redirect, x, v, 0, len(v))
	if len(out) > 0 && out[0] == '/' {
		out = x.absoluteLocation(nil, out, x.loc.conf.Redirect)
	}
	return out
}

// rewriteRefresh is proxy_redirect on a Refresh header, after its "url=".
func (x *exchange) rewriteRefresh(v []byte) []byte {
	i := indexFold(v, "url=")
	if i < 0 {
		return nil
	}
	return rewrite(x.loc.up.redirect, x, v, i+4, len(v))
}

// cookieAttr is one attribute of a Set-Cookie: val nil without "=", key
// nil when proxy_cookie_flags removed it.
type cookieAttr struct{ key, val []byte }

// rewriteCookie is proxy_cookie_domain, proxy_cookie_path and
// proxy_cookie_flags on one Set-Cookie (nginx 1.22's
// ngx_http_proxy_rewrite_cookie): the value is split at ";" into
// name=value attributes, spaces around names and values dropped; when a
// domain or path attribute was rewritten or a proxy_cookie_flags entry
// matched the cookie's name with at least one valid flag, the cookie is
// written back with "; " between attributes. nil: unchanged.
func (x *exchange) rewriteCookie(v []byte) []byte {
	type attr = cookieAttr
	var attrs []attr
	for rest := v; ; {
		part, tail, more := bytes.Cut(rest, []byte(";"))
		part = bytes.TrimLeft(part, " ")
		k, val, hasEq := bytes.Cut(part, []byte("="))
		a := attr{key: bytes.TrimRight(k, " ")}
		if hasEq {
			a.val = bytes.TrimRight(bytes.TrimLeft(val, " "), " ")
			if a.val == nil {
				a.val = []byte{}
			}
		}
		attrs = append(attrs, a)
		if !more {
			break
		}
		rest = tail
	}
	if attrs[0].val == nil {
		return nil // no name=value first: nginx leaves the header alone
	}
	changed := false
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		if a.val == nil {
			continue
		}
		var rs []headerRewrite
		switch {
		case bytes.EqualFold(a.key, []byte("domain")):
			rs = x.loc.up.cookieDomain
		case bytes.EqualFold(a.key, []byte("path")):
			rs = x.loc.up.cookiePath
		}
		if out := rewrite(rs, x, a.val, 0, len(a.val)); out != nil {
			a.val, changed = out, true
		}
	}
	if flags := x.cookieFlagsFor(attrs[0].key); flags != 0 {
		attrs, changed = editCookieFlags(attrs, flags), true
	}
	if !changed {
		return nil
	}
	var out []byte
	for i, a := range attrs {
		if a.key == nil {
			continue
		}
		if i > 0 {
			out = append(out, "; "...)
		}
		out = append(out, a.key...)
		if a.val != nil {
			out = append(append(out, '='), a.val...)
		}
	}
	return out
}

// The flags proxy_cookie_flags sets or removes (nginx's
// ngx_http_proxy_cookie_flags_masks).
const (
	cookieSecure = 1 << iota
	cookieNoSecure
	cookieHTTPOnly
	cookieNoHTTPOnly
	cookieStrict
	cookieLax
	cookieNone
	cookieNoSameSite
)

var cookieFlagNames = []struct {
	name string
	flag int
}{
	{"secure", cookieSecure}, {"nosecure", cookieNoSecure},
	{"httponly", cookieHTTPOnly}, {"nohttponly", cookieNoHTTPOnly},
	{"samesite=strict", cookieStrict}, {"samesite=lax", cookieLax}, {"samesite=none", cookieNone},
	{"nosamesite", cookieNoSameSite},
}

// cookieFlagsFor is the flags of the first proxy_cookie_flags entry whose
// cookie matches name (nginx's ngx_http_proxy_rewrite_cookie_flags): later
// entries are not tried even when the first has no valid flag; empty
// values and unknown flags are skipped. 0: leave the cookie's flags alone.
func (x *exchange) cookieFlagsFor(name []byte) int {
	for i := range x.loc.up.cookieFlags {
		c := &x.loc.up.cookieFlags[i]
		if c.re != nil {
			if config.FindSubmatchIndexPCRE(c.re, name) == nil {
				continue
			}
		} else if !bytes.EqualFold(c.name.Append(nil, x), name) {
			continue
		}
		f := 0
		for _, fv := range c.flags {
			val := fv.Append(nil, x)
			for _, n := range cookieFlagNames {
				if bytes.EqualFold(val, []byte(n.name)) {
					f |= n.flag
					break
				}
			}
		}
		return f
	}
	return 0
}

// editCookieFlags applies flags to the cookie's attributes (nginx's
// ngx_http_proxy_edit_cookie_flags): a flag the cookie already has is kept
// as written, a "no" flag removes the attribute, a SameSite with another
// value is rewritten, and the flags still to set are appended as Secure,
// HttpOnly, SameSite=Strict|Lax|None.
func editCookieFlags(attrs []cookieAttr, flags int) []cookieAttr {
	sameSite := []struct {
		flag int
		val  string
	}{{cookieStrict, "Strict"}, {cookieLax, "Lax"}, {cookieNone, "None"}}
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		switch {
		case bytes.EqualFold(a.key, []byte("secure")):
			if flags&cookieSecure != 0 {
				flags &^= cookieSecure
			} else if flags&cookieNoSecure != 0 {
				a.key = nil
			}
		case bytes.EqualFold(a.key, []byte("httponly")):
			if flags&cookieHTTPOnly != 0 {
				flags &^= cookieHTTPOnly
			} else if flags&cookieNoHTTPOnly != 0 {
				a.key = nil
			}
		case bytes.EqualFold(a.key, []byte("samesite")):
			done := false
			for _, s := range sameSite {
				if flags&s.flag == 0 {
					continue
				}
				flags &^= s.flag
				if !bytes.EqualFold(a.val, []byte(s.val)) {
					a.key, a.val = []byte("SameSite"), []byte(s.val)
				}
				done = true
				break
			}
			if !done && flags&cookieNoSameSite != 0 {
				a.key = nil
			}
		}
	}
	if flags&cookieSecure != 0 {
		attrs = append(attrs, cookieAttr{key: []byte("Secure")})
	}
	if flags&cookieHTTPOnly != 0 {
		attrs = append(attrs, cookieAttr{key: []byte("HttpOnly")})
	}
	for _, s := range sameSite {
		if flags&s.flag != 0 {
			attrs = append(attrs, cookieAttr{key: []byte("SameSite"), val: []byte(s.val)})
			break
		}
	}
	return attrs
}

// indexFold is the index of the ASCII string s in b, ignoring case; -1
// when absent.
func indexFold(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return i
		}
	}
	return -1
}
