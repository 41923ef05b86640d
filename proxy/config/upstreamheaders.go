package config

import (
	"fmt"
	"regexp"
	"strings"
)

// What happens to the upstream's response headers on their way to the
// client (nginx's proxy module): proxy_redirect rewrites Location and
// Refresh, proxy_cookie_domain and proxy_cookie_path rewrite Set-Cookie,
// proxy_hide_header and proxy_pass_header change which headers pass, and
// proxy_ignore_headers which ones spillway acts on (the fastcgi_ and uwsgi_
// ones for fastcgi_pass and uwsgi_pass: the shared set of modules.go). All
// are written in http, server and location; a level that writes one
// replaces what it inherits, as in nginx.

// HeaderRewrite is one proxy_redirect, proxy_cookie_domain or
// proxy_cookie_path: Pattern is a prefix (proxy_redirect, proxy_cookie_path;
// the whole domain for proxy_cookie_domain), with variables, unless Regex is
// set ("~" and "~*" forms); Replacement has variables and, with Regex, its
// captures $1..$9.
type HeaderRewrite struct {
	Pattern     string
	Regex       *regexp.Regexp
	Replacement string
}

// UpstreamHeaders is a location's handling of the upstream's response
// headers.
type UpstreamHeaders struct {
	// Redirect is proxy_redirect, first match wins; empty = off. nginx's
	// default (proxy_redirect default) is one entry made of proxy_pass and
	// the location's path.
	Redirect     []HeaderRewrite
	CookieDomain []HeaderRewrite // proxy_cookie_domain, first match wins
	CookiePath   []HeaderRewrite // proxy_cookie_path, first match wins
	CookieFlags  []CookieFlags   // proxy_cookie_flags, first match wins
	// Hide lists more headers not passed to the client (proxy_hide_header),
	// Pass headers passed although nginx hides them by default
	// (proxy_pass_header: Server, X-Pad, X-Accel-*); canonical names.
	Hide, Pass []string
	// IgnoreAccelBuffering is proxy_ignore_headers X-Accel-Buffering: the
	// upstream's "X-Accel-Buffering: no" does not turn buffering off.
	IgnoreAccelBuffering bool
	// IgnoreAccelRedirect is proxy_ignore_headers X-Accel-Redirect: the
	// upstream's answer is relayed as it is, not an internal redirect.
	IgnoreAccelRedirect bool
	// IgnoreAccelLimitRate is proxy_ignore_headers X-Accel-Limit-Rate:
	// the upstream's X-Accel-Limit-Rate does not set the answer's rate.
	IgnoreAccelLimitRate bool
}

// CookieFlags is one proxy_cookie_flags: the cookie whose flags change,
// by name with variables (compared ignoring case) or by Regex (the "~"
// form, always caseless), and one to three flags with variables: secure,
// httponly, samesite=strict|lax|none and their opposites nosecure,
// nohttponly, nosamesite. A flag that evaluates to anything else is
// skipped, as nginx.
type CookieFlags struct {
	Cookie string
	Regex  *regexp.Regexp
	Flags  []string
}

// rewriteRule is one entry of proxy_redirect and the cookie directives as
// written: "default", or a pattern and its replacement.
type rewriteRule struct {
	Default              bool
	Pattern, Replacement string
}

// upstreamHeaderDirectives are the raw keys (http, server, location).
type upstreamHeaderDirectives struct {
	ProxyRedirect     *opt[[]rewriteRule]     `mapstructure:"proxy_redirect"`
	ProxyCookieDomain *opt[[]rewriteRule]     `mapstructure:"proxy_cookie_domain"`
	ProxyCookiePath   *opt[[]rewriteRule]     `mapstructure:"proxy_cookie_path"`
	ProxyCookieFlags  *opt[[]cookieFlagsRule] `mapstructure:"proxy_cookie_flags"`
}

// cookieFlagsRule is one proxy_cookie_flags entry as written.
type cookieFlagsRule struct {
	Cookie string
	Flags  []string
}

func (d *upstreamHeaderDirectives) inherit(p *upstreamHeaderDirectives) {
	merge(&d.ProxyRedirect, p.ProxyRedirect)
	merge(&d.ProxyCookieDomain, p.ProxyCookieDomain)
	merge(&d.ProxyCookiePath, p.ProxyCookiePath)
	merge(&d.ProxyCookieFlags, p.ProxyCookieFlags)
}

// ignorable are proxy_ignore_headers' names. Without a cache, only
// X-Accel-Buffering, X-Accel-Redirect and X-Accel-Limit-Rate change
// anything.
var ignorable = []string{"X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering",
	"X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary"}

// resolveInto fills in proxy_pass's rewrites of loc.UpstreamHeaders, after
// the location's *_pass is known (the module's hide, pass and ignore
// headers are resolveHeaders', modules.go).
func (d *upstreamHeaderDirectives) resolveInto(loc *Location, p *problems) {
	u := &loc.UpstreamHeaders
	if loc.Upstream.Module != "proxy" || loc.ProxyPass.Scheme == "" && loc.ProxyPass.Value == "" {
		return // the cookie and redirect rewrites are proxy_pass's
	}
	rules := d.ProxyRedirect.or([]rewriteRule{{Default: true}}) // nginx's default: proxy_redirect default
	for _, r := range rules {
		if r.Default && loc.ProxyPass.Value != "" {
			// nginx: no default rewrite for a proxy_pass with variables
			if d.ProxyRedirect.set() {
				p.add(d.ProxyRedirect.at(), `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`)
			}
			continue
		}
		if r.Default {
			u.Redirect = append(u.Redirect, defaultRedirect(loc))
			continue
		}
		u.Redirect = append(u.Redirect, compileRewrite(r, false, d.ProxyRedirect.at(), p))
	}
	for _, r := range d.ProxyCookieDomain.or(nil) {
		if r.Default {
			p.add(d.ProxyCookieDomain.at(), `invalid parameter "default"`)
			continue
		}
		u.CookieDomain = append(u.CookieDomain, compileRewrite(r, true, d.ProxyCookieDomain.at(), p))
	}
	for _, r := range d.ProxyCookiePath.or(nil) {
		if r.Default {
			p.add(d.ProxyCookiePath.at(), `invalid parameter "default"`)
			continue
		}
		u.CookiePath = append(u.CookiePath, compileRewrite(r, false, d.ProxyCookiePath.at(), p))
	}
	for _, r := range d.ProxyCookieFlags.or(nil) {
		u.CookieFlags = append(u.CookieFlags, compileCookieFlags(r, d.ProxyCookieFlags.at(), p))
	}
}

// compileCookieFlags reads one proxy_cookie_flags entry: "~regex" is
// caseless (nginx's NGX_REGEX_CASELESS), anything else a name with
// variables.
func compileCookieFlags(r cookieFlagsRule, key string, p *problems) CookieFlags {
	c := CookieFlags{Cookie: r.Cookie, Flags: r.Flags}
	if rest, ok := strings.CutPrefix(r.Cookie, "~"); ok {
		re, err := compilePCRE(rest, true)
		if err != nil {
			p.add(key, "%s", err)
			return c
		}
		c.Cookie, c.Regex = rest, re
	} else {
		p.checkVariables(key, "cookie", c.Cookie)
	}
	for _, f := range c.Flags {
		p.checkVariables(key, "flag", f)
	}
	return c
}

// cookieFlagsFrom decodes proxy_cookie_flags: "off" (none), "COOKIE FLAG
// [FLAG [FLAG]]", or a list of entries, each such a string or a list
// [COOKIE, FLAG, ...].
func cookieFlagsFrom(in any) ([]cookieFlagsRule, error) {
	one := func(e any) (cookieFlagsRule, error) {
		var words []string
		switch x := e.(type) {
		case string:
			words = strings.Fields(x)
		case []any:
			for _, w := range x {
				s, ok := w.(string)
				if !ok {
					return cookieFlagsRule{}, fmt.Errorf("want [cookie, flag, ...] as strings, got %s", kindOf(w))
				}
				words = append(words, s)
			}
		default:
			return cookieFlagsRule{}, fmt.Errorf(`expected "cookie flag ..." or [cookie, flag, ...], got %s`, kindOf(e))
		}
		if len(words) < 2 || len(words) > 4 || words[0] == "" {
			return cookieFlagsRule{}, fmt.Errorf("invalid number of arguments in %q: want a cookie and one to three flags", strings.Join(words, " "))
		}
		return cookieFlagsRule{Cookie: words[0], Flags: words[1:]}, nil
	}
	if out, ok, err := offOrList(in, one); ok {
		return out, err
	}
	return nil, fmt.Errorf(`expected "off", "cookie flag ..." or a list of them, got %s`, kindOf(in))
}

// defaultRedirect is nginx's "proxy_redirect default": proxy_pass as
// written becomes the location's path when proxy_pass has a URI part;
// without one, proxy_pass followed by "/" becomes "/".
func defaultRedirect(loc *Location) HeaderRewrite {
	pp := loc.ProxyPass
	url := pp.Scheme + "://" + pp.Host
	if !pp.HasURI {
		return HeaderRewrite{Pattern: url + "/", Replacement: "/"}
	}
	if strings.HasPrefix(pp.Host, "unix:") {
		url += ":"
	}
	return HeaderRewrite{Pattern: url + pp.URI, Replacement: loc.Path}
}

// compileRewrite reads one rule: "~regex" (case-sensitive; "~*regex"
// caseless, and always caseless for proxy_cookie_domain), else a prefix
// with variables, whose leading "." proxy_cookie_domain drops (in the
// replacement too).
func compileRewrite(r rewriteRule, domain bool, key string, p *problems) HeaderRewrite {
	h := HeaderRewrite{Pattern: r.Pattern, Replacement: r.Replacement}
	if rest, ok := strings.CutPrefix(r.Pattern, "~"); ok {
		caseless := domain
		if r, ok := strings.CutPrefix(rest, "*"); ok && !domain {
			rest, caseless = r, true
		}
		re, err := compilePCRE(rest, caseless)
		if err != nil {
			p.add(key, "%s", err)
			return h
		}
		h.Pattern, h.Regex = rest, re
		p.checkCaptureVariables(key, h.Replacement)
		return h
	}
	if domain {
		h.Pattern = strings.TrimPrefix(h.Pattern, ".")
		h.Replacement = strings.TrimPrefix(h.Replacement, ".")
	}
	p.checkVariables(key, "pattern", h.Pattern)
	p.checkVariables(key, "replacement", h.Replacement)
	return h
}

// rewriteRulesFrom decodes proxy_redirect and the cookie directives:
// "off" (none), "default", "PATTERN REPLACEMENT", or a list of entries,
// each "default", "PATTERN REPLACEMENT" or [PATTERN, REPLACEMENT] (for a
// pattern with spaces).
func rewriteRulesFrom(in any) ([]rewriteRule, error) {
	one := func(e any) (rewriteRule, error) {
		switch x := e.(type) {
		case string:
			if x == "default" {
				return rewriteRule{Default: true}, nil
			}
			f := strings.Fields(x)
			if len(f) != 2 {
				return rewriteRule{}, fmt.Errorf(`invalid number of arguments in %q: want "default" or "pattern replacement"`, x)
			}
			return rewriteRule{Pattern: f[0], Replacement: f[1]}, nil
		case []any:
			if len(x) != 2 {
				return rewriteRule{}, fmt.Errorf("want [pattern, replacement], got %d items", len(x))
			}
			a, ok1 := x[0].(string)
			b, ok2 := x[1].(string)
			if !ok1 || !ok2 || a == "" {
				return rewriteRule{}, fmt.Errorf("want [pattern, replacement] as strings")
			}
			return rewriteRule{Pattern: a, Replacement: b}, nil
		}
		return rewriteRule{}, fmt.Errorf(`expected "default", "pattern replacement" or [pattern, replacement], got %s`, kindOf(e))
	}
	if out, ok, err := offOrList(in, one); ok {
		return out, err
	}
	return nil, fmt.Errorf(`expected "off", "default", "pattern replacement" or a list of them, got %s`, kindOf(in))
}

// offOrList reads what proxy_redirect and proxy_cookie_flags take: "off"
// (an empty list, which clears the inherited one), one rule as a string,
// or a list of rules, "off" not among them. ok is false for any other
// type, which the caller names in its error.
func offOrList[T any](in any, one func(any) (T, error)) (out []T, ok bool, err error) {
	switch x := in.(type) {
	case string:
		if x == "off" {
			return []T{}, true, nil
		}
		r, err := one(x)
		return []T{r}, true, err
	case []any:
		if len(x) == 1 && x[0] == "off" {
			return []T{}, true, nil
		}
		out := make([]T, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s == "off" {
				return nil, true, fmt.Errorf(`"off" cannot be combined with other entries`)
			}
			r, err := one(e)
			if err != nil {
				return nil, true, err
			}
			out = append(out, r)
		}
		return out, true, nil
	}
	return nil, false, nil
}
