package errorlog

import (
	"errors"
	"syscall"
)

// ErrnoOf digs the errno out of err, 0 if there is none.
func ErrnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
