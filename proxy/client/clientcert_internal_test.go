package client

import (
	"crypto/x509"
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/internal/testcert"
)

// BenchmarkVerifyClientChain is what ssl_verify_client adds to a handshake
// with a client certificate: one chain verification (P-256, the client's
// certificate signed by the trusted CA).
func BenchmarkVerifyClientChain(b *testing.B) {
	nb, na := time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour)
	ca, caKey := testcert.Make(b, "CA", nil, nil, true, nb, na)
	leaf, _ := testcert.Make(b, "client", ca, caKey, false, nb, na)
	v := &config.ClientVerify{Mode: config.VerifyOn, Roots: x509.NewCertPool(), Anchors: []*x509.Certificate{ca}, Depth: 1}
	v.Roots.AddCert(ca)
	certs := []*x509.Certificate{leaf}
	now := time.Now()
	if code, reason := VerifyClientChain(v, certs, now); code != 0 {
		b.Fatal(reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		VerifyClientChain(v, certs, now)
	}
}
