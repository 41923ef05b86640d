package client

// Client certificates: "ssl_verify_client" (nginx's
// ngx_http_ssl_module with OpenSSL's verification).
//
// As in nginx, a certificate that fails verification does not fail the
// handshake: the server asks for one (crypto/tls's RequestClientCert, with
// ssl_client_certificate's names in the request, ConfigureClientAuth), and
// the chain is verified once per connection when the handshake is done
// (VerifyClientChain), with OpenSSL's X509_V_ERR_* code and text. Package
// proxy picks the server block whose settings apply and answers the
// request: 495 or 496 (ClientCert.Rejected), $ssl_client_verify
// (ClientCert.VerifyResult).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/internal/opensslerr"
)

// ClientCert is what a connection's client certificate came to.
type ClientCert struct {
	SNI    string // the name the handshake was for ("" = none sent)
	Sent   bool   // the client sent a certificate
	Code   int    // OpenSSL's X509_V_ERR_* code; 0 = verified (or not asked)
	Reason string // OpenSSL's text for Code
}

// VerifyResult is $ssl_client_verify: SUCCESS, FAILED:reason (OpenSSL's
// reason), or NONE (also for a nil ClientCert).
func (c *ClientCert) VerifyResult() string {
	switch {
	case c == nil || !c.Sent:
		return "NONE"
	case c.Code != 0:
		return "FAILED:" + c.Reason
	}
	return "SUCCESS"
}

// Rejected says whether a certificate that failed verification is nginx's
// 495 under mode: any failure, but "optional_no_ca" lets through the ones
// of an unknown issuer (nginx's ngx_ssl_verify_error_optional).
func (c *ClientCert) Rejected(mode config.VerifyClient) bool {
	return c.Code != 0 && (mode != config.VerifyOptionalNoCA || !optionalNoCA(c.Code))
}

// ConfigureClientAuth sets a server block's handshake configuration to ask
// for a client certificate, as ssl_verify_client says.
func ConfigureClientAuth(c *tls.Config, v *config.ClientVerify) {
	if v.Mode == config.VerifyOff {
		return
	}
	c.ClientAuth = tls.RequestClientCert // verified after the handshake (VerifyClientChain)
	c.ClientCAs = v.ClientCAs            // the names sent in the certificate request
}

// VerifyClientChain verifies a client's chain (its certificate first, then
// what else it sent) and returns OpenSSL's error code and text, 0 and ""
// when it is good.
func VerifyClientChain(v *config.ClientVerify, certs []*x509.Certificate, now time.Time) (int, string) {
	code := verifyCode(v, certs, now)
	return code, opensslerr.VerifyText(code)
}

func verifyCode(v *config.ClientVerify, certs []*x509.Certificate, now time.Time) int {
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: v.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, // OpenSSL's "sslclient" purpose
	})
	if err != nil {
		return opensslerr.VerifyCode(err, certs, now)
	}
	// The shortest chain: ssl_verify_depth counts the certificates between
	// the client's and the trusted one. Go ends a chain at the first
	// trusted certificate; OpenSSL goes on to a self-signed root when the
	// trusted ones have it (nginx-tests' ssl_verify_depth.t: an
	// intermediate and its root both in ssl_client_certificate).
	var best []*x509.Certificate
	for _, ch := range chains {
		ch = extendToRoot(ch, v.Anchors)
		if best == nil || len(ch) < len(best) {
			best = ch
		}
	}
	if len(best) > v.Depth+2 {
		return opensslerr.VerifyChainTooLong
	}
	if v.CRLs != nil {
		return checkCRLs(v.CRLs, best, now)
	}
	return 0
}

// extendToRoot appends to a verified chain the trusted issuers of its
// last certificate until one is self-signed.
func extendToRoot(chain, anchors []*x509.Certificate) []*x509.Certificate {
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

// checkCRLs is OpenSSL's CRL check of a whole chain (nginx sets
// X509_V_FLAG_CRL_CHECK_ALL with ssl_crl): every certificate, the trusted
// one included, needs a current CRL signed by its issuer, and must not be
// on it. nginx's verify callback lets the check go on after an error, so
// the result is the last error, from the leaf up: a leaf without a CRL
// under a revoked intermediate is "certificate revoked".
func checkCRLs(crls []*x509.RevocationList, chain []*x509.Certificate, now time.Time) int {
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

// optionalNoCA lists the errors "ssl_verify_client optional_no_ca" lets
// through (nginx's ngx_ssl_verify_error_optional).
func optionalNoCA(code int) bool {
	switch code {
	case opensslerr.VerifyDepthZeroSelf, opensslerr.VerifySelfSignedInChain, 2, opensslerr.VerifyIssuerLocally, opensslerr.VerifyLeaf:
		return true
	}
	return false
}
