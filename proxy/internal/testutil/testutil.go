// Package testutil holds the helpers that the proxy's tests (package proxy,
// proxy_test and the packages below proxy/) share: waiting on observable
// state, and a port that refuses connections.
package testutil

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test if it still does
// not after d. It waits on an observable state (a count, a log line, a closed
// connection), never a sleep standing in for one; d only bounds how long a
// broken test hangs.
func Eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// RefusedPort returns host:port (host an IPv4 address) whose port is bound by
// a socket that never listens: connect() gets ECONNREFUSED, and no other
// listener can take the port until release (which may be called twice).
func RefusedPort(host string) (addr string, release func(), err error) {
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return "", nil, fmt.Errorf("refused port: %q is not an IPv4 address", host)
	}
	// SOCK_CLOEXEC is Linux's: ForkLock keeps a child started meanwhile
	// from inheriting the socket, as in the standard library.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return "", nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte(ip)}); err != nil {
		_ = syscall.Close(fd)
		return "", nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return "", nil, err
	}
	var once sync.Once
	return fmt.Sprintf("%s:%d", host, sa.(*syscall.SockaddrInet4).Port), func() { once.Do(func() { _ = syscall.Close(fd) }) }, nil
}

// LogBuffer collects what the proxy's goroutines write (its error log) and
// reads it back, safely for concurrent use. The zero value is ready.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Htpasswd holds one user per hash scheme, every password "s3cret"
// (generated with libxcrypt's crypt(3) and openssl passwd -apr1; nginx
// 1.22 accepts each of them with that password), plus nginx's parser's
// corner cases: a comment, a third field, a last line without newline.
const Htpasswd = `apr1:$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0
bcrypt:$2y$05$abcdefghijklmnopqrstuuLK7U1u6pVRmL7L1BBM2aS35PSZnDXlK
bcryptb:$2b$05$abcdefghijklmnopqrstuuLK7U1u6pVRmL7L1BBM2aS35PSZnDXlK
bcrypta:$2a$05$abcdefghijklmnopqrstuuLK7U1u6pVRmL7L1BBM2aS35PSZnDXlK
md5:$1$abcdefgh$7.vq19w/w3Vm.hk1FOA7Q/
sha256:$5$abcdefgh$OcHWp0Vj4l19dnE2g4tHD4hbItEZgO0bjRV6LjwCLoA
sha512:$6$abcdefgh$Z7KfoKnKTSZrzo5VZ0YubGLQOj9ov6sHo9TmE3zIU/LHKhpE30zCnZ0mcIXYf9r9rQ4DYaXoxAFSPFlcWdxjB.
des:abhWCwoTZY2c6
sha:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg=
ssha:{SSHA}JVrhyTqab1YvH3vR2b1RYUumqqZzYWx0
plain:{PLAIN}s3cret
# comment:x
extra:{PLAIN}s3cret:comment field
last:{PLAIN}s3cret`
