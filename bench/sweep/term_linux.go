package sweep

import (
	"os"
	"syscall"
	"unsafe"
)

// TermWidth is the width of the terminal f is, or 0 when f is not a
// terminal (a file, a pipe, /dev/null).
func TermWidth(f *os.File) int {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0
	}
	if ws.Col == 0 {
		return 80
	}
	return int(ws.Col)
}
