package upstream

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/config"
)

func maxConnsGroup(leastConn bool, servers ...config.UpstreamServer) *Group {
	for i := range servers {
		servers[i].Weight, servers[i].MaxFails, servers[i].FailTimeout = max(servers[i].Weight, 1), 1, 10*time.Second
	}
	return NewGroup("g", &config.Upstream{LeastConn: leastConn, Servers: servers}, nil)
}

// max_conns as nginx's round-robin and least_conn pickers apply it
// (nginx-tests' upstream_max_conns.t): a picked server with max_conns is
// counted at once, one at its limit is skipped (weight does not raise it),
// backups take over when every primary is full, a lone server at its limit
// is "no live upstreams", and a finished attempt frees its place.
func TestMaxConnsPick(t *testing.T) {
	for _, lc := range []bool{false, true} {
		g := maxConnsGroup(lc, config.UpstreamServer{Address: "a", Weight: 2, MaxConns: 1}, config.UpstreamServer{Address: "b"})
		a := lcPeer(t, g, "a")
		if got := picks(g, 4); got != "abbb" && got != "babb" {
			t.Errorf("least_conn=%v: picks %s, want a once then b", lc, got)
		}
		g.done(a)
		if got := picks(g, 3); strings.Count(got, "a") != 1 {
			t.Errorf("least_conn=%v: after a's attempt ended, picks %s, want a once again", lc, got)
		}

		g = maxConnsGroup(lc, config.UpstreamServer{Address: "a", MaxConns: 2}, config.UpstreamServer{Address: "b", Backup: true, MaxConns: 3})
		if got := picks(g, 6); got != "aabbb-" {
			t.Errorf("least_conn=%v: picks %s, want aabbb- (backup once a is full, then none)", lc, got)
		}
	}
	g := maxConnsGroup(false, config.UpstreamServer{Address: "a", MaxConns: 3})
	if got := picks(g, 4); got != "aaa-" {
		t.Errorf("lone server: picks %s, want aaa-", got)
	}
	g = maxConnsGroup(false, config.UpstreamServer{Address: "a", MaxConns: 0}, config.UpstreamServer{Address: "b"})
	if got := picks(g, 4); got != "abab" {
		t.Errorf("max_conns=0: picks %s, want abab (no limit)", got)
	}
	for _, p := range g.peers {
		if n := p.active.Load(); n != 0 {
			t.Errorf("%s without max_conns counted %d at pick (Transport.Open counts it)", p.addr, n)
		}
	}
}

// Concurrent picks never put more attempts on a server than its
// max_conns: the check and the count are one step under the group's lock.
func TestMaxConnsConcurrentPicks(t *testing.T) {
	g := maxConnsGroup(false, config.UpstreamServer{Address: "a", MaxConns: 3}, config.UpstreamServer{Address: "b", MaxConns: 2})
	var wg sync.WaitGroup
	var over atomic.Bool
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				p := g.Pick(nil)
				if p == nil {
					continue
				}
				if p.active.Load() > int64(p.conf.MaxConns) {
					over.Store(true)
				}
				g.done(p)
			}
		}()
	}
	wg.Wait()
	if over.Load() {
		t.Fatal("a server had more attempts in flight than its max_conns")
	}
	for _, p := range g.peers {
		if n := p.active.Load(); n != 0 {
			t.Errorf("%s: %d in flight after every attempt ended", p.addr, n)
		}
	}
}
