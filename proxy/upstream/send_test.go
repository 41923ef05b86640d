package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"spillway/buffer"
)

// sendPair returns a Conn dialled to a loopback listener and the accepted
// server side; both are closed when t ends.
func sendPair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tcp.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	uc := &Conn{tcp: tcp.(*net.TCPConn), peer: &Peer{addr: ln.Addr().String()}}
	uc.sw.c = uc
	uc.bw = bufio.NewWriterSize(uc, 16<<10)
	return uc, srv.(*net.TCPConn)
}

// sealedBody returns a sealed body of data in chunks of size, in memory
// up to memory bytes and in a temp file beyond.
func sealedBody(t *testing.T, data []byte, size int, memory int64) *buffer.Body {
	t.Helper()
	b := buffer.NewBody(buffer.BodyOptions{Pool: buffer.NewBudget(4 << 20).Pool(size), MemoryLimit: memory, TempDir: t.TempDir()})
	if _, err := b.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := b.Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestSendBodyWriterTo: a body that writes itself (a buffered request body)
// goes out behind the head, byte for byte, whether it is empty, one chunk,
// many (one writev(2) with the head), more than sendGroup bytes (a writev
// per group) or in a temp file (sendfile(2)), and the connection counts every
// byte; the same body sent again (a retry) is the same bytes.
func TestSendBodyWriterTo(t *testing.T) {
	head := []byte("POST /echo HTTP/1.1\r\nHost: origin\r\nContent-Length: N\r\n\r\n")
	for _, tc := range []struct {
		name   string
		size   int
		chunk  int
		memory int64
	}{
		{"empty", 0, 4096, 4 << 20},
		{"one chunk", 1000, 4096, 4 << 20},
		{"many chunks", 300 << 10, 64 << 10, 4 << 20},
		{"several writevs", 2*sendGroup + 5000, 64 << 10, 4 << 20},
		{"temp file", 2*sendGroup + 5000, 64 << 10, 64 << 10}, // sendfile, a call per group
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, srv := sendPair(t)
			data := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			body := sealedBody(t, data, tc.chunk, tc.memory)
			if body.Spilled() != (tc.memory < int64(tc.size)) {
				t.Fatalf("Spilled() = %v with %d bytes and memory %d", body.Spilled(), tc.size, tc.memory)
			}
			want := append(append([]byte(nil), head...), data...)
			for try := 1; try <= 2; try++ {
				got := make(chan []byte, 1)
				go func() {
					b := make([]byte, len(want))
					_, _ = io.ReadFull(srv, b)
					got <- b
				}()
				a := &Attempt{Conn: uc, w0: uc.nwrit}
				if err := a.Send(head, body.NewReader()); err != nil {
					t.Fatalf("try %d: Send: %v", try, err)
				}
				if b := <-got; !bytes.Equal(b, want) {
					t.Fatalf("try %d: the upstream got %d bytes that differ from the %d sent", try, len(b), len(want))
				}
				if uc.nwrit != int64(try*len(want)) || uc.requests != try {
					t.Fatalf("try %d: nwrit %d requests %d, want %d and %d", try, uc.nwrit, uc.requests, try*len(want), try)
				}
			}
		})
	}
}

// TestSendBodyWriterToReset: an upstream that resets the connection while
// a large body goes out fails the send in PhaseSend with the socket's
// error, and says how much of it was written.
func TestSendBodyWriterToReset(t *testing.T) {
	uc, srv := sendPair(t)
	_ = srv.SetLinger(0)
	_ = srv.Close() // RST
	body := sealedBody(t, make([]byte, 4<<20), 64<<10, 4<<20)
	a := &Attempt{Conn: uc}
	err := a.Send([]byte("POST / HTTP/1.1\r\nContent-Length: 4194304\r\n\r\n"), body.NewReader())
	if err == nil {
		t.Fatal("Send of 4 MiB to a reset connection succeeded")
	}
	if err.Phase != PhaseSend || (err.Kind != KindReset && err.Kind != KindClosed) || uc.werr == nil {
		t.Fatalf("Send: phase %v kind %v (werr %v), want PhaseSend and a reset or closed socket", err.Phase, err.Kind, uc.werr)
	}
	if err.Written != uc.nwrit || err.Written >= 4<<20 {
		t.Fatalf("Written %d, nwrit %d: want the bytes that went out, short of the body", err.Written, uc.nwrit)
	}
}

// TestProbeIdle: the probe of a reused connection before a non-idempotent
// request tells a quiet connection (nil) from bytes nobody asked for, a FIN
// and an RST, probe after probe on the same Conn (its state is kept).
func TestProbeIdle(t *testing.T) {
	uc, srv := sendPair(t)
	for i := 0; i < 2; i++ {
		if err := probeIdle(uc); err != nil {
			t.Fatalf("probe %d of a quiet connection: %v", i, err)
		}
	}
	if _, err := srv.Write([]byte("HTTP/1.1 408 Request Time-out\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, uc)
	if err := probeIdle(uc); err != ErrUnsolicited {
		t.Fatalf("probe with unsolicited bytes: %v, want ErrUnsolicited", err)
	}

	uc, srv = sendPair(t)
	_ = srv.Close() // FIN
	waitReadable(t, uc)
	if err := probeIdle(uc); err != io.EOF {
		t.Fatalf("probe after FIN: %v, want io.EOF", err)
	}

	uc, srv = sendPair(t)
	_ = srv.SetLinger(0)
	_ = srv.Close() // RST
	waitReadable(t, uc)
	if err := probeIdle(uc); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("probe after RST: %v, want ECONNRESET", err)
	}
}

// TestSendSmallBodyClockServesRead: after a request of at most oneWriteMax
// bytes with a body (a 1 KiB POST, one writev), the answer's first read
// renews proxy_read_timeout from the clock Open read, as after a bodyless
// one, instead of reading the clock again; after a larger request, whose
// writev may wait for the upstream, the read reads the clock.
func TestSendSmallBodyClockServesRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		reuse bool
	}{
		{"1 KiB", 1024, true},
		{"larger than oneWriteMax", oneWriteMax, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, srv := sendPair(t)
			uc.sendTimeout, uc.readTimeout = time.Minute, time.Minute
			opened := time.Now().Add(-time.Second) // Open's clock, a second ago: told apart from a fresh read
			uc.opened = opened
			head := []byte("POST /echo HTTP/1.1\r\nContent-Length: N\r\n\r\n")
			data := bytes.Repeat([]byte("x"), tc.size)
			go func() {
				b := make([]byte, len(head)+len(data))
				if _, err := io.ReadFull(srv, b); err == nil {
					_, _ = srv.Write([]byte("H"))
				}
			}()
			a := &Attempt{Conn: uc, w0: uc.nwrit}
			if err := a.Send(head, bytes.NewReader(data)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if _, err := uc.Read(make([]byte, 1)); err != nil {
				t.Fatalf("Read: %v", err)
			}
			fromOpen := uc.rdl.Equal(opened.Add(time.Minute))
			if fromOpen != tc.reuse {
				t.Fatalf("read deadline %v, Open's clock + proxy_read_timeout %v: reused %v, want %v",
					uc.rdl, opened.Add(time.Minute), fromOpen, tc.reuse)
			}
		})
	}
}
