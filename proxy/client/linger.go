package client

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Lingering close (nginx's lingering_close, lingering_time,
// lingering_timeout). When spillway answers before it has read the request
// body (413 for a body over client_max_body_size, 400 for a broken chunked
// body) and then closes, a client that is still sending would have its
// unread bytes hit a closed socket: the kernel answers them with RST, and an
// RST makes the client's kernel drop the answer it had not read yet. So,
// as nginx does, spillway sends the answer, shuts down its side for writing
// (FIN) and reads and discards what the client still sends, until the
// client closes, lingering_timeout passes without data, or lingering_time
// is up; only then does it close.
//
// Package proxy decides when (lingerAfterPage; the connection loop after
// an answer that closes the connection, clientwrite.go) and renders the
// answer; LingerClose does the rest on a hijacked connection, Readable and
// Drain serve the loop.

// LingerClose writes the answer, shuts down writing and drains the client
// until it closes or the lingering limits are up. tc is the TCP socket
// under c (nil when there is none to shut down for writing); fasthttp
// closes c when it returns.
func LingerClose(c net.Conn, tc *net.TCPConn, answer []byte, total, timeout time.Duration) {
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(answer); err != nil {
		return
	}
	if tc != nil {
		_ = tc.CloseWrite() // FIN: the client sees the end of the answer now
	}
	Drain(c, total, timeout)
}

// Drain reads and drops what the client sends on c until it closes, goes
// quiet for timeout, or total is up: the reading half of a lingering
// close, after the shutdown(2) for writing (the connection loop makes
// that call itself, to log nginx's line when it fails).
func Drain(c net.Conn, total, timeout time.Duration) {
	end := time.Now().Add(total)
	buf := make([]byte, 16<<10)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		_ = c.SetReadDeadline(earlier(end, now.Add(timeout)))
		if _, err := c.Read(buf); err != nil {
			return // the client closed (EOF), went quiet, or reset
		}
	}
}

// Readable reports whether tc has something to read now: bytes, the
// client's FIN or its RST. It is nginx's read event being "ready" when a
// request ends, one of the reasons lingering_close on lingers (with bytes
// of the next request already read, and a body not read whole).
func Readable(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = rc.Control(func(fd uintptr) {
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds[:], 0)
		ready = err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0
	})
	return ready
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
