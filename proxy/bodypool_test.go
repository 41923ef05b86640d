package proxy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/testutil"
)

// Buffered request bodies are pooled: once a request is over its body
// serves another. Many concurrent POSTs of different sizes each log their
// own $request_length (the access log reads the body's size after the
// exchange, so the body must not be back in the pool by then), and the
// upstream gets each body byte for byte.
func TestRequestBodyPoolConcurrent(t *testing.T) {
	originAddr := benchOrigin(t, func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		b := ctx.PostBody()
		if len(b) != n || !bytes.Equal(b, bytes.Repeat([]byte{byte('a' + n%26)}, n)) {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
		}
	})
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	p := startBenchProxy(t, `
error_log: {path: stderr, level: error}
http:
  client_body_temp_path: `+dir+`
  client_max_body_size: 2m
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 16
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: `+logPath+`, format: '$arg_n $request_length $status'}
      locations:
        - path: /
          proxy_pass: http://origin
`)
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 16}
	sizes := []int{1, 1000, 5000, 20000, 70000, 300000}
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := 0; i < rounds; i++ {
				n := sizes[(w+i)%len(sizes)]
				req.SetRequestURI("http://" + p.Addrs()[0] + "/echo?n=" + strconv.Itoa(n))
				req.Header.SetMethod(fasthttp.MethodPost)
				req.SetBody(bytes.Repeat([]byte{byte('a' + n%26)}, n))
				if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					t.Errorf("POST of %d bytes: %v, status %d", n, err, resp.StatusCode())
					return
				}
			}
		}()
	}
	wg.Wait()
	var lines []string
	testutil.Eventually(t, "every request in the access log", 5*time.Second, func() bool {
		b, _ := os.ReadFile(logPath)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == workers*rounds
	})
	for _, l := range lines {
		f := strings.Fields(l)
		n, _ := strconv.Atoi(f[0])
		length, _ := strconv.Atoi(f[1])
		// The head is about 100 bytes: the body is what differs.
		if length < n || length > n+300 || f[2] != "200" {
			t.Fatalf("access line %q: $request_length is not its own body's %d bytes and a head", l, n)
		}
	}
}
