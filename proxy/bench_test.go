package proxy_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// BenchmarkProxy1K is the hot path: a 1 KiB GET through the proxy to a
// loopback origin over keepalive connections on both sides. Origin and
// client are fasthttp (0 allocs/op themselves), so allocs/op is the proxy's.
func BenchmarkProxy1K(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go func() { _ = origin.Serve(ln) }()
	defer origin.Shutdown()

	cfg, err := config.LoadBytes("bench.yaml", []byte(`
error_log: {path: stderr, level: error}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+ln.Addr().String()+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
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
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64}
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + p.Addrs()[0] + "/size/1024")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
				b.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
			}
		}
	})
}
