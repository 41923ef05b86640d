package proxy

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
	"io"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"

	"spillway/proxy/errorlog"
)

// errBrokenHeader ends a connection whose PROXY protocol header is broken
// (already logged).
var errBrokenHeader = errors.New("broken PROXY protocol header")

// proxyProto is one connection's PROXY protocol state. Only the
// connection's serving goroutine touches it.
type proxyProto struct {
	server string // the listen address, nginx's "server:" before a request
	addr   string // as configured: the key of site.listeners (its error log)
	read   bool   // the header was read, or failed (err)
	err    error
	br     *bufio.Reader // what arrived with the header, served before the socket
	// src is the header's client address and port; invalid for PROXY
	// UNKNOWN and a v2 LOCAL header (nginx: no $proxy_protocol_addr).
	src netip.AddrPort
}

// ppBufferSize is nginx's client_header_buffer_size default: what nginx's
// first read takes, and so what its "broken header" line shows.
const ppBufferSize = 1024

// readRaw reads the connection's bytes, the PROXY protocol header first
// on an address that has one (consumed, not returned).
func (c *clientConn) readRaw(b []byte) (int, error) {
	if c.pp == nil {
		return c.TCPConn.Read(b)
	}
	pp := c.pp
	if !pp.read {
		pp.read = true
		pp.err = c.readProxyHeader()
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
	return c.TCPConn.Read(b)
}

// WriteTo keeps what arrived with the PROXY header in the stream (a
// tunnel's io.Copy would otherwise take the socket's WriteTo).
func (c *clientConn) WriteTo(w io.Writer) (int64, error) {
	if c.pp != nil && (!c.pp.read || c.pp.err != nil || c.pp.br != nil) {
		return io.Copy(w, struct{ io.Reader }{c})
	}
	return c.TCPConn.WriteTo(w)
}

// firstByte is the first byte after the PROXY protocol header (when the
// address has one) without consuming it: the TLS front's sniff (tls.go).
func (c *clientConn) firstByte() (byte, error) {
	if pp := c.pp; pp != nil {
		if !pp.read {
			pp.read = true
			pp.err = c.readProxyHeader()
		}
		if pp.err != nil {
			return 0, pp.err
		}
		if pp.br != nil && pp.br.Buffered() > 0 {
			b, _ := pp.br.Peek(1)
			return b[0], nil
		}
	}
	return peekByte(c.TCPConn)
}

// readProxyHeader is ngx_proxy_protocol_read on the connection's first
// bytes.
func (c *clientConn) readProxyHeader() error {
	br := bufio.NewReaderSize(c.TCPConn, ppBufferSize)
	if _, err := br.Peek(1); err != nil {
		return err // closed or timed out before a byte: closed quietly, as nginx
	}
	first, _ := br.Peek(br.Buffered())
	first = append([]byte(nil), first...)
	h, err := proxyproto.Read(br)
	if err != nil {
		c.logBrokenHeader(first)
		return errBrokenHeader
	}
	if h.Command.IsProxy() {
		if src, _, ok := h.TCPAddrs(); ok {
			c.pp.src = src.AddrPort()
		}
	}
	c.pp.br = br
	return nil
}

// logBrokenHeader is nginx's `broken header: "..." while reading PROXY
// protocol, client: ADDR, server: LISTEN` at error, with the bytes of the
// connection's first read.
func (c *clientConn) logBrokenHeader(first []byte) {
	lv := errorlog.Error
	var s *site
	if c.gen != nil {
		s = c.gen.site
	}
	log := c.p.listenLog(s, c.pp.addr)
	if !log.Enabled(lv) {
		return
	}
	fl := errorlog.Fields{Server: c.pp.server}
	if a, ok := c.TCPConn.RemoteAddr().(*net.TCPAddr); ok {
		fl.Client = a.AddrPort().Addr().Unmap().String()
	}
	log.Write(&errorlog.Entry{Level: lv, Conn: c.id, Msg: `broken header: "` + string(first) + `"`,
		Action: "reading PROXY protocol", Fields: &fl})
}

// proxyProtocolAddr is the PROXY protocol header's client address of the
// connection ctx's request came on; invalid when there is none.
func proxyProtocolAddr(c *clientConn) netip.AddrPort {
	if c == nil || c.pp == nil {
		return netip.AddrPort{}
	}
	return c.pp.src
}
