package upstream

import (
	"net"
	"testing"
)

// BenchmarkProbeIdle is the probe a non-idempotent request makes of a
// reused connection (probeIdle: one recv MSG_PEEK|MSG_DONTWAIT), on a
// quiet loopback connection: its cost in a tight loop, a floor for what it
// costs a POST (docs/measured/bodies-2026-12-08b.md).
func BenchmarkProbeIdle(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer tcp.Close()
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	uc := &Conn{tcp: tcp.(*net.TCPConn), peer: &Peer{addr: ln.Addr().String()}}
	b.ReportAllocs()
	for b.Loop() {
		if err := probeIdle(uc); err != nil {
			b.Fatal(err)
		}
	}
}
