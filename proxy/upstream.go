package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"spillway/proxy/config"
)

// group is the running form of one upstream block (or of a literal
// proxy_pass host:port, which nginx treats as a one-server group). It picks
// peers and keeps nginx's passive health state. Safe for concurrent use.
type group struct {
	name    string
	conf    *config.Upstream // what it was built from: a reload keeps the group if this is unchanged
	literal bool             // a literal proxy_pass host:port
	now     func() time.Time // nil means time.Now; tests inject a clock
	mu      sync.Mutex       // guards the round-robin and health fields of peers
	peers   []*peer          // primary servers
	backup  []*peer          // used only when no primary server is available
	single  bool             // one server, no backup: never marked down (nginx)
	budget  *retryBudget     // retry_budget; nil for a literal proxy_pass address

	leastConn bool                // least_conn: fewest requests in flight per weight, then round-robin
	check     *config.HealthCheck // health_check; nil = passive health only

	tlsMu    sync.Mutex
	tls      map[upstreamTLSKey]*upstreamTLS // https:// settings in use with this group (upstream_tls.go)
	tlsCheck *upstreamTLS                    // the first of them: what an active health check uses
}

// peer is one server of a group. Its keepalive cache and counters are its
// own; the round-robin and health fields are guarded by group.mu.
type peer struct {
	addr   string
	conf   config.UpstreamServer
	group  *group
	idle   idleCache
	weight int // effective weight (nginx's effective_weight)
	cur    int // smooth weighted round-robin state (nginx's current_weight)

	fails   int
	checked time.Time // last time a failure was counted or a disabled peer was probed
	acc     time.Time // last failure (nginx's accessed)

	// unhealthy is set by the active health check (health.go): the peer is
	// skipped like a down one until enough checks pass again.
	unhealthy bool

	// active counts this peer's attempts in flight (nginx's peer->conns), for
	// least_conn: from the start of an attempt until its connection is
	// closed or cached. Atomic, read without group.mu.
	active atomic.Int64

	// m is this server's counters (metrics.go): set when the site is
	// prepared, before any request can reach the peer.
	m *serverStats
}

func newGroup(name string, conf *config.Upstream, now func() time.Time) *group {
	g := &group{name: name, conf: conf, now: now, leastConn: conf.LeastConn, check: conf.HealthCheck}
	for _, s := range conf.Servers {
		p := &peer{addr: s.Address, conf: s, group: g, weight: s.Weight}
		p.idle.init(s.Address, conf.Keepalive, conf.KeepaliveTimeout, conf.KeepaliveRequests, conf.KeepaliveLearn)
		if s.Backup {
			g.backup = append(g.backup, p)
		} else {
			g.peers = append(g.peers, p)
		}
	}
	g.single = len(g.peers) == 1 && len(g.backup) == 0
	return g
}

// closeIdle closes every cached keepalive connection of the group.
func (g *group) closeIdle() {
	for _, pr := range g.peers {
		pr.idle.closeAll()
	}
	for _, pr := range g.backup {
		pr.idle.closeAll()
	}
}

func (g *group) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// pick chooses the next peer by nginx's smooth weighted round-robin, or by
// least_conn when the group has it, skipping peers that are down, marked
// unhealthy by the active health check, already tried by this request, or
// temporarily disabled by max_fails/fail_timeout. Backup servers are used
// only when no primary one can be. It returns nil when nothing is left:
// nginx's "no live upstreams".
func (g *group) pick(tried []*peer) *peer {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	if g.single {
		// Passive health never disables a lone server (nginx), but an
		// active check that failed does: nginx Plus answers 502 then too.
		p := g.peers[0]
		if p.conf.Down || p.unhealthy || contains(tried, p) {
			return nil
		}
		return p
	}
	choose := g.pickFrom
	if g.leastConn {
		choose = g.pickLeastConn
	}
	if p := choose(g.peers, tried, now); p != nil {
		return p
	}
	return choose(g.backup, tried, now)
}

// skip reports whether p cannot take this request: down, actively
// unhealthy, already tried, or within fail_timeout after max_fails failures.
// The caller holds g.mu.
func (p *peer) skip(tried []*peer, now time.Time) bool {
	if p.conf.Down || p.unhealthy || contains(tried, p) {
		return true
	}
	return p.conf.MaxFails > 0 && p.fails >= p.conf.MaxFails && now.Sub(p.checked) <= p.conf.FailTimeout
}

func (g *group) pickFrom(peers []*peer, tried []*peer, now time.Time) *peer {
	var best *peer
	total := 0
	for _, p := range peers {
		if p.skip(tried, now) {
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
	if best == nil {
		return nil
	}
	best.cur -= total
	if now.Sub(best.checked) > best.conf.FailTimeout {
		best.checked = now // a disabled peer past fail_timeout gets one request
	}
	return best
}

// pickLeastConn is nginx's ngx_http_upstream_get_least_conn_peer: the peer
// with the fewest attempts in flight relative to its configured weight
// (conns/weight, compared as cross products); when several share the
// lowest ratio, smooth weighted round-robin among them, starting from the
// first. The counts are read once, so a concurrent acquire or done cannot
// make a peer disagree with itself between the two passes.
func (g *group) pickLeastConn(peers []*peer, tried []*peer, now time.Time) *peer {
	var stack [16]int64
	conns := stack[:0]
	for _, p := range peers {
		conns = append(conns, p.active.Load())
	}
	best, first, many := -1, -1, false
	for i, p := range peers {
		if p.skip(tried, now) {
			continue
		}
		if best < 0 || conns[i]*int64(peers[best].conf.Weight) < conns[best]*int64(p.conf.Weight) {
			best, first, many = i, i, false
		} else if conns[i]*int64(peers[best].conf.Weight) == conns[best]*int64(p.conf.Weight) {
			many = true
		}
	}
	if best < 0 {
		return nil
	}
	total := 0
	if many {
		for i := first; i < len(peers); i++ {
			p := peers[i]
			if conns[i]*int64(peers[first].conf.Weight) != conns[first]*int64(p.conf.Weight) || p.skip(tried, now) {
				continue
			}
			p.cur += p.weight
			total += p.weight
			if p.weight < p.conf.Weight {
				p.weight++
			}
			if p.cur > peers[best].cur {
				best = i
			}
		}
	}
	b := peers[best]
	b.cur -= total
	if now.Sub(b.checked) > b.conf.FailTimeout {
		b.checked = now // a disabled peer past fail_timeout gets one request
	}
	return b
}

// acquire counts an attempt on p as in flight (nginx's peer->conns++), for
// least_conn. Every acquire is matched by one done: transport.go acquires
// when an attempt starts and hands the count to the attempt's connection,
// whose close or return to the keepalive cache calls done (upConn.unhold).
func (g *group) acquire(p *peer) { p.active.Add(1) }

// done ends an attempt counted by acquire.
func (g *group) done(p *peer) { p.active.Add(-1) }

// setHealthy records an active health check's verdict on p and reports
// whether it changed p's state (the caller logs the transition).
func (g *group) setHealthy(p *peer, healthy bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.unhealthy == !healthy {
		return false
	}
	p.unhealthy = !healthy
	return true
}

// failed counts a failure against p (nginx ngx_http_upstream_free_round_robin_peer).
// It reports whether p just became temporarily disabled, so the caller can log
// nginx's "upstream server temporarily disabled" warning.
func (g *group) failed(p *peer) bool {
	if g.single {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	p.fails++
	p.acc, p.checked = now, now
	if p.conf.MaxFails == 0 {
		return false
	}
	p.weight -= p.conf.Weight / p.conf.MaxFails
	if p.weight < 0 {
		p.weight = 0
	}
	return p.fails >= p.conf.MaxFails
}

// succeeded clears the failure count when the peer was picked again after
// its last failure had been checked (nginx: accessed < checked), so a success
// inside fail_timeout does not wipe a failure that is still being counted.
func (g *group) succeeded(p *peer) {
	if g.single {
		return
	}
	g.mu.Lock()
	if p.acc.Before(p.checked) {
		p.fails = 0
	}
	g.mu.Unlock()
}

func contains(ps []*peer, p *peer) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
