// Package closewatch is a test upstream that tells how its client closed
// each connection, FIN or RST: the health checks' promise to backends, seen
// from the backend (tests of proxy and proxy/upstream).
package closewatch

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Watcher is an upstream that answers each connection with a scripted
// reply, does not close (like a keepalive server, or IIS), and then reports
// how the client ended the connection: io.EOF for FIN, ECONNRESET for RST.
type Watcher struct {
	Addr   string
	Heads  chan string // the request head of each connection, as read
	ended  chan error
	banner string // sent on accept, before reading (SMTP-like)
	reply  string // sent after the request head; "" = nothing
}

// Start listens on 127.0.0.1; the test's cleanup stops it.
func Start(t testing.TB, banner, reply string) *Watcher {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &Watcher{Addr: ln.Addr().String(), ended: make(chan error, 4), Heads: make(chan string, 4), banner: banner, reply: reply}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if w.banner != "" {
					_, _ = io.WriteString(c, w.banner)
				}
				br := bufio.NewReader(c)
				if w.reply != "" || w.banner == "" {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						head.WriteString(line)
						if err != nil || line == "\r\n" {
							break
						}
					}
					w.Heads <- head.String()
					if w.reply != "" {
						_, _ = io.WriteString(c, w.reply)
					}
				}
				// Keep the connection open and wait for the client to end it.
				_, err := io.Copy(io.Discard, br)
				if err == nil {
					err = io.EOF // io.Copy reports a clean EOF as nil
				}
				w.ended <- err
			}()
		}
	}()
	return w
}

// HowEnded waits for a connection to end and says how: io.EOF for a FIN,
// ECONNRESET for an RST.
func (w *Watcher) HowEnded(t testing.TB) error {
	t.Helper()
	select {
	case err := <-w.ended:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the connection end")
		return nil
	}
}
