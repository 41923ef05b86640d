//go:build !linux

package proxy

// socketUnread is how many bytes the socket fd holds unread; elsewhere than
// Linux it does not ask (0), and the preread is what was buffered already.
func socketUnread(fd uintptr) int { return 0 }
