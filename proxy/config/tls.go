package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TLS: nginx's ngx_http_ssl_module directives (ssl_certificate, ...) at the
// http and server levels, and ngx_http_proxy_module's proxy_ssl_* at the
// http, server and location levels. Certificate and key files are read and
// checked here, at load time, so `spillway check` reports an unreadable or
// mismatched pair with its key and line, and a reload that cannot load a
// new certificate keeps the old configuration.

// paths is a list of file paths: one path, or a list of them. Unlike words,
// a path is never split at spaces.
type paths []string

// pathsFrom decodes ssl_certificate and ssl_certificate_key.
func pathsFrom(in any) (paths, error) {
	if s, ok := in.(string); ok {
		return paths{s}, nil
	}
	list, ok := in.([]any)
	if !ok {
		return nil, fmt.Errorf("expected a file path or a list of them, got %s", kindOf(in))
	}
	ps := make(paths, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("expected a file path, got %s in the list", kindOf(e))
		}
		ps = append(ps, s)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("invalid number of arguments (none given)")
	}
	return ps, nil
}

// sslDirectives may be written in http and in a server (nginx's
// ngx_http_ssl_module server directives); squashed into serverDirectives.
type sslDirectives struct {
	SSLCertificate      *opt[paths]         `mapstructure:"ssl_certificate"`
	SSLCertificateKey   *opt[paths]         `mapstructure:"ssl_certificate_key"`
	SSLProtocols        *opt[words]         `mapstructure:"ssl_protocols"`
	SSLCiphers          *opt[words]         `mapstructure:"ssl_ciphers"`
	SSLSessionTimeout   *opt[time.Duration] `mapstructure:"ssl_session_timeout"`
	SSLSessionTickets   *opt[bool]          `mapstructure:"ssl_session_tickets"`
	SSLECDHCurve        *opt[string]        `mapstructure:"ssl_ecdh_curve"`
	SSLSessionCache     *opt[words]         `mapstructure:"ssl_session_cache"`
	SSLPasswordFile     *opt[string]        `mapstructure:"ssl_password_file"`
	SSLRejectHandshake  *opt[bool]          `mapstructure:"ssl_reject_handshake"`
	SSLSessionTicketKey *opt[paths]         `mapstructure:"ssl_session_ticket_key"`

	sslClientDirectives `mapstructure:",squash"` // ssl_verify_client, ssl_stapling, ... (tls_client.go)
}

func (d *sslDirectives) inherit(p *sslDirectives) {
	merge(&d.SSLCertificate, p.SSLCertificate)
	merge(&d.SSLCertificateKey, p.SSLCertificateKey)
	merge(&d.SSLProtocols, p.SSLProtocols)
	merge(&d.SSLCiphers, p.SSLCiphers)
	merge(&d.SSLSessionTimeout, p.SSLSessionTimeout)
	merge(&d.SSLSessionTickets, p.SSLSessionTickets)
	merge(&d.SSLECDHCurve, p.SSLECDHCurve)
	merge(&d.SSLSessionCache, p.SSLSessionCache)
	merge(&d.SSLPasswordFile, p.SSLPasswordFile)
	merge(&d.SSLRejectHandshake, p.SSLRejectHandshake)
	merge(&d.SSLSessionTicketKey, p.SSLSessionTicketKey)
	d.sslClientDirectives.inherit(&p.sslClientDirectives)
}

// proxySSLDirectives may be written in http, a server and a location;
// squashed into locationDirectives.
type proxySSLDirectives struct {
	ProxySSLVerify             *opt[bool]   `mapstructure:"proxy_ssl_verify"`
	ProxySSLTrustedCertificate *opt[string] `mapstructure:"proxy_ssl_trusted_certificate"`
	ProxySSLName               *opt[string] `mapstructure:"proxy_ssl_name"`
	ProxySSLServerName         *opt[bool]   `mapstructure:"proxy_ssl_server_name"`
	ProxySSLSessionReuse       *opt[bool]   `mapstructure:"proxy_ssl_session_reuse"`
	ProxySSLVerifyDepth        *opt[int]    `mapstructure:"proxy_ssl_verify_depth"`
	ProxySSLCRL                *opt[string] `mapstructure:"proxy_ssl_crl"`

	proxySSLClientDirectives `mapstructure:",squash"` // certificate, protocols, ciphers (tls_upstream.go)
}

func (d *proxySSLDirectives) inherit(p *proxySSLDirectives) {
	merge(&d.ProxySSLVerify, p.ProxySSLVerify)
	merge(&d.ProxySSLTrustedCertificate, p.ProxySSLTrustedCertificate)
	merge(&d.ProxySSLName, p.ProxySSLName)
	merge(&d.ProxySSLServerName, p.ProxySSLServerName)
	merge(&d.ProxySSLSessionReuse, p.ProxySSLSessionReuse)
	merge(&d.ProxySSLVerifyDepth, p.ProxySSLVerifyDepth)
	merge(&d.ProxySSLCRL, p.ProxySSLCRL)
	d.proxySSLClientDirectives.inherit(&p.proxySSLClientDirectives)
}

// nginx's defaults (1.23.4 and later for the protocols).
const (
	defaultSSLSessionTimeout = 5 * time.Minute
)

// ServerTLS is a server block's TLS settings, resolved. Certificates are
// loaded; the rest maps onto crypto/tls.
type ServerTLS struct {
	// Certificates are the ssl_certificate / ssl_certificate_key pairs in
	// file order (several: e.g. an ECDSA and an RSA one; the handshake
	// takes the first one the client supports, as OpenSSL does).
	Certificates []Certificate
	// MinVersion and MaxVersion are ssl_protocols (default TLSv1.2 TLSv1.3).
	MinVersion, MaxVersion uint16
	// CipherSuites is ssl_ciphers: TLS 1.2 suites, in Go's or OpenSSL's
	// names; nil means Go's defaults. TLS 1.3 suites are not configurable
	// (in Go, as with nginx's ssl_ciphers).
	CipherSuites []uint16
	// SessionTimeout is ssl_session_timeout: how long a session ticket
	// can resume a session. Default 5m.
	SessionTimeout time.Duration
	// SessionTickets is ssl_session_tickets. Default on.
	SessionTickets bool
	// SessionCache is ssl_session_cache as a number of sessions (0: none,
	// nginx's default): with SessionTickets off, sessions are kept on the
	// server, at most this many, and a client resumes with their key.
	SessionCache int
	// Curves is ssl_ecdh_curve: the key exchange groups Go has among
	// those named, in order; nil ("auto") means Go's defaults.
	Curves []tls.CurveID
	// ClientVerify is ssl_verify_client and the files it checks
	// certificates against; Stapling is ssl_stapling and its settings
	// (tls_client.go).
	ClientVerify ClientVerify
	Stapling     Stapling
	// RejectHandshake is ssl_reject_handshake: a handshake that selects
	// this server (by SNI, or as the address's default) is refused with
	// the unrecognized_name alert; no certificate is needed.
	RejectHandshake bool
	// TicketKeys are ssl_session_ticket_key's files, as session ticket
	// keys: the first encrypts new tickets, every one decrypts, so
	// instances that share the files resume each other's sessions and a
	// key can be rotated in (tlsticket.go). nil: keys of this
	// configuration's own.
	TicketKeys [][32]byte
	// VarCertificates are the ssl_certificate / ssl_certificate_key pairs
	// with variables ($ssl_server_name...): loaded per handshake
	// (package proxy's tlscert.go), with Passwords for an encrypted key.
	VarCertificates []VarCertificate
	Passwords       []string
}

// VarCertificate is one ssl_certificate / ssl_certificate_key pair with
// variables, as written (relative paths joined to the prefix).
type VarCertificate struct {
	CertFile, KeyFile string
}

// LoadCertificate reads a certificate and its key (encrypted with one of
// passwords, or not) as ssl_certificate does; msg is nginx's message for
// a failure ("cannot load certificate ...").
func LoadCertificate(certFile, keyFile string, passwords []string) (pair *tls.Certificate, msg string) {
	pair, _, msg = loadPairDecrypted(certFile, keyFile, passwords)
	return pair, msg
}

// Certificate is one loaded ssl_certificate / ssl_certificate_key pair.
type Certificate struct {
	CertFile, KeyFile string
	Pair              *tls.Certificate // Leaf is set
}

// ProxySSL is a location's proxy_ssl_* settings, resolved. They are used
// only when proxy_pass is https://.
type ProxySSL struct {
	Verify bool // proxy_ssl_verify, default off (nginx)
	// TrustedCertificate is proxy_ssl_trusted_certificate, and Roots its
	// certificates; TrustedSum is a digest of the file's content, so a
	// reload that changes the file is seen as a change.
	TrustedCertificate string
	Roots              *x509.CertPool
	TrustedSum         string
	// Name is proxy_ssl_name without its port: the name the certificate
	// is checked against and sent as SNI. "" means nginx's default,
	// $proxy_host (the proxy_pass host).
	Name         string
	ServerName   bool // proxy_ssl_server_name, default off: no SNI is sent
	SessionReuse bool // proxy_ssl_session_reuse, default on
	// VerifyDepth is proxy_ssl_verify_depth (default 1): how many
	// intermediate CA certificates a verified chain may have, as
	// OpenSSL's depth counts them (neither the leaf nor the trusted one).
	VerifyDepth int
	// CRLs are proxy_ssl_crl's: with them every certificate of the
	// upstream's chain needs a current CRL from its issuer and must not be
	// on it (CheckCRLs, as ssl_crl); CRLSum digests the file.
	CRLs   []*x509.RevocationList
	CRLSum string
	// Anchors are the trusted certificates, for building a chain on to a
	// self-signed root as OpenSSL does (ExtendToRoot) before the depth
	// and CRL checks.
	Anchors []*x509.Certificate

	ProxySSLClient // proxy_ssl_certificate, _protocols, _ciphers (tls_upstream.go)
}

// cutListenSSL splits nginx's "ssl" parameter off a listen entry
// ("127.0.0.1:8443 ssl").
func cutListenSSL(a string) (string, bool) {
	f := strings.Fields(a)
	if len(f) < 2 || !slices.Contains(f[1:], "ssl") {
		return a, false
	}
	rest := []string{f[0]}
	for _, w := range f[1:] {
		if w != "ssl" {
			rest = append(rest, w)
		}
	}
	return strings.Join(rest, " "), true
}

// cutListenDefault takes the "default_server" parameter (or nginx's older
// spelling "default") off a listen entry ("80 default_server").
func cutListenDefault(a string) (string, bool) {
	f := strings.Fields(a)
	if len(f) < 2 || !slices.ContainsFunc(f[1:], isDefaultParam) {
		return a, false
	}
	return strings.Join(slices.DeleteFunc(f, isDefaultParam), " "), true
}

func isDefaultParam(w string) bool { return w == "default_server" || w == "default" }

// resolveServerTLS loads a server's certificates and resolves its ssl_*
// directives. Certificates are loaded only for a server that listens with
// ssl (nginx loads them wherever they are set; a server without ssl never
// uses them, and an http-level ssl_certificate is then read once per TLS
// server rather than for every server).
func resolveServerTLS(d *sslDirectives, srv *Server, listenKey string, p *problems) ServerTLS {
	if len(srv.ListenSSL) == 0 {
		if d.SSLCertificate.set() && d.SSLPasswordFile.set() {
			// nginx loads a server's certificates whether or not it
			// listens with ssl, and so reads its ssl_password_file: a
			// FIFO's writer (a secrets agent) waits for that read.
			checkUnusedCertificates(d, p)
		}
		return ServerTLS{} // no TLS: the zero value
	}
	t := ServerTLS{
		SessionTimeout:  d.SSLSessionTimeout.or(defaultSSLSessionTimeout),
		SessionTickets:  d.SSLSessionTickets.or(true),
		MinVersion:      tls.VersionTLS12,
		MaxVersion:      tls.VersionTLS13,
		RejectHandshake: d.SSLRejectHandshake.or(false),
	}
	if d.SSLSessionTimeout.set() && t.SessionTimeout <= 0 {
		p.add(d.SSLSessionTimeout.at(), `"ssl_session_timeout" must be greater than 0`)
	}
	if d.SSLProtocols.set() {
		lo, hi, err := parseProtocols(d.SSLProtocols.v)
		if err != nil {
			p.add(d.SSLProtocols.at(), "%v", err)
		}
		t.MinVersion, t.MaxVersion = lo, hi
	}
	if d.SSLCiphers.set() {
		cs, err := parseCiphers(d.SSLCiphers.v)
		if err != nil {
			p.add(d.SSLCiphers.at(), "%v", err)
		}
		t.CipherSuites = cs
	}
	if d.SSLSessionCache.set() {
		n, err := parseSessionCache(d.SSLSessionCache.v)
		if err != nil {
			p.add(d.SSLSessionCache.at(), "%v", err)
		}
		t.SessionCache = n
	}
	if d.SSLSessionTicketKey.set() {
		t.TicketKeys = loadTicketKeys(d.SSLSessionTicketKey, p)
	}
	if d.SSLECDHCurve.set() {
		cs, _, err := GoCurves(d.SSLECDHCurve.v)
		if err != nil {
			p.add(d.SSLECDHCurve.at(), "%v", err)
		}
		t.Curves = cs
	}
	certs, keys := d.SSLCertificate.or(nil), d.SSLCertificateKey.or(nil)
	if len(certs) == 0 {
		// Needed by the default server of the address only
		// (checkSSLAddresses). Without one nginx makes no SSL context for
		// the server: the default server's handshake serves it, its CA
		// files are neither checked nor read, and only the request-level
		// check of ssl_verify_client applies (no certificate: 400).
		if mode := d.SSLVerifyClient.or("off"); mode != "off" {
			m, ok := verifyClientModes[mode]
			if !ok {
				p.add(d.SSLVerifyClient.at(), `invalid value %q in "ssl_verify_client": use on, off, optional or optional_no_ca`, mode)
			}
			t.ClientVerify = ClientVerify{Mode: m, Roots: x509.NewCertPool()}
		}
		return t
	}
	resolveClientTLS(&d.sslClientDirectives, &t, p)
	var passwords []string // ssl_password_file: for encrypted keys
	if d.SSLPasswordFile.or("") != "" {
		var ok bool
		if passwords, ok = readPasswordFile(d.SSLPasswordFile, p); !ok {
			return t
		}
	}
	for i, cf := range certs {
		if i >= len(keys) {
			p.add(d.SSLCertificate.at(), `no "ssl_certificate_key" is defined for certificate %q`, cf)
			continue
		}
		cf, kf := p.confPath(cf), p.confPath(keys[i])
		if strings.Contains(cf, "$") || strings.Contains(kf, "$") {
			// nginx loads such a pair at each handshake, with the
			// variables of the connection
			p.checkVariables(d.SSLCertificate.at(), "ssl_certificate", cf)
			p.checkVariables(d.SSLCertificateKey.at(), "ssl_certificate_key", kf)
			t.VarCertificates = append(t.VarCertificates, VarCertificate{CertFile: cf, KeyFile: kf})
			t.Passwords = passwords
			continue
		}
		pair, key, msg := loadPairDecrypted(cf, kf, passwords)
		if msg != "" {
			at := d.SSLCertificate.at()
			if key {
				at = d.SSLCertificateKey.at()
			}
			p.add(at, "%s", msg)
			continue
		}
		t.Certificates = append(t.Certificates, Certificate{CertFile: cf, KeyFile: kf, Pair: pair})
	}
	if len(keys) > len(certs) {
		p.add(d.SSLCertificateKey.at(), `no "ssl_certificate" is defined for key %q`, keys[len(certs)])
	}
	return t
}

// loadPair reads one certificate and its key. On failure it returns nginx's
// message (with Go's reason in the parentheses where nginx has OpenSSL's)
// and whether the key file is at fault.
func loadPair(certFile, keyFile string) (*tls.Certificate, bool, string) {
	return loadPairBytes(certFile, keyFile, nil)
}

// checkUnusedCertificates loads the certificates of a server without an
// ssl address, as nginx does, for their problems only.
func checkUnusedCertificates(d *sslDirectives, p *problems) {
	passwords, ok := readPasswordFile(d.SSLPasswordFile, p)
	if !ok {
		return
	}
	certs, keys := d.SSLCertificate.or(nil), d.SSLCertificateKey.or(nil)
	for i := range min(len(certs), len(keys)) {
		if strings.Contains(certs[i], "$") || strings.Contains(keys[i], "$") {
			continue // loaded per handshake, which this server has none of
		}
		if _, key, msg := loadPairDecrypted(p.confPath(certs[i]), p.confPath(keys[i]), passwords); msg != "" {
			at := d.SSLCertificate.at()
			if key {
				at = d.SSLCertificateKey.at()
			}
			p.add(at, "%s", msg)
		}
	}
}

// loadPairDecrypted is loadPair for a key that may be encrypted with one
// of passwords (ssl_password_file).
func loadPairDecrypted(certFile, keyFile string, passwords []string) (*tls.Certificate, bool, string) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return loadPair(certFile, keyFile) // its message
	}
	kb, msg := decryptKey(keyFile, kb, passwords, "ssl_password_file")
	if msg != "" {
		return nil, true, msg
	}
	return loadPairBytes(certFile, keyFile, kb)
}

// loadPairBytes is loadPair with the key's content already read, unless
// kb is nil.
func loadPairBytes(certFile, keyFile string, kb []byte) (*tls.Certificate, bool, string) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, false, fmt.Sprintf("cannot load certificate %q: %s", certFile, fileError(err))
	}
	var certs [][]byte
	for rest := cb; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, b.Bytes)
		}
	}
	if len(certs) == 0 {
		return nil, false, fmt.Sprintf("cannot load certificate %q: no PEM \"CERTIFICATE\" block found", certFile)
	}
	leaf, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return nil, false, fmt.Sprintf("cannot load certificate %q: %v", certFile, err)
	}
	if kb == nil {
		if kb, err = os.ReadFile(keyFile); err != nil {
			return nil, true, fmt.Sprintf("cannot load certificate key %q: %s", keyFile, fileError(err))
		}
	}
	pair, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, true, fmt.Sprintf("SSL_CTX_use_PrivateKey(%q) failed (key values mismatch: the key is not the one of certificate %q)", keyFile, certFile)
		}
		return nil, true, fmt.Sprintf("cannot load certificate key %q: %v", keyFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
	switch pair.PrivateKey.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, true, fmt.Sprintf("cannot load certificate key %q: unsupported key type %T", keyFile, pair.PrivateKey)
	}
	pair.Leaf = leaf
	return &pair, false, ""
}

// fileError renders a file error as nginx's "(2: No such file or directory)".
func fileError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "(" + strconv.Itoa(int(errno)) + ": " + strerror(errno) + ")"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "(2: No such file or directory)"
	}
	return err.Error()
}

func strerror(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "No such file or directory"
	case syscall.EACCES:
		return "Permission denied"
	case syscall.EISDIR:
		return "Is a directory"
	case syscall.ENOTDIR:
		return "Not a directory"
	}
	s := e.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// parseProtocols turns ssl_protocols into a version range. Go takes a range,
// not a set, so the versions listed must be adjacent.
func parseProtocols(ws []string) (lo, hi uint16, err error) {
	lo, hi = tls.VersionTLS12, tls.VersionTLS13
	var vs []uint16
	for _, w := range ws {
		v, ok := protocolVersions[w]
		switch {
		case w == "SSLv2" || w == "SSLv3":
			return lo, hi, fmt.Errorf(`%s is not supported in "ssl_protocols": use TLSv1, TLSv1.1, TLSv1.2, TLSv1.3`, w)
		case !ok:
			return lo, hi, fmt.Errorf(`invalid value %q in "ssl_protocols": use TLSv1, TLSv1.1, TLSv1.2, TLSv1.3`, w)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	vs = slices.Compact(vs)
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			return lo, hi, fmt.Errorf(`"ssl_protocols" %s: the versions must be adjacent (Go takes a range of versions)`, strings.Join(ws, " "))
		}
	}
	return vs[0], vs[len(vs)-1], nil
}

// parseCiphers turns ssl_ciphers into TLS 1.2 cipher suite IDs: an
// OpenSSL cipher string (OpenSSLCipherList), whose suites Go lacks are
// dropped (nginxconf warns about them); Go's names of suites are accepted
// too. nginx's default "HIGH:!aNULL:!MD5" means Go's defaults.
func parseCiphers(ws []string) ([]uint16, error) {
	expr := strings.Join(ws, ":")
	if expr == "HIGH:!aNULL:!MD5" {
		return nil, nil
	}
	ids, _, err := GoCipherSuites(expr)
	return ids, err
}

// openSSLCiphers maps OpenSSL's names of the TLS 1.2 suites Go implements
// to Go's names.
var openSSLCiphers = map[string]string{
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"ECDHE-ECDSA-AES128-SHA256":     "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	"ECDHE-RSA-AES128-SHA256":       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
	"AES128-GCM-SHA256":             "TLS_RSA_WITH_AES_128_GCM_SHA256",
	"AES256-GCM-SHA384":             "TLS_RSA_WITH_AES_256_GCM_SHA384",
	"AES128-SHA":                    "TLS_RSA_WITH_AES_128_CBC_SHA",
	"AES256-SHA":                    "TLS_RSA_WITH_AES_256_CBC_SHA",
	"AES128-SHA256":                 "TLS_RSA_WITH_AES_128_CBC_SHA256",
	"DES-CBC3-SHA":                  "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
	"ECDHE-RSA-DES-CBC3-SHA":        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
}

// checkSSLAddresses applies nginx's rule that "ssl" belongs to the
// address: a server listening without it where another server has it is
// served over TLS too (its certificates, loaded here, are picked by SNI).
// A server without certificates of its own gets the handshake of the
// address's default server (nginx keeps the default's SSL context), which
// must have one: nginx's "no ssl_certificate" for the listen.
func checkSSLAddresses(servers []*Server, raw []rawServer, p *problems) {
	ssl := map[string]bool{}
	for _, s := range servers {
		for _, a := range s.ListenSSL {
			ssl[a] = true
		}
	}
	for i, s := range servers {
		wasTLS := len(s.ListenSSL) > 0
		for _, a := range s.Listen {
			if ssl[a] && !slices.Contains(s.ListenSSL, a) {
				s.ListenSSL = append(s.ListenSSL, a)
			}
		}
		if !wasTLS && len(s.ListenSSL) > 0 {
			s.TLS = resolveServerTLS(&raw[i].sslDirectives, s, raw[i].Listen.at(), p)
		}
	}
	reported := map[int]bool{}
	for i, s := range servers {
		for _, a := range s.ListenSSL {
			if d := defaultServer(servers, a); d == i && len(s.TLS.Certificates) == 0 && len(s.TLS.VarCertificates) == 0 && !s.TLS.RejectHandshake && !reported[i] {
				reported[i] = true
				p.add(raw[i].Listen.at(), `no "ssl_certificate" is defined for the "listen ... ssl" directive`)
			}
		}
	}
}

// defaultServer is the index of an address's default server: the one
// whose listen says default_server, else the first listening there.
func defaultServer(servers []*Server, addr string) int {
	first := -1
	for i, s := range servers {
		if slices.Contains(s.ListenDefault, addr) {
			return i
		}
		if first < 0 && slices.Contains(s.Listen, addr) {
			first = i
		}
	}
	return first
}

// resolveProxySSL resolves the proxy_ssl_* directives of a location whose
// proxy_pass is https:// (nginx checks them only there).
func resolveProxySSL(d *proxySSLDirectives, pp ProxyPass, p *problems) ProxySSL {
	if pp.Scheme != "https" {
		return ProxySSL{} // unused: the zero value
	}
	s := ProxySSL{
		Verify:       d.ProxySSLVerify.or(false),
		ServerName:   d.ProxySSLServerName.or(false),
		SessionReuse: d.ProxySSLSessionReuse.or(true),
		VerifyDepth:  d.ProxySSLVerifyDepth.or(defaultVerifyDepth),
	}
	if s.VerifyDepth < 0 {
		p.add(d.ProxySSLVerifyDepth.at(), `invalid value "%d" in %q`, s.VerifyDepth, directiveOf(d.ProxySSLVerifyDepth.at()))
	}
	if name := d.ProxySSLName.or(""); name != "" && name != "$proxy_host" {
		if strings.Contains(name, "$") {
			p.add(d.ProxySSLName.at(), `variables other than $proxy_host are not supported in "proxy_ssl_name": %q`, name)
		}
		s.Name = stripPort(name)
	}
	if s.Name == "" {
		s.Name = stripPort(pp.Host)
	}
	if f := p.confPath(d.ProxySSLTrustedCertificate.or("")); f != "" {
		s.TrustedCertificate = f
		b, err := os.ReadFile(f)
		if err != nil {
			p.add(d.ProxySSLTrustedCertificate.at(), "SSL_CTX_load_verify_locations(..., %q) failed %s", f, fileError(err))
			return s
		}
		s.Roots = x509.NewCertPool()
		for rest := b; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil && blk.Type == "CERTIFICATE" {
				s.Anchors = append(s.Anchors, c)
			}
		}
		if !s.Roots.AppendCertsFromPEM(b) {
			p.add(d.ProxySSLTrustedCertificate.at(), "SSL_CTX_load_verify_locations(..., %q) failed (no PEM \"CERTIFICATE\" block found)", f)
		}
		sum := sha256.Sum256(b)
		s.TrustedSum = hex.EncodeToString(sum[:])
	}
	if f := p.confPath(d.ProxySSLCRL.or("")); f != "" {
		s.CRLs = loadCRLFile(d.ProxySSLCRL.at(), f, p)
		if b, err := os.ReadFile(f); err == nil {
			sum := sha256.Sum256(b)
			s.CRLSum = hex.EncodeToString(sum[:])
		}
	}
	if s.Verify && s.Roots == nil && s.TrustedCertificate == "" {
		p.add(d.ProxySSLVerify.at(), "no proxy_ssl_trusted_certificate for proxy_ssl_verify")
	}
	s.ProxySSLClient = d.proxySSLClientDirectives.resolve(p)
	return s
}

// stripPort drops a port from a host name, as nginx does for the SSL name.
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return h
}
