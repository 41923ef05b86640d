package proxy_test

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// ssl_password_file opens an encrypted ssl_certificate_key (PKCS#8, what
// "openssl genrsa -aes128" writes): its lines are tried in turn, and the
// directive is inherited from http (nginx-tests ssl_password_file.t). The
// handshake then presents the certificate.
func TestSSLPasswordFile(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	dir := t.TempDir()
	certFile, _, encKeyFile := grpcClientCert(t, ca, dir, "s3cret")
	many := writeFile(t, filepath.Join(dir, "many"), []byte("wrong\r\ns3cret\r\n"))
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_password_file: %s
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, return: "200 $scheme\n"}]
`, many, certFile, encKeyFile))
	c, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "spillway client" {
		t.Errorf("certificate %q, want the encrypted key's", cn)
	}
	if status, body := roundTrip(t, c, "/"); status != 200 || body != "https\n" {
		t.Errorf("%d %q, want 200 https", status, body)
	}
}

// An encrypted key that no password opens refuses the configuration, as
// nginx's start does: also in a server without an ssl address, whose
// certificates nginx loads too (and so reads its ssl_password_file, which
// may be a FIFO a secrets agent writes once).
func TestSSLPasswordFileErrors(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	dir := t.TempDir()
	certFile, _, encKeyFile := grpcClientCert(t, ca, dir, "s3cret")
	wrong := writeFile(t, filepath.Join(dir, "wrong"), []byte("nope\n"))
	empty := writeFile(t, filepath.Join(dir, "empty"), []byte("\n"))
	for _, c := range []struct{ listen, extra, want string }{
		{"127.0.0.1:0 ssl", "", `cannot load certificate key "` + encKeyFile + `": the key is encrypted and no ssl_password_file is set`},
		{"127.0.0.1:0 ssl", "ssl_password_file: " + wrong, `PEM_read_bio_PrivateKey() failed (bad decrypt`},
		{"127.0.0.1:0", "ssl_password_file: " + wrong, `PEM_read_bio_PrivateKey() failed (bad decrypt`},
		{"127.0.0.1:0 ssl", "ssl_password_file: " + empty, `empty file "` + empty + `"`},
		{"127.0.0.1:0 ssl", "ssl_password_file: " + dir + "/missing", `cannot open file "` + dir + `/missing" (2: No such file or directory)`},
	} {
		yaml := fmt.Sprintf("http:\n  servers:\n    - listen: [%q]\n      ssl_certificate: %s\n      ssl_certificate_key: %s\n", c.listen, certFile, encKeyFile)
		if c.extra != "" {
			yaml += "      " + c.extra + "\n"
		}
		yaml += "      locations: [{path: /, return: \"200\"}]\n"
		_, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: err %v, want %q", c.listen, c.extra, err, c.want)
		}
	}
}
