//go:build unix

package idlepark_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"

	"spillway/proxy/internal/idlepark"
)

// A keep-alive server that holds no goroutine between requests: after each
// answer the connection is parked, and the callback serves the next
// request, or closes the connection at the keep-alive timeout or when the
// server stops (Close). The server's Close would Cancel, or Close the
// Poller, before closing parked connections itself.
func Example() {
	p, err := idlepark.New()
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	const keepalive = 100 * time.Millisecond
	closed := make(chan string, 1)
	var serve func(c *net.TCPConn)
	serve = func(c *net.TCPConn) {
		// One request: a line in, a line out. (A real loop reads with a
		// pooled buffer it returns before parking: nothing is buffered
		// above the socket then.)
		b := make([]byte, 64)
		n, err := c.Read(b)
		if err != nil {
			closed <- "client went away"
			_ = c.Close()
			return
		}
		fmt.Fprintf(c, "you said %s", b[:n])
		// Idle: no goroutine until the next request, the timeout or Close.
		if _, err := p.Park(c, keepalive, func(ev idlepark.Event) {
			switch ev {
			case idlepark.Readable:
				serve(c) // bytes, or EOF or a reset for its Read to find
			case idlepark.Timeout, idlepark.Closed:
				closed <- "closed by the server: " + ev.String()
				_ = c.Close()
			}
		}); err != nil {
			_ = c.Close()
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c.(*net.TCPConn))
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, req := range []string{"one\n", "two\n"} {
		fmt.Fprint(c, req)
		line, _ := r.ReadString('\n')
		fmt.Print(line)
	}
	// Silent now: the keep-alive timeout closes the connection.
	_, err = r.ReadByte()
	fmt.Println(<-closed, "/ client reads:", strings.TrimSpace(fmt.Sprint(err)))
	_ = p.Close()
	// Output:
	// you said one
	// you said two
	// closed by the server: timeout / client reads: EOF
}
