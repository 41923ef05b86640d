package upstream

// TLS to upstreams: proxy_pass https://..., with nginx's proxy_ssl_*
// directives and its log lines.
//
// The handshake follows the TCP connect in transport.dial (phase "SSL
// handshaking to upstream", under a fresh proxy_connect_timeout as in
// nginx). Like nginx, spillway lets the handshake finish and then checks
// the certificate itself (ngx_http_upstream_ssl_handshake: the chain
// against proxy_ssl_trusted_certificate, then the name against
// proxy_ssl_name), so the failure is nginx's "upstream SSL certificate
// verify error: (N:reason)" or "upstream SSL certificate does not match
// "name"" rather than a handshake alert. Every failure here counts as
// "error" for proxy_next_upstream, and nothing of the request was sent, so
// it is retried for every method (nginx: request_sent is still 0).
//
// Sessions are resumed per upstream server (proxy_ssl_session_reuse): each
// peer has its own tls.ClientSessionCache, per set of proxy_ssl_* settings,
// kept on the group so a reload that keeps the group keeps the sessions.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/opensslerr"
)

// upstreamTLSKey identifies a set of proxy_ssl_* settings within a group.
type upstreamTLSKey struct {
	verify  bool
	trusted string // digest of proxy_ssl_trusted_certificate's content
	name    string
	sni     bool
	reuse   bool
	h2      bool   // ALPN h2 (grpcs://)
	cert    string // digest of proxy_ssl_certificate and its key
	minV    uint16 // proxy_ssl_protocols
	maxV    uint16
	ciphers string // proxy_ssl_ciphers
}

// TLS is the client side of TLS for one group and one set of
// proxy_ssl_* settings: a tls.Config per server (each with its own session
// cache), made when the server is first used: a server with resolve gains
// peers while the group runs. Safe for concurrent use.
type TLS struct {
	verify bool
	roots  *x509.CertPool
	name   string // proxy_ssl_name: checked against the certificate (and the SNI when sent)
	mk     func() *tls.Config

	mu    sync.Mutex
	peers map[*Peer]*tls.Config
}

// configFor is pr's tls.Config, made on first use.
func (t *TLS) configFor(pr *Peer) *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.peers[pr]
	if c == nil {
		c = t.mk()
		t.peers[pr] = c
	}
	return c
}

// TLSFor returns the group's upstreamTLS for the settings ps, made once per
// distinct setting and kept for the group's life.
func (g *Group) TLSFor(ps *config.ProxySSL) *TLS { return g.tlsFor(ps, false) }

// TLSForH2 is TLSFor offering ALPN h2 only: grpcs:// (http2.go).
func (g *Group) TLSForH2(ps *config.ProxySSL) *TLS { return g.tlsFor(ps, true) }

func (g *Group) tlsFor(ps *config.ProxySSL, h2 bool) *TLS {
	k := upstreamTLSKey{verify: ps.Verify, trusted: ps.TrustedSum, name: ps.Name, sni: ps.ServerName, reuse: ps.SessionReuse, h2: h2,
		cert: ps.CertificateSum, minV: ps.MinVersion, maxV: ps.MaxVersion, ciphers: fmt.Sprint(ps.CipherSuites)}
	g.tlsMu.Lock()
	defer g.tlsMu.Unlock()
	if t := g.tls[k]; t != nil {
		return t
	}
	t := &TLS{verify: ps.Verify, roots: ps.Roots, name: ps.Name, peers: map[*Peer]*tls.Config{}}
	t.mk = func() *tls.Config {
		c := &tls.Config{
			// Checked after the handshake, as nginx does (verify).
			InsecureSkipVerify: true,
		}
		if ps.ServerName && net.ParseIP(ps.Name) == nil {
			c.ServerName = ps.Name // nginx sends no SNI for an IP address either
		}
		if h2 {
			c.NextProtos = []string{"h2"}
		}
		if ps.Certificate != nil {
			// proxy_ssl_certificate: sent when the server asks for one
			c.Certificates = []tls.Certificate{*ps.Certificate}
		}
		c.MinVersion, c.MaxVersion, c.CipherSuites = ps.MinVersion, ps.MaxVersion, ps.CipherSuites
		if ps.SessionReuse {
			c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		}
		return c
	}
	if g.tls == nil {
		g.tls = map[upstreamTLSKey]*TLS{}
	}
	g.tls[k] = t
	if g.tlsCheck == nil && !h2 { // the http health check speaks HTTP/1.1
		g.tlsCheck = t
	}
	return t
}

// checkTLS runs the TLS handshake of an active http health check when the
// group is used with https:// (nil, nil when it is not), with the
// proxy_ssl_* settings of the first location that uses the group that way:
// the same handshake, verification and session cache as the traffic's. The
// check's deadline is already set on conn.
func (g *Group) checkTLS(conn streamConn, pr *Peer) (*tls.Conn, error) {
	g.tlsMu.Lock()
	sec := g.tlsCheck
	g.tlsMu.Unlock()
	if sec == nil {
		return nil, nil
	}
	tc := tls.Client(conn, sec.configFor(pr))
	if err := tc.Handshake(); err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return nil, checkFailed("SSL_do_handshake", err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &checkError{msg: "peer closed connection in SSL handshake", err: err}
		case errorlog.ErrnoOf(err) != 0:
			return nil, &checkError{msg: "peer closed connection in SSL handshake (" + strconv.Itoa(int(errorlog.ErrnoOf(err))) + ": " + errorlog.StrError(errorlog.ErrnoOf(err)) + ")", err: err}
		}
		return nil, &checkError{msg: "SSL_do_handshake() failed (" + opensslerr.Text(err) + ")", err: err}
	}
	if sec.verify {
		if msg := sec.check(tc.ConnectionState()); msg != "" {
			return nil, &checkError{msg: msg}
		}
	}
	return tc, nil
}

// handshake runs the TLS handshake on a fresh connection (phase: SSL
// handshaking to upstream) and, with proxy_ssl_verify, checks the
// certificate. On success uc reads and writes through TLS.
func (uc *Conn) handshake(ctx context.Context, sec *TLS, timeout time.Duration) *Error {
	cfg := sec.configFor(uc.peer)
	tc := tls.Client(uc.tcp, cfg)
	if timeout > 0 {
		_ = uc.tcp.SetDeadline(time.Now().Add(timeout))
		defer func() {
			// cleared: the next Read or Write sets its own (stale)
			_ = uc.tcp.SetDeadline(time.Time{})
			uc.rdl, uc.wdl = time.Time{}, time.Time{}
		}()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			err = net.ErrClosed // the request went away
		}
		return &Error{Phase: PhaseSSLHandshake, Kind: Classify(PhaseSSLHandshake, err), Peer: uc.peer.addr, Err: err}
	}
	if sec.verify {
		if msg := sec.check(tc.ConnectionState()); msg != "" {
			// The session is not worth resuming: forget it.
			if cfg.ClientSessionCache != nil {
				cfg.ClientSessionCache.Put(cfg.ServerName, nil)
				cfg.ClientSessionCache.Put(uc.tcp.RemoteAddr().String(), nil)
			}
			return &Error{Phase: PhaseSSLHandshake, Kind: KindOther, Peer: uc.peer.addr, Err: errors.New(msg), Msg: msg}
		}
	}
	uc.tls, uc.sec = tc, sec
	return nil
}

// check is nginx's proxy_ssl_verify: the chain against the trusted
// certificates (OpenSSL's verify result, with its number and text), then
// the name. It returns nginx's message, "" when the certificate is good.
func (t *TLS) check(cs tls.ConnectionState) string {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return `upstream SSL certificate does not match "` + t.name + `"`
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: t.roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, // OpenSSL's "sslserver" purpose
	})
	if err != nil {
		code := opensslerr.VerifyCode(err, certs, time.Now())
		text := opensslerr.VerifyText(code)
		return "upstream SSL certificate verify error: (" + strconv.Itoa(code) + ":" + text + ")"
	}
	// Go also matches an IP address against the certificate's IP SANs;
	// nginx's X509_check_host only compares names.
	if certs[0].VerifyHostname(t.name) != nil && !commonNameMatches(certs[0], t.name) {
		return `upstream SSL certificate does not match "` + t.name + `"`
	}
	return ""
}

// commonNameMatches is OpenSSL's X509_check_host for a certificate with no
// DNS name in its subjectAltName: the subject's common name is compared
// (Go's VerifyHostname no longer looks at it; "openssl req -subj
// /CN=localhost" makes such certificates, as nginx's tests do).
func commonNameMatches(c *x509.Certificate, name string) bool {
	cn := c.Subject.CommonName
	if len(c.DNSNames) > 0 || cn == "" || name == "" {
		return false
	}
	if strings.EqualFold(cn, name) {
		return true
	}
	// a wildcard as the whole leftmost label matches one label
	rest, ok := strings.CutPrefix(cn, "*.")
	_, after, dot := strings.Cut(name, ".")
	return ok && dot && strings.Contains(rest, ".") && strings.EqualFold(rest, after)
}

// sslUpstreamMessage is nginx's message for a failed upstream handshake
// (timeouts and verification have theirs already).
func sslUpstreamMessage(e *Error) string {
	switch e.Kind {
	case KindClosed, KindReset:
		return "peer closed connection in SSL handshake"
	}
	return "SSL_do_handshake() failed (" + opensslerr.Text(e.Err) + ")"
}

// probeTLS looks at the bytes an idle TLS connection received (probeIdle
// saw some): a close_notify alert is the upstream closing (nginx's
// upstream does it before its FIN), a session ticket or key update is
// consumed and the connection stays usable, application data is
// unsolicited. It reads through TLS for at most a millisecond: the bytes
// are already there, and a partial record stays buffered in tls.Conn.
func probeTLS(uc *Conn) error {
	dl := time.Now().Add(time.Millisecond)
	uc.rdl = dl // in the past by the next Read, which renews it (stale)
	_ = uc.tcp.SetReadDeadline(dl)
	var b [1]byte
	n, err := uc.tls.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		return ErrUnsolicited
	case err == nil:
		return nil
	case errors.As(err, &ne) && ne.Timeout():
		return nil // only post-handshake messages: alive
	case errors.Is(err, io.EOF):
		return io.EOF // close_notify
	}
	return err
}
