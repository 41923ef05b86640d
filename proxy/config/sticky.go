package config

import (
	"strings"
	"time"
)

// Sticky is NGINX Plus's "sticky cookie NAME [expires=TIME] [domain=DOMAIN]
// [httponly] [samesite=strict|lax|none|$VAR] [secure] [path=PATH]": a
// request whose cookie NAME names a server of the group that can take it
// goes to that server; any other is balanced by the group's method, and
// every response through the group sets the cookie to the server that
// answered. The cookie's value is the server's route= when it has one,
// else the MD5 of its address (ip:port), in hexadecimal.
type Sticky struct {
	Cookie string // the cookie's name
	// Expires is expires=: 0 for none (a session cookie), MaxExpires for
	// "max" (nginx's Thu, 31-Dec-37 23:55:55 GMT and 10 years of max-age).
	Expires  time.Duration
	Domain   string // domain=, with variables; "" for none
	Path     string // path=; "" for none
	SameSite string // samesite=: strict, lax, none or a variable; "" for none
	Secure   bool
	HTTPOnly bool

	// Route is "sticky route $VAR ..." instead of a cookie (Cookie is ""):
	// the first of the variables that is not empty names the server
	// (its route=, else the MD5 of its address); nothing is set in the
	// response.
	Route []string
}

// MaxExpires is "expires=max".
const MaxExpires = time.Duration(-1)

// resolveSticky reads the upstream's sticky words with nginx Plus's checks.
// The cookie and route methods are implemented: "sticky learn" is refused
// rather than ignored, since ignoring it would send a session elsewhere
// than nginx Plus does.
func resolveSticky(up *Upstream, u *rawUpstream, p *problems) {
	if !u.Sticky.set() {
		return
	}
	w, at := u.Sticky.v, u.Sticky.at()
	if len(w) == 0 {
		p.add(at, `invalid number of arguments in "sticky" directive`)
		return
	}
	if w[0] == "route" {
		if len(w) < 2 {
			p.add(at, `invalid number of arguments in "sticky" directive`)
			return
		}
		for _, v := range w[1:] {
			if len(v) < 2 || v[0] != '$' {
				p.add(at, `invalid variable name "%s"`, v)
			}
		}
		up.Sticky = &Sticky{Route: w[1:]}
		if up.Hash != "" {
			p.add(at, `"sticky" with "hash" is not implemented: the route takes the place of the hash key`)
		}
		return
	}
	if w[0] != "cookie" {
		if w[0] == "learn" {
			p.add(at, `"sticky %s" is not implemented (only "sticky cookie" and "sticky route" are)`, w[0])
		} else {
			p.add(at, `invalid sticky method "%s"`, w[0])
		}
		return
	}
	if len(w) < 2 || w[1] == "" {
		p.add(at, `invalid number of arguments in "sticky" directive`)
		return
	}
	s := &Sticky{Cookie: w[1]}
	for _, a := range w[2:] {
		name, val, hasVal := strings.Cut(a, "=")
		bad := false
		switch name {
		case "expires":
			if val == "max" {
				s.Expires = MaxExpires
				break
			}
			d, err := ParseDuration(val)
			bad = err != nil || d <= 0
			s.Expires = d
		case "domain":
			bad, s.Domain = val == "", val
		case "path":
			bad, s.Path = val == "", val
		case "samesite":
			switch {
			case val == "strict" || val == "lax" || val == "none" || strings.HasPrefix(val, "$") && len(val) > 1:
				s.SameSite = val
			default:
				bad = true
			}
		case "secure":
			bad, s.Secure = hasVal, true
		case "httponly":
			bad, s.HTTPOnly = hasVal, true
		default:
			bad = true
		}
		if bad {
			p.add(at, `invalid parameter "%s"`, a)
		}
	}
	if up.Hash != "" {
		p.add(at, `"sticky" with "hash" is not implemented: the cookie takes the place of the hash key`)
	}
	up.Sticky = s
}
