//go:build !linux

package idlepark

import "errors"

// epoll is Linux's: elsewhere a Poller has none (Poller.ep is nil) and
// parks each connection on a goroutine (goroutine.go), so these methods
// are never called.
type epoll struct{}

var errNoEpoll = errors.New("idlepark: no epoll on this system")

func newEpoll() (*epoll, error) { return nil, nil }

func (*epoll) arm(int, uint32, bool) error { return errNoEpoll }
func (*epoll) disarm(int)                  {}
func (*epoll) close() error                { return nil }
func (*Poller) run()                       {}
