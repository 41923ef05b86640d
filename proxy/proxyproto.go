package proxy

// "listen ... proxy_protocol": the header is read by the connection's
// client.ProxyProto (package client, proxyproto.go) on its first read.

import (
	"io"
	"net"
	"net/netip"
	"runtime"

	"spillway/proxy/client"
)

// yieldBeforeRead lets the other runnable goroutines go first when a
// read follows a write on the same socket (upstream.Attempt.ReadHeader
// does the same before the response head): the peer's answer then has
// had time to come, and the read finds it instead of returning EAGAIN and
// parking in the poller, which cost one more read(2) and two scheduler
// switches per request (1 KiB GETs: 4 reads per request before, 2.2
// after, measured with perf stat).
func yieldBeforeRead() { runtime.Gosched() }

// readRaw reads the connection's bytes, the PROXY protocol header first
// on an address that has one (consumed, not returned).
func (c *clientConn) readRaw(b []byte) (int, error) {
	if c.pp == nil {
		return c.TCPConn.Read(b)
	}
	return c.pp.Read(c.TCPConn, b)
}

// WriteTo keeps what arrived with the PROXY header in the stream (a
// tunnel's io.Copy would otherwise take the socket's WriteTo).
func (c *clientConn) WriteTo(w io.Writer) (int64, error) {
	if c.pp != nil && c.pp.Pending() {
		return io.Copy(w, struct{ io.Reader }{c})
	}
	return c.TCPConn.WriteTo(w)
}

// firstByte is the first byte after the PROXY protocol header (when the
// address has one) without consuming it: the TLS front's sniff (tls.go).
func (c *clientConn) firstByte() (byte, error) {
	if c.pp != nil {
		return c.pp.FirstByte(c.TCPConn)
	}
	return client.PeekByte(c.TCPConn)
}

// proxyProtocolAddr is the PROXY protocol header's client address of the
// connection ctx's request came on; invalid when there is none.
func proxyProtocolAddr(c *clientConn) netip.AddrPort {
	return proxyProtocolOf(c).Src()
}

// proxyProtocolOf is the PROXY protocol state of c; nil (no header) for a
// nil c and an address without proxy_protocol.
func proxyProtocolOf(c *clientConn) *client.ProxyProto {
	if c == nil {
		return nil
	}
	return c.pp
}

// ppConnOf is the accepted connection whose PROXY protocol header a
// request on c has: c's own (clientConnOf), or for an HTTP/2 stream its
// connection's, which every stream shares.
func ppConnOf(c net.Conn) *clientConn {
	if s, ok := c.(*h2Stream); ok {
		c = s.conn
	}
	return clientConnOf(c)
}
