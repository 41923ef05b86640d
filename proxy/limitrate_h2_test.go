//go:build linux

package proxy_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// Under TLS (HTTP/1.1) the rate counts the answer's bytes as nginx's
// SSL_write does, and holds as on a plain connection; over HTTP/2 it is
// each stream's own: two streams of one connection each take the time
// their own rate needs.
func TestLimitRateTLSAndHTTP2(t *testing.T) {
	const tmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl http2"]
      server_name: [localhost]
      ssl_certificate: {CERT}
      ssl_certificate_key: {KEY}
      access_log: {path: {ALOG}, format: '$request_uri $server_protocol $status $limit_rate'}
      locations:
        - path: /
          proxy_pass: http://{U0}
          limit_rate: 100k
`
	o := newRateOrigin(t)
	r := newH2Rig(t, tmpl, o.addr)
	t.Run("tls", func(t *testing.T) {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: r.ca.pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		body, took := rateGet(t, c, "/big?n=409600", 100<<10, 0)
		if len(body) != 409600 {
			t.Errorf("%d body bytes, want 409600", len(body))
		}
		atLeast(t, "400 KiB over TLS", took, 2*time.Second)
	})
	t.Run("h2", func(t *testing.T) {
		c := r.client()
		done := make(chan error, 2)
		for i := range 2 {
			go func() {
				start := time.Now()
				resp, err := c.Get(fmt.Sprintf("https://%s/big?n=307200&s=%d", r.addr, i))
				if err != nil {
					done <- err
					return
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				took := time.Since(start)
				switch {
				case err != nil:
					done <- err
				case resp.ProtoMajor != 2 || n != 307200:
					done <- fmt.Errorf("HTTP/%d, %d bytes", resp.ProtoMajor, n)
				case took < 1500*time.Millisecond:
					done <- fmt.Errorf("300 KiB at 100k took %v on its stream, want at least 1.5s", took)
				default:
					done <- nil
				}
			}()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	for _, want := range []string{"/big?n=409600 HTTP/1.1 200 102400", "/big?n=307200&s=0 HTTP/2.0 200 102400", "/big?n=307200&s=1 HTTP/2.0 200 102400"} {
		testutil.Eventually(t, "the access-log line "+want, 5*time.Second, func() bool {
			return strings.Contains(r.accessLog(), want)
		})
	}
}
