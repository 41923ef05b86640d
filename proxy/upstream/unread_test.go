package upstream

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUnread: Unread sees bytes the upstream sent that nobody read, past a
// read deadline too (the client-abort watch asks it while the exchange's
// goroutine may not have run), and nothing once they are read.
func TestUnread(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	uc := &Conn{tcp: tcp.(*net.TCPConn)}

	if uc.Unread() {
		t.Fatal("Unread before the upstream sent anything")
	}
	head := "HTTP/1.1 200 OK\r\n"
	if _, err := srv.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, uc)
	_ = uc.SetReadDeadline(time.Unix(1, 0))
	if !uc.Unread() {
		t.Fatal("Unread is false with a status line in the socket (read deadline past)")
	}
	_ = uc.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(tcp, make([]byte, len(head))); err != nil {
		t.Fatal(err)
	}
	if uc.Unread() {
		t.Fatal("Unread once every byte was read")
	}
}

// waitReadable blocks in poll(2) until uc's socket is readable.
func waitReadable(t *testing.T, uc *Conn) {
	t.Helper()
	rc, err := uc.tcp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var perr error
	_ = rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, perr = unix.Poll(pfd, 5000)
	})
	if perr != nil || n != 1 {
		t.Fatalf("the upstream's bytes did not arrive: poll %d, %v", n, perr)
	}
}
