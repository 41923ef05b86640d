package client_test

import (
	"crypto/tls"
	"crypto/x509"
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
