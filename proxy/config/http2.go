package config

import (
	"slices"
	"strings"
	"time"
)

// HTTP/2 to clients: nginx's ngx_http_v2_module directives at the http and
// server levels, and the "http2" parameter of listen.

// HTTP2 is a server block's HTTP/2 settings. An address speaks HTTP/2 when
// a server on it lists it in ListenHTTP2; the settings of the address's
// first server (nginx's default server) apply to its connections, as
// nginx takes them from the default server's configuration.
type HTTP2 struct {
	// MaxConcurrentStreams is http2_max_concurrent_streams (128): the
	// streams a client may have open on one connection
	// (SETTINGS_MAX_CONCURRENT_STREAMS).
	MaxConcurrentStreams int
	// RecvBufferSize is http2_recv_buffer_size (256k): how much request
	// body a connection may have in flight over all its streams (the
	// connection's flow-control window).
	RecvBufferSize int64
	// BodyPrereadSize is http2_body_preread_size (64k): how much of a
	// stream's request body the client may send before it is read
	// (SETTINGS_INITIAL_WINDOW_SIZE, as nginx sends it).
	BodyPrereadSize int64
	// ChunkSize is http2_chunk_size (8k): the largest DATA frame of a
	// response body.
	ChunkSize int64
	// IdleTimeout closes a connection without open streams, and is
	// keepalive_timeout: nginx 1.19.7 made http2_idle_timeout obsolete
	// (still accepted, without effect), as spillway does.
	IdleTimeout time.Duration
	// MaxHeaderBytes is the header list limit
	// (SETTINGS_MAX_HEADER_LIST_SIZE): large_client_header_buffers'
	// number × size, nginx's limit since 1.19.7.
	MaxHeaderBytes int
}

const (
	defaultHTTP2MaxConcurrentStreams = 128
	defaultHTTP2RecvBufferSize       = 256 << 10
	defaultHTTP2BodyPrereadSize      = 64 << 10
	defaultHTTP2ChunkSize            = 8 << 10
	// maxHTTP2Window is the largest flow-control window HTTP/2 allows
	// (RFC 9113 6.9.1).
	maxHTTP2Window = 1<<31 - 1
)

// http2Directives may be written in http and in a server; squashed into
// serverDirectives.
type http2Directives struct {
	HTTP2                     *opt[bool]          `mapstructure:"http2"`
	HTTP2MaxConcurrentStreams *opt[int]           `mapstructure:"http2_max_concurrent_streams"`
	HTTP2RecvBufferSize       *opt[size]          `mapstructure:"http2_recv_buffer_size"`
	HTTP2BodyPrereadSize      *opt[size]          `mapstructure:"http2_body_preread_size"`
	HTTP2ChunkSize            *opt[size]          `mapstructure:"http2_chunk_size"`
	HTTP2IdleTimeout          *opt[time.Duration] `mapstructure:"http2_idle_timeout"` // obsolete in nginx 1.19.7: no effect
}

func (d *http2Directives) inherit(p *http2Directives) {
	merge(&d.HTTP2, p.HTTP2)
	merge(&d.HTTP2MaxConcurrentStreams, p.HTTP2MaxConcurrentStreams)
	merge(&d.HTTP2RecvBufferSize, p.HTTP2RecvBufferSize)
	merge(&d.HTTP2BodyPrereadSize, p.HTTP2BodyPrereadSize)
	merge(&d.HTTP2ChunkSize, p.HTTP2ChunkSize)
	merge(&d.HTTP2IdleTimeout, p.HTTP2IdleTimeout)
}

// check reports values nginx refuses, in its words.
func (d *http2Directives) check(p *problems) {
	if o := d.HTTP2MaxConcurrentStreams; o.set() && o.v <= 0 {
		p.add(o.at(), `"http2_max_concurrent_streams" must be greater than 0`)
	}
	if o := d.HTTP2RecvBufferSize; o.set() && o.v < 2*16<<10 {
		// nginx: "value is too small" below 2 × its 16k state buffer.
		p.add(o.at(), `"http2_recv_buffer_size" value is too small: at least 32k`)
	}
	if o := d.HTTP2BodyPrereadSize; o.set() && (o.v < 0 || o.v > maxHTTP2Window) {
		p.add(o.at(), `"http2_body_preread_size" value is too large: at most 2147483647`)
	}
	if o := d.HTTP2ChunkSize; o.set() && o.v <= 0 {
		p.add(o.at(), `"http2_chunk_size" value is too small: the chunk size must be greater than 0`)
	}
}

// resolve fills srv.HTTP2 from the directives in effect for the server.
func (d *http2Directives) resolve(srv *Server) HTTP2 {
	lb := srv.LargeClientHeaderBuffers
	return HTTP2{
		MaxConcurrentStreams: d.HTTP2MaxConcurrentStreams.or(defaultHTTP2MaxConcurrentStreams),
		RecvBufferSize:       d.HTTP2RecvBufferSize.or(defaultHTTP2RecvBufferSize),
		BodyPrereadSize:      d.HTTP2BodyPrereadSize.or(defaultHTTP2BodyPrereadSize),
		ChunkSize:            d.HTTP2ChunkSize.or(defaultHTTP2ChunkSize),
		IdleTimeout:          srv.Keepalive.Timeout,
		MaxHeaderBytes:       lb.N * int(lb.Size),
	}
}

// cutListenHTTP2 takes the "http2" parameter off a listen entry
// ("443 ssl http2").
func cutListenHTTP2(a string) (string, bool) {
	f := strings.Fields(a)
	if len(f) < 2 || !slices.Contains(f[1:], "http2") {
		return a, false
	}
	return strings.Join(slices.DeleteFunc(f, func(w string) bool { return w == "http2" }), " "), true
}
