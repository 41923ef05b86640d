package proxy_test

import (
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkProxyLogged is BenchmarkProxy's 1k case with an access log in
// nginx's main format plus the upstream variables, and proxy_set_header
// values with variables: the cost of the variables on the hot path.
func BenchmarkProxyLogged(b *testing.B) {
	body := make([]byte, 1<<10)
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) })
	dir := b.TempDir()
	p := startBenchProxy(b, `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: `+dir+`
  proxy_http_version: "1.1"
  proxy_set_header:
    Host: $host
    Connection: ""
    X-Real-IP: $remote_addr
    X-Forwarded-For: $proxy_add_x_forwarded_for
    X-Forwarded-Proto: $scheme
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log:
        path: `+filepath.Join(dir, "access.log")+`
        format: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"'
      locations:
        - path: /
          proxy_pass: http://origin
`)
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	benchGets(b, c, "http://"+p.Addrs()[0]+"/x?a=1", func(req *fasthttp.Request) {
		req.Header.Set("User-Agent", "bench/1")
		req.Header.Set("X-Forwarded-For", "10.0.0.1")
	}, int64(len(body)))
}
