package proxy_test

// OCSP stapling (ssl_stapling) with a test OCSP responder on 127.0.0.1:
// fetched when a handshake finds it due, stapled while valid, not
// stapled (and logged) when the responder says revoked or the signature is
// not the issuer's; ssl_stapling_file staples a file's response as it is.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"spillway/proxy/internal/testutil"
)

// ocspResponder answers OCSP GETs for certificates of ca with status,
// signed by signer (ca when nil).
type ocspResponder struct {
	*httptest.Server
	requests atomic.Int64
}

func newOCSPResponder(t *testing.T, ca, signer *testCA, status int) *ocspResponder {
	t.Helper()
	if signer == nil {
		signer = ca
	}
	o := &ocspResponder{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		raw, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/ocsp/"))
		if err != nil || r.Method != http.MethodGet {
			http.Error(w, "bad request", 400)
			return
		}
		der, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			http.Error(w, "bad base64", 400)
			return
		}
		req, err := ocsp.ParseRequest(der)
		if err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		resp, err := ocspResponse(ca, signer, req.SerialNumber, status)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	t.Cleanup(o.Close)
	return o
}

func ocspResponse(ca, signer *testCA, serialNo *big.Int, status int) ([]byte, error) {
	tmpl := ocsp.Response{Status: status, SerialNumber: serialNo,
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = time.Now().Add(-time.Hour)
	}
	return ocsp.CreateResponse(ca.cert, signer.cert, tmpl, signer.key)
}

// ocspLeaf is a server certificate for 127.0.0.1 signed by ca, naming
// responder in its Authority Information Access ("" = none); its file
// carries ca's certificate after it.
func ocspLeaf(t *testing.T, dir string, ca *testCA, responder string) (certFile, keyFile string, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if responder != "" {
		tmpl.OCSPServer = []string{responder}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	leaf, _ = x509.ParseCertificate(der)
	certFile = writeFile(t, filepath.Join(dir, "leaf.pem"), append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...))
	keyFile = writeFile(t, filepath.Join(dir, "leaf.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile, leaf
}

func staplingRig(t *testing.T, cf, kf, extra string) *rig {
	t.Helper()
	return newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      ssl_stapling: on
%s      locations: [{path: /, return: "200 ok"}]
`, cf, kf, extra))
}

// staple does one handshake and returns the stapled response (nil: none).
func staple(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().OCSPResponse
}

// The responder is asked when a handshake finds no response (that client
// gets none), once; later handshakes get the response, which is the
// responder's for this certificate.
func TestOCSPStaplingFetch(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA")
	o := newOCSPResponder(t, ca, nil, ocsp.Good)
	cf, kf, leaf := ocspLeaf(t, dir, ca, o.URL+"/ocsp/")
	r := staplingRig(t, cf, kf, "      ssl_stapling_verify: on\n")
	var got []byte
	testutil.Eventually(t, "a stapled response", 10*time.Second, func() bool {
		got = staple(t, r.addr)
		return got != nil
	})
	resp, err := ocsp.ParseResponseForCert(got, leaf, ca.cert)
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("stapled response: %v %+v", err, resp)
	}
	for range 3 {
		if staple(t, r.addr) == nil {
			t.Error("a handshake without the staple while it is valid")
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("%d requests to the responder, want 1 (refreshed within the hour, not per handshake)", n)
	}
	// OpenSSL's client sees it too.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(openssl, "s_client", "-connect", r.addr, "-status")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OCSP Response Status: successful") || !strings.Contains(string(out), "Cert Status: good") {
			t.Errorf("openssl s_client -status: %v\n%s", err, out)
		}
	}
}

// A revoked certificate's response, one (ssl_stapling_verify) signed by
// another key, and a responder that refuses the connection are logged with
// nginx's lines (measured with nginx 1.22.1 / OpenSSL 3) and nothing is
// stapled; ssl_stapling_responder names the responder for a certificate
// without one.
func TestOCSPStaplingRefused(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name, extra string
		lines       []string
		status      int
		otherSigner bool
		down        bool
	}{
		{"revoked", "", []string{`certificate status "revoked" in the OCSP response`}, ocsp.Revoked, false, false},
		{"bad signature", "      ssl_stapling_verify: on\n", []string{"OCSP_basic_verify() failed"}, ocsp.Good, true, false},
		{"refused", "", []string{"recv() failed (111: Connection refused)", "OCSP responder prematurely closed connection"}, ocsp.Good, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := (*testCA)(nil).intermediate(t, "Test CA")
			var signer *testCA
			if tc.otherSigner {
				signer = (*testCA)(nil).intermediate(t, "Other CA")
			}
			o := newOCSPResponder(t, ca, signer, tc.status)
			peer := o.Listener.Addr().String()
			if tc.down {
				peer = refused
			}
			cf, kf, _ := ocspLeaf(t, dir, ca, "")
			r := staplingRig(t, cf, kf, "      ssl_stapling_responder: http://"+peer+"/ocsp/\n"+tc.extra)
			while := ` while requesting certificate status, responder: 127.0.0.1, peer: ` + peer + `, certificate: "` + cf + `"`
			last := tc.lines[len(tc.lines)-1]
			testutil.Eventually(t, "the failed fetch's lines", 10*time.Second, func() bool {
				staple(t, r.addr)
				return strings.Contains(r.log(), last)
			})
			log := r.log()
			for _, l := range tc.lines {
				found := false
				for _, line := range strings.Split(log, "\n") {
					found = found || strings.Contains(line, "[error] 4242#4242: "+l) && strings.HasSuffix(line, while)
				}
				if !found {
					t.Errorf("no line %q ...%q:\n%s", l, while, log)
				}
			}
			if staple(t, r.addr) != nil {
				t.Error("stapled after a failed fetch")
			}
		})
	}
}

// ssl_stapling_file staples the file's response from the first handshake,
// asking no responder; a certificate without issuer or responder is
// logged at start, as nginx does, and served without a staple.
func TestOCSPStaplingFileAndWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA")
	cf, kf, leaf := ocspLeaf(t, dir, ca, "")
	der, err := ocspResponse(ca, ca, leaf.SerialNumber, ocsp.Good)
	if err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, filepath.Join(dir, "ocsp.der"), der)
	r := staplingRig(t, cf, kf, "      ssl_stapling_file: "+f+"\n")
	if got := staple(t, r.addr); string(got) != string(der) {
		t.Errorf("first handshake stapled %d bytes, want the file's %d", len(got), len(der))
	}

	r = staplingRig(t, cf, kf, "")
	if staple(t, r.addr) != nil {
		t.Error("stapled without a responder")
	}
	if want := `[warn] 4242#4242: "ssl_stapling" ignored, no OCSP responder URL in the certificate "` + cf + `"`; !strings.Contains(r.log(), want) {
		t.Errorf("log lacks %s\n%s", want, r.log())
	}
	alone := writeFile(t, filepath.Join(dir, "alone.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	r = staplingRig(t, alone, kf, "")
	if want := `[warn] 4242#4242: "ssl_stapling" ignored, issuer certificate not found for certificate "` + alone + `"`; !strings.Contains(r.log(), want) {
		t.Errorf("log lacks %s\n%s", want, r.log())
	}
}
