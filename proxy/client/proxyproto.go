package client

// "listen ... proxy_protocol": every connection to the address starts with
// a PROXY protocol header (v1 text or v2 binary, from HAProxy or a cloud L4
// balancer), read in the connection's own goroutine on its first read,
// under client_header_timeout like the request that follows: v1 by
// github.com/pires/go-proxyproto, v2 here (readV2), because nginx accepts
// v2 headers that library refuses (the PROXY command with an unspecified
// or unknown address family: nginx takes the connection without
// addresses). As in nginx, the header does not change $remote_addr (realip
// with real_ip_header proxy_protocol does); it fills $proxy_protocol_addr,
// _port, $proxy_protocol_server_addr, _port and, for v2, the TLVs that
// $proxy_protocol_tlv_NAME reads (package vars). A connection whose first
// bytes are no valid header gets nginx's "broken header" line and is
// closed.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"

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
	// dst is the header's server address ($proxy_protocol_server_addr
	// and _port), invalid when src is.
	dst netip.AddrPort
	// tlvs are a v2 header's TLV vector after the addresses, as sent
	// (nil for none, and for v1).
	tlvs []byte
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

// Dst is the header's server address ($proxy_protocol_server_addr and
// _port); invalid when there is none. A nil pp has none.
func (pp *ProxyProto) Dst() netip.AddrPort {
	if pp == nil {
		return netip.AddrPort{}
	}
	return pp.dst
}

// TLVs is a v2 header's TLV vector, as sent ($proxy_protocol_tlv_NAME
// looks in it); nil for none. A nil pp has none.
func (pp *ProxyProto) TLVs() []byte {
	if pp == nil {
		return nil
	}
	return pp.tlvs
}

// readHeader is ngx_proxy_protocol_read on the connection's first bytes.
func (pp *ProxyProto) readHeader(c *net.TCPConn) error {
	br := bufio.NewReaderSize(c, ppBufferSize)
	if _, err := br.Peek(1); err != nil {
		return err // closed or timed out before a byte: closed quietly, as nginx
	}
	if b, _ := br.Peek(1); b[0] == v2Signature[0] {
		if _, err := br.Peek(v2HeaderLen); err == nil && bytes.HasPrefix(mustPeek(br, v2HeaderLen), v2Signature) {
			if err := pp.readV2(c, br); err != nil {
				return err
			}
			pp.br = br
			return nil
		}
	}
	first, _ := br.Peek(br.Buffered())
	first = append([]byte(nil), first...)
	h, err := proxyproto.Read(br)
	if err != nil {
		pp.logBrokenHeader(c, first)
		return ErrBrokenHeader
	}
	if h.Command.IsProxy() {
		if src, dst, ok := h.TCPAddrs(); ok {
			pp.src, pp.dst = src.AddrPort(), dst.AddrPort()
		}
	}
	pp.br = br
	return nil
}

func mustPeek(br *bufio.Reader, n int) []byte {
	b, _ := br.Peek(n)
	return b
}

// The v2 header: the signature, version and command, family and
// transport, and the length of what follows (addresses, then TLVs).
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

const v2HeaderLen = 16

// readV2 is ngx_proxy_protocol_v2_read: br starts with a v2 signature.
// Version other than 2 and a length beyond the first read are logged and
// end the connection; a LOCAL command, a transport other than STREAM and
// an address family other than INET and INET6 take the connection without
// addresses (nginx's debug lines only); addresses shorter than their
// family's end it without a line, as in nginx.
func (pp *ProxyProto) readV2(c *net.TCPConn, br *bufio.Reader) error {
	h := mustPeek(br, v2HeaderLen)
	if v := h[12] >> 4; v != 2 {
		pp.logError(c, "unknown PROXY protocol version: "+strconv.Itoa(int(v)))
		return ErrBrokenHeader
	}
	n := int(binary.BigEndian.Uint16(h[14:16]))
	if br.Buffered() < v2HeaderLen+n {
		// nginx parses what its first read (client_header_buffer_size)
		// holds; a header the peer split across segments gets its
		// remainder here, within the same buffer size.
		if _, err := br.Peek(v2HeaderLen + n); err != nil {
			pp.logError(c, "header is too large")
			return ErrBrokenHeader
		}
	}
	h = mustPeek(br, v2HeaderLen+n)
	cmd, transport, family := h[12]&0x0f, h[13]&0x0f, h[13]>>4
	body := h[v2HeaderLen:]
	defer br.Discard(v2HeaderLen + n)
	if cmd != 1 || transport != 1 { // only PROXY over STREAM carries addresses
		return nil
	}
	var alen int
	switch family {
	case 1: // AF_INET
		alen = 4
	case 2: // AF_INET6
		alen = 16
	default:
		return nil
	}
	if len(body) < 2*alen+4 {
		return ErrBrokenHeader
	}
	src, _ := netip.AddrFromSlice(body[:alen])
	dst, _ := netip.AddrFromSlice(body[alen : 2*alen])
	pp.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[2*alen:]))
	pp.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[2*alen+2:]))
	if rest := body[2*alen+4:]; len(rest) > 0 {
		pp.tlvs = append([]byte(nil), rest...)
	}
	return nil
}

// logError is an error line of the PROXY protocol reader, with nginx's
// action and fields.
func (pp *ProxyProto) logError(c *net.TCPConn, msg string) {
	lv := errorlog.Error
	if !pp.log.Enabled(lv) {
		return
	}
	fl := errorlog.Fields{Server: pp.server}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		fl.Client = a.AddrPort().Addr().Unmap().String()
	}
	pp.log.Write(&errorlog.Entry{Level: lv, Conn: pp.conn, Msg: msg, Action: "reading PROXY protocol", Fields: &fl})
}

// logBrokenHeader is nginx's `broken header: "..." while reading PROXY
// protocol, client: ADDR, server: LISTEN` at error, with the bytes of the
// connection's first read.
func (pp *ProxyProto) logBrokenHeader(c *net.TCPConn, first []byte) {
	pp.logError(c, `broken header: "`+string(first)+`"`)
}
