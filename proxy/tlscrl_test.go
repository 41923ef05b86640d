//lint:file-ignore SA1019 a version 1 CRL (no version field) is what the test needs: x509.CreateRevocationList writes only version 2, so the list is built from pkix.TBSCertificateList by hand

package proxy_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// v1CRL is a version 1 CRL (no version field, no extensions: what
// "openssl ca -gencrl" writes without crl_extensions) by ca, revoking
// serials. Go's x509 writes only v2 CRLs.
func v1CRL(t *testing.T, ca *testCA, serials ...*big.Int) []byte {
	t.Helper()
	algo := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}} // ecdsa-with-SHA256
	tbs := pkix.TBSCertificateList{Signature: algo, Issuer: ca.cert.Subject.ToRDNSequence(),
		ThisUpdate: time.Now().Add(-time.Hour).UTC(), NextUpdate: time.Now().Add(time.Hour).UTC()}
	for _, s := range serials {
		tbs.RevokedCertificates = append(tbs.RevokedCertificates, pkix.RevokedCertificate{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute).UTC()})
	}
	raw, err := asn1.Marshal(tbs)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	sig, err := ca.key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(pkix.CertificateList{TBSCertList: pkix.TBSCertificateList{Raw: raw}, SignatureAlgorithm: algo,
		SignatureValue: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// ssl_crl reads version 1 CRLs, as OpenSSL does (nginx-tests ssl_crl.t),
// and checks their signature. With a revoked intermediate and no CRL from
// it for the leaf, nginx's verify goes on after "unable to get certificate
// CRL" for the leaf and ends with the intermediate's "certificate revoked".
func TestMTLSCRLVersion1(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA")
	mid := ca.intermediate(t, "Int CA")
	other := (*testCA)(nil).intermediate(t, "Other CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	server := func(crl []byte) *rig {
		return newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_verify_client: optional
      ssl_client_certificate: %s
      ssl_verify_depth: 2
      ssl_crl: %s
      locations:
        - {path: /, return: %q}
`, cf, kf, writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem), writeFile(t, filepath.Join(dir, fmt.Sprintf("ca%p.crl", crl)), crl), mtlsVars))
	}
	end := time.Now().Add(24 * time.Hour)
	for _, tc := range []struct {
		name   string
		crl    []byte
		cert   tls.Certificate
		status int
		line   string
	}{
		{"v1 CRL, none revoked", v1CRL(t, ca), clientCert(t, ca, pkix.Name{CommonName: "good"}, 6, end), 200, ""},
		{"v1 CRL, revoked", v1CRL(t, ca, big.NewInt(7)), clientCert(t, ca, pkix.Name{CommonName: "revoked"}, 7, end), 400, "(23:certificate revoked)"},
		{"revoked intermediate", v1CRL(t, ca, mid.cert.SerialNumber), clientCert(t, mid, pkix.Name{CommonName: "via int"}, 8, end, mid), 400, "(23:certificate revoked)"},
		{"CRL signed by another CA", v1CRL(t, other), clientCert(t, ca, pkix.Name{CommonName: "good"}, 9, end), 400, "(3:unable to get certificate CRL)"},
	} {
		r := server(tc.crl)
		resp, body := mtlsGet(t, r.addr, "", "localhost", &tc.cert)
		if resp.StatusCode != tc.status || tc.status == 200 && !strings.HasPrefix(body, "SUCCESS|") {
			t.Errorf("%s: %d %q, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		if tc.line != "" && !strings.Contains(r.log(), "client SSL certificate verify error: "+tc.line+" while reading client request headers") {
			t.Errorf("%s: no %s line\n%s", tc.name, tc.line, r.log())
		}
	}
}
