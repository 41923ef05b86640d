package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Return is the rewrite module's "return" at a server or a location
// (ngx_http_rewrite_return): the request is answered there, before any
// access check, and never proxied. A zero Code means no return.
//
// In proxy.yaml it is one string, nginx's arguments joined by a space:
// "301 https://$host$request_uri", "200 ok", "403", or a bare URL
// ("https://example.com$request_uri", a 302).
type Return struct {
	Code int
	// Text is the body (codes other than 301, 302, 303, 307, 308) or the
	// Location (those five), as written: variables are compiled by proxy/vars.
	Text string
	// HasText tells "return 200" from `return 200 ""` (nginx answers both
	// with an empty body, but a code of 400 or more without text is
	// nginx's error page).
	HasText bool
}

// IsRedirect reports whether the code's text is a Location.
func (r Return) IsRedirect() bool {
	switch r.Code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// ParseReturn parses the proxy.yaml form of return with nginx's rules: a
// code of three digits at most (nginx: 0 to 999), else a URL that starts
// with http://, https:// or $scheme, answered with 302.
func ParseReturn(s string) (Return, error) {
	first, rest, hasRest := strings.Cut(s, " ")
	if code, err := strconv.Atoi(first); err == nil && first != "" && first[0] != '+' && first[0] != '-' {
		if code > 999 {
			return Return{}, fmt.Errorf("invalid return code %q", first)
		}
		return Return{Code: code, Text: rest, HasText: hasRest}, nil
	}
	if hasRest {
		return Return{}, fmt.Errorf("invalid return code %q", first)
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "$scheme") {
		return Return{}, fmt.Errorf("invalid return code %q", s)
	}
	return Return{Code: 302, Text: s, HasText: true}, nil
}

// returnFrom decodes return: a YAML number is a code alone.
func returnFrom(in any) (Return, error) {
	if n, ok := in.(int); ok {
		in = strconv.Itoa(n)
	}
	s, err := stringFrom(in)
	if err != nil {
		return Return{}, err
	}
	return ParseReturn(s)
}

// Redirect is how nginx's header filter writes a Location that starts
// with "/" (a return's, or the 301 of auto_redirect): absolute_redirect,
// server_name_in_redirect and port_in_redirect.
type Redirect struct {
	Absolute   bool // absolute_redirect, default on: scheme://host[:port] is prepended
	ServerName bool // server_name_in_redirect, default off: the server's first name, not the Host line's
	Port       bool // port_in_redirect, default on: the local port unless it is the scheme's own
}

// redirectDirectives are the raw keys of Redirect, in http, server and
// location, inherited.
type redirectDirectives struct {
	AbsoluteRedirect     *opt[bool] `mapstructure:"absolute_redirect"`
	ServerNameInRedirect *opt[bool] `mapstructure:"server_name_in_redirect"`
	PortInRedirect       *opt[bool] `mapstructure:"port_in_redirect"`
	RewriteLog           *opt[bool] `mapstructure:"rewrite_log"`
}

func (d *redirectDirectives) inherit(p *redirectDirectives) {
	merge(&d.AbsoluteRedirect, p.AbsoluteRedirect)
	merge(&d.ServerNameInRedirect, p.ServerNameInRedirect)
	merge(&d.PortInRedirect, p.PortInRedirect)
	merge(&d.RewriteLog, p.RewriteLog)
}

func (d *redirectDirectives) resolve() Redirect {
	return Redirect{
		Absolute:   d.AbsoluteRedirect.or(true),
		ServerName: d.ServerNameInRedirect.or(false),
		Port:       d.PortInRedirect.or(true),
	}
}

// Rewrite is one "rewrite regex replacement [flag]" that redirects: flag
// redirect (302) or permanent (301), or a replacement that starts with
// http://, https:// or $scheme (302). nginx runs a level's rewrites in
// order before its return; the first whose regex matches $uri answers.
// Rewrites that change the URI inside the server (last, break, no flag)
// are not supported.
type Rewrite struct {
	Source      string         // the regex as written (rewrite_log quotes it)
	Regex       *regexp.Regexp // compiled as a location's (PCRE semantics on bytes)
	Replacement string         // with variables and captures; a final "?" removed
	Code        int            // 301 or 302
	// AddArgs: the request's arguments are appended ("?args", or "&args"
	// when the replacement has a "?"), unless the replacement ended with "?".
	AddArgs bool
}

// ParseRewrite parses "regex replacement [flag]" (nginx's arguments
// joined by spaces; the regex and the replacement have none).
func ParseRewrite(s string) (Rewrite, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return Rewrite{}, fmt.Errorf("invalid number of arguments in %q: want \"regex replacement [flag]\"", s)
	}
	re, err := compilePCRE(f[0], false)
	if err != nil {
		return Rewrite{}, fmt.Errorf("rewrite %q: %v", f[0], err)
	}
	r := Rewrite{Source: f[0], Regex: re, Replacement: f[1], Code: 302, AddArgs: true}
	external := strings.HasPrefix(f[1], "http://") || strings.HasPrefix(f[1], "https://") || strings.HasPrefix(f[1], "$scheme")
	switch flag := ""; {
	case len(f) == 3 && f[2] == "permanent":
		r.Code = 301
	case len(f) == 3 && f[2] == "redirect":
	case len(f) == 3 && (f[2] == "last" || f[2] == "break") && external:
		// nginx redirects anyway (302)
	case len(f) == 3:
		flag = f[2]
		if flag != "last" && flag != "break" {
			return Rewrite{}, fmt.Errorf("invalid parameter %q", flag)
		}
		fallthrough
	case !external:
		return Rewrite{}, fmt.Errorf("rewrite %q %q: only redirects are supported (flag redirect or permanent, or a replacement starting with http://, https:// or $scheme)", f[0], f[1])
	}
	if strings.HasSuffix(r.Replacement, "?") {
		r.Replacement, r.AddArgs = strings.TrimSuffix(r.Replacement, "?"), false
	}
	return r, nil
}

// rewritesFrom decodes rewrite: one string or a list of them.
func rewritesFrom(in any) ([]Rewrite, error) {
	var list []any
	switch v := in.(type) {
	case []any:
		list = v
	default:
		list = []any{v}
	}
	var out []Rewrite
	for _, e := range list {
		s, err := stringFrom(e)
		if err != nil {
			return nil, err
		}
		r, err := ParseRewrite(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
