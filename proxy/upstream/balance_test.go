package upstream

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"spillway/proxy/config"
)

// What nginx picks for a key is proved against nginx itself by
// proxy/internal/difftest's TestBalanceDifferential; these tests cover what a
// differential run cannot: random draws, addresses other than loopback's,
// and the properties the methods promise.

// balGroup builds a group with the method set by set; servers as lcGroup.
func balGroup(set func(*config.Upstream), servers ...string) *Group {
	g := lcGroup(servers...)
	u := *g.conf
	u.LeastConn = false
	set(&u)
	return NewGroup("g", &u, nil)
}

func TestRandomFollowsWeights(t *testing.T) {
	g := balGroup(func(u *config.Upstream) { u.Random = true }, "a:3", "b", "c+down", "d:2")
	counts := map[string]int{}
	const n = 30000
	for range n {
		p := g.PickFor(nil, &Balance{})
		counts[p.Addr()]++
	}
	if counts["c"] != 0 {
		t.Errorf("the down server got %d requests", counts["c"])
	}
	// weights 3:1:2 of 6; a 5-sigma band is under ±0.015 of the share
	for addr, want := range map[string]float64{"a": 0.5, "b": 1.0 / 6, "d": 1.0 / 3} {
		if got := float64(counts[addr]) / n; got < want-0.02 || got > want+0.02 {
			t.Errorf("%s got %.3f of the requests, want %.3f (counts %v)", addr, got, want, counts)
		}
	}
}

func TestRandomTwoPrefersFewerInFlight(t *testing.T) {
	g := balGroup(func(u *config.Upstream) { u.Random, u.RandomTwo = true, true }, "a", "b:2")
	a, b := lcPeer(t, g, "a"), lcPeer(t, g, "b")
	b.active.Store(3) // 3 per weight 2 > 1 per weight 1
	a.active.Store(1)
	drawn := 0
	for range 200 {
		bal := &Balance{}
		p := g.PickFor(nil, bal)
		if bal.tries > maxDraws {
			// b drawn 20 times running (about (2/3)^20 a pick): round
			// robin chose, as nginx's does (TestRandomTwoFallsBackToRoundRobin).
			continue
		}
		drawn++
		if p != a {
			t.Fatalf("picked %s, want a (fewer in flight per weight)", p.Addr())
		}
	}
	if drawn < 150 {
		t.Fatalf("only %d of 200 picks came from the draws", drawn)
	}
	a.active.Store(2) // 2/1 == 4/2... b: 4 per weight 2, a: 2 per weight 1: a tie
	b.active.Store(4)
	seen := map[*Peer]bool{}
	for range 200 {
		seen[g.PickFor(nil, &Balance{})] = true
	}
	if !seen[a] || !seen[b] {
		t.Errorf("on a tie, the second draw wins: both should be picked, got %v", seen)
	}
}

// Of two servers, one tried: the other is the only one random can draw
// twice over; nginx gives up after 20 draws and round-robin finds it.
func TestRandomTwoFallsBackToRoundRobin(t *testing.T) {
	g := balGroup(func(u *config.Upstream) { u.Random, u.RandomTwo = true, true }, "a", "b")
	a, b := lcPeer(t, g, "a"), lcPeer(t, g, "b")
	bal := &Balance{}
	if p := g.PickFor([]*Peer{a}, bal); p != b {
		t.Fatalf("picked %v, want b", p)
	}
	if bal.tries <= maxDraws {
		t.Errorf("tries = %d: the pick should have come from round-robin after %d draws", bal.tries, maxDraws)
	}
	if p := g.PickFor([]*Peer{a, b}, bal); p != nil {
		t.Errorf("every server tried: picked %s, want none", p.Addr())
	}
}

// ip_hash keeps the clients of one /24 together (nginx: "the first three
// octets of the IPv4 address"), and uses all of an IPv6 address.
func TestIPHashKeepsA24Together(t *testing.T) {
	g := balGroup(func(u *config.Upstream) { u.IPHash = true }, "a", "b", "c", "d", "e")
	pick := func(ip string) *Peer { return g.PickFor(nil, &Balance{Addr: netip.MustParseAddr(ip)}) }
	spread := map[*Peer]bool{}
	for i := range 64 {
		first := pick(fmt.Sprintf("10.%d.7.1", i))
		spread[first] = true
		for _, last := range []int{2, 100, 254} {
			if p := pick(fmt.Sprintf("10.%d.7.%d", i, last)); p != first {
				t.Errorf("10.%d.7.%d went to %s, 10.%d.7.1 to %s", i, last, p.Addr(), i, first.Addr())
			}
		}
	}
	if len(spread) < 4 {
		t.Errorf("64 networks went to %d servers", len(spread))
	}
	v6 := map[*Peer]bool{}
	for i := range 64 {
		v6[pick(fmt.Sprintf("2001:db8::%x", i))] = true
	}
	if len(v6) < 4 {
		t.Errorf("64 IPv6 addresses differing in the last octet went to %d servers: all 16 octets count", len(v6))
	}
}

// A server that fails max_fails times is skipped by the rehash while it is
// disabled, and the key comes back to it afterwards.
func TestHashRehashesAroundAFailedServer(t *testing.T) {
	now := time.Unix(1000, 0)
	g := balGroup(func(u *config.Upstream) { u.Hash = "$arg_k" }, "a", "b", "c")
	g.now = func() time.Time { return now }
	key := []byte("k1")
	home := g.PickFor(nil, &Balance{Key: key})
	g.Failed(home)
	other := g.PickFor(nil, &Balance{Key: key})
	if other == nil || other == home {
		t.Fatalf("with %s disabled the key went to %v", home.Addr(), other)
	}
	now = now.Add(11 * time.Second) // past fail_timeout
	if p := g.PickFor(nil, &Balance{Key: key}); p != home {
		t.Errorf("after fail_timeout the key went to %s, want %s again", p.Addr(), home.Addr())
	}
}

// Consistent hashing moves few keys when a server is added: those the new
// server takes (about a quarter with four), not a reshuffle.
func TestConsistentHashMovesFewKeys(t *testing.T) {
	set := func(u *config.Upstream) { u.Hash, u.HashConsistent = "$arg_k", true }
	three := balGroup(set, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	four := balGroup(set, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
	moved := 0
	const n = 2000
	for i := range n {
		key := []byte(fmt.Sprintf("user%d", i))
		a, b := three.PickFor(nil, &Balance{Key: key}), four.PickFor(nil, &Balance{Key: key})
		if a.Addr() != b.Addr() {
			moved++
			if b.Addr() != "10.0.0.4" {
				t.Fatalf("key %s moved from %s to %s, not to the new server", key, a.Addr(), b.Addr())
			}
		}
	}
	if moved < n/8 || moved > n/2 {
		t.Errorf("%d of %d keys moved to the new server, want about a quarter", moved, n)
	}
}

func TestChashHostPort(t *testing.T) {
	for _, c := range []struct{ in, host, port string }{
		{"10.0.0.1:8080", "10.0.0.1", "8080"},
		{"10.0.0.1", "10.0.0.1", ""},
		{"backend.example", "backend.example", ""},
		{"[::1]:81", "[::1]", "81"},
		{"unix:/run/app.sock", "/run/app.sock", ""},
		{"UNIX:/run/a:1", "/run/a:1", ""},
	} {
		if h, p := chashHostPort(c.in); h != c.host || p != c.port {
			t.Errorf("%s: %q %q, want %q %q", c.in, h, p, c.host, c.port)
		}
	}
}

// A request without a key (an empty hash value) is balanced round-robin,
// as in nginx, weights included.
func TestHashEmptyKeyIsRoundRobin(t *testing.T) {
	g := balGroup(func(u *config.Upstream) { u.Hash = "$arg_k" }, "a:2", "b")
	var got string
	for range 6 {
		got += g.PickFor(nil, &Balance{}).Addr()
	}
	if got != "abaaba" {
		t.Errorf("picks %s, want nginx's smooth weighted round-robin abaaba", got)
	}
}
