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

	// Learn is "sticky learn" (Cookie "" and Route nil): sessions the
	// group learns from the responses.
	Learn *StickyLearn
}

// StickyLearn is NGINX Plus's "sticky learn create=$VAR lookup=$VAR
// zone=NAME:SIZE [timeout=TIME] [header]": when a response comes through
// the group, the first non-empty create= variable (usually the session
// cookie the upstream sets, $upstream_cookie_NAME) becomes a session bound
// to the server that answered; a request whose first non-empty lookup=
// variable is a session goes to its server. A session not looked up for
// Timeout is forgotten; the zone holds about SIZE/128 sessions (the
// oldest are dropped first when it is full).
type StickyLearn struct {
	Create, Lookup []string
	Zone           string
	Size           int64
	Timeout        time.Duration // default 10m
	Header         bool          // header: sessions are created at the response's head (spillway always does)
}

// resolveStickyLearn reads sticky learn's parameters.
func resolveStickyLearn(w []string, at string, p *problems) *StickyLearn {
	l := &StickyLearn{Timeout: 10 * time.Minute}
	for _, a := range w {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "create", "lookup":
			if len(val) < 2 || val[0] != '$' {
				p.add(at, `invalid variable name "%s"`, val)
				continue
			}
			if name == "create" {
				l.Create = append(l.Create, val)
			} else {
				l.Lookup = append(l.Lookup, val)
			}
		case "zone":
			zn, zs, ok := strings.Cut(val, ":")
			n, err := ParseSize(zs)
			if !ok || zn == "" || err != nil || n < 1 {
				p.add(at, `invalid zone size "%s"`, val)
				continue
			}
			l.Zone, l.Size = zn, n
		case "timeout":
			d, err := ParseDuration(val)
			if err != nil || d <= 0 {
				p.add(at, `invalid timeout "%s"`, val)
				continue
			}
			l.Timeout = d
		case "header":
			l.Header = true
		case "sync":
			// nginx Plus's zone_sync across instances: one process here
		default:
			p.add(at, `invalid parameter "%s"`, a)
		}
	}
	switch {
	case l.Zone == "":
		p.add(at, `zone must be defined`)
	case len(l.Create) == 0:
		p.add(at, `create must be defined`)
	case len(l.Lookup) == 0:
		p.add(at, `lookup must be defined`)
	}
	return l
}

// MaxExpires is "expires=max".
const MaxExpires = time.Duration(-1)

// resolveSticky reads the upstream's sticky words with nginx Plus's checks.
// The cookie, route and learn methods are all implemented.
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
	if w[0] == "learn" {
		up.Sticky = &Sticky{Learn: resolveStickyLearn(w[1:], at, p)}
		if up.Hash != "" {
			p.add(at, `"sticky" with "hash" is not implemented: the session takes the place of the hash key`)
		}
		return
	}
	if w[0] != "cookie" {
		p.add(at, `invalid sticky method "%s"`, w[0])
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
