//go:build !linux

package upstreamsim

import (
	"errors"
)

// unsentBytes is only implemented on Linux; elsewhere an RST after a partial
// body may discard bytes still queued on loopback.
func unsentBytes(streamConn) (int, error) {
	return 0, errors.New("unsentBytes: not supported on this OS")
}
