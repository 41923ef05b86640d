package client_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
