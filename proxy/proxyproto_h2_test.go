//lint:file-ignore SA1019 the client is x/net/http2's Transport on purpose: it speaks HTTP/2 over a connection the test opened with a PROXY protocol header, which net/http's client cannot send

package proxy_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// An HTTP/2 connection on an "ssl proxy_protocol" address: every stream
// has the connection's PROXY protocol header, for $proxy_protocol_addr and
// real_ip_header proxy_protocol (nginx-tests h2_ssl_proxy_protocol.t).
func TestProxyProtocolHTTP2(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl http2 proxy_protocol"]
      ssl_certificate: %s
      ssl_certificate_key: %s
      set_real_ip_from: [127.0.0.1]
      real_ip_header: proxy_protocol
      locations: [{path: /, return: "200 $remote_addr|$proxy_protocol_addr|$proxy_protocol_server_port|$server_protocol\n"}]
`, cf, kf))
	tr := &http2.Transport{DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, r.addr)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(c, "PROXY TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n"); err != nil {
			return nil, err
		}
		tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: ca.pool(), NextProtos: []string{"h2"}})
		return tc, tc.HandshakeContext(ctx)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 2 { // two streams on one connection
		resp, err := c.Get("https://localhost/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "192.0.2.1|192.0.2.1|5678|HTTP/2.0\n" {
			t.Errorf("got %q", b)
		}
	}
}
