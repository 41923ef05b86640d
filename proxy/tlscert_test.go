package proxy_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// ssl_certificate with variables: each handshake loads the pair its SNI
// name names (nginx's ngx_http_ssl_certificate), a renewed file applies to
// the next handshake, and a name without files fails the handshake with
// nginx's [error] line.
func TestSSLCertificateVariables(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	for _, n := range []string{"a.test", "b.test"} {
		ca.leaf(t, n).files(t, dir, n)
	}
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %[1]s/$ssl_server_name.pem
      ssl_certificate_key: %[1]s/$ssl_server_name.key
      locations: [{path: /, return: "200 $ssl_server_name\n"}]
`, dir))
	dial := func(sni string) (*tls.Conn, error) {
		return tls.Dial("tcp", r.addr, &tls.Config{ServerName: sni, RootCAs: ca.pool()})
	}
	serials := map[string]string{}
	for _, n := range []string{"a.test", "b.test", "a.test"} {
		c, err := dial(n)
		if err != nil {
			t.Fatalf("SNI %s: %v", n, err)
		}
		leaf := c.ConnectionState().PeerCertificates[0]
		if leaf.Subject.CommonName != n {
			t.Errorf("SNI %s: certificate %q", n, leaf.Subject.CommonName)
		}
		if s, ok := serials[n]; ok && s != leaf.SerialNumber.String() {
			t.Errorf("SNI %s: another certificate the second time", n)
		}
		serials[n] = leaf.SerialNumber.String()
		if status, body := roundTrip(t, c, "/"); status != 200 || body != n+"\n" {
			t.Errorf("SNI %s: %d %q", n, status, body)
		}
		c.Close()
	}
	// a renewal: the next handshake has the new certificate
	cf, kf := ca.leaf(t, "a.test").files(t, dir, "a.test")
	later := time.Now().Add(time.Hour)
	for _, f := range []string{cf, kf} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	c, err := dial("a.test")
	if err != nil {
		t.Fatal(err)
	}
	if c.ConnectionState().PeerCertificates[0].SerialNumber.String() == serials["a.test"] {
		t.Error("the renewed certificate was not loaded")
	}
	c.Close()
	if _, err := dial("missing.test"); err == nil {
		t.Error("SNI missing.test: handshake accepted")
	}
	want := `[error] 4242#4242: *5 cannot load certificate "` + filepath.Join(dir, "missing.test.pem") + `": (2: No such file or directory) while SSL handshaking, client: 127.0.0.1, server: PROXY`
	// the client has the alert before the line is written
	testutil.Eventually(t, "the handshake's error line: "+want, 10*time.Second, func() bool { return strings.Contains(r.log(), want) })
}
