package proxy

// TLS at the front: "listen ... ssl".
//
// The acceptor does no TLS work: its handoff wraps each connection of an
// ssl address in a *frontConn as the generation's server accepts it, and
// the handshake runs later in the connection's own goroutine (fasthttp calls
// Handshake first, under client_header_timeout). The first byte decides, as
// in nginx's ngx_http_ssl_handshake: a TLS record (0x16, or an SSLv2 hello)
// starts a handshake, anything else is served as plain HTTP and answered
// with nginx's 400 "The plain HTTP request was sent to HTTPS port".
//
// Certificates are chosen per handshake from the CURRENT site
// (Proxy.site): a reload that swaps a certificate applies to the next
// handshake, while connections that already finished theirs keep going.
// A server block's configuration and nginx's lines for a failed handshake
// are package client's (ServerTLSConfig, HandshakeFailure).

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// siteTLS is the TLS side of one ssl listen address in one site: a
// handshake configuration per server block.
type siteTLS struct {
	vhosts  []*vhost
	configs map[*vhost]*tls.Config
	deflt   *tls.Config // the first server's (nginx's default server)
	// reject is the configuration of the servers with
	// ssl_reject_handshake on: no certificate, so crypto/tls refuses the
	// handshake with nginx's unrecognized_name alert.
	reject *tls.Config
	// staplers keep the OCSP responses of certificates with ssl_stapling
	// (client.Stapler; started by stapling.go).
	staplers []*client.Stapler
}

// buildSiteTLS prepares the handshake configurations of every address a
// server lists with "ssl". In nginx "ssl" belongs to the address, so every
// server on it takes part (config refuses one without a certificate).
func buildSiteTLS(cfg *config.Config, listeners map[string][]*vhost, maps *vars.Maps) (map[string]*siteTLS, error) {
	ssl := map[string]bool{}
	for _, sc := range cfg.Servers {
		for _, a := range sc.ListenSSL {
			ssl[a] = true
		}
	}
	if len(ssl) == 0 {
		return nil, nil
	}
	out := map[string]*siteTLS{}
	certs := &certCache{} // certificates with variables (tlscert.go)
	type key struct {
		vh *vhost
		h2 bool
	}
	made := map[key]*tls.Config{} // a server on several ssl addresses shares one
	for addr := range ssl {
		st := &siteTLS{vhosts: listeners[addr], configs: map[*vhost]*tls.Config{}, reject: &tls.Config{}}
		h2 := http2Address(st.vhosts, addr)
		for _, vh := range st.vhosts {
			if vh.conf.TLS.RejectHandshake {
				st.configs[vh] = st.reject
				if st.deflt == nil {
					st.deflt = st.reject
				}
				continue
			}
			if len(vh.conf.TLS.Certificates) == 0 && len(vh.conf.TLS.VarCertificates) == 0 {
				continue
			}
			c := made[key{vh, h2}]
			if c == nil {
				c = client.ServerTLSConfig(&vh.conf.TLS)
				vc, err := newVarCerts(&vh.conf.TLS, maps, certs)
				if err != nil {
					return nil, err
				}
				if vc != nil {
					c.GetCertificate = vc.getCertificate // asked when the static ones are none, or with SNI
				}
				client.ConfigureClientAuth(c, &vh.conf.TLS.ClientVerify) // ssl_verify_client
				st.staplers = append(st.staplers, client.ConfigureStapling(c, &vh.conf.TLS)...)
				if h2 {
					c.NextProtos = []string{"h2", "http/1.1"} // ALPN: HTTP/2 on the same socket (http2.go)
				}
				made[key{vh, h2}] = c
			}
			st.configs[vh] = c
			if st.deflt == nil {
				st.deflt = c
			}
		}
		out[addr] = st
	}
	return out, nil
}

// pick is nginx's SNI rule: the server whose server_name matches the name
// the client asked for, else the address's default server.
func (st *siteTLS) pick(sni string) *tls.Config {
	if len(st.vhosts) > 1 && sni != "" {
		if c := st.configs[vhostFor(st.vhosts, []byte(sni))]; c != nil {
			return c
		}
	}
	return st.deflt
}

// frontAddr is one ssl listen address of a generation: what its handoff
// needs to wrap connections. The handshake configuration it hands out is
// looked up per handshake in the proxy's current site.
type frontAddr struct {
	p      *Proxy
	addr   string // as configured: the key of site.listeners
	server string // nginx's "server:" before a request exists: the listen address
	base   *tls.Config
}

// frontFor returns the TLS wrapping for addr in site s, nil when the
// address is not ssl. la is the bound address (for "server:" in the log).
func (p *Proxy) frontFor(s *site, addr string, la net.Addr) *frontAddr {
	if s.tls[addr] == nil {
		return nil
	}
	fa := &frontAddr{p: p, addr: addr, server: addr}
	if strings.HasSuffix(addr, ":0") && la != nil {
		fa.server = la.String() // port 0 (tests): the port actually bound
	}
	fa.base = &tls.Config{GetConfigForClient: fa.configFor}
	return fa
}

var errNoSSL = errors.New(`no "ssl_certificate" is defined for this address in the running configuration`)

func (fa *frontAddr) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := fa.p.site.Load().tls[fa.addr]
	if st == nil || st.deflt == nil {
		return nil, errNoSSL // a reload dropped "ssl" from the address
	}
	c := st.pick(hello.ServerName)
	h, ok := hello.Conn.(handshakeReader)
	switch {
	case !ok:
	case c == st.reject:
		h.hc.Rejected = true // logged as nginx's "handshake rejected"
	default:
		c = h.hc.SessionConfig(c, hello) // $ssl_session_id, $ssl_ciphers, $ssl_curves
	}
	return c, nil
}

// sslHandshakeOf is the handshake's record of connection c (an HTTP/2
// stream's: its connection's) for the $ssl_ variables; nil on a plain one.
func sslHandshakeOf(c any) *vars.Handshake {
	if s, ok := c.(*h2Stream); ok {
		c = s.conn
	}
	if f, ok := c.(*frontConn); ok && !f.plain && f.tc.Load() != nil {
		return &f.raw.Hello
	}
	return nil
}

// wrap is called by handoff.Accept; a nil frontAddr (a plain address)
// returns c itself.
func (fa *frontAddr) wrap(c *clientConn) net.Conn {
	if fa == nil {
		return c
	}
	return &frontConn{clientConn: c, fa: fa}
}

// frontConn is a client connection on an ssl address. It embeds the
// *clientConn for addresses, deadlines and identity (*N); Read, Write and
// Close go through TLS once the first byte said so. Handshake and Read run
// in the connection's goroutine; Close may come from another (a shutdown),
// hence the atomic.
type frontConn struct {
	*clientConn
	fa      *frontAddr
	raw     client.HandshakeConn     // what tc reads
	tc      atomic.Pointer[tls.Conn] // set once the client's first byte is a TLS record
	decided bool                     // the first byte was looked at (the conn's goroutine only)
	plain   bool                     // the client spoke plain HTTP (nginx's 497)
	failed  bool                     // the handshake failed: logged, Read says io.EOF
	cert    *client.ClientCert       // the client's certificate, verified (tls_client.go); set by Handshake
}

// Handshake sniffs the first byte and runs the TLS handshake (fasthttp
// calls it first, under client_header_timeout). A failure is logged with
// nginx's line; the connection then reads as closed, so fasthttp closes it
// without an answer, as nginx does.
func (f *frontConn) Handshake() error {
	if f.decided {
		if f.failed {
			return io.EOF
		}
		return nil
	}
	f.decided = true
	first, err := f.clientConn.firstByte() // after a PROXY protocol header (proxyproto.go)
	if err != nil {
		f.failed = true
		if !errors.Is(err, client.ErrBrokenHeader) { // that one is logged already
			f.logSniff(err)
		}
		return io.EOF
	}
	if first != 0x16 && first&0x80 == 0 {
		f.plain = true // nginx: "plain http", served and answered 400
		return nil
	}
	f.raw = client.HandshakeConn{Raw: f.clientConn.readRaw} // TLS records (after a PROXY protocol header): no head fixing below TLS
	tc := tls.Server(handshakeReader{f.clientConn, &f.raw}, f.fa.base)
	f.clientConn.sealed = true // $bytes_sent counts the plain bytes (Write)
	f.tc.Store(tc)
	err = tc.Handshake()
	f.raw.Done()
	if err != nil {
		f.failed = true
		f.fa.p.logClientHandshake(f, err)
		return io.EOF
	}
	f.cert = f.fa.checkClientCert(tc.ConnectionState())
	return nil
}

// handshakeReader is the client connection as tls.Server sees it: reads
// through the HandshakeConn, everything else the connection's.
type handshakeReader struct {
	*clientConn
	hc *client.HandshakeConn
}

func (h handshakeReader) Read(b []byte) (int, error) { return h.hc.Read(b) }

// Write is the socket's: limit_rate counts the plaintext above TLS
// (frontConn.Write), not these records again.
func (h handshakeReader) Write(b []byte) (int, error) {
	h.wrote.Store(true)
	return h.TCPConn.Write(b)
}

// ConnectionState is the TLS state (zero for a plain-HTTP client); with
// Handshake it makes fasthttp's ctx.IsTLS true.
func (f *frontConn) ConnectionState() tls.ConnectionState {
	if tc := f.tc.Load(); tc != nil {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

func (f *frontConn) Read(b []byte) (int, error) {
	if !f.decided || f.failed {
		if err := f.Handshake(); err != nil {
			return 0, err
		}
	}
	if tc := f.tc.Load(); tc != nil {
		return f.clientConn.head.Read(tc.Read, b) // the head inside TLS (package client)
	}
	return f.clientConn.Read(b)
}

func (f *frontConn) Write(b []byte) (int, error) {
	if tc := f.tc.Load(); tc != nil {
		var n int
		var err error
		if f.limit.on() { // limit_rate, counted in plaintext bytes as nginx's (limitrate.go)
			n, err = f.limit.write(b, tc.Write, f.p.stopCtx.Done(), f.renewSend)
		} else {
			n, err = tc.Write(b)
		}
		f.clientConn.sent.Add(int64(n)) // nginx's c->sent under TLS: ngx_ssl_write's plain bytes
		return n, err
	}
	return f.clientConn.Write(b)
}

// Close sends TLS's close_notify when the handshake is done (nginx's
// SSL_shutdown) and closes the socket.
func (f *frontConn) Close() error {
	if tc := f.tc.Load(); tc != nil {
		return tc.Close()
	}
	return f.clientConn.Close()
}

// NetConn is the client connection under TLS.
func (f *frontConn) NetConn() net.Conn { return f.clientConn }

// ReadFrom and WriteTo hide the embedded *net.TCPConn's, which would
// bypass TLS (sendfile, splice).
func (f *frontConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{f}, r)
}

func (f *frontConn) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{f})
}

// logSniff logs why no first byte came (client.SniffFailure).
func (f *frontConn) logSniff(err error) {
	if msg, errno, ok := client.SniffFailure(err); ok {
		f.fa.p.logHandshakeLine(f, msg, errno)
	}
}

// logClientHandshake logs a failed client handshake as nginx does, at info
// (client.HandshakeFailure).
func (p *Proxy) logClientHandshake(f *frontConn, err error) {
	if f.raw.Rejected {
		p.logHandshakeLine(f, "handshake rejected", 0) // ssl_reject_handshake
		return
	}
	if f.raw.CertError != "" { // a certificate with variables (tlscert.go)
		p.logHandshakeLineAt(errorlog.Error, f, f.raw.CertError, 0)
		return
	}
	if msg, errno, ok := client.HandshakeFailure(err, f.raw.PlaintextAlert); ok {
		p.logHandshakeLine(f, msg, errno)
	}
}

func (p *Proxy) logHandshakeLine(f *frontConn, msg string, errno syscall.Errno) {
	p.logHandshakeLineAt(errorlog.Info, f, msg, errno)
}

func (p *Proxy) logHandshakeLineAt(lv errorlog.Level, f *frontConn, msg string, errno syscall.Errno) {
	log := p.listenLog(p.site.Load(), f.fa.addr)
	if tc := f.tc.Load(); tc != nil {
		if name := tc.ConnectionState().ServerName; name != "" {
			log = p.sniLog(p.site.Load(), f.fa.addr, name) // levellog.go
		}
	}
	if !log.Enabled(lv) {
		return
	}
	fl := errorlog.Fields{Server: f.fa.server}
	if a, ok := f.RemoteAddr().(*net.TCPAddr); ok {
		fl.Client = a.AddrPort().Addr().Unmap().String()
	}
	log.Write(&errorlog.Entry{Level: lv, Conn: f.id, Msg: msg, Errno: errno, Action: "SSL handshaking", Fields: &fl})
}

// httpsPortPlain answers a plain-HTTP request that reached an ssl address
// as nginx does: info "client sent plain HTTP request to HTTPS port while
// reading client request headers", then 400 "The plain HTTP request was
// sent to HTTPS port" and close. It reports whether it answered.
func (x *exchange) httpsPortPlain() bool {
	f, ok := x.ctx.Conn().(*frontConn)
	if !ok || !f.plain {
		return false
	}
	x.logf(errorlog.Info, "client sent plain HTTP request to HTTPS port", 0, "reading client request headers")
	x.page(497)
	return true
}

// scheme is $scheme: "https" for a client on an ssl address.
func (x *exchange) scheme() string {
	c := x.ctx.Conn()
	if s, ok := c.(*h2Stream); ok {
		if _, ok := s.conn.(*quicConn); ok {
			return "https" // QUIC is always TLS
		}
		c = s.conn
	}
	if f, ok := c.(*frontConn); ok && !f.plain {
		return "https"
	}
	return "http"
}

// clientConnOf returns the accepted connection under c (through TLS), or
// nil. An HTTP/2 stream has none of its own: the connection carries others.
func clientConnOf(c net.Conn) *clientConn {
	switch c := c.(type) {
	case *clientConn:
		return c
	case *frontConn:
		return c.clientConn
	case *h2cConn:
		return c.clientConn
	}
	return nil
}
