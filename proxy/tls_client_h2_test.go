//go:build linux

package proxy_test

//lint:file-ignore SA1019 x/net/http2's Transport speaks HTTP/2 by ALPN, as in http2_test.go

// ssl_verify_client over HTTP/2 and HTTP/3: linux only, as the HTTP/2
// rig (http2_test.go) it uses.

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
)

// HTTP/2 streams take their connection's certificate; HTTP/3 asks for
// none (not done yet), so "ssl_verify_client on" answers 400 "No required
// SSL certificate was sent" there rather than serving unverified clients.
func TestMTLSHTTP2AndHTTP3(t *testing.T) {
	dir := t.TempDir()
	cca := newTestCA(t, "Client CA")
	caf := writeFile(t, filepath.Join(dir, "cca.pem"), cca.pem)
	r := newH2Rig(t, `
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl http2", "127.0.0.1:0 quic reuseport"]
      server_name: [localhost]
      ssl_certificate: {CERT}
      ssl_certificate_key: {KEY}
      ssl_verify_client: "on"
      ssl_client_certificate: `+caf+`
      locations: [{path: /, return: "200 $ssl_client_verify $ssl_client_s_dn"}]
`)
	good := clientCert(t, cca, pkix.Name{CommonName: "h2 client"}, 5, time.Now().Add(24*time.Hour))
	get := func(rt http.RoundTripper, url string) (int, int, string) {
		t.Helper()
		resp, err := (&http.Client{Transport: rt, Timeout: 20 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.ProtoMajor, resp.StatusCode, string(b)
	}
	tc := func(cert *tls.Certificate) *tls.Config {
		c := &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost", NextProtos: []string{"h2"}}
		if cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
		return c
	}
	h2 := &http2.Transport{TLSClientConfig: tc(&good)}
	t.Cleanup(h2.CloseIdleConnections)
	if proto, status, body := get(h2, "https://"+r.addr+"/"); proto != 2 || status != 200 || body != "SUCCESS CN=h2 client" {
		t.Errorf("HTTP/2 with a certificate: HTTP/%d %d %q", proto, status, body)
	}
	h2none := &http2.Transport{TLSClientConfig: tc(nil)}
	t.Cleanup(h2none.CloseIdleConnections)
	if proto, status, body := get(h2none, "https://"+r.addr+"/"); proto != 2 || status != 400 || !strings.Contains(body, "No required SSL certificate was sent") {
		t.Errorf("HTTP/2 without a certificate: HTTP/%d %d %q", proto, status, body)
	}
	h3 := &http3.Transport{TLSClientConfig: tc(&good)}
	t.Cleanup(func() { h3.Close() })
	if proto, status, body := get(h3, "https://"+r.quicAddr()+"/"); proto != 3 || status != 400 || !strings.Contains(body, "No required SSL certificate was sent") {
		t.Errorf("HTTP/3: HTTP/%d %d %q", proto, status, body)
	}
}
