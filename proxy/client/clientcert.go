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

// extendToRoot is config.ExtendToRoot.
func extendToRoot(chain, anchors []*x509.Certificate) []*x509.Certificate {
	return config.ExtendToRoot(chain, anchors)
}

// checkCRLs is config.CheckCRLs (ssl_crl's check, which proxy_ssl_crl
// shares).
func checkCRLs(crls []*x509.RevocationList, chain []*x509.Certificate, now time.Time) int {
	return config.CheckCRLs(crls, chain, now)
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
