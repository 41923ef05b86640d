package proxy

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"spillway/proxy/upstream"
)

// partialStatus reads the status of a head cut short, nginx's
// $upstream_status for a client that left while the head was arriving.
func TestPartialStatus(t *testing.T) {
	for in, want := range map[string]int{
		"HTTP/1.1 200 OK\r\nX-A: b\r\n": 200,
		"HTTP/1.0 503\r\n":              503,
		"HTTP/1.1 200 OK\nX":            200,
		"HTTP/1.1 20":                   0, // the line has not arrived whole
		"HTTP/1.1 200 OK":               0,
		"hello\r\n":                     0,
		"":                              0,
	} {
		br := bufio.NewReader(strings.NewReader(in))
		_, _ = br.Peek(1) // fill the buffer, as the header read did
		if got := partialStatus(br); got != want {
			t.Errorf("partialStatus(%q) = %d, want %d", in, got, want)
		}
	}
	if partialStatus(nil) != 0 {
		t.Error("partialStatus(nil) != 0")
	}
}

// The watch is not armed while the upstream's answer waits unread in its
// socket (the exchange waits for a CPU then, not for the upstream): arm
// looks again a clientWatchDelay later, and arms once the exchange has
// read what was there and waits for more (a head cut short), so that a
// client that goes then is still seen.
func TestClientWatchWaitsForUnreadAnswer(t *testing.T) {
	accept := func(ln net.Listener) *net.TCPConn {
		t.Helper()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c.(*net.TCPConn)
	}
	listen := func() net.Listener {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		return ln
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal(what)
			}
		}
	}

	// The client's connection, as the proxy holds it.
	cln := listen()
	client, err := net.Dial("tcp", cln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cc := &clientConn{TCPConn: accept(cln)}

	// An upstream connection, and the upstream's end of it.
	uln := listen()
	var tr upstream.Transport
	var a upstream.Attempt
	pr := upstream.NewLiteral(uln.Addr().String(), time.Now).Pick(nil)
	if ue := tr.Open(context.Background, &a, pr, upstream.OpenOptions{ConnectTimeout: 5 * time.Second, HeaderBuffer: 4096}); ue != nil {
		t.Fatal(ue)
	}
	defer a.Conn.Close()
	up := accept(uln)
	if _, err := up.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually("the upstream's bytes never arrived", a.Conn.Unread)

	w := &clientWatch{cc: cc, state: watchPending, up: a.Conn}
	w.timer = time.AfterFunc(time.Hour, w.arm)
	defer w.stop()
	state := func() watchState {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.state
	}
	w.arm() // the timer's run: the answer is there, unread
	if st := state(); st != watchPending {
		t.Fatalf("armed with the upstream's answer unread: state %d", st)
	}

	// The exchange reads what came; the head is not whole: it waits for
	// the upstream, and the watch arms at the timer's next run.
	if _, err := a.Conn.Reader().Peek(len("HTTP/1.1 200 OK\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually("the watch never armed once the answer was read", func() bool { return state() == watchArmed })
	_ = client.Close()
	eventually("the client's close was not seen", w.gone)
}
