package proxy

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/internal/testcert"
	"spillway/proxy/internal/testutil"
)

// An active http health check of a group used with https:// speaks TLS and
// verifies like the traffic does: the server with an untrusted certificate
// is marked unhealthy with nginx's verify message, the other one is checked
// over TLS and stays healthy.
func TestHealthCheckOverTLS(t *testing.T) {
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(time.Hour)
	root, rootKey := testcert.Make(t, "root", nil, nil, true, nb, na)
	other, otherKey := testcert.Make(t, "other", nil, nil, true, nb, na)
	origin := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*httptest.Server, *atomic.Int64) {
		leaf, key := testcert.Make(t, "localhost", ca, caKey, false, nb, na)
		var checks atomic.Int64
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" && r.TLS != nil {
				checks.Add(1)
			}
		}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s, &checks
	}
	good, goodChecks := origin(root, rootKey)
	bad, _ := origin(other, otherKey)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p, elog := hcProxy(t, "warn", `
error_log: {path: stderr, level: warn}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app:
      servers: [{address: "{U0}"}, {address: "{U1}"}]
      health_check: {uri: /health, interval: 500ms, timeout: 500ms}
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          proxy_pass: https://app
          proxy_ssl_verify: on
          proxy_ssl_trusted_certificate: `+caFile+`
          proxy_ssl_name: localhost
`, good.Listener.Addr().String(), bad.Listener.Addr().String())
	g, badPeer := peerOf(t, p, "app", bad.Listener.Addr().String())
	_, goodPeer := peerOf(t, p, "app", good.Listener.Addr().String())
	testutil.Eventually(t, "the untrusted server unhealthy", 5*time.Second, func() bool { return !g.Healthy(badPeer) })
	testutil.Eventually(t, "checks over TLS", 5*time.Second, func() bool { return goodChecks.Load() >= 2 })
	if !g.Healthy(goodPeer) {
		t.Errorf("the good server is unhealthy:\n%s", elog.String())
	}
	want := "upstream server " + bad.Listener.Addr().String() + ` is unhealthy: upstream SSL certificate verify error: (21:unable to verify the first certificate) during health check, upstream: "app"`
	if !strings.Contains(elog.String(), want) {
		t.Errorf("log:\n%s\nwant a line with: %s", elog.String(), want)
	}
}
