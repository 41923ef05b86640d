package proxy_test

// TLS at the front and to upstreams (issue 9), against what nginx 1.22.1
// with OpenSSL 3.0 does (lines measured; see docs/tls.md). Certificates are
// made here (ECDSA P-256); every socket is on 127.0.0.1.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/internal/testutil"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial atomic.Int64

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// leaf is a server certificate for names (and 127.0.0.1) signed by ca.
type leaf struct {
	certPEM, keyPEM []byte
	pair            tls.Certificate
}

func (ca *testCA) leaf(t testing.TB, names ...string) *leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := &leaf{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
	if l.pair, err = tls.X509KeyPair(l.certPEM, l.keyPEM); err != nil {
		t.Fatal(err)
	}
	return l
}

// files writes the leaf's certificate and key into dir as NAME.pem and
// NAME.key and returns their paths.
func (l *leaf) files(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(c, l.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, l.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, k
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// plainOrigin answers every request with its name and the path.
func plainOrigin(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// tlsOrigin is an HTTPS upstream presenting cert; it records whether each
// request's TLS session was resumed.
type tlsOrigin struct {
	*httptest.Server
	resumed, fresh atomic.Int64
}

func newTLSOrigin(t *testing.T, name string, cert tls.Certificate) *tlsOrigin {
	t.Helper()
	o := &tlsOrigin{}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.DidResume {
			o.resumed.Add(1)
		} else {
			o.fresh.Add(1)
		}
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

func (o *tlsOrigin) addr() string { return o.Listener.Addr().String() }

// httpsGet does one GET over a new TLS connection and returns the status,
// the body and the certificate the proxy presented.
func httpsGet(t *testing.T, addr, sni string, roots *x509.CertPool, path string) (int, string, *x509.Certificate) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS handshake with %s (SNI %q): %v", addr, sni, err)
	}
	defer c.Close()
	status, body := roundTrip(t, c, path)
	return status, body, c.ConnectionState().PeerCertificates[0]
}

func roundTrip(t *testing.T, c net.Conn, path string) (int, string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Two server blocks on one ssl address: each SNI name gets its server's
// certificate and its server's locations; no SNI gets the default (first)
// server, as in nginx.
func TestTLSFrontSNI(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	ac, ak := ca.leaf(t, "a.test").files(t, dir, "a")
	bc, bk := ca.leaf(t, "b.test").files(t, dir, "b")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [a.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, proxy_pass: "http://{U0}"}]
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [b.test]
      ssl_certificate: [%s]
      ssl_certificate_key: [%s]
      locations: [{path: /, proxy_pass: "http://{U1}"}]
`, ac, ak, bc, bk), plainOrigin(t, "A"), plainOrigin(t, "B"))

	for _, tc := range []struct{ sni, cn, body string }{
		{"a.test", "a.test", "A /x"},
		{"b.test", "b.test", "A /x"}, // the Host header (localhost) routes the request: the default server
		{"", "a.test", "A /x"},
	} {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.pool(), InsecureSkipVerify: tc.sni == ""})
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != tc.cn {
			t.Errorf("SNI %q: certificate %q, want %q", tc.sni, got, tc.cn)
		}
		status, body := roundTrip(t, c, "/x")
		if status != 200 || body != tc.body {
			t.Errorf("SNI %q: %d %q, want 200 %q", tc.sni, status, body, tc.body)
		}
		c.Close()
	}
	// With a matching Host the request goes to b.test's locations.
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "b.test", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /y HTTP/1.1\r\nHost: b.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "B /y" {
		t.Errorf("b.test: %d %q, want 200 \"B /y\"", resp.StatusCode, b)
	}
}

// "ssl" belongs to the address, as in nginx: a server listening there
// without it is served over TLS too, with its own certificate when the
// client names it (SNI), else with the default server's (nginx keeps the
// default's SSL context; of its own ssl_* only the request-level check of
// ssl_verify_client applies); the request is still routed by Host. The default server of an ssl
// address needs a certificate (nginx -t).
func TestTLSAddressSharedWithoutSSL(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	ac, ak := ca.leaf(t, "a.test").files(t, dir, "a")
	bc, bk := ca.leaf(t, "b.test").files(t, dir, "b")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [a.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, proxy_pass: "http://{U0}"}]
    - listen: ["127.0.0.1:0"]
      server_name: [b.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, proxy_pass: "http://{U1}"}]
    - listen: ["127.0.0.1:0"]
      server_name: [c.test]
      ssl_verify_client: on # without a certificate: no CA needed, the request-level check only (nginx)
      locations: [{path: /, proxy_pass: "http://{U2}"}]
`, ac, ak, bc, bk), plainOrigin(t, "A"), plainOrigin(t, "B"), plainOrigin(t, "C"))

	for _, tc := range []struct{ sni, cn, body string }{
		{"b.test", "b.test", "B /x"},
		{"c.test", "a.test", ""}, // no certificate of its own: the default server's handshake, then its own ssl_verify_client
		{"a.test", "a.test", "A /x"},
	} {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: tc.sni, RootCAs: ca.pool(), InsecureSkipVerify: tc.sni == "c.test"})
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != tc.cn {
			t.Errorf("SNI %q: certificate %q, want %q", tc.sni, got, tc.cn)
		}
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.sni)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		b, _ := io.ReadAll(resp.Body)
		switch {
		case tc.body == "" && (resp.StatusCode != 400 || !strings.Contains(string(b), "No required SSL certificate was sent")):
			t.Errorf("SNI %q: %d %q, want nginx's 400 No required SSL certificate was sent", tc.sni, resp.StatusCode, b)
		case tc.body != "" && (resp.StatusCode != 200 || string(b) != tc.body):
			t.Errorf("SNI %q: %d %q, want 200 %q", tc.sni, resp.StatusCode, b, tc.body)
		}
		c.Close()
	}

	// The default server without a certificate is nginx's error, at its
	// listen; another server's certificate does not stand in for it.
	_, err := config.LoadBytes("proxy.yaml", []byte(fmt.Sprintf(`http:
  servers:
    - listen: ["127.0.0.1:8443"]
      locations: [{path: /, proxy_pass: "http://127.0.0.1:1"}]
    - listen: ["127.0.0.1:8443 ssl"]
      server_name: [b.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, proxy_pass: "http://127.0.0.1:1"}]
`, bc, bk)))
	if want := `no "ssl_certificate" is defined for the "listen ... ssl" directive (http.servers[0].listen)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("default server without a certificate: %v, want %s", err, want)
	}
}

// A plain-HTTP request on an ssl address: nginx answers 400 "The plain HTTP
// request was sent to HTTPS port", closes, and logs at info (measured).
func TestTLSPlainHTTPToTLSPort(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf), plainOrigin(t, "A"))
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /good HTTP/1.1\r\nHost: 127.0.0.1:18443\r\n\r\n")
	raw, err := io.ReadAll(c) // the proxy closes after the answer
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	wantBody := "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>spillway</center>\r\n</body>\r\n</html>\r\n"
	if resp.StatusCode != 400 || string(body) != wantBody || !resp.Close {
		t.Errorf("got %d close=%v %q", resp.StatusCode, resp.Close, body)
	}
	wantLog(t, r, `[info] 4242#4242: *1 client sent plain HTTP request to HTTPS port while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /good HTTP/1.1", host: "127.0.0.1:18443"`)
}

// Client handshakes that fail get nginx's info lines (measured with
// nginx 1.22.1 / OpenSSL 3.0), with the listen address as "server:".
func TestTLSClientHandshakeFailures(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_header_timeout: 1s
  ssl_certificate: %s
  ssl_certificate_key: %s
  ssl_protocols: TLSv1.2 TLSv1.3
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf), plainOrigin(t, "A"))

	lines := 0
	expect := func(t *testing.T, line string) {
		t.Helper()
		lines++
		want := "YYYY/MM/DD HH:MM:SS " + line
		testutil.Eventually(t, "the log line", 5*time.Second, func() bool { return strings.Count(r.log(), "\n") >= lines })
		got := strings.Split(r.log(), "\n")[lines-1]
		if got != want {
			t.Errorf("log line\n got: %s\nwant: %s", got, want)
		}
	}
	// The client does not trust the certificate: Go's client sends
	// bad_certificate (curl: unknown_ca).
	if _, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()}); err == nil {
		t.Fatal("handshake succeeded with an untrusted certificate")
	}
	expect(t, "[info] 4242#4242: *1 SSL_do_handshake() failed (SSL: error:0A000412:SSL routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, client: 127.0.0.1, server: PROXY")

	// TLS 1.1 only, below ssl_protocols.
	if _, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	expect(t, "[info] 4242#4242: *2 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.1, server: PROXY")

	// A TLS record header, then FIN; then one that never completes (timeout).
	c, _ := net.Dial("tcp", r.addr)
	c.Write([]byte("\x16\x03\x01\x00\x50abc"))
	c.(*net.TCPConn).CloseWrite()
	expect(t, "[info] 4242#4242: *3 peer closed connection in SSL handshake while SSL handshaking, client: 127.0.0.1, server: PROXY")
	c.Close()
	c, _ = net.Dial("tcp", r.addr)
	c.Close()
	expect(t, "[info] 4242#4242: *4 client closed connection while SSL handshaking, client: 127.0.0.1, server: PROXY")
	c, _ = net.Dial("tcp", r.addr)
	defer c.Close()
	c.Write([]byte("\x16\x03\x01\x00\x50abc"))
	expect(t, "[info] 4242#4242: *5 client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1, server: PROXY")

	// curl (OpenSSL) rejecting the certificate in TLS 1.3 sends its alert
	// in plaintext: nginx reads it as unknown_ca (measured).
	raw, _ := net.Dial("tcp", r.addr)
	defer raw.Close()
	pc := &plaintextAlerter{Conn: raw}
	if err := tls.Client(pc, &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS13,
		InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error {
			pc.rejected.Store(true)
			return errors.New("rejected")
		}}).Handshake(); err == nil {
		t.Fatal("the handshake succeeded")
	}
	expect(t, "[info] 4242#4242: *6 SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking, client: 127.0.0.1, server: PROXY")
}

// plaintextAlerter replaces the alert a Go client sends when it rejects
// the server (encrypted) with the plaintext unknown_ca alert OpenSSL's
// clients send in TLS 1.3.
type plaintextAlerter struct {
	net.Conn
	rejected atomic.Bool
}

func (p *plaintextAlerter) Write(b []byte) (int, error) {
	if p.rejected.Load() {
		if _, err := p.Conn.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x30}); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return p.Conn.Write(b)
}

// proxy_ssl_verify: a good CA gives 200 and resumes sessions; an unknown
// one gives 502 with nginx's line; in a group the failure counts as
// "error", so the request goes on to the next server.
func TestTLSUpstreamVerify(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "Test CA"), newTestCA(t, "Other CA")
	good := newTLSOrigin(t, "good", ca.leaf(t, "localhost").pair)
	bad := newTLSOrigin(t, "bad", other.leaf(t, "localhost").pair)
	caFile := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	otherFile := writeFile(t, filepath.Join(dir, "other.pem"), other.pem)
	r := newRig(t, "warn", fmt.Sprintf(`
error_log: {path: stderr, level: warn}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_ssl_verify: on
  proxy_ssl_trusted_certificate: %s
  proxy_ssl_name: localhost
  upstreams:
    two:
      servers: [{address: "{U1}"}, {address: "{U0}"}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /good, proxy_pass: "https://{U0}"}
        - {path: /untrusted, proxy_pass: "https://{U0}", proxy_ssl_trusted_certificate: %s}
        - {path: /name, proxy_pass: "https://{U0}", proxy_ssl_name: wrong.test}
        - {path: /two, proxy_pass: "https://two"}
        - {path: /off, proxy_pass: "https://{U1}", proxy_ssl_verify: off}
`, caFile, otherFile), good.addr(), bad.addr())

	for i := 0; i < 2; i++ {
		if status, body := r.do("GET", "/good", nil); status != 200 || string(body) != "good /good" {
			t.Fatalf("/good: %d %q", status, body)
		}
	}
	if good.fresh.Load() != 1 || good.resumed.Load() != 1 {
		t.Errorf("sessions: %d full, %d resumed handshakes; want 1 and 1 (proxy_ssl_session_reuse on)", good.fresh.Load(), good.resumed.Load())
	}
	if status, _ := r.do("GET", "/untrusted", nil); status != 502 {
		t.Errorf("/untrusted: %d, want 502", status)
	}
	if status, _ := r.do("GET", "/name", nil); status != 502 {
		t.Errorf("/name: %d, want 502", status)
	}
	if status, body := r.do("GET", "/two", nil); status != 200 || string(body) != "good /two" {
		t.Errorf("/two: %d %q, want 200 from the second server", status, body)
	}
	if status, body := r.do("GET", "/off", nil); status != 200 || string(body) != "bad /off" {
		t.Errorf("/off: %d %q, want 200 without verification", status, body)
	}
	wantLog(t, r,
		`[error] 4242#4242: *5 upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: "GET /untrusted HTTP/1.1", upstream: "https://U0/untrusted", host: "PROXY"`,
		`[error] 4242#4242: *7 upstream SSL certificate does not match "wrong.test" while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: "GET /name HTTP/1.1", upstream: "https://U0/name", host: "PROXY"`,
		`[error] 4242#4242: *9 upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: "GET /two HTTP/1.1", upstream: "https://U1/two", host: "PROXY"`,
		`[warn] 4242#4242: *9 upstream server temporarily disabled while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: "GET /two HTTP/1.1", upstream: "https://U1/two", host: "PROXY"`,
	)
}

// A plain-HTTP server behind proxy_pass https://: nginx's "wrong version
// number" line (measured), 502.
func TestTLSUpstreamNotTLS(t *testing.T) {
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "https://{U0}"}]
`, plainOrigin(t, "plain"))
	if status, _ := r.do("GET", "/plainup", nil); status != 502 {
		t.Errorf("status %d, want 502", status)
	}
	wantLog(t, r, `[error] 4242#4242: *1 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 127.0.0.1, server: localhost, request: "GET /plainup HTTP/1.1", upstream: "https://U0/plainup", host: "PROXY"`)
}

// Upstream keepalive over TLS: the connection is reused, and one the
// upstream closed while idle is found by the probe (the upstream sends
// close_notify before its FIN) instead of failing a POST.
func TestTLSUpstreamKeepalive(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	o := newTLSOrigin(t, "o", ca.leaf(t, "localhost").pair)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app:
      keepalive: 4
      servers: [{address: "{U0}"}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations: [{path: /, proxy_pass: "https://app"}]
`, o.addr())
	for i := 0; i < 3; i++ {
		if status, body := r.do("GET", "/k", nil); status != 200 || string(body) != "o /k" {
			t.Fatalf("GET: %d %q", status, body)
		}
	}
	if n := o.fresh.Load() + o.resumed.Load(); n != 3 {
		t.Fatalf("%d requests reached the upstream", n)
	}
	_, _, _, reused := r.p.StaleStats()
	if reused != 2 {
		t.Errorf("reused %d connections, want 2 (one TLS connection for three requests)", reused)
	}
	o.CloseClientConnections() // the idle pooled connection: close_notify, FIN
	if status, body := r.do("POST", "/p", []byte("x")); status != 200 || string(body) != "o /p" {
		t.Errorf("POST after the upstream closed the idle connection: %d %q", status, body)
	}
	fin, rst, _, _ := r.p.StaleStats()
	if fin != 1 || rst != 0 {
		t.Errorf("probe found fin=%d rst=%d, want the closed connection (fin=1)", fin, rst)
	}
	if l := r.log(); l != "" {
		t.Errorf("error log: %s", l)
	}
}

// A reload that swaps the certificate: a request in flight on a connection
// that shook hands with the old certificate finishes on it, and a new
// handshake gets the new certificate; no connection is dropped.
func TestTLSReloadSwapsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	c1, k1 := ca.leaf(t, "localhost", "old.test").files(t, dir, "old")
	c2, k2 := ca.leaf(t, "localhost", "new.test").files(t, dir, "new")
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	tmpl := `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_certificate: CERT
      ssl_certificate_key: KEY
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`
	r := newRig(t, "error", strings.NewReplacer("CERT", c1, "KEY", k1).Replace(tmpl), slow.Listener.Addr().String())

	old, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if status, body := roundTrip(t, old, "/first"); status != 200 || body != "ok /first" {
		t.Fatalf("first request: %d %q", status, body)
	}
	fmt.Fprintf(old, "GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
	<-arrived

	yaml := strings.NewReplacer("CERT", c2, "KEY", k2, "{U0}", slow.Listener.Addr().String(), "{TMP}", t.TempDir()).Replace(tmpl)
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	status, body, cert := httpsGet(t, r.addr, "localhost", ca.pool(), "/after")
	if status != 200 || body != "ok /after" || !strings.Contains(strings.Join(cert.DNSNames, " "), "new.test") {
		t.Errorf("new connection after the reload: %d %q, certificate %v; want the new one", status, body, cert.DNSNames)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(old), nil)
	if err != nil {
		t.Fatalf("the request in flight on the old connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok /slow" {
		t.Errorf("old connection: %d %q", resp.StatusCode, b)
	}
	if got := old.ConnectionState().PeerCertificates[0].DNSNames; !strings.Contains(strings.Join(got, " "), "old.test") {
		t.Errorf("old connection's certificate %v", got)
	}
	if l := r.log(); l != "" {
		t.Errorf("error log: %s", l)
	}
}

// `spillway check` (config.Load) names the key, the line and the file for
// an unreadable or mismatched certificate or key.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "a")
	_, otherKey := ca.leaf(t, "localhost").files(t, dir, "b")
	missing := filepath.Join(dir, "missing.pem")
	notPEM := writeFile(t, filepath.Join(dir, "junk.pem"), []byte("junk\n"))
	caFile := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	tmpl := `http:
  upstreams:
    app:
      servers: [{address: 127.0.0.1:9001}]
  servers:
    - listen: ["127.0.0.1:8443 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations:
        - path: /
          proxy_pass: https://app
          proxy_ssl_trusted_certificate: %s
`
	for _, tc := range []struct{ name, cert, key, ca, want string }{
		{"ok", cf, kf, caFile, ""},
		{"missing certificate", missing, kf, caFile, `cannot load certificate "` + missing + `": (2: No such file or directory) (http.servers[0].ssl_certificate) in proxy.yaml:7`},
		{"not PEM", notPEM, kf, caFile, `cannot load certificate "` + notPEM + `": no PEM "CERTIFICATE" block found (http.servers[0].ssl_certificate) in proxy.yaml:7`},
		{"missing key", cf, missing, caFile, `cannot load certificate key "` + missing + `": (2: No such file or directory) (http.servers[0].ssl_certificate_key) in proxy.yaml:8`},
		{"mismatched key", cf, otherKey, caFile, `SSL_CTX_use_PrivateKey("` + otherKey + `") failed (key values mismatch: the key is not the one of certificate "` + cf + `") (http.servers[0].ssl_certificate_key) in proxy.yaml:8`},
		{"missing CA", cf, kf, missing, `SSL_CTX_load_verify_locations(..., "` + missing + `") failed (2: No such file or directory) (http.servers[0].locations[0].proxy_ssl_trusted_certificate) in proxy.yaml:12`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadBytes("proxy.yaml", []byte(fmt.Sprintf(tmpl, tc.cert, tc.key, tc.ca)))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error; want %s", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
	// listen ... ssl without a certificate, as nginx -t.
	_, err := config.LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: [\"127.0.0.1:8443 ssl\"]\n      locations: [{path: /, proxy_pass: \"http://127.0.0.1:1\"}]\n"))
	if err == nil || !strings.Contains(err.Error(), `no "ssl_certificate" is defined for the "listen ... ssl" directive`) {
		t.Errorf("listen ssl without a certificate: %v", err)
	}
}

// Session tickets resume sessions (ssl_session_tickets, default on); off,
// every connection makes a full handshake.
func TestTLSSessionTickets(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	origin := plainOrigin(t, "A")
	for _, tc := range []struct {
		tickets string
		resumed bool
	}{{"on", true}, {"off", false}} {
		r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_session_tickets: %s
      ssl_session_timeout: 10m
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, cf, kf, tc.tickets), origin)
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			resumed := resumptions(t, r.addr, ca, v)
			if resumed[0] || resumed[1] != tc.resumed {
				t.Errorf("ssl_session_tickets %s, TLS %x: resumed %v, want [false %v]", tc.tickets, v, resumed, tc.resumed)
			}
		}
	}
}

// resumptions connects twice to addr with TLS version v and one client
// session cache, sending a request on each connection (TLS 1.3 tickets
// come after the handshake: a request reads them), and reports whether
// each handshake resumed a session.
func resumptions(t *testing.T, addr string, ca *testCA, v uint16) []bool {
	t.Helper()
	cfg := &tls.Config{ServerName: "localhost", RootCAs: ca.pool(), ClientSessionCache: tls.NewLRUClientSessionCache(1), MinVersion: v, MaxVersion: v}
	var resumed []bool
	for i := 0; i < 2; i++ {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := roundTrip(t, c, "/"); status != 200 {
			t.Fatalf("status %d", status)
		}
		resumed = append(resumed, c.ConnectionState().DidResume)
		c.Close()
	}
	return resumed
}
