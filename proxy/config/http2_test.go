package config

import (
	"strings"
	"testing"
	"time"
)

func TestHTTP2Listen(t *testing.T) {
	c := mustLoad(t, `
http:
  http2_max_concurrent_streams: 16
  servers:
    - listen: ["127.0.0.1:8080 http2", "127.0.0.1:8081"]
      http2_chunk_size: 4k
      http2_body_preread_size: 128k
      http2_recv_buffer_size: 1m
      http2_idle_timeout: 5s
      keepalive_timeout: 20s
      large_client_header_buffers: 2 4k
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9000"}]
    - listen: ["127.0.0.1:8082"]
      http2: on
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9000"}]
`)
	s0, s1 := c.Servers[0], c.Servers[1]
	if got := strings.Join(s0.Listen, " "); got != "127.0.0.1:8080 127.0.0.1:8081" {
		t.Errorf("listen = %q", got)
	}
	if got := strings.Join(s0.ListenHTTP2, " "); got != "127.0.0.1:8080" {
		t.Errorf(`"http2" parameter: ListenHTTP2 = %q, want the one address`, got)
	}
	if got := strings.Join(s1.ListenHTTP2, " "); got != "127.0.0.1:8082" {
		t.Errorf(`"http2: on": ListenHTTP2 = %q, want every address`, got)
	}
	want := HTTP2{MaxConcurrentStreams: 16, RecvBufferSize: 1 << 20, BodyPrereadSize: 128 << 10, ChunkSize: 4 << 10,
		IdleTimeout: 20 * time.Second, MaxHeaderBytes: 2 * 4 << 10}
	if s0.HTTP2 != want {
		t.Errorf("HTTP2 = %+v, want %+v (http2_idle_timeout is obsolete: keepalive_timeout)", s0.HTTP2, want)
	}
	if s1.HTTP2.MaxConcurrentStreams != 16 || s1.HTTP2.ChunkSize != 8<<10 {
		t.Errorf("inherited from http: %+v", s1.HTTP2)
	}
}

func TestHTTP2Refused(t *testing.T) {
	_, err := load(t, `
http:
  servers:
    - listen: ["127.0.0.1:8080 http2"]
      http2_max_concurrent_streams: 0
      http2_recv_buffer_size: 1k
      http2_chunk_size: 0
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9000"}]
`)
	var msgs []string
	for _, e := range allErrors(t, err) {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, w := range []string{`"http2_max_concurrent_streams" must be greater than 0`, `"http2_recv_buffer_size" value is too small`, `"http2_chunk_size" value is too small`} {
		if !strings.Contains(all, w) {
			t.Errorf("errors lack %q:\n%s", w, all)
		}
	}
}
