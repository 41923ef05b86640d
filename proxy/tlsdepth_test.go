package proxy_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxy_ssl_verify_depth (default 1, as nginx): an upstream chain with more
// intermediate CAs than the depth is nginx's "(22:certificate chain too
// long)" and 502; within it, it is served.
func TestTLSUpstreamVerifyDepth(t *testing.T) {
	dir := t.TempDir()
	root := (*testCA)(nil).intermediate(t, "Root CA")
	int1 := root.intermediate(t, "Int 1")
	int2 := int1.intermediate(t, "Int 2")
	one := int1.leaf(t, "localhost").pair // leaf, int1: one intermediate
	one.Certificate = append(one.Certificate, int1.cert.Raw)
	two := int2.leaf(t, "localhost").pair // leaf, int2, int1: two
	two.Certificate = append(two.Certificate, int2.cert.Raw, int1.cert.Raw)
	o1, o2 := newTLSOrigin(t, "one", one), newTLSOrigin(t, "two", two)
	r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_ssl_verify: on
  proxy_ssl_trusted_certificate: %s
  proxy_ssl_name: localhost
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /one, proxy_pass: "https://{U0}"}
        - {path: /two, proxy_pass: "https://{U1}"}
        - {path: /two-depth2, proxy_pass: "https://{U1}", proxy_ssl_verify_depth: 2}
        - {path: /one-depth0, proxy_pass: "https://{U0}", proxy_ssl_verify_depth: 0}
`, writeFile(t, filepath.Join(dir, "root.pem"), root.pem)), o1.addr(), o2.addr())
	for _, c := range []struct {
		path   string
		status int
	}{{"/one", 200}, {"/two", 502}, {"/two-depth2", 200}, {"/one-depth0", 502}} {
		if status, _ := r.do("GET", c.path, nil); status != c.status {
			t.Errorf("%s: %d, want %d", c.path, status, c.status)
		}
	}
	if l := r.log(); strings.Count(l, "upstream SSL certificate verify error: (22:certificate chain too long) while SSL handshaking to upstream") != 2 {
		t.Errorf("error log:\n%s", l)
	}
}

// crlPEM is a v2 CRL by ca revoking serials.
func crlPEM(t *testing.T, ca *testCA, serials ...*big.Int) []byte {
	t.Helper()
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// proxy_ssl_crl (nginx-tests proxy_ssl_crl.t): every certificate of the
// upstream's chain, up to the trusted root, needs a current CRL from its
// issuer and must not be on it; the result is the last error, as with
// ssl_crl.
func TestTLSUpstreamCRL(t *testing.T) {
	dir := t.TempDir()
	root := (*testCA)(nil).intermediate(t, "Root CA")
	mid := root.intermediate(t, "Int CA")
	leaf := mid.leaf(t, "localhost").pair
	leaf.Certificate = append(leaf.Certificate, mid.cert.Raw)
	o := newTLSOrigin(t, "o", leaf)
	file := func(name string, b ...[]byte) string {
		return writeFile(t, filepath.Join(dir, name), bytes.Join(b, nil))
	}
	r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_ssl_verify: on
  proxy_ssl_trusted_certificate: %s
  proxy_ssl_name: localhost
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /none-revoked, proxy_pass: "https://{U0}", proxy_ssl_crl: %s}
        - {path: /mid-revoked, proxy_pass: "https://{U0}", proxy_ssl_crl: %s}
        - {path: /no-crl-for-leaf, proxy_pass: "https://{U0}", proxy_ssl_crl: %s}
`, file("root.pem", root.pem), file("both.crl", crlPEM(t, root), crlPEM(t, mid)),
		file("revoked.crl", crlPEM(t, root, mid.cert.SerialNumber), crlPEM(t, mid)), file("root.crl", crlPEM(t, root))), o.addr())
	for _, c := range []struct {
		path   string
		status int
		line   string
	}{
		{"/none-revoked", 200, ""},
		{"/mid-revoked", 502, "(23:certificate revoked)"},
		{"/no-crl-for-leaf", 502, "(3:unable to get certificate CRL)"},
	} {
		if status, _ := r.do("GET", c.path, nil); status != c.status {
			t.Errorf("%s: %d, want %d", c.path, status, c.status)
		}
		if c.line != "" && !strings.Contains(r.log(), "upstream SSL certificate verify error: "+c.line+" while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: \"GET "+c.path) {
			t.Errorf("%s: no %s line:\n%s", c.path, c.line, r.log())
		}
	}
}
