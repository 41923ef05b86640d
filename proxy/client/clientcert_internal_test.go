package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"spillway/proxy/config"
)

// BenchmarkVerifyClientChain is what ssl_verify_client adds to a handshake
// with a client certificate: one chain verification (P-256, the client's
// certificate signed by the trusted CA).
func BenchmarkVerifyClientChain(b *testing.B) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &key.PublicKey, caKey)
	leaf, _ := x509.ParseCertificate(der)
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
