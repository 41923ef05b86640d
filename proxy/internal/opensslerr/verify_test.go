package opensslerr

import (
	"crypto/x509"
	"testing"
	"time"

	"spillway/proxy/internal/testcert"
)

// crypto/x509's refusals become OpenSSL 3's codes and texts, for both TLS
// sides (openssl verify -CAfile ca.pem -untrusted extra.pem leaf.pem says
// the same).
func TestVerifyCode(t *testing.T) {
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(time.Hour)
	roots := x509.NewCertPool()
	trusted, _ := testcert.Make(t, "trusted", nil, nil, true, nb, na)
	roots.AddCert(trusted)
	self, _ := testcert.Make(t, "self", nil, nil, false, nb, na)
	otherSelf, _ := testcert.Make(t, "other", nil, nil, true, nb, na)
	unknownCA, unknownKey := testcert.Make(t, "unknown ca", nil, nil, true, nb, na)
	inter, interKey := testcert.Make(t, "inter", unknownCA, unknownKey, true, nb, na)
	leafOfInter, _ := testcert.Make(t, "leaf", inter, interKey, false, nb, na)
	leafOfUnknown, _ := testcert.Make(t, "leaf", unknownCA, unknownKey, false, nb, na)
	trustedKeyed, trustedKey := testcert.Make(t, "trusted2", nil, nil, true, nb, na)
	roots.AddCert(trustedKeyed)
	expired, _ := testcert.Make(t, "old", trustedKeyed, trustedKey, false, now.Add(-2*time.Hour), now.Add(-time.Hour))
	early, _ := testcert.Make(t, "early", trustedKeyed, trustedKey, false, now.Add(time.Hour), now.Add(2*time.Hour))
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		code  int
		text  string
	}{
		{"self-signed", []*x509.Certificate{self}, 18, "self-signed certificate"},
		{"self-signed with a self-signed extra", []*x509.Certificate{self, otherSelf}, 18, "self-signed certificate"},
		{"lone leaf of an unknown CA", []*x509.Certificate{leafOfUnknown}, 21, "unable to verify the first certificate"},
		{"its unknown root sent along", []*x509.Certificate{leafOfUnknown, unknownCA}, 19, "self-signed certificate in certificate chain"},
		{"an intermediate of an unknown root", []*x509.Certificate{leafOfInter, inter}, 20, "unable to get local issuer certificate"},
		{"expired", []*x509.Certificate{expired}, 10, "certificate has expired"},
		{"not yet valid", []*x509.Certificate{early}, 9, "certificate is not yet valid"},
	} {
		inters := x509.NewCertPool()
		for _, c := range tc.certs[1:] {
			inters.AddCert(c)
		}
		_, err := tc.certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now})
		if err == nil {
			t.Fatalf("%s: verified", tc.name)
		}
		if code := VerifyCode(err, tc.certs, now); code != tc.code || VerifyText(code) != tc.text {
			t.Errorf("%s: (%d:%s), want (%d:%s); Go said %v", tc.name, code, VerifyText(code), tc.code, tc.text, err)
		}
	}
}
