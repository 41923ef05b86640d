package upstreamsim

import (
	"syscall"
	"unsafe"
)

// unsentBytes returns the bytes in c's send queue that the peer has not yet
// acknowledged (SIOCOUTQ, see tcp(7)).
func unsentBytes(c streamConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int32
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
		if e != 0 {
			serr = e
		}
	})
	if err != nil {
		return 0, err
	}
	return int(n), serr
}
