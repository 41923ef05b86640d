package proxy_test

//lint:file-ignore SA1019 x/net/http2's Transport speaks HTTP/2 by ALPN, as in http2_test.go

// Client certificates (ssl_verify_client) at the front, against what nginx
// 1.22.1 with OpenSSL 3.0 does with the same certificates (pages, log
// lines and variable values measured; see docs/tls.md). Certificates are
// made here; every socket is on 127.0.0.1.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/proxy/config"
)

// intermediate is a CA signed by ca (by itself when ca is nil) that may
// sign CRLs too.
func (ca *testCA) intermediate(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	parent, pkey := tmpl, any(key)
	if ca != nil {
		parent, pkey = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// clientCert is a client certificate for subject signed by ca (by itself
// when ca is nil); chain is appended to what the client sends.
func clientCert(t *testing.T, ca *testCA, subject pkix.Name, serialNo int64, notAfter time.Time, chain ...*testCA) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if notAfter.Before(start) {
		start = notAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialNo), Subject: subject,
		NotBefore: start.Add(-48 * time.Hour).Truncate(time.Second), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent, pkey := tmpl, any(key)
	if ca != nil {
		parent, pkey = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	for _, ch := range chain {
		c.Certificate = append(c.Certificate, ch.cert.Raw)
	}
	c.Leaf, _ = x509.ParseCertificate(der)
	return c
}

// mtlsGet does one request over a new TLS connection presenting cert (none
// when nil) and returns the response and its body.
func mtlsGet(t *testing.T, addr, sni, host string, cert *tls.Certificate) (*http.Response, string) {
	t.Helper()
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
	if cert != nil { // sent whatever CAs the server names, as curl and openssl do
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const mtlsVars = "200 $ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint|$ssl_client_v_start|$ssl_client_v_end|$ssl_client_v_remain|$ssl_client_escaped_cert"

func mtlsRig(t *testing.T, server string) (*rig, *testCA) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	caf := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  ssl_client_certificate: %s
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
%s      locations:
        - {path: /, return: %q}
`, cf, kf, caf, server, mtlsVars))
	return r, ca
}

// ssl_verify_client on: no certificate is nginx's 400 "No required SSL
// certificate was sent", a failing one 400 "The SSL certificate error",
// both with Connection: close and nginx's info lines; a good one gets the
// variables as nginx prints them.
func TestMTLSVerifyClientOn(t *testing.T) {
	r, ca := mtlsRig(t, "      ssl_verify_client: \"on\"\n")
	page := func(sub string) string {
		return "<html>\r\n<head><title>400 " + sub + "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>" + sub + "</center>\r\n<hr><center>spillway</center>\r\n</body>\r\n</html>\r\n"
	}

	resp, body := mtlsGet(t, r.addr, "", "localhost", nil)
	if resp.StatusCode != 400 || body != page("No required SSL certificate was sent") || !resp.Close {
		t.Errorf("no certificate: %d close=%v %q", resp.StatusCode, resp.Close, body)
	}

	end := time.Now().Add(10*24*time.Hour + time.Hour).Truncate(time.Second)
	good := clientCert(t, ca, pkix.Name{Country: []string{"US"}, Organization: []string{"Acme, Inc."}, CommonName: "client one"}, 0x1a2b, end)
	resp, body = mtlsGet(t, r.addr, "", "localhost", &good)
	fp := sha1.Sum(good.Certificate[0])
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Certificate[0]}))
	escaped := strings.NewReplacer(" ", "%20", "\n", "%0A", "+", "%2B", "/", "%2F", "=", "%3D").Replace(certPEM)
	want := strings.Join([]string{"SUCCESS", `CN=client one,O=Acme\, Inc.,C=US`, "CN=Test CA", "1A2B", hex.EncodeToString(fp[:]),
		good.Leaf.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT"), end.UTC().Format("Jan _2 15:04:05 2006 GMT"), "10", escaped}, "|")
	if resp.StatusCode != 200 || body != want {
		t.Errorf("good certificate: %d\n got %q\nwant %q", resp.StatusCode, body, want)
	}

	self := clientCert(t, nil, pkix.Name{CommonName: "self"}, 1, end)
	resp, body = mtlsGet(t, r.addr, "", "localhost", &self)
	if resp.StatusCode != 400 || body != page("The SSL certificate error") || !resp.Close {
		t.Errorf("self-signed: %d close=%v %q", resp.StatusCode, resp.Close, body)
	}
	other := clientCert(t, newTestCA(t, "Other CA"), pkix.Name{CommonName: "c2"}, 2, end)
	if resp, _ := mtlsGet(t, r.addr, "", "localhost", &other); resp.StatusCode != 400 {
		t.Errorf("unknown issuer: %d, want 400", resp.StatusCode)
	}
	expired := clientCert(t, ca, pkix.Name{CommonName: "old"}, 3, time.Now().Add(-time.Hour))
	if resp, _ := mtlsGet(t, r.addr, "", "localhost", &expired); resp.StatusCode != 400 {
		t.Errorf("expired: %d, want 400", resp.StatusCode)
	}
	log := r.log()
	for _, l := range []string{
		`[info] 4242#4242: *1 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET / HTTP/1.1", host: "localhost"`,
		`[info] 4242#4242: *3 client SSL certificate verify error: (18:self-signed certificate) while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET / HTTP/1.1", host: "localhost"`,
		`[info] 4242#4242: *4 client SSL certificate verify error: (21:unable to verify the first certificate) while reading client request headers`,
		`[info] 4242#4242: *5 client SSL certificate verify error: (10:certificate has expired) while reading client request headers`,
	} {
		if !strings.Contains(log, l) {
			t.Errorf("error log lacks\n%s\n--- log\n%s", l, log)
		}
	}
}

// optional lets a client without a certificate through (NONE) but not one
// whose certificate fails; optional_no_ca lets an unknown issuer through
// (FAILED:reason) but not an expired certificate.
func TestMTLSVerifyClientOptional(t *testing.T) {
	end := time.Now().Add(24 * time.Hour)
	for _, tc := range []struct {
		mode            string
		none, self, old int
		selfVerify      string
	}{
		{"optional", 200, 400, 400, ""},
		{"optional_no_ca", 200, 200, 400, "FAILED:self-signed certificate"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r, ca := mtlsRig(t, "      ssl_verify_client: "+tc.mode+"\n")
			resp, body := mtlsGet(t, r.addr, "", "localhost", nil)
			if resp.StatusCode != tc.none || !strings.HasPrefix(body, "NONE|") {
				t.Errorf("no certificate: %d %q", resp.StatusCode, body)
			}
			self := clientCert(t, nil, pkix.Name{CommonName: "self"}, 1, end)
			resp, body = mtlsGet(t, r.addr, "", "localhost", &self)
			if resp.StatusCode != tc.self || tc.selfVerify != "" && !strings.HasPrefix(body, tc.selfVerify+"|CN=self|CN=self|01|") {
				t.Errorf("self-signed: %d %q", resp.StatusCode, body)
			}
			old := clientCert(t, ca, pkix.Name{CommonName: "old"}, 3, time.Now().Add(-time.Hour))
			if resp, _ := mtlsGet(t, r.addr, "", "localhost", &old); resp.StatusCode != tc.old {
				t.Errorf("expired: %d, want %d", resp.StatusCode, tc.old)
			}
		})
	}
}

// ssl_verify_depth counts the certificates between the client's and the
// trusted one (nginx on OpenSSL 3: depth 1, the default, takes one
// intermediate that the client sends).
func TestMTLSVerifyDepth(t *testing.T) {
	end := time.Now().Add(24 * time.Hour)
	for _, tc := range []struct {
		depth  string
		status int
	}{
		{"", 200},
		{"      ssl_verify_depth: 0\n", 400},
		{"      ssl_verify_depth: 2\n", 200},
	} {
		r, ca := mtlsRig(t, "      ssl_verify_client: optional_no_ca\n"+tc.depth)
		mid := ca.intermediate(t, "Int CA")
		c := clientCert(t, mid, pkix.Name{CommonName: "c3"}, 3, end, mid)
		if resp, body := mtlsGet(t, r.addr, "", "localhost", &c); resp.StatusCode != tc.status || tc.status == 200 && !strings.HasPrefix(body, "SUCCESS|CN=c3|CN=Int CA|") {
			t.Errorf("depth %q: %d %q, want %d", tc.depth, resp.StatusCode, body, tc.status)
		}
		if tc.status == 400 && !strings.Contains(r.log(), "client SSL certificate verify error: (22:certificate chain too long)") {
			t.Errorf("depth %q: no verify error line\n%s", tc.depth, r.log())
		}
		alone := clientCert(t, mid, pkix.Name{CommonName: "c4"}, 4, end)
		if _, body := mtlsGet(t, r.addr, "", "localhost", &alone); !strings.HasPrefix(body, "FAILED:unable to verify the first certificate|") {
			t.Errorf("depth %q, intermediate not sent: %q", tc.depth, body)
		}
	}
}

// ssl_crl: a revoked certificate is "certificate revoked"; every
// certificate of the chain needs a CRL from its issuer (OpenSSL's
// CRL_CHECK_ALL, as nginx sets it), so a chain through an intermediate
// without one is "unable to get certificate CRL".
func TestMTLSCRL(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA") // a root that signs CRLs
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(7), RevocationTime: time.Now().Add(-time.Minute)}},
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
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
`, cf, kf, writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem),
		writeFile(t, filepath.Join(dir, "ca.crl"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})), mtlsVars))
	end := time.Now().Add(24 * time.Hour)
	mid := ca.intermediate(t, "Int CA")
	for _, tc := range []struct {
		cert   tls.Certificate
		status int
		line   string
	}{
		{clientCert(t, ca, pkix.Name{CommonName: "good"}, 6, end), 200, ""},
		{clientCert(t, ca, pkix.Name{CommonName: "revoked"}, 7, end), 400, "(23:certificate revoked)"},
		{clientCert(t, mid, pkix.Name{CommonName: "via int"}, 8, end, mid), 400, "(3:unable to get certificate CRL)"},
	} {
		resp, body := mtlsGet(t, r.addr, "", "localhost", &tc.cert)
		if resp.StatusCode != tc.status || tc.status == 200 && !strings.HasPrefix(body, "SUCCESS|") {
			t.Errorf("%s: %d %q, want %d", tc.cert.Leaf.Subject.CommonName, resp.StatusCode, body, tc.status)
		}
		if tc.line != "" && !strings.Contains(r.log(), "client SSL certificate verify error: "+tc.line+" while reading client request headers") {
			t.Errorf("%s: no %s line\n%s", tc.cert.Leaf.Subject.CommonName, tc.line, r.log())
		}
	}
}

// Per-server settings with SNI: the handshake takes the SNI server's
// settings, the request is checked by its Host's server, and a Host other
// than the SNI name reaching a server that verifies certificates is nginx's
// 421 (ngx_http_set_virtual_server).
func TestMTLSPerServerSNI(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	ac, ak := ca.leaf(t, "a.test").files(t, dir, "a")
	bc, bk := ca.leaf(t, "b.test").files(t, dir, "b")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [a.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, return: "200 A $ssl_client_verify"}]
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [b.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_verify_client: "on"
      ssl_client_certificate: %s
      locations: [{path: /, return: "200 B $ssl_client_verify"}]
`, ac, ak, bc, bk, writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)))
	good := clientCert(t, ca, pkix.Name{CommonName: "good"}, 9, time.Now().Add(24*time.Hour))
	for _, tc := range []struct {
		sni, host string
		cert      *tls.Certificate
		status    int
		body      string
	}{
		{"a.test", "a.test", &good, 200, "A NONE"}, // a.test asks for no certificate
		{"b.test", "b.test", &good, 200, "B SUCCESS"},
		{"b.test", "b.test", nil, 400, ""},
		{"b.test", "a.test", &good, 200, "A SUCCESS"}, // a.test verifies nothing: no 421
		{"a.test", "b.test", &good, 421, ""},
	} {
		resp, body := mtlsGet(t, r.addr, tc.sni, tc.host, tc.cert)
		if resp.StatusCode != tc.status || tc.body != "" && body != tc.body {
			t.Errorf("SNI %s, Host %s: %d %q, want %d %q", tc.sni, tc.host, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	// Measured with nginx 1.22.1: "server:" is the SNI name's server, and
	// the connection closes after the 421.
	if resp, _ := mtlsGet(t, r.addr, "a.test", "b.test", &good); !resp.Close {
		t.Error("421 without Connection: close")
	}
	if l := `[info] 4242#4242: *5 client attempted to request the server name different from the one that was negotiated while reading client request headers, client: 127.0.0.1, server: a.test, request: "GET / HTTP/1.1", host: "b.test"`; !strings.Contains(r.log(), l) {
		t.Errorf("no 421 line\n%s", r.log())
	}
}

// curl, an OpenSSL client, presents its certificate whatever CAs the
// server names, and gets the same answers.
func TestMTLSCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	r, ca := mtlsRig(t, "      ssl_verify_client: \"on\"\n")
	dir := t.TempDir()
	write := func(name string, c tls.Certificate) (string, string) {
		kder, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
			writeFile(t, filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	}
	end := time.Now().Add(24 * time.Hour)
	gc, gk := write("good", clientCert(t, ca, pkix.Name{CommonName: "curl client"}, 0x42, end))
	sc, sk := write("self", clientCert(t, nil, pkix.Name{CommonName: "self"}, 1, end))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cert", gc, "--key", gk}, "200 SUCCESS|CN=curl client|CN=Test CA|42|"},
		{[]string{"--cert", sc, "--key", sk}, "400 <html>\r\n<head><title>400 The SSL certificate error</title>"},
		{nil, "400 <html>\r\n<head><title>400 No required SSL certificate was sent</title>"},
	} {
		args := append([]string{"-sk", "-w", "%{http_code} ", "-o", filepath.Join(dir, "body"), "https://" + r.addr + "/"}, tc.args...)
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", tc.args, err)
		}
		body, _ := os.ReadFile(filepath.Join(dir, "body"))
		if got := string(out) + string(body); !strings.HasPrefix(got, tc.want) {
			t.Errorf("curl %v: %q, want %q...", tc.args, got, tc.want)
		}
	}
}

// The files and values of the client-certificate and stapling directives
// are checked at load time (spillway check), with nginx -t's messages
// (measured with nginx 1.22.1; the reason in parentheses is the system's
// where nginx quotes OpenSSL's).
func TestMTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "a")
	caFile := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := writeFile(t, filepath.Join(dir, "ca.crl"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}))
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct{ name, extra, want string }{
		{"ok", "ssl_verify_client: \"on\"\n      ssl_client_certificate: " + caFile + "\n      ssl_crl: " + crlFile + "\n      ssl_verify_depth: 3\n      ssl_stapling: on\n      ssl_trusted_certificate: " + caFile, ""},
		{"optional_no_ca needs no CA file", "ssl_verify_client: optional_no_ca", ""},
		{"on without CA file", "ssl_verify_client: \"on\"\n      ssl_trusted_certificate: " + caFile, `no ssl_client_certificate for ssl_verify_client (http.servers[0].ssl_verify_client) in proxy.yaml:6`},
		{"bad mode", "ssl_verify_client: maybe\n      ssl_client_certificate: " + caFile, `invalid value "maybe" in "ssl_verify_client"`},
		{"missing CA file", "ssl_verify_client: optional\n      ssl_client_certificate: " + missing, `SSL_CTX_load_verify_locations("` + missing + `") failed (2: No such file or directory) (http.servers[0].ssl_client_certificate) in proxy.yaml:7`},
		{"CA file not PEM", "ssl_trusted_certificate: " + kf + "\n      ssl_stapling: on", `SSL_CTX_load_verify_locations("` + kf + `") failed (no PEM "CERTIFICATE" block found)`},
		{"missing CRL", "ssl_verify_client: optional\n      ssl_client_certificate: " + caFile + "\n      ssl_crl: " + missing, `X509_LOOKUP_load_file("` + missing + `") failed (2: No such file or directory) (http.servers[0].ssl_crl) in proxy.yaml:8`},
		{"missing stapling file", "ssl_stapling: on\n      ssl_stapling_file: " + missing, `BIO_new_file("` + missing + `") failed (2: No such file or directory) (http.servers[0].ssl_stapling_file) in proxy.yaml:7`},
		{"stapling file not a response", "ssl_stapling: on\n      ssl_stapling_file: " + caFile, `d2i_OCSP_RESPONSE_bio("` + caFile + `") failed`},
		{"responder not http", "ssl_stapling: on\n      ssl_stapling_responder: https://ocsp.example/", `invalid URL prefix in "ssl_stapling_responder" "https://ocsp.example/"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadBytes("proxy.yaml", []byte(fmt.Sprintf(`http:
  servers:
    - listen: ["127.0.0.1:8443 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      %s
      locations: [{path: /, return: 204}]
`, cf, kf, tc.extra)))
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
}

// With an intermediate and its root both trusted, the chain still goes on
// to the root, as OpenSSL builds it: depth 0 refuses a certificate the
// intermediate signed (nginx-tests' ssl_verify_depth.t).
func TestMTLSVerifyDepthTrustedIntermediate(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "root")
	mid := ca.intermediate(t, "int")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	both := writeFile(t, filepath.Join(dir, "root-int.pem"), append(append([]byte{}, ca.pem...), mid.pem...))
	end := clientCert(t, mid, pkix.Name{CommonName: "end"}, 9, time.Now().Add(24*time.Hour))
	for _, tc := range []struct {
		depth  int
		status int
	}{{0, 400}, {1, 200}} {
		r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_verify_client: "on"
      ssl_client_certificate: %s
      ssl_verify_depth: %d
      locations: [{path: /, return: "200 $ssl_client_verify"}]
`, cf, kf, both, tc.depth))
		resp, body := mtlsGet(t, r.addr, "", "localhost", &end)
		if resp.StatusCode != tc.status || tc.status == 200 && body != "SUCCESS" {
			t.Errorf("depth %d: %d %q, want %d", tc.depth, resp.StatusCode, body, tc.status)
		}
		if tc.status == 400 && !strings.Contains(r.log(), "(22:certificate chain too long)") {
			t.Errorf("depth %d: no chain-too-long line:\n%s", tc.depth, r.log())
		}
	}
}

// A reload that changes ssl_client_certificate applies to the next
// handshake; a connection verified before it keeps its result, as in
// nginx (the verification is the handshake's).
func TestMTLSReloadSwapsCA(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := newTestCA(t, "CA one"), newTestCA(t, "CA two")
	cf, kf := ca1.leaf(t, "localhost").files(t, dir, "l")
	f1 := writeFile(t, filepath.Join(dir, "ca1.pem"), ca1.pem)
	f2 := writeFile(t, filepath.Join(dir, "ca2.pem"), ca2.pem)
	tmpl := `
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: ` + cf + `
      ssl_certificate_key: ` + kf + `
      ssl_verify_client: optional
      ssl_client_certificate: CAFILE
      locations: [{path: /, return: "200 $ssl_client_verify"}]
`
	r := newRig(t, "info", strings.Replace(tmpl, "CAFILE", f1, 1))
	one := clientCert(t, ca1, pkix.Name{CommonName: "one"}, 11, time.Now().Add(24*time.Hour))
	old, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &one, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if status, body := roundTrip(t, old, "/"); status != 200 || body != "SUCCESS" {
		t.Fatalf("before the reload: %d %q", status, body)
	}
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(strings.Replace(tmpl, "CAFILE", f2, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if status, body := roundTrip(t, old, "/"); status != 200 || body != "SUCCESS" {
		t.Errorf("the connection verified before the reload: %d %q", status, body)
	}
	if resp, _ := mtlsGet(t, r.addr, "", "localhost", &one); resp.StatusCode != 400 {
		t.Errorf("a new connection with CA one's certificate after the reload: %d, want 400", resp.StatusCode)
	}
	two := clientCert(t, ca2, pkix.Name{CommonName: "two"}, 12, time.Now().Add(24*time.Hour))
	if _, body := mtlsGet(t, r.addr, "", "localhost", &two); body != "SUCCESS" {
		t.Errorf("CA two's certificate after the reload: %q", body)
	}
}
