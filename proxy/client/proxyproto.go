package client

// "listen ... proxy_protocol": every connection to the address starts with
// a PROXY protocol header (v1 text or v2 binary, from HAProxy or a cloud L4
// balancer), read by github.com/pires/go-proxyproto in the connection's
// own goroutine on its first read, under client_header_timeout like the
// request that follows. As in nginx, the header does not change
// $remote_addr (realip with real_ip_header proxy_protocol does); it fills
// $proxy_protocol_addr and _port. A connection whose first bytes are no
// valid header gets nginx's "broken header" line and is closed.

import (
	"bufio"
	"errors"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"

	"spillway/proxy/errorlog"
)

// ErrBrokenHeader ends a connection whose PROXY protocol header is broken
// (already logged).
var ErrBrokenHeader = errors.New("broken PROXY protocol header")

// ProxyProto is one connection's PROXY protocol state. Only the
// connection's serving goroutine touches it.
type ProxyProto struct {
	server string        // the listen address, nginx's "server:" before a request
	log    *errorlog.Log // where the "broken header" line goes
	conn   uint64        // nginx's *N
	read   bool          // the header was read, or failed (err)
	err    error
	br     *bufio.Reader // what arrived with the header, served before the socket
	// src is the header's client address and port; invalid for PROXY
	// UNKNOWN and a v2 LOCAL header (nginx: no $proxy_protocol_addr).
	src netip.AddrPort
}

// NewProxyProto is the state of connection conn (nginx's *N) accepted on
// the listen address server.
func NewProxyProto(server string, log *errorlog.Log, conn uint64) *ProxyProto {
	return &ProxyProto{server: server, log: log, conn: conn}
}

// ppBufferSize is nginx's client_header_buffer_size default: what nginx's
// first read takes, and so what its "broken header" line shows.
const ppBufferSize = 1024

// Read reads c's bytes, the PROXY protocol header first (consumed, not
// returned).
func (pp *ProxyProto) Read(c *net.TCPConn, b []byte) (int, error) {
	if !pp.read {
		pp.read = true
		pp.err = pp.readHeader(c)
	}
	if pp.err != nil {
		return 0, pp.err
	}
	if pp.br != nil {
		if pp.br.Buffered() > 0 {
			return pp.br.Read(b)
		}
		pp.br = nil
	}
	return c.Read(b)
}

// Pending reports whether c's bytes must still be read through Read (the
// header, or what arrived with it): a tunnel's io.Copy must not take the
// socket's WriteTo then.
func (pp *ProxyProto) Pending() bool { return !pp.read || pp.err != nil || pp.br != nil }

// FirstByte is the first byte after the PROXY protocol header without
// consuming it: the TLS front's sniff.
func (pp *ProxyProto) FirstByte(c *net.TCPConn) (byte, error) {
	if !pp.read {
		pp.read = true
		pp.err = pp.readHeader(c)
	}
	if pp.err != nil {
		return 0, pp.err
	}
	if pp.br != nil && pp.br.Buffered() > 0 {
		b, _ := pp.br.Peek(1)
		return b[0], nil
	}
	return PeekByte(c)
}

// Src is the header's client address ($proxy_protocol_addr and _port);
// invalid when there is none. A nil pp has none.
func (pp *ProxyProto) Src() netip.AddrPort {
	if pp == nil {
		return netip.AddrPort{}
	}
	return pp.src
}

// readHeader is ngx_proxy_protocol_read on the connection's first bytes.
func (pp *ProxyProto) readHeader(c *net.TCPConn) error {
	br := bufio.NewReaderSize(c, ppBufferSize)
	if _, err := br.Peek(1); err != nil {
		return err // closed or timed out before a byte: closed quietly, as nginx
	}
	first, _ := br.Peek(br.Buffered())
	first = append([]byte(nil), first...)
	h, err := proxyproto.Read(br)
	if err != nil {
		pp.logBrokenHeader(c, first)
		return ErrBrokenHeader
	}
	if h.Command.IsProxy() {
		if src, _, ok := h.TCPAddrs(); ok {
			pp.src = src.AddrPort()
		}
	}
	pp.br = br
	return nil
}

// logBrokenHeader is nginx's `broken header: "..." while reading PROXY
// protocol, client: ADDR, server: LISTEN` at error, with the bytes of the
// connection's first read.
func (pp *ProxyProto) logBrokenHeader(c *net.TCPConn, first []byte) {
	lv := errorlog.Error
	if !pp.log.Enabled(lv) {
		return
	}
	fl := errorlog.Fields{Server: pp.server}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		fl.Client = a.AddrPort().Addr().Unmap().String()
	}
	pp.log.Write(&errorlog.Entry{Level: lv, Conn: pp.conn, Msg: `broken header: "` + string(first) + `"`,
		Action: "reading PROXY protocol", Fields: &fl})
}
