package upstream

import (
	"net"
	"testing"
	"time"
)

// BenchmarkProbeIdle is the probe a non-idempotent request makes of a
// reused connection (probeIdle: one recv MSG_PEEK|MSG_DONTWAIT), on a
// quiet loopback connection: its cost in a tight loop, a floor for what it
// costs a POST (docs/measured/bodies-2026-12-08b.md).
func BenchmarkProbeIdle(b *testing.B) {
	tcp, addr := loopbackPair(b)
	uc := &Conn{tcp: tcp, peer: &Peer{addr: addr}}
	b.ReportAllocs()
	for b.Loop() {
		if err := probeIdle(uc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleGet is what taking a connection from the keepalive cache
// costs, with the MSG_PEEK probe (every non-idempotent request, and an
// idempotent one whose connection sat idle for probeAfter or longer) and
// without it (an idempotent request on a connection idle for less): the
// probe's recv(2) and the cache's own work around it are the difference
// (docs/measured/cpu-upstream-2026-12-08.md; BenchmarkProbeIdle is the
// probe alone).
func BenchmarkIdleGet(b *testing.B) {
	tcp, _ := loopbackPair(b)
	for _, probe := range []bool{false, true} {
		name := "reuse"
		if probe {
			name = "probe"
		}
		b.Run(name, func(b *testing.B) {
			var c IdleCache
			c.init("u", 1, time.Minute, 0, 0, false)
			var st StaleStats
			uc := &Conn{tcp: tcp}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				c.conns = append(c.conns[:0], uc)
				uc.idleSince = now
				if got, _ := c.get(now, &st, probe, nil); got != uc {
					b.Fatal("the idle connection was not handed out")
				}
			}
		})
	}
}

// loopbackPair is a quiet connected TCP pair on 127.0.0.1: the client side
// and the listener's address. Both ends close when the benchmark ends.
func loopbackPair(b *testing.B) (*net.TCPConn, string) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	tcp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tcp.Close() })
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return tcp.(*net.TCPConn), ln.Addr().String()
}
