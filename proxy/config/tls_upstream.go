package config

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/youmark/pkcs8"
)

// The client side of TLS to an upstream beyond the certificate check
// (tls.go): nginx's proxy_ssl_certificate, proxy_ssl_certificate_key,
// proxy_ssl_password_file, proxy_ssl_protocols and proxy_ssl_ciphers, and
// their grpc_ssl_* twins (grpc.go maps those onto these). The certificate
// is loaded here, once, so a missing or mismatched file is an error of
// `spillway check` with its key and line, as nginx -t reports it.

// proxySSLClientDirectives may be written in http, a server and a
// location; squashed into proxySSLDirectives.
type proxySSLClientDirectives struct {
	ProxySSLCertificate    *opt[string] `mapstructure:"proxy_ssl_certificate"`
	ProxySSLCertificateKey *opt[string] `mapstructure:"proxy_ssl_certificate_key"`
	ProxySSLPasswordFile   *opt[string] `mapstructure:"proxy_ssl_password_file"`
	ProxySSLProtocols      *opt[words]  `mapstructure:"proxy_ssl_protocols"`
	ProxySSLCiphers        *opt[words]  `mapstructure:"proxy_ssl_ciphers"`
}

func (d *proxySSLClientDirectives) inherit(p *proxySSLClientDirectives) {
	merge(&d.ProxySSLCertificate, p.ProxySSLCertificate)
	merge(&d.ProxySSLCertificateKey, p.ProxySSLCertificateKey)
	merge(&d.ProxySSLPasswordFile, p.ProxySSLPasswordFile)
	merge(&d.ProxySSLProtocols, p.ProxySSLProtocols)
	merge(&d.ProxySSLCiphers, p.ProxySSLCiphers)
}

// ProxySSLClient is what spillway presents to a TLS upstream.
type ProxySSLClient struct {
	// Certificate is proxy_ssl_certificate with its key: sent when the
	// upstream asks for a client certificate (nil: none is sent).
	Certificate *tls.Certificate
	// CertificateSum identifies the pair's content, so that a reload
	// with new files is seen as a change ("" without a certificate).
	CertificateSum string
	// MinVersion and MaxVersion are proxy_ssl_protocols; 0 when not set
	// (Go's client defaults: TLS 1.2 and 1.3).
	MinVersion, MaxVersion uint16
	// CipherSuites is proxy_ssl_ciphers (TLS 1.2 suites; nil: Go's).
	CipherSuites []uint16
}

// resolve loads the client certificate and parses the protocol and cipher
// lists, adding nginx's errors to p.
func (d *proxySSLClientDirectives) resolve(p *problems) ProxySSLClient {
	var c ProxySSLClient
	if d.ProxySSLProtocols.set() {
		lo, hi, err := parseProtocols(d.ProxySSLProtocols.v)
		if err != nil {
			p.add(d.ProxySSLProtocols.at(), "%s", strings.ReplaceAll(err.Error(), `"ssl_protocols"`, fmt.Sprintf("%q", directiveOf(d.ProxySSLProtocols.at()))))
		}
		c.MinVersion, c.MaxVersion = lo, hi
	}
	if d.ProxySSLCiphers.set() {
		cs, err := parseCiphers(d.ProxySSLCiphers.v)
		if err != nil {
			p.add(d.ProxySSLCiphers.at(), "%v", err)
		}
		c.CipherSuites = cs
	}
	cert, key := d.ProxySSLCertificate.or(""), d.ProxySSLCertificateKey.or("")
	switch {
	case cert == "" && key == "":
		return c
	case key == "":
		// nginx: ngx_ssl_certificate without its key
		p.add(d.ProxySSLCertificate.at(), `no %q is defined for certificate %q`, directiveOf(d.ProxySSLCertificate.at())+"_key", cert)
		return c
	case cert == "":
		return c // nginx loads a key without a certificate nowhere: it is unused
	}
	var passwords []string
	if d.ProxySSLPasswordFile.or("") != "" {
		var ok bool
		if passwords, ok = readPasswordFile(d.ProxySSLPasswordFile, p); !ok {
			return c
		}
	}
	cf, kf := p.confPath(cert), p.confPath(key)
	pair, sum, inKey, msg := loadClientPair(cf, kf, passwords)
	if msg != "" {
		at := d.ProxySSLCertificate.at()
		if inKey {
			at = d.ProxySSLCertificateKey.at()
		}
		p.add(at, "%s", msg)
		return c
	}
	c.Certificate, c.CertificateSum = pair, sum
	return c
}

// loadClientPair is loadPair for proxy_ssl_certificate: a key encrypted
// with one of passwords (PKCS#8, what "openssl genrsa -aes128" writes) is
// decrypted first. sum digests both files' content.
func loadClientPair(certFile, keyFile string, passwords []string) (*tls.Certificate, string, bool, string) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, "", false, fmt.Sprintf("cannot load certificate %q: %s", certFile, fileError(err))
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, "", true, fmt.Sprintf("cannot load certificate key %q: %s", keyFile, fileError(err))
	}
	h := sha256.New()
	h.Write(cb)
	h.Write(kb)
	sum := hex.EncodeToString(h.Sum(nil))
	kb, msg := decryptKey(keyFile, kb, passwords, "proxy_ssl_password_file")
	if msg != "" {
		return nil, "", true, msg
	}
	pair, inKey, msg := loadPairBytes(certFile, keyFile, kb)
	return pair, sum, inKey, msg
}

// readPasswordFile reads ssl_password_file or proxy_ssl_password_file
// (nginx's ngx_ssl_read_password_file): one password a line, each tried in
// turn; trailing spaces and CRs are not part of it. A FIFO is read as a
// file: the writer's lines. ok is false when a problem was added.
func readPasswordFile(o *opt[string], p *problems) ([]string, bool) {
	f := p.confPath(o.v)
	b, err := os.ReadFile(f)
	if err != nil {
		p.add(o.at(), "cannot open file %q %s", f, fileError(err))
		return nil, false
	}
	var passwords []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			passwords = append(passwords, l)
		}
	}
	if len(passwords) == 0 {
		p.add(o.at(), "empty file %q", f)
		return nil, false
	}
	return passwords, true
}

// decryptKey returns the key file's content kb decrypted with the first
// of passwords that does (PKCS#8, what "openssl genrsa -aes128" writes),
// or kb itself when it is not encrypted; else nginx's message. directive
// names the password file's directive.
func decryptKey(keyFile string, kb []byte, passwords []string, directive string) ([]byte, string) {
	b, _ := pem.Decode(kb)
	if b == nil || b.Type != "ENCRYPTED PRIVATE KEY" {
		return kb, ""
	}
	if len(passwords) == 0 {
		return nil, fmt.Sprintf("cannot load certificate key %q: the key is encrypted and no %s is set", keyFile, directive)
	}
	var plain []byte
	for _, pw := range passwords {
		k, err := pkcs8.ParsePKCS8PrivateKey(b.Bytes, []byte(pw))
		if err != nil {
			continue
		}
		if plain, err = pkcs8.MarshalPrivateKey(k, nil, nil); err == nil {
			break
		}
	}
	if plain == nil {
		return nil, fmt.Sprintf("cannot load certificate key %q: PEM_read_bio_PrivateKey() failed (bad decrypt: no password of the password file decrypts it)", keyFile)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), ""
}
