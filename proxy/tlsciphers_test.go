package proxy_test

import (
	"crypto/tls"
	"fmt"
	"testing"
)

// An OpenSSL cipher string and curve list as people write them: the suites
// and groups Go has among those selected are what the handshake offers.
func TestTLSOpenSSLCipherString(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  ssl_ciphers: "EECDH+AESGCM:EDH+AESGCM:!AES128"
  ssl_ecdh_curve: "X448:secp384r1"
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf), plainOrigin(t, "A"))
	dial := func(suite uint16, curves ...tls.CurveID) (tls.ConnectionState, error) {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool(),
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}, CurvePreferences: curves})
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	// ECDHE-ECDSA-AES256-GCM-SHA384 is selected (the test CA's leaf is ECDSA).
	cs, err := dial(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
	if err != nil {
		t.Fatalf("AES256-GCM: %v", err)
	}
	if cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 || cs.CurveID != tls.CurveP384 {
		t.Errorf("negotiated %s with %v, want P-384", tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
	}
	// !AES128 removed the AES128-GCM suites, and CHACHA20 was never selected.
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		if _, err := dial(s); err == nil {
			t.Errorf("%s: the handshake succeeded", tls.CipherSuiteName(s))
		}
	}
	// ssl_ecdh_curve leaves X25519 out.
	if _, err := dial(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.X25519); err == nil {
		t.Error("X25519: the handshake succeeded")
	}
}

// ssl_session_cache with ssl_session_tickets off resumes sessions kept on
// the server (TLS 1.2 and 1.3), as nginx does; without a cache (nginx's
// default "none") nothing resumes.
func TestTLSSessionCache(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	origin := plainOrigin(t, "A")
	for _, tc := range []struct {
		cache   string
		resumed bool
	}{{"shared:SSL:1m", true}, {"none", false}} {
		r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  ssl_session_cache: %s
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_session_tickets: off
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, tc.cache, cf, kf), origin)
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			resumed := resumptions(t, r.addr, ca, v)
			if resumed[0] || resumed[1] != tc.resumed {
				t.Errorf("ssl_session_cache %s, TLS %x: resumed %v, want [false %v]", tc.cache, v, resumed, tc.resumed)
			}
		}
	}
}
