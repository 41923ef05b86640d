package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"spillway/proxy/client"
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
		ln, err := tls.Listen("tcp", "127.0.0.1:0", client.ServerTLSConfig(st))
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

// Two ssl_certificate pairs of one key type: the later replaces the
// earlier, as OpenSSL keeps one certificate per type (nginx-tests
// ssl_certificate_compression.t); other types stay, in their order.
func TestServerCertificatesOnePerKeyType(t *testing.T) {
	now := time.Now()
	pair := func(name string, rsaKey bool) config.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		var priv crypto.Signer
		var err error
		if rsaKey {
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		} else {
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		return config.Certificate{Pair: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}}
	}
	st := &config.ServerTLS{Certificates: []config.Certificate{pair("repl", true), pair("ec", false), pair("rsa", true)},
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	var got []string
	for _, c := range client.ServerTLSConfig(st).Certificates {
		got = append(got, c.Leaf.Subject.CommonName)
	}
	if strings.Join(got, " ") != "rsa ec" {
		t.Errorf("certificates %q, want [rsa ec]", got)
	}
}
