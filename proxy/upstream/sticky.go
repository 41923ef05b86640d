package upstream

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"time"
)

// sticky cookie (NGINX Plus): a request whose cookie names a server of the
// group goes to it when it can take the request (not down, not failed
// within fail_timeout, not unhealthy, not tried yet); any other request is
// balanced by the group's method. The proxy sets the cookie on every
// response to the server that answered (proxy/sticky.go). The request's
// cookie arrives as the Balance's Key: the site compiles $cookie_NAME as
// the group's key, which is why sticky and hash are not combined.

// stickyID is the sticky cookie's value for a server: its route= when it
// has one, else the MD5 of its address, in hexadecimal.
func stickyID(route, addr string) string {
	if route != "" {
		return route
	}
	sum := md5.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// RouteSep separates sticky route's variables in the Balance's Key: the
// key is compiled from "$a" + RouteSep + "$b" ..., and the first non-empty
// part is the route.
const RouteSep = "\x00"

// StickyKey is the route a Balance's Key carries: the first non-empty
// part between RouteSep.
func StickyKey(k []byte) []byte {
	for len(k) > 0 {
		part, rest, _ := bytes.Cut(k, []byte(RouteSep))
		if len(part) > 0 {
			return part
		}
		k = rest
	}
	return nil
}

// session is one learned sticky session: the server it is bound to (its
// sticky ID) and when it was last created or looked up.
type session struct {
	id   string
	last time.Time
}

// sessions are a group's learned sticky sessions (sticky learn), bounded
// by the zone's size. Guarded by the group's mu.
type sessions struct {
	m       map[string]*session
	max     int
	timeout time.Duration
}

// bytesPerSession is what a session costs in the zone: the zone holds
// SIZE/bytesPerSession sessions.
const bytesPerSession = 128

// Learn binds the session key to p (sticky learn's create=): the request's
// response came from p. A full zone first forgets expired sessions, then
// the least recently used one.
func (g *Group) Learn(key []byte, p *Peer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ss := g.sessions
	if ss == nil || len(key) == 0 || p == nil {
		return
	}
	now := g.clock()
	if s := ss.m[string(key)]; s != nil {
		s.id, s.last = p.sticky, now
		return
	}
	if len(ss.m) >= ss.max {
		var oldest string
		var at time.Time
		for k, s := range ss.m {
			if now.Sub(s.last) > ss.timeout {
				delete(ss.m, k)
				continue
			}
			if oldest == "" || s.last.Before(at) {
				oldest, at = k, s.last
			}
		}
		if len(ss.m) >= ss.max {
			delete(ss.m, oldest)
		}
	}
	ss.m[string(key)] = &session{id: p.sticky, last: now}
}

// lookup is the sticky ID of the session key (sticky learn's lookup=),
// "" when there is none or it expired. The caller holds g.mu.
func (ss *sessions) lookup(key []byte, now time.Time) []byte {
	s := ss.m[string(key)]
	if s == nil {
		return nil
	}
	if now.Sub(s.last) > ss.timeout {
		delete(ss.m, string(key))
		return nil
	}
	s.last = now
	return []byte(s.id)
}

// StickyID is the value of the sticky cookie that names p.
func (p *Peer) StickyID() string { return p.sticky }

// pickSticky is the server the request's cookie names, if it can take the
// request; nil otherwise (the method chooses). A backup server is named
// only once no primary can take the request, as nginx Plus does. The
// caller holds g.mu.
func (g *Group) pickSticky(b *Balance, tried []*Peer, now time.Time) *Peer {
	key := StickyKey(b.Key)
	if g.sessions != nil && len(key) > 0 {
		key = g.sessions.lookup(key, now)
	}
	if len(key) == 0 || len(key) > 2*md5.Size && g.routes == 0 {
		return nil
	}
	alive := false
	for _, p := range g.peers {
		if !p.skipBound(tried, now) {
			if p.sticky == string(key) {
				return picked(p, now) // a draining server too
			}
			alive = alive || !p.conf.Drain
		}
	}
	if alive {
		return nil // a backup server is not reached by id while a primary can be
	}
	for _, p := range g.backup {
		if p.sticky == string(key) && !p.skipBound(tried, now) {
			return picked(p, now)
		}
	}
	return nil
}
