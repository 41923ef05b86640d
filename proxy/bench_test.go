package proxy_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// BenchmarkProxy is the hot path: a GET through the proxy to a loopback
// origin over keepalive connections on both sides, with the default proxy
// buffers (8 4k). 1k is the small-body path (read inline); 64k and 1m go
// through a spool, with a temp file when the client falls behind. Origin and
// client are fasthttp (0 allocs/op themselves), so allocs/op is the proxy's.
func BenchmarkProxy(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 10<<20)
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.Path()[len("/size/"):]))
		ctx.SetBody(body[:n])
	})
	p := startBenchProxy(b, `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: `+b.TempDir()+`
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
`)
	// The client streams bodies into io.Discard so that allocs/op stays the
	// proxy's (a buffered client grows a body per request).
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 10 << 20} {
		b.Run(strconv.Itoa(size>>10)+"k", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			benchGets(b, c, "http://"+p.Addrs()[0]+"/size/"+strconv.Itoa(size), nil, int64(size))
		})
	}
}

// benchOrigin serves h on a loopback listener until b ends and returns its
// address.
func benchOrigin(b testing.TB, h fasthttp.RequestHandler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	origin := &fasthttp.Server{Handler: h}
	go func() { _ = origin.Serve(ln) }()
	b.Cleanup(func() { _ = origin.Shutdown() })
	return ln.Addr().String()
}

// startBenchProxy starts a proxy from yamlText with its error log discarded;
// it is closed when b ends.
func startBenchProxy(b testing.TB, yamlText string) *proxy.Proxy {
	b.Helper()
	cfg, err := config.LoadBytes("bench.yaml", []byte(yamlText))
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
	b.Cleanup(func() { _ = p.Close() })
	return p
}

// benchGets sends requests for url (GETs unless prep says otherwise) through c from b.RunParallel's goroutines,
// each request first passed to prep when it is not nil, and fails unless
// every answer is a 200 of want bytes. The body is streamed into io.Discard
// so that allocs/op stays the proxy's (a buffered client grows a body per
// request).
func benchGets(b *testing.B, c *fasthttp.HostClient, url string, prep func(*fasthttp.Request), want int64) {
	b.Helper()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(url)
		if prep != nil {
			prep(req)
		}
		for pb.Next() {
			err := c.Do(req, resp)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, resp.BodyStream())
				_ = resp.CloseBodyStream()
			}
			if err != nil || resp.StatusCode() != 200 || n != want {
				b.Fatalf("%v %d %d", err, resp.StatusCode(), n)
			}
		}
	})
}

// BenchmarkProxyPost is the request-body path, as the harness's echoN
// workloads: a POST of 1 KiB, 64 KiB or 1 MiB through the proxy to an origin
// that answers with the body's length. The body is buffered whole before the
// upstream is contacted (proxy_request_buffering on); with the defaults it
// stays in memory (client_body_memory_max 1m), and the "nginx_rule" runs
// (client_body_memory_max 0) take the temp file past client_body_buffer_size.
func BenchmarkProxyPost(b *testing.B) {
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(strconv.Itoa(len(ctx.PostBody())))
	})
	for _, rule := range []struct{ name, line string }{{"memory", ""}, {"nginx_rule", "client_body_memory_max: 0"}} {
		p := startBenchProxy(b, `
error_log: {path: stderr, level: error}
http:
  client_body_temp_path: `+b.TempDir()+`
  client_max_body_size: 2m
  `+rule.line+`
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
`)
		c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
		for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
			body := bytes.Repeat([]byte("x"), size)
			want := strconv.Itoa(size)
			b.Run(rule.name+"/"+strconv.Itoa(size>>10)+"k", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				benchGets(b, c, "http://"+p.Addrs()[0]+"/echo", func(req *fasthttp.Request) {
					req.Header.SetMethod(fasthttp.MethodPost)
					req.SetBodyRaw(body)
				}, int64(len(want)))
			})
		}
	}
}
