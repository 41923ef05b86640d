package upstream

// Unix-domain socket upstreams: "unix:/run/app.sock" as an upstream server,
// proxy_pass http://unix:/run/app.sock:/uri and fastcgi_pass
// unix:/run/php/php8.2-fpm.sock. They go through the same transport as TCP
// peers (keepalive cache, MSG_PEEK liveness check, retries, max_fails); what
// differs is the dial and nginx's wording of a few log lines.

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// streamConn is what an upstream connection needs of its socket:
// *net.TCPConn and *net.UnixConn both have it.
type streamConn interface {
	net.Conn
	CloseRead() error
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// IsUnixAddr reports whether a peer address is a unix-domain socket.
func IsUnixAddr(addr string) bool { return strings.HasPrefix(addr, "unix:") }

// dialNetwork is the network and address net.Dial takes for a peer address.
func dialNetwork(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return "unix", path
	}
	return "tcp", addr
}

// dialStream connects to a peer address, TCP or unix, without TCP
// keepalive probes (nginx's proxy_socket_keepalive off).
func dialStream(ctx context.Context, addr string, timeout time.Duration, deadline time.Time) (streamConn, error) {
	d := net.Dialer{Timeout: timeout, Deadline: deadline, KeepAlive: -1}
	network, address := dialNetwork(addr)
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c.(streamConn), nil
}

// unixConnectMessage is nginx's line for a connect(2) to a unix socket that
// fails at once (it never does "in progress", unlike TCP):
// "connect() to unix:/run/app.sock failed".
func unixConnectMessage(e *Error) (string, bool) {
	if e.Phase != PhaseConnect || !IsUnixAddr(e.Peer) || e.Kind == KindTimeout || e.Kind == KindNoLive || e.Msg != "" {
		return "", false
	}
	return "connect() to " + e.Peer + " failed", true
}

// ConnectLogLevel is the level of nginx's line for a failed connect:
// ngx_event_connect_peer logs a unix socket's ENOENT, EACCES, ... at crit,
// and only ECONNREFUSED, EAGAIN (a full backlog), ECONNRESET and the
// network errors at error.
func (e *Error) ConnectLogLevel() errorlog.Level {
	if _, ok := unixConnectMessage(e); !ok {
		return errorlog.Level(config.LevelError)
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EAGAIN, syscall.ECONNRESET,
		syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH} {
		if errors.Is(e.Err, errno) {
			return errorlog.Level(config.LevelError)
		}
	}
	return errorlog.Level(config.LevelCrit)
}

// PeerURL is nginx's "upstream:" field: the scheme, the peer and the
// URI, with a ":" between a unix socket's path and the URI
// ("http://unix:/run/app.sock:/uri").
func PeerURL(scheme, peer string, uri []byte) string {
	if IsUnixAddr(peer) {
		return scheme + "://" + peer + ":" + string(uri)
	}
	return scheme + "://" + peer + string(uri)
}
