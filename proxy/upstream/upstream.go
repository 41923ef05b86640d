package upstream

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/resolver"
)

// Group is the running form of one upstream block (or of a literal
// proxy_pass host:port, which nginx treats as a one-server group). It picks
// peers and keeps nginx's passive health state. Safe for concurrent use.
type Group struct {
	name    string
	conf    *config.Upstream // what it was built from: a reload keeps the group if this is unchanged
	literal bool             // a literal proxy_pass host:port
	now     func() time.Time // nil means time.Now; tests inject a clock
	mu      sync.Mutex       // guards the round-robin and health fields of peers
	peers   []*Peer          // primary servers
	backup  []*Peer          // used only when no primary server is available
	single  bool             // one server, no backup: never marked down (nginx)
	budget  *RetryBudget     // retry_budget; nil for a literal proxy_pass address

	leastConn bool                // least_conn: fewest requests in flight per weight, then round-robin
	method    method              // how a server is chosen (balance.go)
	total     int                 // the primary servers' configured weights summed (nginx's total_weight)
	points    []chashPoint        // hash KEY consistent: the ring
	check     *config.HealthCheck // health_check; nil = passive health only

	// lines are the group's server directives in order: peers and backup
	// are rebuilt from them when a server with resolve changes (resolve.go).
	lines []*line
	res   *resolver.Resolver // the resolver of servers with resolve; nil without any

	routes   int       // servers with route= (sticky.go)
	sessions *sessions // sticky learn's sessions; nil without (sticky.go)

	tlsMu    sync.Mutex
	tls      map[upstreamTLSKey]*TLS // https:// settings in use with this group (upstream_tls.go)
	tlsCheck *TLS                    // the first of them: what an active health check uses
}

// Peer is one server of a group. Its keepalive cache and counters are its
// own; the round-robin and health fields are guarded by group.mu.
type Peer struct {
	addr   string
	conf   config.UpstreamServer
	group  *Group
	idle   IdleCache
	weight int    // effective weight (nginx's effective_weight)
	sticky string // the sticky cookie's value that names it; "" without sticky
	cur    int    // smooth weighted round-robin state (nginx's current_weight)

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

	// least_time (leasttime.go): the average response time in ns (0:
	// none yet), and the start times (unix ns) of the attempts in flight
	// summed, for inflight.
	ltAvg, ltStarts atomic.Int64
}

// NewGroup builds the group of an upstream block, with its retry budget.
func NewGroup(name string, conf *config.Upstream, now func() time.Time) *Group {
	g := newGroupOf(name, conf, now)
	g.budget = newRetryBudget(conf.RetryBudget, conf.RetryBudgetMinPerSecond)
	return g
}

// NewLiteral builds the group of a literal proxy_pass host:port: nginx's
// implicit one-server group, with no keepalive cache and no retry budget.
func NewLiteral(host string, now func() time.Time) *Group {
	g := newGroupOf(host, &config.Upstream{Servers: []config.UpstreamServer{{
		Address: host, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}}}, now)
	g.literal = true
	return g
}

// NewResolved builds the group a proxy_pass with variables resolved its
// host to, for one request: nginx's round-robin over the addresses
// (ngx_http_upstream_create_round_robin_peer), each with max_fails=1
// fail_timeout=10s, no keepalive cache and no retry budget. name is what
// "no live upstreams" names.
func NewResolved(name string, addrs []string, now func() time.Time) *Group {
	conf := &config.Upstream{}
	for _, a := range addrs {
		conf.Servers = append(conf.Servers, config.UpstreamServer{Address: a, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second})
	}
	g := newGroupOf(name, conf, now)
	g.literal = true
	return g
}

func newGroupOf(name string, conf *config.Upstream, now func() time.Time) *Group {
	g := &Group{name: name, conf: conf, now: now, leastConn: conf.LeastConn, check: conf.HealthCheck}
	for _, s := range conf.Servers {
		if s.Route != "" {
			g.routes++
		}
		l := &line{conf: s}
		if s.Resolve {
			l.host, l.port, _ = net.SplitHostPort(s.Address)
			if g.res == nil {
				g.res = resolver.New(conf.Resolver)
			}
		} else {
			l.peers = []*Peer{g.newPeer(s)}
		}
		g.lines = append(g.lines, l)
	}
	if st := conf.Sticky; st != nil && st.Learn != nil {
		g.sessions = &sessions{m: map[string]*session{}, max: max(int(st.Learn.Size/bytesPerSession), 1), timeout: st.Learn.Timeout}
	}
	g.balanceInit()
	g.rebuild()
	return g
}

// newPeer is a peer of the group for server s.
func (g *Group) newPeer(s config.UpstreamServer) *Peer {
	c := g.conf
	p := &Peer{addr: s.Address, conf: s, group: g, weight: s.Weight}
	if c.Sticky != nil {
		p.sticky = stickyID(s.Route, s.Address)
	}
	p.idle.init(s.Address, c.Keepalive, c.KeepaliveTimeout, c.KeepaliveRequests, c.KeepaliveLearn)
	return p
}

// rebuild makes peers and backup from lines, with what depends on them:
// single, the total weight, the consistent-hash ring. The caller holds
// g.mu, or owns g alone.
func (g *Group) rebuild() {
	var peers, backup []*Peer
	for _, l := range g.lines {
		for _, p := range l.peers {
			if p.conf.Backup {
				backup = append(backup, p)
			} else {
				peers = append(peers, p)
			}
		}
	}
	g.peers, g.backup = peers, backup
	g.single = len(g.peers) == 1 && len(g.backup) == 0
	g.total = 0
	for _, p := range g.peers {
		g.total += p.conf.Weight
	}
	if g.method == hashConsistent {
		g.points = chashRing(g.peers)
	}
}

// all is every peer, primaries then backups, as of now.
func (g *Group) all() []*Peer {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append(slices.Clip(g.peers), g.backup...)
}

// CloseIdle closes every cached keepalive connection of the group.
func (g *Group) CloseIdle() {
	for _, pr := range g.all() {
		pr.idle.closeAll()
	}
}

func (g *Group) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// Pick chooses the next peer by nginx's smooth weighted round-robin, or by
// least_conn when the group has it, skipping peers that are down, marked
// unhealthy by the active health check, already tried by this request, or
// temporarily disabled by max_fails/fail_timeout. Backup servers are used
// only when no primary one can be. It returns nil when nothing is left:
// nginx's "no live upstreams".
func (g *Group) Pick(tried []*Peer) *Peer { return g.PickFor(tried, nil) }

// PickFor is Pick for a request whose group may choose by hash, ip_hash or
// random (balance.go): b carries the request's key and address and the
// state nginx keeps between its tries; a nil b, or a method that gives up
// after its draws, falls back to round-robin as nginx does.
//
// A server with max_conns at its limit is skipped like a down one; one
// picked is counted as in flight at once (nginx's peer->conns++ in its
// get_peer), under the group's lock, so that concurrent picks cannot
// exceed the limit, and Transport.Open takes that count over.
func (g *Group) PickFor(tried []*Peer, b *Balance) *Peer {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pickLocked(tried, b)
	if p != nil && p.conf.MaxConns > 0 {
		g.acquire(p)
	}
	return p
}

// pickLocked is PickFor's choice; the caller holds g.mu.
func (g *Group) pickLocked(tried []*Peer, b *Balance) *Peer {
	if g.single { // no clock: passive health never disables a lone server
		// Passive health never disables a lone server (nginx), but an
		// active check that failed does: nginx Plus answers 502 then too.
		p := g.peers[0]
		if p.conf.Down || p.unhealthy || p.full() || contains(tried, p) {
			return nil
		}
		return p
	}
	now := g.clock()
	if b != nil && g.conf.Sticky != nil {
		if p := g.pickSticky(b, tried, now); p != nil {
			return p
		}
	}
	if b != nil && len(g.peers) > 0 {
		var p *Peer
		switch g.method {
		case hashKey:
			p = g.pickHash(b, tried, now)
		case hashConsistent:
			p = g.pickConsistent(b, tried, now)
		case ipHash:
			p = g.pickIPHash(b, tried, now)
		case random, randomTwo:
			p = g.pickRandom(b, tried, now, g.method == randomTwo)
		}
		if p != nil {
			return p
		}
	}
	choose := g.pickFrom
	if g.leastConn {
		choose = g.pickLeastConn
	}
	if g.method == leastTime {
		choose = g.pickLeastTime
	}
	if p := choose(g.peers, tried, now); p != nil {
		return p
	}
	return choose(g.backup, tried, now)
}

// full reports whether p has max_conns attempts in flight.
func (p *Peer) full() bool {
	return p.conf.MaxConns > 0 && p.active.Load() >= int64(p.conf.MaxConns)
}

// skip reports whether p cannot take this request: down, draining (only
// sticky requests reach it), actively unhealthy, at max_conns, already
// tried, or within fail_timeout after max_fails failures. The caller
// holds g.mu.
func (p *Peer) skip(tried []*Peer, now time.Time) bool {
	return p.conf.Drain || p.skipBound(tried, now)
}

// skipBound is skip for a request bound to p by a sticky method: a
// draining server takes it (one at max_conns does not).
func (p *Peer) skipBound(tried []*Peer, now time.Time) bool {
	if p.conf.Down || p.unhealthy || p.full() || contains(tried, p) {
		return true
	}
	return p.conf.MaxFails > 0 && p.fails >= p.conf.MaxFails && now.Sub(p.checked) <= p.conf.FailTimeout
}

func (g *Group) pickFrom(peers []*Peer, tried []*Peer, now time.Time) *Peer {
	var best *Peer
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
func (g *Group) pickLeastConn(peers []*Peer, tried []*Peer, now time.Time) *Peer {
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
// whose close or return to the keepalive cache calls Done (Conn.unhold).
func (g *Group) acquire(p *Peer) { p.active.Add(1) }

// done ends an attempt counted by acquire.
func (g *Group) done(p *Peer) { p.active.Add(-1) }

// setHealthy records an active health check's verdict on p and reports
// whether it changed p's state (the caller logs the transition).
func (g *Group) setHealthy(p *Peer, healthy bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.unhealthy == !healthy {
		return false
	}
	p.unhealthy = !healthy
	return true
}

// Failed counts a failure against p (nginx ngx_http_upstream_free_round_robin_peer).
// It reports whether p just became temporarily disabled, so the caller can log
// nginx's "upstream server temporarily disabled" warning.
func (g *Group) Failed(p *Peer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.single {
		return false
	}
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

// Succeeded clears the failure count when the peer was picked again after
// its last failure had been checked (nginx: accessed < checked), so a success
// inside fail_timeout does not wipe a failure that is still being counted.
func (g *Group) Succeeded(p *Peer) {
	g.mu.Lock()
	if !g.single && p.acc.Before(p.checked) {
		p.fails = 0
	}
	g.mu.Unlock()
}

func contains(ps []*Peer, p *Peer) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Reap closes the connections of every server's keepalive cache that have
// been idle past their limit (IdleCache.Reap); lg logs what that teaches.
func (g *Group) Reap(now time.Time, lg LearnLog) {
	for _, pr := range g.all() {
		pr.idle.reap(now, lg)
	}
}

// Name is the upstream block's name, or the host:port of a literal proxy_pass.
func (g *Group) Name() string { return g.name }

// Conf is what the group was built from (read-only): a reload keeps the
// group when it is unchanged.
func (g *Group) Conf() *config.Upstream { return g.conf }

// Literal reports whether the group is a literal proxy_pass host:port.
func (g *Group) Literal() bool { return g.literal }

// Budget is the group's retry_budget; nil for a literal proxy_pass address.
func (g *Group) Budget() *RetryBudget { return g.budget }

// Peers lists the servers, primaries then backups, in a new slice.
func (g *Group) Peers() []*Peer { return g.all() }

// Tries is how many servers one request may try: those not marked down,
// backups included (nginx's peers->tries, which a down server does not
// count towards, so that proxy_next_upstream ends with the last answer
// rather than "no live upstreams" once every other server was tried).
func (g *Group) Tries() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, p := range g.peers {
		if !p.conf.Down {
			n++
		}
	}
	for _, p := range g.backup {
		if !p.conf.Down {
			n++
		}
	}
	return n
}

// PeerState is one server's health as the metrics show it.
type PeerState struct {
	Peer  *Peer
	Up    bool // may take requests: not down, not failed within fail_timeout, not unhealthy
	Fails int  // failures counted against max_fails
}

// States reports every server's state, primaries then backups, as of one
// instant.
func (g *Group) States() []PeerState {
	now := g.clock()
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]PeerState, 0, len(g.peers)+len(g.backup))
	for _, p := range append(slices.Clip(g.peers), g.backup...) {
		out = append(out, PeerState{Peer: p, Up: !p.skip(nil, now), Fails: p.fails})
	}
	return out
}

// Healthy reports whether the active health check last found p healthy
// (servers start healthy).
func (g *Group) Healthy(p *Peer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !p.unhealthy
}

// Addr is the server's address: ip:port, host:port or unix:/path.
func (p *Peer) Addr() string { return p.addr }

// Idle is the server's keepalive cache.
func (p *Peer) Idle() *IdleCache { return &p.idle }

// InFlight is the number of attempts on p in flight (nginx's peer->conns),
// which least_conn compares.
func (p *Peer) InFlight() int64 { return p.active.Load() }
