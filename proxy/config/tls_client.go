package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"spillway/proxy/internal/opensslerr"
)

// Client certificates (ssl_verify_client, ssl_client_certificate,
// ssl_trusted_certificate, ssl_verify_depth, ssl_crl) and OCSP stapling
// (ssl_stapling, ssl_stapling_file, ssl_stapling_verify,
// ssl_stapling_responder): ngx_http_ssl_module's directives at the http and
// server levels. The files are read here, at load time, so `spillway check`
// reports an unreadable one with its key, and a reload that cannot read a
// new CA file keeps the old configuration.

// sslClientDirectives is squashed into sslDirectives.
type sslClientDirectives struct {
	SSLVerifyClient       *opt[string] `mapstructure:"ssl_verify_client"`
	SSLClientCertificate  *opt[string] `mapstructure:"ssl_client_certificate"`
	SSLTrustedCertificate *opt[string] `mapstructure:"ssl_trusted_certificate"`
	SSLVerifyDepth        *opt[int]    `mapstructure:"ssl_verify_depth"`
	SSLCRL                *opt[string] `mapstructure:"ssl_crl"`
	SSLStapling           *opt[bool]   `mapstructure:"ssl_stapling"`
	SSLStaplingFile       *opt[string] `mapstructure:"ssl_stapling_file"`
	SSLStaplingVerify     *opt[bool]   `mapstructure:"ssl_stapling_verify"`
	SSLStaplingResponder  *opt[string] `mapstructure:"ssl_stapling_responder"`
}

func (d *sslClientDirectives) inherit(p *sslClientDirectives) {
	merge(&d.SSLVerifyClient, p.SSLVerifyClient)
	merge(&d.SSLClientCertificate, p.SSLClientCertificate)
	merge(&d.SSLTrustedCertificate, p.SSLTrustedCertificate)
	merge(&d.SSLVerifyDepth, p.SSLVerifyDepth)
	merge(&d.SSLCRL, p.SSLCRL)
	merge(&d.SSLStapling, p.SSLStapling)
	merge(&d.SSLStaplingFile, p.SSLStaplingFile)
	merge(&d.SSLStaplingVerify, p.SSLStaplingVerify)
	merge(&d.SSLStaplingResponder, p.SSLStaplingResponder)
}

// VerifyClient is ssl_verify_client.
type VerifyClient int

const (
	VerifyOff          VerifyClient = iota // off (default): no certificate is asked
	VerifyOn                               // on: a valid certificate is required (496, 495 otherwise)
	VerifyOptional                         // optional: asked; one that is sent must be valid (495)
	VerifyOptionalNoCA                     // optional_no_ca: asked; an unknown issuer is let through
)

var verifyClientModes = map[string]VerifyClient{
	"off": VerifyOff, "on": VerifyOn, "optional": VerifyOptional, "optional_no_ca": VerifyOptionalNoCA,
}

// ClientVerify is a server's client-certificate settings, resolved.
type ClientVerify struct {
	Mode VerifyClient
	// ClientCAs is ssl_client_certificate: trusted, and named to the
	// client in the handshake's certificate request.
	ClientCAs *x509.CertPool
	// Roots is what a client's chain may end at: ssl_client_certificate
	// and ssl_trusted_certificate (the latter is not named to the client).
	Roots *x509.CertPool
	// Anchors are Roots' certificates, for building a chain on to a
	// self-signed root as OpenSSL does (Go stops at any trusted one).
	Anchors []*x509.Certificate
	// Depth is ssl_verify_depth (default 1): a chain may have Depth
	// certificates between the client's and the trusted one it ends at
	// (measured with nginx 1.22 on OpenSSL 3: depth 1 takes the client's
	// certificate, one intermediate it sends, and the trusted root).
	Depth int
	// CRLs is ssl_crl: with it, every certificate of a chain needs a
	// current CRL from its issuer and must not be on it (OpenSSL's
	// X509_V_FLAG_CRL_CHECK|X509_V_FLAG_CRL_CHECK_ALL, as nginx sets them).
	CRLs []*x509.RevocationList
}

// Stapling is a server's OCSP stapling settings, resolved.
type Stapling struct {
	On bool // ssl_stapling, default off
	// File is ssl_stapling_file and Response its DER content: stapled as
	// it is, never fetched nor refreshed (nginx's way).
	File     string
	Response []byte
	// Verify is ssl_stapling_verify (default off): a fetched response's
	// signature is checked against the certificate's issuer.
	Verify bool
	// Responder is ssl_stapling_responder: the responder's URL, which
	// overrides the certificate's Authority Information Access one.
	Responder string
	// Trusted are ssl_trusted_certificate's certificates: where the issuer
	// of a certificate is looked for when its file does not carry it.
	Trusted []*x509.Certificate
}

const defaultVerifyDepth = 1

// resolveClientTLS resolves the client-certificate and stapling directives
// of a server that listens with ssl.
func resolveClientTLS(d *sslClientDirectives, t *ServerTLS, p *problems) {
	var trusted []*x509.Certificate
	if f := p.confPath(d.SSLTrustedCertificate.or("")); f != "" {
		trusted = loadCAFile(d.SSLTrustedCertificate.at(), f, p)
	}
	var crls []*x509.RevocationList // read whatever ssl_verify_client says, as nginx does
	if f := p.confPath(d.SSLCRL.or("")); f != "" {
		crls = loadCRLFile(d.SSLCRL.at(), f, p)
	}
	if mode := d.SSLVerifyClient.or("off"); mode != "off" {
		m, ok := verifyClientModes[mode]
		if !ok {
			p.add(d.SSLVerifyClient.at(), `invalid value %q in "ssl_verify_client": use on, off, optional or optional_no_ca`, mode)
		}
		v := ClientVerify{Mode: m, Depth: d.SSLVerifyDepth.or(defaultVerifyDepth), Roots: x509.NewCertPool()}
		if v.Depth < 0 {
			p.add(d.SSLVerifyDepth.at(), `invalid value "%d" in "ssl_verify_depth"`, v.Depth)
		}
		if f := p.confPath(d.SSLClientCertificate.or("")); f != "" {
			v.ClientCAs = x509.NewCertPool()
			for _, c := range loadCAFile(d.SSLClientCertificate.at(), f, p) {
				v.ClientCAs.AddCert(c)
				v.Roots.AddCert(c)
				v.Anchors = append(v.Anchors, c)
			}
		} else if m != VerifyOptionalNoCA {
			p.add(d.SSLVerifyClient.at(), "no ssl_client_certificate for ssl_verify_client")
		}
		for _, c := range trusted {
			v.Roots.AddCert(c)
		}
		v.Anchors = append(v.Anchors, trusted...)
		v.CRLs = crls
		t.ClientVerify = v
	}
	if d.SSLStapling.or(false) {
		s := Stapling{On: true, Verify: d.SSLStaplingVerify.or(false), Trusted: trusted}
		if r := d.SSLStaplingResponder.or(""); r != "" {
			if u, err := url.Parse(r); err != nil || u.Scheme != "http" || u.Host == "" {
				p.add(d.SSLStaplingResponder.at(), `invalid URL prefix in "ssl_stapling_responder" %q: an http:// URL is needed`, r)
			}
			s.Responder = r
		}
		if f := p.confPath(d.SSLStaplingFile.or("")); f != "" {
			s.File = f
			b, err := os.ReadFile(f)
			switch {
			case err != nil:
				p.add(d.SSLStaplingFile.at(), "BIO_new_file(%q) failed %s", f, fileError(err))
			default:
				if _, err := ocsp.ParseResponse(b, nil); err != nil {
					p.add(d.SSLStaplingFile.at(), "d2i_OCSP_RESPONSE_bio(%q) failed (%v)", f, err)
				}
				s.Response = b
			}
		}
		t.Stapling = s
	}
}

// loadCAFile reads a PEM file of CA certificates (ssl_client_certificate,
// ssl_trusted_certificate), with nginx's message when it cannot (its
// OpenSSL reason in Go's or the system's words).
func loadCAFile(key, f string, p *problems) []*x509.Certificate {
	b, err := os.ReadFile(f)
	if err != nil {
		p.add(key, "SSL_CTX_load_verify_locations(%q) failed %s", f, fileError(err))
		return nil
	}
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			p.add(key, "SSL_CTX_load_verify_locations(%q) failed (%v)", f, err)
			return nil
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		p.add(key, "SSL_CTX_load_verify_locations(%q) failed (no PEM \"CERTIFICATE\" block found)", f)
	}
	return out
}

// loadCRLFile reads ssl_crl: PEM "X509 CRL" blocks (or one DER CRL).
func loadCRLFile(key, f string, p *problems) []*x509.RevocationList {
	b, err := os.ReadFile(f)
	if err != nil {
		p.add(key, "X509_LOOKUP_load_file(%q) failed %s", f, fileError(err))
		return nil
	}
	var ders [][]byte
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type == "X509 CRL" {
			ders = append(ders, blk.Bytes)
		}
	}
	if len(ders) == 0 {
		ders = [][]byte{b}
	}
	var out []*x509.RevocationList
	for _, der := range ders {
		crl, err := parseCRL(der)
		if err != nil {
			p.add(key, "X509_LOOKUP_load_file(%q) failed (%s)", f, fmt.Sprint(err))
			return nil
		}
		out = append(out, crl)
	}
	return out
}

// parseCRL is x509.ParseRevocationList, also for a version 1 CRL (no
// version field: what "openssl ca -gencrl" writes without crl extensions,
// which OpenSSL and so nginx read, and Go refuses): the list is parsed with
// the version inserted, and keeps the signed bytes as they were, which its
// signature check reads (CheckSignatureFrom).
func parseCRL(der []byte) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err == nil || !strings.Contains(err.Error(), "unsupported crl version") {
		return crl, err
	}
	v2, tbs, ok := crlWithVersion(der)
	if !ok {
		return nil, err
	}
	crl, err2 := x509.ParseRevocationList(v2)
	if err2 != nil {
		return nil, err
	}
	crl.Raw, crl.RawTBSRevocationList = der, tbs
	return crl, nil
}

// crlWithVersion returns a v1 CRL's DER with "version v2" inserted at the
// start of its TBSCertList, and the original TBSCertList (RFC 5280 5.1).
func crlWithVersion(der []byte) (v2, tbs []byte, ok bool) {
	in := cryptobyte.String(der)
	var outer, rest cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, nil, false
	}
	var tbsFull cryptobyte.String
	if !outer.ReadASN1Element(&tbsFull, cbasn1.SEQUENCE) {
		return nil, nil, false
	}
	rest = outer // signatureAlgorithm and signatureValue
	body := tbsFull
	var content cryptobyte.String
	if !body.ReadASN1(&content, cbasn1.SEQUENCE) || content.PeekASN1Tag(cbasn1.INTEGER) {
		return nil, nil, false
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(1) // v2
			b.AddBytes(content)
		})
		b.AddBytes(rest)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, nil, false
	}
	return out, tbsFull, true
}

// CheckCRLs is OpenSSL's CRL check of a whole chain (nginx sets
// X509_V_FLAG_CRL_CHECK_ALL with ssl_crl): every certificate, the trusted
// one included, needs a current CRL signed by its issuer, and must not be
// on it. nginx's verify callback lets the check go on after an error, so
// the result is the last error, from the leaf up: a leaf without a CRL
// under a revoked intermediate is "certificate revoked".
func CheckCRLs(crls []*x509.RevocationList, chain []*x509.Certificate, now time.Time) int {
	res := 0
	for i, c := range chain {
		issuer := c
		if i+1 < len(chain) {
			issuer = chain[i+1]
		}
		var crl *x509.RevocationList
		for _, l := range crls {
			if bytes.Equal(l.RawIssuer, c.RawIssuer) && l.CheckSignatureFrom(issuer) == nil {
				crl = l
				break
			}
		}
		if crl == nil {
			res = opensslerr.VerifyUnableGetCRL
			continue
		}
		switch {
		case now.Before(crl.ThisUpdate):
			res = opensslerr.VerifyCRLNotYetValid
		case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
			res = opensslerr.VerifyCRLExpired
		}
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
				res = opensslerr.VerifyRevoked
			}
		}
	}
	return res
}

// ExtendToRoot appends to a verified chain the trusted issuers of its
// last certificate until one is self-signed.
func ExtendToRoot(chain, anchors []*x509.Certificate) []*x509.Certificate {
	for range 8 {
		last := chain[len(chain)-1]
		if opensslerr.SelfSigned(last) {
			return chain
		}
		var next *x509.Certificate
		for _, a := range anchors {
			if a != last && bytes.Equal(a.RawSubject, last.RawIssuer) && last.CheckSignatureFrom(a) == nil {
				next = a
				break
			}
		}
		if next == nil {
			return chain
		}
		chain = append(chain[:len(chain):len(chain)], next)
	}
	return chain
}
