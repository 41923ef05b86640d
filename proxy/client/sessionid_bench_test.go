package client_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/internal/testcert"
)

// BenchmarkHandshake: what SessionConfig (the per-handshake clone behind
// $ssl_session_id, $ssl_ciphers, $ssl_curves) adds to a full TLS 1.3
// handshake with a ticket, in process over loopback TCP:
//
//	go test -run XXX -bench Handshake -benchmem ./proxy/client/
func BenchmarkHandshake(b *testing.B) {
	now := time.Now()
	cert, key := testcert.Make(b, "localhost", nil, nil, true, now.Add(-time.Hour), now.Add(time.Hour))
	pair := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	st := &config.ServerTLS{Certificates: []config.Certificate{{Pair: pair}}, MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS13, SessionTimeout: time.Hour, SessionTickets: true}
	base := client.ServerTLSConfig(st)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, c := range []struct {
		name string
		cfg  func(h *client.HandshakeConn) *tls.Config
	}{
		{"shared-config", func(*client.HandshakeConn) *tls.Config { return base }},
		{"session-config", func(h *client.HandshakeConn) *tls.Config {
			return &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				return h.SessionConfig(base, hello), nil
			}}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			b.ReportAllocs()
			for b.Loop() {
				cc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				sc, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				var h client.HandshakeConn
				srv := tls.Server(sc, c.cfg(&h))
				done := make(chan error, 1)
				go func() { done <- srv.Handshake() }()
				cl := tls.Client(cc, &tls.Config{ServerName: "localhost", RootCAs: roots})
				if err := cl.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				_ = cl.Close()
				_ = srv.Close()
			}
		})
	}
}
