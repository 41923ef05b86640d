package client_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/client"
)

// stalls records what the writer reported, and signals the first stall.
type stalls struct {
	mu      sync.Mutex
	seen    []bool
	stalled chan struct{}
	once    sync.Once
}

func (s *stalls) SetStalled(v bool) {
	s.mu.Lock()
	s.seen = append(s.seen, v)
	s.mu.Unlock()
	if v {
		s.once.Do(func() { close(s.stalled) })
	}
}

// renewals counts the send deadline's renewals.
type renewals int

func (r *renewals) RenewSendDeadline() { *r++ }

// tcpPair is a connected pair of loopback TCP sockets.
func tcpPair(t *testing.T) (server *net.TCPConn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	return c.(*net.TCPConn), peer
}

// A client that stops reading is reported stalled (the socket said
// EAGAIN), and live again once a write goes through; Write, WriteVec and
// ReadFrom (sendfile from a temp file) deliver every byte in order, and
// the deadline renewal runs before the writes.
func TestSocketWriterStallsAndDelivers(t *testing.T) {
	sc, peer := tcpPair(t)
	var renewed renewals
	w := client.NewSocketWriter(sc, &renewed)
	st := &stalls{stalled: make(chan struct{})}
	w.Stalls = st

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the socket buffers take
	file := bytes.Repeat([]byte("F"), 3<<20)
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte("head "), big...), "vec1 vec2 "...), file...)

	errc := make(chan error, 1)
	go func() {
		if _, err := w.Write([]byte("head ")); err != nil {
			errc <- err
			return
		}
		if _, err := w.Write(big); err != nil {
			errc <- err
			return
		}
		if _, err := w.WriteVec([][]byte{[]byte("vec1 "), nil, []byte("vec2 ")}); err != nil {
			errc <- err
			return
		}
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		_, err = w.ReadFrom(&io.LimitedReader{R: f, N: int64(len(file))})
		errc <- err
	}()
	<-st.stalled // nothing is read until the writer says the client stalled
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from the bytes written")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.seen) < 2 || !st.seen[0] || st.seen[len(st.seen)-1] {
		t.Errorf("stall reports %v: want a stall first and live last", st.seen)
	}
	if renewed < 4 {
		t.Errorf("send deadline renewed %d times, want one per write at least", renewed)
	}
}

// A held head (Hold) reaches the client in front of the body's first
// bytes, whichever write comes first, and alone when no body byte comes;
// the writes return the body's count, and Sent counts both.
func TestSocketWriterHeldHead(t *testing.T) {
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")
	body := []byte("0123456789"[:9])
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(w *client.SocketWriter) (int64, error){
		"Write": func(w *client.SocketWriter) (int64, error) {
			n, err := w.Write(body)
			return int64(n), err
		},
		"WriteVec": func(w *client.SocketWriter) (int64, error) {
			return w.WriteVec([][]byte{body[:4], nil, body[4:]})
		},
		"passthrough": func(w *client.SocketWriter) (int64, error) {
			return int64(w.Passthrough()(body)), nil
		},
		"ReadFrom": func(w *client.SocketWriter) (int64, error) {
			f, err := os.Open(path)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			return w.ReadFrom(&io.LimitedReader{R: f, N: int64(len(body))})
		},
		"FlushHeld": func(w *client.SocketWriter) (int64, error) {
			return 0, w.FlushHeld()
		},
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			sc, peer := tcpPair(t)
			var renewed renewals
			w := client.NewSocketWriter(sc, &renewed)
			w.Stalls = &stalls{stalled: make(chan struct{})}
			var sent atomic.Int64
			w.Sent = &sent
			w.Hold(head[:10]) // a head may come in parts (a bufio flush of a long one)
			w.Hold(head[10:])
			n, err := write(w)
			if err != nil {
				t.Fatal(err)
			}
			want, wantN := append(append([]byte(nil), head...), body...), len(body)
			if name == "FlushHeld" { // body is shared by the cases: not changed here
				want, wantN = head, 0
			}
			if n != int64(wantN) {
				t.Errorf("the write returned %d, want the body's %d", n, wantN)
			}
			if err := w.FlushHeld(); err != nil { // nothing left: writes nothing
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("client read %q, want %q", got, want)
			}
			if sent.Load() != int64(len(want)) {
				t.Errorf("Sent %d, want %d", sent.Load(), len(want))
			}
			_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if m, err := peer.Read(got); m != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read %d more bytes (%v), want none", m, err)
			}
		})
	}
}

// A passthrough that finds the client's socket full takes nothing, and
// the head stays held: the next write sends it, then the body, in order.
func TestSocketWriterHeldHeadFullSocket(t *testing.T) {
	sc, peer := tcpPair(t)
	// Fixed buffer sizes turn the kernel's autotuning off: a socket found
	// full stays full while the peer does not read (a short write alone
	// did not: the send buffer grew as ACKs came, and took the body).
	if err := sc.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	var renewed renewals
	w := client.NewSocketWriter(sc, &renewed)
	w.Stalls = &stalls{stalled: make(chan struct{})}
	pass := w.Passthrough()
	fill := bytes.Repeat([]byte("f"), 64<<10)
	var filled []byte
	for { // until a write takes nothing (EAGAIN)
		n := pass(fill)
		filled = append(filled, fill[:n]...)
		if n == 0 {
			break
		}
	}
	head, body := []byte("HEAD"), bytes.Repeat([]byte("b"), 256<<10)
	w.Hold(head)
	for pass(body) != 0 {
		t.Fatal("a passthrough wrote body bytes into a full socket before the held head")
	}
	want := append(append(filled, head...), body...)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		_, _ = io.ReadFull(peer, b)
		got <- b
	}()
	if n, err := w.Write(body); err != nil || n != len(body) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("the client's bytes are not the filler, the head and the body in order")
	}
}
