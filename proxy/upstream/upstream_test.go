package upstream

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"spillway/proxy/config"
)

// lcGroup builds a least_conn group; a server is "name" or "name:weight",
// and a trailing "+backup" or "+down" sets those flags.
func lcGroup(servers ...string) *Group {
	u := &config.Upstream{LeastConn: true}
	for _, s := range servers {
		s, backup := strings.CutSuffix(s, "+backup")
		s, down := strings.CutSuffix(s, "+down")
		name, w, _ := strings.Cut(s, ":")
		weight := 1
		if w != "" {
			fmt.Sscan(w, &weight)
		}
		u.Servers = append(u.Servers, config.UpstreamServer{Address: name, Weight: weight, MaxFails: 1,
			FailTimeout: 10 * time.Second, Backup: backup, Down: down})
	}
	return NewGroup("g", u, nil)
}

func lcPeer(t *testing.T, g *Group, addr string) *Peer {
	t.Helper()
	for _, p := range append(append([]*Peer(nil), g.peers...), g.backup...) {
		if p.addr == addr {
			return p
		}
	}
	t.Fatalf("no peer %s", addr)
	return nil
}

// hold makes n attempts in flight on addr.
func lcHold(t *testing.T, g *Group, addr string, n int) {
	t.Helper()
	p := lcPeer(t, g, addr)
	for range n {
		g.acquire(p)
	}
}

func picks(g *Group, n int, tried ...*Peer) string {
	var b strings.Builder
	for range n {
		p := g.Pick(tried)
		if p == nil {
			b.WriteString("-")
			continue
		}
		b.WriteString(p.addr)
	}
	return b.String()
}

// nginx's least_conn: the fewest attempts in flight wins.
func TestLeastConnFewestInFlight(t *testing.T) {
	g := lcGroup("a", "b", "c")
	lcHold(t, g, "a", 2)
	lcHold(t, g, "c", 1)
	if got := picks(g, 3); got != "bbb" {
		t.Fatalf("picks %s, want bbb (b has none in flight)", got)
	}
	lcHold(t, g, "b", 2) // a=2 b=2 c=1
	if got := picks(g, 2); got != "cc" {
		t.Fatalf("picks %s, want cc", got)
	}
	g.done(lcPeer(t, g, "a"))
	g.done(lcPeer(t, g, "a")) // a=0
	if got := picks(g, 2); got != "aa" {
		t.Fatalf("picks %s, want aa", got)
	}
}

// In-flight counts are compared relative to weight (conns/weight, compared
// as cross products, with the configured weights).
func TestLeastConnWeighted(t *testing.T) {
	g := lcGroup("a:3", "b")
	lcHold(t, g, "a", 2) // 2/3 < 1/1
	lcHold(t, g, "b", 1)
	if got := picks(g, 2); got != "aa" {
		t.Fatalf("picks %s, want aa (2/3 < 1/1)", got)
	}
	lcHold(t, g, "a", 2) // 4/3 > 1/1
	if got := picks(g, 2); got != "bb" {
		t.Fatalf("picks %s, want bb (4/3 > 1/1)", got)
	}
}

// Ties are broken by smooth weighted round-robin among the tied servers:
// with nothing in flight, least_conn picks exactly like round-robin.
func TestLeastConnTiesRoundRobin(t *testing.T) {
	g := lcGroup("a:5", "b", "c")
	if got := picks(g, 7); got != "aabacaa" {
		t.Fatalf("picks %s, want aabacaa (nginx's smooth WRR)", got)
	}
	// Only the tied servers take part: a is busy, b and c alternate.
	g = lcGroup("a", "b", "c")
	lcHold(t, g, "a", 1)
	if got := picks(g, 6); got != "bcbcbc" {
		t.Fatalf("picks %s, want bcbcbc", got)
	}
	// Weighted tie: 3:1 over 1000 picks with nothing in flight.
	g = lcGroup("a:3", "b")
	n := map[string]int{}
	for range 1000 {
		n[g.Pick(nil).addr]++
	}
	if n["a"] != 750 || n["b"] != 250 {
		t.Fatalf("distribution %v, want a=750 b=250", n)
	}
}

// A distribution check with requests that take time: a server four times
// slower than the other holds its requests longer and so gets fewer,
// where round-robin would split them evenly.
func TestLeastConnDistributionSlowServer(t *testing.T) {
	run := func(leastConn bool) map[string]int {
		u := &config.Upstream{LeastConn: leastConn, Servers: []config.UpstreamServer{
			{Address: "slow", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
			{Address: "fast", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
		}}
		g := NewGroup("g", u, nil)
		service := map[string]int{"slow": 8, "fast": 2}
		ends := map[int][]*Peer{} // tick → attempts that end then
		n := map[string]int{}
		for tick := range 10000 {
			for _, p := range ends[tick] {
				g.done(p)
			}
			delete(ends, tick)
			// Two requests arrive each tick.
			for range 2 {
				p := g.Pick(nil)
				g.acquire(p)
				n[p.addr]++
				ends[tick+service[p.addr]] = append(ends[tick+service[p.addr]], p)
			}
			for _, p := range g.peers {
				if p.active.Load() < 0 {
					t.Fatalf("negative in-flight count on %s", p.addr)
				}
			}
		}
		return n
	}
	rr, lc := run(false), run(true)
	t.Logf("requests per server: round-robin %v, least_conn %v", rr, lc)
	if rr["slow"] != rr["fast"] {
		t.Fatalf("round-robin %v: want an even split", rr)
	}
	// Fewest-in-flight tends to equal queue lengths: fast takes about four
	// times as many requests as slow (service times 2 vs 8 ticks).
	if lc["fast"] < 3*lc["slow"] {
		t.Fatalf("least_conn %v: want fast >= 3 × slow", lc)
	}
}

// least_conn skips what pick skips: down, actively unhealthy, tried,
// disabled by max_fails; backups only when no primary is left, and among
// backups the least busy wins.
func TestLeastConnSkips(t *testing.T) {
	g := lcGroup("a", "b", "c+down", "x+backup", "y+backup")
	a, b, c := lcPeer(t, g, "a"), lcPeer(t, g, "b"), lcPeer(t, g, "c")
	lcHold(t, g, "a", 3)
	lcHold(t, g, "b", 3) // c (down) has none in flight but must not be picked
	if got := picks(g, 2); got != "ab" && got != "ba" {
		t.Fatalf("picks %s, want a and b (c is down)", got)
	}
	if p := g.Pick([]*Peer{a}); p != b {
		t.Fatalf("tried a: picked %v, want b", p)
	}
	g.setHealthy(b, false)
	if p := g.Pick(nil); p != a {
		t.Fatalf("b unhealthy: picked %v, want a", p)
	}
	g.Failed(a) // max_fails 1: disabled for fail_timeout
	lcHold(t, g, "x", 1)
	if got := picks(g, 2); got != "yy" {
		t.Fatalf("no primary left: picks %s, want yy (the idle backup)", got)
	}
	if p := g.Pick([]*Peer{lcPeer(t, g, "x"), lcPeer(t, g, "y")}); p != nil {
		t.Fatalf("everything tried or unavailable: picked %s", p.addr)
	}
	g.setHealthy(b, true)
	if p := g.Pick(nil); p != b {
		t.Fatalf("b healthy again: picked %v, want b", p)
	}
	_ = c
}

// A lone server is picked whatever its count; only down, tried or an
// active check's verdict stop it.
func TestLeastConnSingleServer(t *testing.T) {
	g := lcGroup("a")
	lcHold(t, g, "a", 5)
	if got := picks(g, 2); got != "aa" {
		t.Fatalf("picks %s", got)
	}
	g.setHealthy(g.peers[0], false)
	if p := g.Pick(nil); p != nil {
		t.Fatalf("unhealthy single server picked")
	}
}

// nginx's smooth weighted round-robin: weights 5,1,1 give a a b a c a a.
func TestSmoothWeightedRoundRobin(t *testing.T) {
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{
		{Address: "a", Weight: 5, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Address: "b", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Address: "c", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
	}}, nil)
	got := ""
	for range 7 {
		got += g.Pick(nil).Addr()
	}
	if got != "aabacaa" {
		t.Fatalf("got %s, want aabacaa", got)
	}
}

func TestPassiveHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{
		{Address: "a", Weight: 1, MaxFails: 2, FailTimeout: 10 * time.Second},
		{Address: "b", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
	}}, clock)
	a, b := g.peers[0], g.peers[1]
	if g.Failed(a) {
		t.Fatal("one failure of max_fails=2 must not disable")
	}
	if !g.Failed(a) {
		t.Fatal("second failure must disable")
	}
	for range 4 {
		if p := g.Pick(nil); p != b {
			t.Fatalf("disabled peer picked: %v", p.Addr())
		}
	}
	// All down: no live upstreams.
	g.Failed(b)
	if p := g.Pick(nil); p != nil {
		t.Fatalf("want no live upstreams, got %s", p.Addr())
	}
	// After fail_timeout a disabled peer gets one request again.
	now = now.Add(11 * time.Second)
	if p := g.Pick(nil); p == nil {
		t.Fatal("want a peer after fail_timeout")
	}
	// The tried set is honoured.
	if p := g.Pick([]*Peer{a, b}); p != nil {
		t.Fatalf("tried peers picked: %s", p.Addr())
	}
}

// A single-server group is never disabled (nginx).
func TestSingleServerNeverDisabled(t *testing.T) {
	g := NewGroup("g", &config.Upstream{Servers: []config.UpstreamServer{{Address: "a", Weight: 1, MaxFails: 1, FailTimeout: time.Hour}}}, nil)
	for range 3 {
		g.Failed(g.peers[0])
		if g.Pick(nil) == nil {
			t.Fatal("single server disabled")
		}
	}
}
