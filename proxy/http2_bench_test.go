//lint:file-ignore SA1019 the benchmark's client is x/net/http2's Transport on purpose: net/http's would negotiate and pool on its own

package proxy_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// BenchmarkHTTP2Proxy is the HTTP/2 path (issue 21's h2load line): GETs of
// 1 KiB and 64 KiB over one TLS h2 connection ("listen ... ssl http2"),
// many streams at once as h2load -m does, through the proxy to a loopback
// origin over keepalive HTTP/1.1, access log off. Each stream runs through
// http2.go's adapter (request head, RequestCtx, response head and body to
// the stream). allocs/op counts the client's too (x/net's Transport, about
// 40 per request); bench/harness/h2load.sh measures the proxy process
// alone against nginx.
func BenchmarkHTTP2Proxy(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 64<<10)
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.Path()[len("/size/"):]))
		ctx.SetBody(body[:n])
	})
	dir := b.TempDir()
	ca := newTestCA(b, "Bench CA")
	cf, kf := ca.leaf(b, "localhost").files(b, dir, "l")
	p := startBenchProxy(b, strings.NewReplacer("{CERT}", cf, "{KEY}", kf).Replace(`
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: `+dir+`
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0 ssl http2"]
      ssl_certificate: {CERT}
      ssl_certificate_key: {KEY}
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
`))
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"}}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size>>10)+"k", func(b *testing.B) {
			url := "https://" + p.Addrs()[0] + "/size/" + strconv.Itoa(size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.SetParallelism(8) // streams in flight per GOMAXPROCS, as h2load -m
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || n != int64(size) || resp.ProtoMajor != 2 {
						b.Fatalf("%v %d %d HTTP/%d", err, resp.StatusCode, n, resp.ProtoMajor)
					}
				}
			})
		})
	}
}
