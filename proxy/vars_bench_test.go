package proxy_test

import (
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// BenchmarkProxyLogged is BenchmarkProxy's 1k case with an access log in
// nginx's main format plus the upstream variables, and proxy_set_header
// values with variables: the cost of the variables on the hot path.
func BenchmarkProxyLogged(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1<<10)
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go func() { _ = origin.Serve(ln) }()
	defer origin.Shutdown()
	dir := b.TempDir()
	cfg, err := config.LoadBytes("bench.yaml", []byte(`
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
      servers: [{address: `+ln.Addr().String()+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log:
        path: `+filepath.Join(dir, "access.log")+`
        format: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"'
      locations:
        - path: /
          proxy_pass: http://origin
`))
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(io.Discard, config.LevelError, errorlog.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + p.Addrs()[0] + "/x?a=1")
		req.Header.Set("User-Agent", "bench/1")
		req.Header.Set("X-Forwarded-For", "10.0.0.1")
		for pb.Next() {
			err := c.Do(req, resp)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, resp.BodyStream())
				_ = resp.CloseBodyStream()
			}
			if err != nil || resp.StatusCode() != 200 || n != int64(len(body)) {
				b.Fatalf("%v %d %d", err, resp.StatusCode(), n)
			}
		}
	})
}
