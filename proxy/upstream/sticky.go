package upstream

import (
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

// StickyID is the value of the sticky cookie that names p.
func (p *Peer) StickyID() string { return p.sticky }

// pickSticky is the server the request's cookie names, if it can take the
// request; nil otherwise (the method chooses). The caller holds g.mu.
func (g *Group) pickSticky(b *Balance, tried []*Peer, now time.Time) *Peer {
	if len(b.Key) == 0 || len(b.Key) > 2*md5.Size && g.routes == 0 {
		return nil
	}
	for _, list := range [][]*Peer{g.peers, g.backup} {
		for _, p := range list {
			if p.sticky == string(b.Key) && p.usable(tried, now) {
				return picked(p, now)
			}
		}
	}
	return nil
}
