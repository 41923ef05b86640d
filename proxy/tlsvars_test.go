package proxy_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The handshake's variables (nginx-tests ssl.t, ssl_curve.t):
// $ssl_session_id is 64 hex digits, the same when the session resumes;
// $ssl_curve is OpenSSL's name of the group (ssl_ecdh_curve prime256v1);
// $ssl_curves and $ssl_ciphers are the client's lists in OpenSSL's names;
// $ssl_client_s_dn_legacy and _i_dn_legacy are X509_NAME_oneline's form.
func TestSSLHandshakeVariables(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_ecdh_curve: prime256v1
      ssl_verify_client: optional_no_ca
      locations: [{path: /, return: "200 $ssl_session_reused|$ssl_session_id|$ssl_curve|$ssl_curves|$ssl_ciphers|$ssl_client_s_dn_legacy|$ssl_client_i_dn_legacy\n"}]
`, cf, kf))
	cache := tls.NewLRUClientSessionCache(4)
	cert := clientCert(t, ca, pkix.Name{CommonName: "subject", Organization: []string{"Org"}}, 42, time.Now().Add(time.Hour))
	get := func(version uint16) []string {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool(), ClientSessionCache: cache,
			MaxVersion: version, CurvePreferences: []tls.CurveID{tls.CurveP256, tls.X25519},
			CipherSuites:         []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, body := roundTrip(t, c, "/")
		return strings.Split(strings.TrimSuffix(body, "\n"), "|")
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		first, again := get(v), get(v)
		if first[0] != "." || again[0] != "r" {
			t.Fatalf("TLS %x: $ssl_session_reused %q then %q, want . then r", v, first[0], again[0])
		}
		if !hex64.MatchString(first[1]) || again[1] != first[1] {
			t.Errorf("TLS %x: $ssl_session_id %q then %q, want 64 hex digits twice", v, first[1], again[1])
		}
		if first[2] != "prime256v1" || first[3] != "X25519:prime256v1" { // Go's client orders them itself
			t.Errorf("TLS %x: $ssl_curve %q, $ssl_curves %q", v, first[2], first[3])
		}
		if !strings.HasPrefix(first[4], "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305") {
			t.Errorf("TLS %x: $ssl_ciphers %q", v, first[4])
		}
		if first[5] != "/O=Org/CN=subject" || first[6] != "/CN=Test CA" {
			t.Errorf("TLS %x: legacy DNs %q %q", v, first[5], first[6])
		}
	}
	if got := get(tls.VersionTLS13); got[1] == "" {
		t.Error("a third connection has no $ssl_session_id")
	}
}
