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

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/opensslerr"
)

// siteTLS is the TLS side of one ssl listen address in one site: a
// handshake configuration per server block.
type siteTLS struct {
	vhosts  []*vhost
	configs map[*vhost]*tls.Config
	deflt   *tls.Config // the first server's (nginx's default server)
}

// buildSiteTLS prepares the handshake configurations of every address a
// server lists with "ssl". In nginx "ssl" belongs to the address, so every
// server on it takes part (config refuses one without a certificate).
func buildSiteTLS(cfg *config.Config, listeners map[string][]*vhost) map[string]*siteTLS {
	ssl := map[string]bool{}
	for _, sc := range cfg.Servers {
		for _, a := range sc.ListenSSL {
			ssl[a] = true
		}
	}
	if len(ssl) == 0 {
		return nil
	}
	out := map[string]*siteTLS{}
	type key struct {
		vh *vhost
		h2 bool
	}
	made := map[key]*tls.Config{} // a server on several ssl addresses shares one
	for addr := range ssl {
		st := &siteTLS{vhosts: listeners[addr], configs: map[*vhost]*tls.Config{}}
		h2 := http2Address(st.vhosts, addr)
		for _, vh := range st.vhosts {
			if len(vh.conf.TLS.Certificates) == 0 {
				continue
			}
			c := made[key{vh, h2}]
			if c == nil {
				c = serverTLSConfig(&vh.conf.TLS)
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
	return out
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

// serverTLSConfig builds one server block's handshake configuration.
func serverTLSConfig(t *config.ServerTLS) *tls.Config {
	c := &tls.Config{
		MinVersion:             t.MinVersion,
		MaxVersion:             t.MaxVersion,
		CipherSuites:           t.CipherSuites,
		CurvePreferences:       t.Curves,
		SessionTicketsDisabled: !t.SessionTickets,
		NextProtos:             []string{"http/1.1"},
	}
	for _, ck := range t.Certificates {
		c.Certificates = append(c.Certificates, *ck.Pair)
	}
	if t.SessionTickets {
		// ssl_session_timeout: Go's tickets live up to 7 days, so each
		// ticket carries its issue time and is refused once older. The
		// ticket keys are this configuration's own (random, rotated by
		// crypto/tls): a ticket from another server block, or from before
		// a reload, does not decrypt and the client does a full handshake,
		// as with nginx's per-configuration random ticket keys.
		timeout := t.SessionTimeout
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, ticketStamp(time.Now()))
			return c.EncryptTicket(cs, ss)
		}
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := c.DecryptTicket(identity, cs)
			if err != nil || ss == nil {
				return nil, err
			}
			if at, ok := ticketIssued(ss.Extra); !ok || time.Since(at) > timeout {
				return nil, nil // expired: a full handshake
			}
			return ss, nil
		}
	} else if t.SessionCache > 0 {
		useSessionCache(c, t.SessionCache, t.SessionTimeout) // tlscache.go
	}
	return c
}

const ticketTag = "spillway-issued:"

func ticketStamp(now time.Time) []byte {
	b := make([]byte, len(ticketTag)+8)
	copy(b, ticketTag)
	binary.BigEndian.PutUint64(b[len(ticketTag):], uint64(now.Unix()))
	return b
}

func ticketIssued(extra [][]byte) (time.Time, bool) {
	for _, e := range extra {
		if len(e) == len(ticketTag)+8 && string(e[:len(ticketTag)]) == ticketTag {
			return time.Unix(int64(binary.BigEndian.Uint64(e[len(ticketTag):])), 0), true
		}
	}
	return time.Time{}, false
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
	return st.pick(hello.ServerName), nil
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
	raw     handshakeConn            // what tc reads
	tc      atomic.Pointer[tls.Conn] // set once the client's first byte is a TLS record
	decided bool                     // the first byte was looked at (the conn's goroutine only)
	plain   bool                     // the client spoke plain HTTP (nginx's 497)
	failed  bool                     // the handshake failed: logged, Read says io.EOF
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
		if !errors.Is(err, errBrokenHeader) { // that one is logged already
			f.logSniff(err)
		}
		return io.EOF
	}
	if first != 0x16 && first&0x80 == 0 {
		f.plain = true // nginx: "plain http", served and answered 400
		return nil
	}
	f.raw = handshakeConn{clientConn: f.clientConn}
	tc := tls.Server(&f.raw, f.fa.base)
	f.tc.Store(tc)
	err = tc.Handshake()
	f.raw.done = true
	if err != nil {
		f.failed = true
		f.fa.p.logClientHandshake(f, err)
		return io.EOF
	}
	return nil
}

// handshakeConn is what tls.Server reads: the client connection, keeping
// the start of each read while the handshake runs. A TLS 1.3 client that
// rejects the certificate sends its alert in plaintext (OpenSSL's clients,
// curl among them, do), which crypto/tls can only report as "bad record
// MAC"; OpenSSL reads the alert, and nginx logs it ("tlsv1 alert unknown
// ca"). The bytes kept say which alert it was.
type handshakeConn struct {
	*clientConn
	head [7]byte // the first bytes of the last read
	n    int
	done bool // the handshake is over: nothing more to keep
}

func (h *handshakeConn) Read(b []byte) (int, error) {
	n, err := h.clientConn.readRaw(b) // TLS records (after a PROXY protocol header): no head fixing below TLS
	if !h.done && n > 0 {
		h.n = copy(h.head[:], b[:n])
	}
	return n, err
}

// plaintextAlert returns the description of a plaintext alert record
// (15 03 0x 00 02 level description) that the last read started with.
func (h *handshakeConn) plaintextAlert() (uint8, bool) {
	b := h.head
	if h.n == len(b) && b[0] == 0x15 && b[1] == 3 && b[3] == 0 && b[4] == 2 {
		return b[6], true
	}
	return 0, false
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
		return f.clientConn.head.read(tc.Read, b) // the head inside TLS (barelf.go)
	}
	return f.clientConn.Read(b)
}

func (f *frontConn) Write(b []byte) (int, error) {
	if tc := f.tc.Load(); tc != nil {
		return tc.Write(b)
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

// peekByte waits for the first byte without consuming it (recv MSG_PEEK,
// as nginx), under the read deadline fasthttp set.
func peekByte(c *net.TCPConn) (byte, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		return rerr != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err // the deadline, or closed
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return b[0], nil
}

// logSniff logs why no first byte came: nginx's lines for an ssl address,
// where the action is "SSL handshaking" from the start.
func (f *frontConn) logSniff(err error) {
	p := f.fa.p
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		p.logHandshakeLine(f, "client closed connection", 0)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		p.logHandshakeLine(f, "client timed out", syscall.ETIMEDOUT)
	case errors.Is(err, net.ErrClosed):
		// closed by us (a shutdown): nothing to say
	default:
		p.logHandshakeLine(f, "recv() failed", errorlog.ErrnoOf(err))
	}
}

// logClientHandshake logs a failed client handshake as nginx does, at info.
func (p *Proxy) logClientHandshake(f *frontConn, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		p.logHandshakeLine(f, "client timed out", syscall.ETIMEDOUT)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.logHandshakeLine(f, "peer closed connection in SSL handshake", 0)
	case errorlog.ErrnoOf(err) != 0:
		p.logHandshakeLine(f, "peer closed connection in SSL handshake", errorlog.ErrnoOf(err))
	case strings.Contains(err.Error(), "bad record MAC"):
		if desc, ok := f.raw.plaintextAlert(); ok && opensslerr.KnownAlert(desc) {
			p.logHandshakeLine(f, "SSL_do_handshake() failed ("+opensslerr.Alert(desc)+")", 0)
			return
		}
		fallthrough
	default:
		p.logHandshakeLine(f, "SSL_do_handshake() failed ("+opensslerr.Text(err)+")", 0)
	}
}

func (p *Proxy) logHandshakeLine(f *frontConn, msg string, errno syscall.Errno) {
	lv := errorlog.Info
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
