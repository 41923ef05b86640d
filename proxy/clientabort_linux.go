package proxy

import "golang.org/x/sys/unix"

// pollRDHUP asks poll for the peer's FIN even behind unread bytes (nginx's
// EPOLLRDHUP).
const pollRDHUP = unix.POLLRDHUP

// peerClosed reports whether poll saw the client's FIN or RST.
func peerClosed(_ int, revents int16) bool {
	return revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}
