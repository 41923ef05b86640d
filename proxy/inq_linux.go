package proxy

import "golang.org/x/sys/unix"

// socketUnread is how many bytes the socket fd holds unread (SIOCINQ), 0
// when it cannot say.
func socketUnread(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}
