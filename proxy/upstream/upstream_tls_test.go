package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testcert"
)

// The chain failures get OpenSSL's verify numbers and texts, as nginx's
// "upstream SSL certificate verify error: (N:text)" prints them.
func TestVerifyResult(t *testing.T) {
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(time.Hour)
	root, rootKey := testcert.Make(t, "root", nil, nil, true, nb, na)
	inter, interKey := testcert.Make(t, "inter", root, rootKey, true, nb, na)
	leaf, _ := testcert.Make(t, "leaf.test", inter, interKey, false, nb, na)
	direct, _ := testcert.Make(t, "leaf.test", root, rootKey, false, nb, na)
	self, _ := testcert.Make(t, "leaf.test", nil, nil, false, nb, na)
	expired, _ := testcert.Make(t, "leaf.test", root, rootKey, false, now.Add(-2*time.Hour), now.Add(-time.Hour))
	future, _ := testcert.Make(t, "leaf.test", root, rootKey, false, now.Add(time.Hour), now.Add(2*time.Hour))
	trusted := x509.NewCertPool()
	trusted.AddCert(root)
	other, _ := testcert.Make(t, "other", nil, nil, true, nb, na)
	untrusted := x509.NewCertPool()
	untrusted.AddCert(other)

	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		roots *x509.CertPool
		want  string
	}{
		{"good, with intermediate", []*x509.Certificate{leaf, inter}, trusted, ""},
		{"self-signed", []*x509.Certificate{self}, trusted, "upstream SSL certificate verify error: (18:self-signed certificate)"},
		{"root in chain, not trusted", []*x509.Certificate{leaf, inter, root}, untrusted, "upstream SSL certificate verify error: (19:self-signed certificate in certificate chain)"},
		{"intermediate, unknown root", []*x509.Certificate{leaf, inter}, untrusted, "upstream SSL certificate verify error: (20:unable to get local issuer certificate)"},
		{"lone certificate, unknown CA", []*x509.Certificate{direct}, untrusted, "upstream SSL certificate verify error: (21:unable to verify the first certificate)"},
		{"expired", []*x509.Certificate{expired}, trusted, "upstream SSL certificate verify error: (10:certificate has expired)"},
		{"not yet valid", []*x509.Certificate{future}, trusted, "upstream SSL certificate verify error: (9:certificate is not yet valid)"},
		{"other name", []*x509.Certificate{direct}, trusted, `upstream SSL certificate does not match "wrong.test"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "leaf.test"
			if strings.HasPrefix(tc.name, "other") {
				name = "wrong.test"
			}
			u := &TLS{verify: true, depth: 1, roots: tc.roots, name: name} // proxy_ssl_verify_depth 1, the default
			if got := u.check(tls.ConnectionState{PeerCertificates: tc.chain}); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
