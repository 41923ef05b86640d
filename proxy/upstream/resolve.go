package upstream

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/resolver"
)

// Servers with resolve (nginx 1.27.3's "server NAME resolve" and
// "service="): the name is asked of the upstream's resolver when the group
// starts running and again each time the answer expires, and the server is
// one peer per address. A new answer keeps the peers of the addresses it
// still has (their failures, keepalive connections and round-robin state),
// adds peers for the new ones and drops the others, whose idle connections
// are closed; requests in flight on a dropped peer finish on it. As in
// nginx: a name that does not exist (or has no address) leaves the server
// without peers; any other failure keeps the last addresses and asks again
// after resolver_timeout (at least a second).

// line is one server directive of a group: a fixed peer, or a server with
// resolve and the peers its last answer gave.
type line struct {
	conf       config.UpstreamServer
	host, port string  // resolve: the name asked and the port of its peers
	peers      []*Peer // guarded by the group's mu once the group runs
}

// minReresolve is the shortest time between two questions for one name
// (nginx: ngx_max(..., 1000) ms).
const minReresolve = time.Second

// resolving reports whether the group has servers with resolve.
func (g *Group) resolving() bool { return g.res != nil }

// runResolve asks for every name of the group's servers with resolve, at
// once and then when each answer expires, until ctx ends. One goroutine per
// server line; run returns when they all have.
func (g *Group) runResolve(ctx context.Context, elog *errorlog.Log, spawn func(func())) {
	for _, l := range g.lines {
		if l.host == "" {
			continue
		}
		spawn(func() {
			for {
				wait := g.resolveLine(ctx, l, elog)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		})
	}
}

// resolveLine asks once for l's name and applies the answer; it returns
// how long to wait before asking again.
func (g *Group) resolveLine(ctx context.Context, l *line, elog *errorlog.Log) time.Duration {
	now := time.Now()
	var want []config.UpstreamServer
	var expires time.Time
	var rerr *resolver.Error
	if l.conf.Service != "" {
		want, expires, rerr = g.askService(ctx, l)
	} else {
		var addrs []netip.Addr
		addrs, expires, rerr = g.res.Cached(ctx, l.host)
		for _, a := range addrs {
			want = append(want, l.peerConf(a, l.port, l.conf.Weight, false))
		}
	}
	if ctx.Err() != nil {
		return 0
	}
	if rerr != nil {
		if elog != nil && elog.Enabled(errorlog.Error) {
			elog.Write(&errorlog.Entry{Level: errorlog.Error, Msg: rerr.Error()})
		}
		if rerr.Code != resolver.CodeNotFound {
			return max(g.conf.Resolver.Timeout, minReresolve) // keep the last addresses
		}
		want = nil // the name is gone: so are its servers
	}
	g.apply(l, want)
	if l.conf.Service == "" {
		// The answer is shared with every server that asks for the name
		// (Cached): asking again when it expires keeps them together.
		return max(time.Until(expires), 0)
	}
	return max(expires.Sub(now), minReresolve)
}

// askService asks for the SRV records of l's service and then for the
// addresses of each target: the records of the lowest priority value are
// primary servers, the others backup; a record's weight is its peer's (0
// counts as 1). A target that does not exist gives no peer; one whose
// query fails keeps the server's last peers, as a failed SRV query does.
func (g *Group) askService(ctx context.Context, l *line) ([]config.UpstreamServer, time.Time, *resolver.Error) {
	name := serviceName(l.conf.Service, l.host)
	srvs, expires, rerr := g.res.QuerySRV(ctx, name, nil)
	if rerr != nil {
		return nil, expires, rerr
	}
	best := srvs[0].Priority
	for _, s := range srvs {
		best = min(best, s.Priority)
	}
	var want []config.UpstreamServer
	for _, s := range srvs {
		addrs, exp, err := g.res.Query(ctx, s.Target, nil)
		if err != nil && err.Code != resolver.CodeNotFound {
			return nil, exp, err // a failed answer changes nothing
		}
		if exp.Before(expires) {
			expires = exp
		}
		for _, a := range addrs {
			want = append(want, l.peerConf(a, strconv.Itoa(int(s.Port)), max(int(s.Weight), 1), s.Priority != best))
		}
	}
	return want, expires, nil
}

// serviceName is the SRV name nginx asks for service=NAME of host: NAME
// with a dot is joined to host as it is; otherwise "_NAME._tcp.host".
func serviceName(service, host string) string {
	if strings.Contains(service, ".") {
		return service + "." + host
	}
	return "_" + service + "._tcp." + host
}

// peerConf is the configuration of the peer for address a of l.
func (l *line) peerConf(a netip.Addr, port string, weight int, backup bool) config.UpstreamServer {
	c := l.conf
	c.Address = net.JoinHostPort(a.String(), port)
	c.Weight = weight
	c.Backup = c.Backup || backup
	c.Resolve = false
	return c
}

// apply makes l's peers those of want: a peer whose address (and
// parameters) want still has is kept with its state, the others are
// dropped and their idle connections closed. An address want has twice
// (two equal SRV records) is two peers, as in nginx.
func (g *Group) apply(l *line, want []config.UpstreamServer) {
	g.mu.Lock()
	var next, gone []*Peer
	for _, w := range want {
		i := slices.IndexFunc(l.peers, func(p *Peer) bool { return p.conf == w })
		if i >= 0 {
			next = append(next, l.peers[i])
			l.peers = slices.Delete(l.peers, i, i+1)
			continue
		}
		next = append(next, g.newPeer(w))
	}
	gone, l.peers = l.peers, next
	g.rebuild()
	g.mu.Unlock()
	for _, p := range gone {
		p.idle.closeAll()
	}
}

// ShareResolver makes g ask r for the names of its servers with resolve,
// so that the groups of one configuration that use the same resolver share
// its answers and ask again at the same time, as nginx's one resolver
// cache does. Called before g runs; a nil r keeps g's own.
func (g *Group) ShareResolver(r *resolver.Resolver) {
	if r != nil && g.resolving() {
		g.res = r
	}
}

// Adopt gives g's servers with resolve the addresses prev's same servers
// (same name and service; the port is g's) last had, so that a reload serves them at
// once while g asks again (nginx's preresolve). Called before g runs.
func (g *Group) Adopt(prev *Group) {
	if prev == nil || !g.resolving() || !prev.resolving() {
		return
	}
	prev.mu.Lock()
	var confs [][]config.UpstreamServer
	for _, l := range g.lines {
		var want []config.UpstreamServer
		for _, pl := range prev.lines {
			if l.host == "" || pl.host != l.host || pl.conf.Service != l.conf.Service {
				continue
			}
			for _, p := range pl.peers {
				c := l.conf
				c.Address, c.Resolve = p.conf.Address, false
				if l.conf.Service != "" { // the SRV records' ports and weights
					c.Weight, c.Backup = p.conf.Weight, l.conf.Backup || p.conf.Backup
				} else if ip, _, err := net.SplitHostPort(p.conf.Address); err == nil {
					c.Address = net.JoinHostPort(ip, l.port) // the address, at the port now written
				}
				want = append(want, c)
			}
			break
		}
		confs = append(confs, want)
	}
	prev.mu.Unlock()
	for i, l := range g.lines {
		if len(confs[i]) > 0 {
			g.apply(l, confs[i])
		}
	}
}
