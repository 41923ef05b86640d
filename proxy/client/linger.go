package client

import (
	"net"
	"time"
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
// Package proxy decides when (lingerAfterPage) and renders the answer;
// LingerClose does the rest on the hijacked connection.

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

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
