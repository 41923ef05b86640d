package proxy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// sticky cookie and sticky route (NGINX Plus; config.Sticky): the group
// picks the server the request's cookie (or first non-empty route
// variable) names (upstream/sticky.go), and with cookie every response
// through the group sets the cookie to the server that answered.

// stickyCookie is a group's sticky cookie, its variables compiled with the
// site's maps.
type stickyCookie struct {
	conf     *config.Sticky
	domain   *vars.Value // nil without domain=
	sameSite *vars.Value // nil without samesite=
	create   *vars.Value // sticky learn's create= variables, joined by upstream.RouteSep
}

// stickyCookies compiles the sticky cookies of cfg's groups, and makes
// $cookie_NAME (or sticky route's variables) each one's balancing key: the
// request's cookie reaches the group as the Balance's Key.
func (s *site) stickyCookies(cfg *config.Config) error {
	for name, u := range cfg.Upstreams {
		st := u.Sticky
		if st == nil {
			continue
		}
		sc := &stickyCookie{conf: st}
		var err error
		key := "$cookie_" + st.Cookie
		switch {
		case st.Learn != nil:
			// the lookup= variables, split again by the group, which
			// takes the first that is not empty
			key = strings.Join(st.Learn.Lookup, upstream.RouteSep)
			if sc.create, err = vars.Compile(strings.Join(st.Learn.Create, upstream.RouteSep), s.maps); err != nil {
				return fmt.Errorf("upstream %s: sticky learn create=: %w", name, err)
			}
		case st.Cookie == "":
			key = strings.Join(st.Route, upstream.RouteSep) // sticky route, likewise
		}
		if s.hashKeys[name], err = vars.Compile(key, s.maps); err != nil {
			return fmt.Errorf("upstream %s: sticky: %w", name, err)
		}
		if s.sticky == nil {
			s.sticky = map[string]*stickyCookie{}
		}
		s.sticky[name] = sc
		if st.Cookie == "" {
			continue // nothing to set in responses
		}
		if st.Domain != "" {
			if sc.domain, err = vars.Compile(st.Domain, s.maps); err != nil {
				return fmt.Errorf("upstream %s: sticky domain=: %w", name, err)
			}
		}
		if st.SameSite != "" {
			if sc.sameSite, err = vars.Compile(st.SameSite, s.maps); err != nil {
				return fmt.Errorf("upstream %s: sticky samesite=: %w", name, err)
			}
		}
	}
	return nil
}

// maxCookieExpires is nginx's expires=max: Thu, 31-Dec-37 23:55:55 GMT,
// with a max-age of ten years.
const maxCookieExpires = "Thu, 31-Dec-37 23:55:55 GMT"

// setStickyCookie adds the group's sticky cookie naming the server of the
// attempt a to the response head out: NAME=ID, then expires= and max-age=,
// domain=, path=, samesite=, secure, httponly as configured. A samesite=
// variable that is empty adds none; one that is not strict, lax or none
// is strict.
func (x *exchange) setStickyCookie(out *fasthttp.ResponseHeader, a *upstream.Attempt) {
	g := x.loc.group
	if g == nil || a == nil || a.Conn == nil || x.site == nil {
		return
	}
	sc := x.site.sticky[g.Name()]
	if sc == nil || g.Literal() {
		return
	}
	if sc.create != nil {
		if st := sc.conf.Learn; st.Header {
			x.learnSticky(a.Conn.Peer(), true)
		}
		return
	}
	st := sc.conf
	if st.Cookie == "" {
		return
	}
	b := make([]byte, 0, 128)
	b = append(b, st.Cookie...)
	b = append(b, '=')
	b = append(b, a.Conn.Peer().StickyID()...)
	switch {
	case st.Expires == config.MaxExpires:
		b = append(b, "; expires="+maxCookieExpires+"; max-age=315360000"...)
	case st.Expires > 0:
		b = append(b, "; expires="...)
		b = time.Now().Add(st.Expires).UTC().AppendFormat(b, "Mon, 02-Jan-06 15:04:05 GMT")
		b = append(b, "; max-age="...)
		b = strconv.AppendInt(b, int64(st.Expires/time.Second), 10)
	}
	if sc.domain != nil {
		if d := sc.domain.Append(nil, x); len(d) > 0 {
			b = append(append(b, "; domain="...), d...)
		}
	}
	if st.Path != "" {
		b = append(append(b, "; path="...), st.Path...)
	}
	if sc.sameSite != nil {
		switch v := string(sc.sameSite.Append(nil, x)); v {
		case "":
		case "strict", "lax", "none":
			b = append(append(b, "; samesite="...), v...)
		default:
			b = append(b, "; samesite=strict"...)
		}
	}
	if st.Secure {
		b = append(b, "; secure"...)
	}
	if st.HTTPOnly {
		b = append(b, "; httponly"...)
	}
	out.AddBytesV("Set-Cookie", b)
}

// learnSticky is sticky learn's create=: the session the response names
// (the first non-empty create= variable) is bound to the server p that
// answered. With header it is called when the response's head arrives,
// else when its body has been read whole (release).
func (x *exchange) learnSticky(p *upstream.Peer, header bool) {
	g := x.loc.group
	if g == nil || p == nil || x.site == nil {
		return
	}
	sc := x.site.sticky[g.Name()]
	if sc == nil || sc.create == nil || sc.conf.Learn.Header != header {
		return
	}
	g.Learn(upstream.StickyKey(sc.create.Append(nil, x)), p)
}
