//go:build !linux

package proxy

import "golang.org/x/sys/unix"

// pollRDHUP: there is no POLLRDHUP off Linux, so a readable socket is peeked
// instead.
const pollRDHUP = 0

// peerClosed reports whether the client's FIN or RST is there. Without
// POLLRDHUP a FIN is seen only when nothing unread is queued before it (a
// peek then reads 0 bytes): a client that pipelines a request and then
// closes is noticed when the upstream answers, not before.
func peerClosed(fd int, revents int16) bool {
	if revents&(unix.POLLHUP|unix.POLLERR) != 0 {
		return true
	}
	if revents&unix.POLLIN == 0 {
		return false
	}
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false
	case err != nil: // ECONNRESET and the like: a peek leaves it in SO_ERROR
		return true
	default:
		return n == 0
	}
}
