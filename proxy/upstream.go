package proxy

import (
	"sync"
	"time"

	"spillway/proxy/config"
)

// group is the running form of one upstream block (or of a literal
// proxy_pass host:port, which nginx treats as a one-server group). It picks
// peers and keeps nginx's passive health state. Safe for concurrent use.
type group struct {
	name   string
	now    func() time.Time // nil means time.Now; tests inject a clock
	mu     sync.Mutex       // guards the round-robin and health fields of peers
	peers  []*peer          // primary servers
	backup []*peer          // used only when no primary server is available
	single bool             // one server, no backup: never marked down (nginx)
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
}

func newGroup(name string, conf *config.Upstream, now func() time.Time) *group {
	g := &group{name: name, now: now}
	for _, s := range conf.Servers {
		p := &peer{addr: s.Address, conf: s, group: g, weight: s.Weight}
		p.idle.init(conf.Keepalive, conf.KeepaliveTimeout, conf.KeepaliveRequests)
		if s.Backup {
			g.backup = append(g.backup, p)
		} else {
			g.peers = append(g.peers, p)
		}
	}
	g.single = len(g.peers) == 1 && len(g.backup) == 0
	return g
}

func (g *group) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// pick chooses the next peer by nginx's smooth weighted round-robin, skipping
// peers that are down, already tried by this request, or temporarily disabled
// by max_fails/fail_timeout. Backup servers are used only when no primary one
// can be. It returns nil when nothing is left: nginx's "no live upstreams".
func (g *group) pick(tried []*peer) *peer {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	if g.single {
		p := g.peers[0]
		if p.conf.Down || contains(tried, p) {
			return nil
		}
		return p
	}
	if p := g.pickFrom(g.peers, tried, now); p != nil {
		return p
	}
	return g.pickFrom(g.backup, tried, now)
}

func (g *group) pickFrom(peers []*peer, tried []*peer, now time.Time) *peer {
	var best *peer
	total := 0
	for _, p := range peers {
		if p.conf.Down || contains(tried, p) {
			continue
		}
		if p.conf.MaxFails > 0 && p.fails >= p.conf.MaxFails && now.Sub(p.checked) <= p.conf.FailTimeout {
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
