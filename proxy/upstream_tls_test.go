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

	"spillway/proxy/config"
	"spillway/proxy/internal/testcert"
)

// ssl_session_timeout: a ticket older than the timeout does not resume.
func TestSessionTimeout(t *testing.T) {
	now := time.Now()
	cert, key := testcert.Make(t, "localhost", nil, nil, true, now.Add(-time.Hour), now.Add(time.Hour))
	pair := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	for _, tc := range []struct {
		timeout time.Duration
		resumed bool
	}{{time.Hour, true}, {time.Nanosecond, false}} {
		st := &config.ServerTLS{Certificates: []config.Certificate{{Pair: pair}}, MinVersion: tls.VersionTLS12,
			MaxVersion: tls.VersionTLS13, SessionTimeout: tc.timeout, SessionTickets: true}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLSConfig(st))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("x")) // after the handshake: TLS 1.3 tickets go out first
				_ = c.Close()
			}
		}()
		roots := x509.NewCertPool()
		roots.AddCert(cert)
		cfg := &tls.Config{ServerName: "localhost", RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(1)}
		var resumed bool
		for i := 0; i < 2; i++ {
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var b [1]byte
			_, _ = c.Read(b[:])
			resumed = c.ConnectionState().DidResume
			_ = c.Close()
		}
		_ = ln.Close()
		<-done
		if resumed != tc.resumed {
			t.Errorf("ssl_session_timeout %v: second connection resumed=%v, want %v", tc.timeout, resumed, tc.resumed)
		}
	}
}

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
	hcEventually(t, "the untrusted server unhealthy", 5*time.Second, func() bool { return !g.Healthy(badPeer) })
	hcEventually(t, "checks over TLS", 5*time.Second, func() bool { return goodChecks.Load() >= 2 })
	if !g.Healthy(goodPeer) {
		t.Errorf("the good server is unhealthy:\n%s", elog.String())
	}
	want := "upstream server " + bad.Listener.Addr().String() + ` is unhealthy: upstream SSL certificate verify error: (21:unable to verify the first certificate) during health check, upstream: "app"`
	if !strings.Contains(elog.String(), want) {
		t.Errorf("log:\n%s\nwant a line with: %s", elog.String(), want)
	}
}
