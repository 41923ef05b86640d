package upstreamsim

import (
	"fmt"
	"net"
	"syscall"
)

// A reservation is a TCP socket bound to a port and never listened on. A
// connect to the port is refused (the kernel answers the SYN with a RST, as
// for a port nobody holds), and while the socket is open no one else can
// bind the port: neither another test's listener nor the kernel's choice of
// a source port. A port bound and closed at once, the old way, stayed
// refused only until a test running beside it was given the same port.
type reservation struct {
	fd   int
	addr string
}

// reserve binds a socket to addr ("127.0.0.1:0" picks a free port).
func reserve(addr string) (*reservation, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s := &syscall.SockaddrInet4{Port: ta.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		sa = s
	}
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("upstream: socket: %w", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("upstream: bind %s: %w", addr, err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("upstream: getsockname: %w", err)
	}
	r := &reservation{fd: fd}
	switch got := got.(type) {
	case *syscall.SockaddrInet4:
		r.addr = net.JoinHostPort(net.IP(got.Addr[:]).String(), fmt.Sprint(got.Port))
	case *syscall.SockaddrInet6:
		r.addr = net.JoinHostPort(net.IP(got.Addr[:]).String(), fmt.Sprint(got.Port))
	}
	return r, nil
}

// Close frees the port.
func (r *reservation) Close() error { return syscall.Close(r.fd) }

// TB is the part of testing.TB that RefusedAddr needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// RefusedAddr returns a 127.0.0.1 address on which every connect is refused
// (ECONNREFUSED) until the test ends: the port is held by a socket that is
// bound and never listened on, so nothing running beside the test can take
// it.
func RefusedAddr(t TB) string {
	t.Helper()
	r, err := reserve("127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r.addr
}
