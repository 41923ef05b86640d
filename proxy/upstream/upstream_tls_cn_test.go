package upstream

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

// OpenSSL's X509_check_host, which nginx's proxy_ssl_verify uses, falls
// back to the subject's common name when the certificate has no DNS
// subjectAltName (nginx-tests' "openssl req -subj /CN=localhost"
// certificates); a certificate with DNS names is matched on those only.
func TestCommonNameMatches(t *testing.T) {
	for _, c := range []struct {
		cn   string
		dns  []string
		name string
		want bool
	}{
		{"localhost", nil, "localhost", true},
		{"LocalHost", nil, "localhost", true},
		{"localhost", nil, "example.com", false},
		{"*.example.com", nil, "a.example.com", true},
		{"*.example.com", nil, "a.b.example.com", false},
		{"*.com", nil, "example.com", false},
		{"localhost", []string{"other"}, "localhost", false},
		{"", nil, "", false},
	} {
		cert := &x509.Certificate{Subject: pkix.Name{CommonName: c.cn}, DNSNames: c.dns}
		if got := commonNameMatches(cert, c.name); got != c.want {
			t.Errorf("CN %q, DNS %v, name %q: %v, want %v", c.cn, c.dns, c.name, got, c.want)
		}
	}
}
