package opensslerr

import (
	"bytes"
	"crypto/x509"
	"errors"
	"time"
)

// OpenSSL's certificate verification errors (X509_V_ERR_*, x509_txt.c of
// OpenSSL 3), as nginx logs them for both TLS sides: "client SSL
// certificate verify error: (N:text)" and "upstream SSL certificate verify
// error: (N:text)".
const (
	VerifyUnspecified       = 1
	VerifyUnableGetCRL      = 3
	VerifyCertSignature     = 7
	VerifyCRLSignature      = 8
	VerifyNotYetValid       = 9
	VerifyExpired           = 10
	VerifyCRLNotYetValid    = 11
	VerifyCRLExpired        = 12
	VerifyDepthZeroSelf     = 18
	VerifySelfSignedInChain = 19
	VerifyIssuerLocally     = 20
	VerifyLeaf              = 21
	VerifyChainTooLong      = 22
	VerifyRevoked           = 23
	VerifyInvalidCA         = 24
	VerifyInvalidPurpose    = 26
)

var verifyTexts = map[int]string{
	VerifyUnspecified:       "unspecified certificate verification error",
	VerifyUnableGetCRL:      "unable to get certificate CRL",
	VerifyCertSignature:     "certificate signature failure",
	VerifyCRLSignature:      "CRL signature failure",
	VerifyNotYetValid:       "certificate is not yet valid",
	VerifyExpired:           "certificate has expired",
	VerifyCRLNotYetValid:    "CRL is not yet valid",
	VerifyCRLExpired:        "CRL has expired",
	VerifyDepthZeroSelf:     "self-signed certificate",
	VerifySelfSignedInChain: "self-signed certificate in certificate chain",
	VerifyIssuerLocally:     "unable to get local issuer certificate",
	VerifyLeaf:              "unable to verify the first certificate",
	VerifyChainTooLong:      "certificate chain too long",
	VerifyRevoked:           "certificate revoked",
	VerifyInvalidCA:         "invalid CA certificate",
	VerifyInvalidPurpose:    "unsupported certificate purpose",
}

// VerifyText is OpenSSL's text for a verification error code; "" for 0
// (verified) or a code spillway does not produce.
func VerifyText(code int) string { return verifyTexts[code] }

// VerifyCode is OpenSSL's verification error code for err, crypto/x509's
// refusal of certs (the peer's certificate first, then the others it sent)
// at now (measured against nginx 1.22 / OpenSSL 3.0 on both sides: 18 for a
// self-signed certificate, 21 for a lone certificate from an unknown CA).
func VerifyCode(err error, certs []*x509.Certificate, now time.Time) int {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv):
		switch inv.Reason {
		case x509.Expired:
			if c := inv.Cert; c != nil && now.Before(c.NotBefore) {
				return VerifyNotYetValid
			}
			return VerifyExpired
		case x509.IncompatibleUsage:
			return VerifyInvalidPurpose
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
			return VerifyInvalidCA
		case x509.TooManyIntermediates:
			return VerifyChainTooLong
		}
	case errors.As(err, &ua):
		var sig x509.InsecureAlgorithmError
		if errors.As(err, &sig) {
			return VerifyCertSignature
		}
		if SelfSigned(certs[0]) { // OpenSSL's chain stops at a leaf that signed itself
			return VerifyDepthZeroSelf
		}
		for _, c := range certs[1:] {
			if SelfSigned(c) {
				return VerifySelfSignedInChain
			}
		}
		if len(certs) == 1 {
			return VerifyLeaf
		}
		return VerifyIssuerLocally
	}
	return VerifyUnspecified
}

// SelfSigned reports whether c signed itself: CheckSignature, not
// CheckSignatureFrom, since OpenSSL calls a certificate that signed itself
// self-signed whether or not it is marked as a CA.
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
