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
	"errors"
	"time"

	"spillway/proxy/config"
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

// OpenSSL's verification errors (X509_V_ERR_*, x509_txt.c of OpenSSL 3).
const (
	errUnspecified       = 1
	errUnableGetCRL      = 3
	errCertSignature     = 7
	errCRLSignature      = 8
	errNotYetValid       = 9
	errExpired           = 10
	errCRLNotYetValid    = 11
	errCRLExpired        = 12
	errDepthZeroSelf     = 18
	errSelfSignedInChain = 19
	errIssuerLocally     = 20
	errVerifyLeaf        = 21
	errChainTooLong      = 22
	errRevoked           = 23
	errInvalidCA         = 24
	errInvalidPurpose    = 26
)

var verifyReasons = map[int]string{
	errUnspecified:       "unspecified certificate verification error",
	errUnableGetCRL:      "unable to get certificate CRL",
	errCertSignature:     "certificate signature failure",
	errCRLSignature:      "CRL signature failure",
	errNotYetValid:       "certificate is not yet valid",
	errExpired:           "certificate has expired",
	errCRLNotYetValid:    "CRL is not yet valid",
	errCRLExpired:        "CRL has expired",
	errDepthZeroSelf:     "self-signed certificate",
	errSelfSignedInChain: "self-signed certificate in certificate chain",
	errIssuerLocally:     "unable to get local issuer certificate",
	errVerifyLeaf:        "unable to verify the first certificate",
	errChainTooLong:      "certificate chain too long",
	errRevoked:           "certificate revoked",
	errInvalidCA:         "invalid CA certificate",
	errInvalidPurpose:    "unsupported certificate purpose",
}

// VerifyClientChain verifies a client's chain (its certificate first, then
// what else it sent) and returns OpenSSL's error code and text, 0 and ""
// when it is good.
func VerifyClientChain(v *config.ClientVerify, certs []*x509.Certificate, now time.Time) (int, string) {
	code := verifyCode(v, certs, now)
	return code, verifyReasons[code]
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
		return verifyErrorCode(err, certs, now)
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
		return errChainTooLong
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
		if selfSigned(last) {
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

// verifyErrorCode maps crypto/x509's reasons onto OpenSSL's codes.
func verifyErrorCode(err error, certs []*x509.Certificate, now time.Time) int {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv):
		switch inv.Reason {
		case x509.Expired:
			if c := inv.Cert; c != nil && now.Before(c.NotBefore) {
				return errNotYetValid
			}
			return errExpired
		case x509.IncompatibleUsage:
			return errInvalidPurpose
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
			return errInvalidCA
		case x509.TooManyIntermediates:
			return errChainTooLong
		}
	case errors.As(err, &ua):
		var sig x509.InsecureAlgorithmError
		if errors.As(err, &sig) {
			return errCertSignature
		}
		if len(certs) == 1 && selfSigned(certs[0]) {
			return errDepthZeroSelf
		}
		for _, c := range certs[1:] {
			if selfSigned(c) {
				return errSelfSignedInChain
			}
		}
		if len(certs) == 1 {
			return errVerifyLeaf // measured: nginx 1.22 on OpenSSL 3
		}
		return errIssuerLocally
	}
	return errUnspecified
}

func selfSigned(c *x509.Certificate) bool {
	// CheckSignature, not CheckSignatureFrom: OpenSSL calls a leaf that
	// signed itself self-signed whether or not it is marked as a CA.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// checkCRLs is OpenSSL's CRL check of a whole chain (nginx sets
// X509_V_FLAG_CRL_CHECK_ALL with ssl_crl): every certificate, the trusted
// one included, needs a current CRL signed by its issuer, and must not be
// on it.
func checkCRLs(crls []*x509.RevocationList, chain []*x509.Certificate, now time.Time) int {
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
		switch {
		case crl == nil:
			return errUnableGetCRL
		case now.Before(crl.ThisUpdate):
			return errCRLNotYetValid
		case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
			return errCRLExpired
		}
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return errRevoked
			}
		}
	}
	return 0
}

// optionalNoCA lists the errors "ssl_verify_client optional_no_ca" lets
// through (nginx's ngx_ssl_verify_error_optional).
func optionalNoCA(code int) bool {
	switch code {
	case errDepthZeroSelf, errSelfSignedInChain, 2, errIssuerLocally, errVerifyLeaf:
		return true
	}
	return false
}
