package upstreamsim

import (
	"net"
	"strings"
	"syscall"
)

// streamConn is what the upstream needs of a connection: *net.TCPConn and
// *net.UnixConn both have it (an upstream may listen on "unix:/path").
type streamConn interface {
	net.Conn
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// listen opens an upstream's listener: "host:port", or "unix:/path" for a
// unix-domain socket (as nginx and spillway write such an upstream).
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// listenAddr is the listener's address as an upstream server is written:
// host:port, or unix:/path.
func listenAddr(ln net.Listener) string {
	if a, ok := ln.Addr().(*net.UnixAddr); ok {
		return "unix:" + a.Name
	}
	return ln.Addr().String()
}
