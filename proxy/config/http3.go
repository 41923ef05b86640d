package config

import (
	"slices"
	"strings"
	"time"
)

// HTTP/3 to clients: nginx 1.25's ngx_http_v3_module directives at the
// http and server levels, and the "quic" parameter of listen
// ("443 quic reuseport", a UDP socket beside the TCP "443 ssl").

// HTTP3 is a server block's HTTP/3 settings; as for HTTP/2, the first
// server of a QUIC address (its default server) sets them for the address.
type HTTP3 struct {
	// MaxConcurrentStreams is http3_max_concurrent_streams (128): the
	// request streams a client may have open on one connection.
	MaxConcurrentStreams int
	// StreamBufferSize is http3_stream_buffer_size (64k): a stream's
	// receive window.
	StreamBufferSize int64
	// Retry is quic_retry (off): a Retry packet validates the client's
	// address before any handshake state is kept.
	Retry bool
	// EarlyData is ssl_early_data (off): 0-RTT requests are accepted only
	// when on (they can be replayed).
	EarlyData bool
	// IdleTimeout is keepalive_timeout, as for HTTP/2.
	IdleTimeout time.Duration
	// MaxHeaderBytes is large_client_header_buffers' number × size.
	MaxHeaderBytes int
}

const (
	defaultHTTP3MaxConcurrentStreams = 128
	defaultHTTP3StreamBufferSize     = 64 << 10
)

// http3Directives may be written in http and in a server.
type http3Directives struct {
	HTTP3                     *opt[bool] `mapstructure:"http3"`
	HTTP3MaxConcurrentStreams *opt[int]  `mapstructure:"http3_max_concurrent_streams"`
	HTTP3StreamBufferSize     *opt[size] `mapstructure:"http3_stream_buffer_size"`
	QUICRetry                 *opt[bool] `mapstructure:"quic_retry"`
	QUICGSO                   *opt[bool] `mapstructure:"quic_gso"` // accepted: quic-go uses GSO where the kernel has it
	SSLEarlyData              *opt[bool] `mapstructure:"ssl_early_data"`
}

func (d *http3Directives) inherit(p *http3Directives) {
	merge(&d.HTTP3, p.HTTP3)
	merge(&d.HTTP3MaxConcurrentStreams, p.HTTP3MaxConcurrentStreams)
	merge(&d.HTTP3StreamBufferSize, p.HTTP3StreamBufferSize)
	merge(&d.QUICRetry, p.QUICRetry)
	merge(&d.QUICGSO, p.QUICGSO)
	merge(&d.SSLEarlyData, p.SSLEarlyData)
}

// check reports values nginx refuses.
func (d *http3Directives) check(p *problems) {
	if o := d.HTTP3MaxConcurrentStreams; o.set() && o.v <= 0 {
		p.add(o.at(), `"http3_max_concurrent_streams" must be greater than 0`)
	}
	if o := d.HTTP3StreamBufferSize; o.set() && o.v <= 0 {
		p.add(o.at(), `"http3_stream_buffer_size" must be greater than 0`)
	}
}

func (d *http3Directives) resolve(srv *Server) HTTP3 {
	lb := srv.LargeClientHeaderBuffers
	return HTTP3{
		MaxConcurrentStreams: d.HTTP3MaxConcurrentStreams.or(defaultHTTP3MaxConcurrentStreams),
		StreamBufferSize:     d.HTTP3StreamBufferSize.or(defaultHTTP3StreamBufferSize),
		Retry:                d.QUICRetry.or(false),
		EarlyData:            d.SSLEarlyData.or(false),
		IdleTimeout:          srv.Keepalive.Timeout,
		MaxHeaderBytes:       lb.N * int(lb.Size),
	}
}

// cutListenQUIC takes "quic" (and "reuseport", which a QUIC socket always
// has here) off a listen entry ("443 quic reuseport").
func cutListenQUIC(a string) (string, bool) {
	f := strings.Fields(a)
	if len(f) < 2 || !slices.Contains(f[1:], "quic") {
		return a, false
	}
	return strings.Join(slices.DeleteFunc(f, func(w string) bool { return w == "quic" || w == "reuseport" }), " "), true
}
