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

// stickyKey is the route a Balance's Key carries: the first non-empty
// part between RouteSep.
func stickyKey(k []byte) []byte {
	for len(k) > 0 {
		part, rest, _ := bytes.Cut(k, []byte(RouteSep))
		if len(part) > 0 {
			return part
		}
		k = rest
	}
	return nil
}

// StickyID is the value of the sticky cookie that names p.
func (p *Peer) StickyID() string { return p.sticky }

// pickSticky is the server the request's cookie names, if it can take the
// request; nil otherwise (the method chooses). A backup server is named
// only once no primary can take the request, as nginx Plus does. The
// caller holds g.mu.
func (g *Group) pickSticky(b *Balance, tried []*Peer, now time.Time) *Peer {
	key := stickyKey(b.Key)
	if len(key) == 0 || len(key) > 2*md5.Size && g.routes == 0 {
		return nil
	}
	alive := false
	for _, p := range g.peers {
		if p.usable(tried, now) {
			if p.sticky == string(key) {
				return picked(p, now)
			}
			alive = true
		}
	}
	if alive {
		return nil // a backup server is not reached by id while a primary can be
	}
	for _, p := range g.backup {
		if p.sticky == string(key) && p.usable(tried, now) {
			return picked(p, now)
		}
	}
	return nil
}
