package upstream

import (
	"testing"
	"time"

	"spillway/proxy/config"
)

// least_time: the least average time per weight wins; equal times go to
// the fewest requests in flight, then round-robin; with inflight, requests
// waiting longer than the average count.
func TestLeastTimePick(t *testing.T) {
	now := time.Unix(1000, 0)
	conf := &config.Upstream{LeastTime: true, LeastTimeHeader: true, Servers: []config.UpstreamServer{
		{Address: "a:1", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
		{Address: "b:1", Weight: 2, MaxFails: 1, FailTimeout: time.Second},
		{Address: "c:1", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
	}}
	g := NewGroup("u", conf, func() time.Time { return now })
	a, b, c := g.peers[0], g.peers[1], g.peers[2]
	// no times yet: all equal, round-robin by weight
	got := map[*Peer]int{}
	for range 8 {
		got[g.Pick(nil)]++
	}
	if got[a] != 2 || got[b] != 4 || got[c] != 2 {
		t.Fatalf("without times: a=%d b=%d c=%d", got[a], got[b], got[c])
	}
	a.ltRecord(10 * time.Millisecond)
	b.ltRecord(30 * time.Millisecond) // 15ms per weight unit
	c.ltRecord(20 * time.Millisecond)
	for range 4 {
		if p := g.Pick(nil); p != a {
			t.Fatalf("picked %s, want a (least time per weight)", p.addr)
		}
	}
	if p := g.Pick([]*Peer{a}); p != b {
		t.Fatalf("a tried: picked %s, want b (30ms over weight 2)", p.addr)
	}
	// the average: a new time counts for a quarter
	a.ltRecord(50 * time.Millisecond)
	if avg := time.Duration(a.ltAvg.Load()); avg != 20*time.Millisecond {
		t.Fatalf("average %v, want 20ms", avg)
	}
	// equal times: fewest in flight
	c.ltAvg.Store(a.ltAvg.Load())
	a.active.Add(1)
	if p := g.Pick([]*Peer{b}); p != c {
		t.Fatalf("equal times, a busy: picked %s, want c", p.addr)
	}
	a.active.Add(-1)
	// inflight: a request on a that has waited 100ms makes a that slow
	g.conf.LeastTimeInflight = true
	a.active.Add(1)
	g.ltStart(a, now.Add(-100*time.Millisecond))
	if p := g.Pick(nil); p == a {
		t.Fatal("inflight: a's waiting request did not count")
	}
}
