package upstream

import (
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The balancing methods that choose a server from the request (hash,
// ip_hash) or at random, as nginx's ngx_http_upstream_hash_module,
// ngx_http_upstream_ip_hash_module and ngx_http_upstream_random_module do,
// so that a key lands on the same server as behind nginx. Each keeps
// per-request state between the tries of one request (Balance), gives up
// after 20 draws that found no usable server, and then falls back to
// weighted round-robin, as nginx does. None of them has backup servers.

// method is a group's balancing method.
type method uint8

const (
	roundRobin method = iota
	leastConn
	hashKey        // hash KEY
	hashConsistent // hash KEY consistent
	ipHash
	random
	randomTwo // random two [least_conn]
	leastTime // least_time header|last_byte [inflight] (leasttime.go)
)

// maxDraws is nginx's limit of draws (hp->tries > 20) before the method
// falls back to round-robin.
const maxDraws = 20

// Balance is one request's side of a hash, ip_hash or random pick: what the
// request brings (the key, the client address) and the state nginx keeps
// between the tries of one request. The zero value with Key and Addr set
// is ready; a Balance belongs to one request.
type Balance struct {
	Key  []byte     // hash's key, evaluated once for the request
	Addr netip.Addr // ip_hash: the client's address; invalid (a unix socket) hashes as 0.0.0

	started bool
	hash    uint32 // hash: the running sum; consistent: the point index; ip_hash: the running hash
	rehash  int    // hash: the rehash count
	tries   int    // draws so far
}

// chashPoint is one point of the consistent-hash ring.
type chashPoint struct {
	hash   uint32
	server string // the server's name as configured (nginx compares names)
}

// balanceInit sets the group's method; rebuild (upstream.go) makes what it
// needs from the peers: the ring of a consistent hash, and the total weight
// of the primary servers.
func (g *Group) balanceInit() {
	c := g.conf
	switch {
	case c.Hash != "" && c.HashConsistent:
		g.method = hashConsistent
	case c.Hash != "":
		g.method = hashKey
	case c.IPHash:
		g.method = ipHash
	case c.RandomTwo:
		g.method = randomTwo
	case c.Random:
		g.method = random
	case c.LeastConn:
		g.method = leastConn
	case c.LeastTime:
		g.method = leastTime
	}
}

// chashRing is nginx's ngx_http_upstream_update_chash: for each server,
// weight*160 points, each the crc32 of "HOST\0PORT" followed by the
// previous point's hash (little-endian, 0 for the first), sorted, with
// duplicates dropped.
func chashRing(peers []*Peer) []chashPoint {
	var pts []chashPoint
	for _, p := range peers {
		host, port := chashHostPort(p.name())
		base := crc32.Update(0, crc32.IEEETable, []byte(host))
		base = crc32.Update(base, crc32.IEEETable, []byte{0})
		base = crc32.Update(base, crc32.IEEETable, []byte(port))
		var prev [4]byte
		for range p.conf.Weight * 160 {
			h := crc32.Update(base, crc32.IEEETable, prev[:])
			pts = append(pts, chashPoint{hash: h, server: p.name()})
			prev = [4]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24)}
		}
	}
	slices.SortStableFunc(pts, func(a, b chashPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(pts, func(a, b chashPoint) bool { return a.hash == b.hash })
}

// chashHostPort splits a server name as nginx does for the ring: a unix:
// path is all host; otherwise the digits after the last colon are the port.
func chashHostPort(s string) (host, port string) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "unix:") {
		return s[5:], ""
	}
	for j := 0; j < len(s); j++ {
		c := s[len(s)-j-1]
		if c == ':' {
			return s[:len(s)-j-1], s[len(s)-j:]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return s, ""
}

// name is the server's address as written in the configuration.
func (p *Peer) name() string {
	if p.conf.Name != "" {
		return p.conf.Name
	}
	return p.conf.Address
}

// findPoint is nginx's ngx_http_upstream_find_chash_point: the first point
// whose hash is not below h (len(pts) when h is past the last one).
func findPoint(pts []chashPoint, h uint32) uint32 {
	i, _ := slices.BinarySearchFunc(pts, h, func(p chashPoint, h uint32) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	return uint32(i)
}

// usable reports whether the hash, ip_hash and random methods may pick p:
// not tried, not down, not unhealthy, not failed within fail_timeout.
func (p *Peer) usable(tried []*Peer, now time.Time) bool { return !p.skip(tried, now) }

// picked is nginx's bookkeeping when a method has chosen p: a disabled
// peer past fail_timeout gets this one request.
func picked(p *Peer, now time.Time) *Peer {
	if now.Sub(p.checked) > p.conf.FailTimeout {
		p.checked = now
	}
	return p
}

// byWeight is the primary peer that weight point w (0 <= w < total weight)
// falls on: nginx's walk "while (w >= peer->weight) w -= peer->weight".
func (g *Group) byWeight(w uint32) *Peer {
	for _, p := range g.peers {
		if w < uint32(p.conf.Weight) {
			return p
		}
		w -= uint32(p.conf.Weight)
	}
	return g.peers[len(g.peers)-1]
}

// pickHash is nginx's ngx_http_upstream_get_hash_peer: the sum of
// (crc32([REHASH] KEY) >> 16) & 0x7fff over the draws, modulo the total
// weight, REHASH being the draw's number from the second draw on
// (Cache::Memcached's scheme). The caller holds g.mu; nil means fall back.
func (g *Group) pickHash(b *Balance, tried []*Peer, now time.Time) *Peer {
	if b.tries > maxDraws || len(b.Key) == 0 {
		return nil
	}
	var num [20]byte
	for {
		h := uint32(0)
		if b.rehash > 0 {
			h = crc32.Update(h, crc32.IEEETable, strconv.AppendInt(num[:0], int64(b.rehash), 10))
		}
		h = crc32.Update(h, crc32.IEEETable, b.Key)
		b.hash += (h >> 16) & 0x7fff
		b.rehash++
		p := g.byWeight(b.hash % uint32(g.total))
		if p.usable(tried, now) {
			return picked(p, now)
		}
		if b.tries++; b.tries > maxDraws {
			return nil
		}
	}
}

// pickConsistent is nginx's ngx_http_upstream_get_chash_peer: from the
// ring point at or after crc32(KEY), the first point whose server can be
// used, moving one point per draw. Servers of the same name (none here:
// one peer per server line) would share by smooth weighted round-robin.
func (g *Group) pickConsistent(b *Balance, tried []*Peer, now time.Time) *Peer {
	if !b.started {
		b.started = true
		b.hash = findPoint(g.points, crc32.ChecksumIEEE(b.Key))
	}
	if b.tries > maxDraws || len(b.Key) == 0 {
		return nil
	}
	for {
		server := g.points[b.hash%uint32(len(g.points))].server
		var best *Peer
		total := 0
		for _, p := range g.peers {
			if p.name() != server || !p.usable(tried, now) {
				continue
			}
			p.cur += p.weight
			total += p.weight
			if p.weight < p.conf.Weight {
				p.weight++
			}
			if best == nil || p.cur > best.cur {
				best = p
			}
		}
		if best != nil {
			best.cur -= total
			return picked(best, now)
		}
		b.hash++
		if b.tries++; b.tries > maxDraws {
			return nil
		}
	}
}

// pickIPHash is nginx's ngx_http_upstream_get_ip_hash_peer: starting from
// 89, hash = (hash*113 + octet) % 6271 over the first three octets of an
// IPv4 address (all 16 of IPv6), again on each draw, modulo the total
// weight. The running hash is kept only when a server is picked.
func (g *Group) pickIPHash(b *Balance, tried []*Peer, now time.Time) *Peer {
	if !b.started {
		b.started, b.hash = true, 89
	}
	if b.tries > maxDraws {
		return nil
	}
	var addr []byte
	switch {
	case b.Addr.Is4():
		a := b.Addr.As4()
		addr = a[:3]
	case b.Addr.IsValid():
		a := b.Addr.As16()
		addr = a[:]
	default:
		addr = []byte{0, 0, 0} // nginx's pseudo address for a unix socket
	}
	h := b.hash
	for {
		for _, o := range addr {
			h = (h*113 + uint32(o)) % 6271
		}
		p := g.byWeight(h % uint32(g.total))
		if p.usable(tried, now) {
			b.hash = h
			return picked(p, now)
		}
		if b.tries++; b.tries > maxDraws {
			return nil
		}
	}
}

// pickRandom is nginx's ngx_http_upstream_get_random_peer and, with two,
// get_random2_peer: draw servers by weight until one (two different ones)
// can be used; of two, the one with fewer attempts in flight relative to
// its weight, the second on a tie.
func (g *Group) pickRandom(b *Balance, tried []*Peer, now time.Time, two bool) *Peer {
	if b.tries > maxDraws {
		return nil
	}
	var prev *Peer
	for {
		p := g.byWeight(uint32(rand.IntN(g.total)))
		if p != prev && p.usable(tried, now) {
			if !two {
				return picked(p, now)
			}
			if prev != nil {
				if p.active.Load()*int64(prev.conf.Weight) > prev.active.Load()*int64(p.conf.Weight) {
					p = prev
				}
				return picked(p, now)
			}
			prev = p
		}
		if b.tries++; b.tries > maxDraws {
			return nil
		}
	}
}
