package config

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// gRPC (ngx_http_grpc_module): grpc_pass runs the same pipeline as
// proxy_pass, with HTTP/2 to the upstream (h2c with prior knowledge for
// grpc://, TLS with ALPN h2 for grpcs://). resolveGrpc copies the grpc_*
// values into the Location's Proxy* fields, as resolveUwsgi does for
// uwsgi_*; only the wire protocol differs (package proxy's grpc.go).
//
// nginx's grpc module never buffers: the request body goes to the upstream
// as it arrives and the response to the client as it comes (a bidi stream
// is never held whole), so there is no grpc_buffering,
// grpc_request_buffering or grpc_buffers; grpc_buffer_size is the one
// buffer, the response header's limit.

// Grpc is a location's grpc_pass and what only gRPC needs.
type Grpc struct {
	// TLS: grpcs://, TLS with ALPN h2 (ProxySSL holds grpc_ssl_*).
	TLS bool
}

// grpcLocationDirectives may only be written in a location.
type grpcLocationDirectives struct {
	GrpcPass *opt[string] `mapstructure:"grpc_pass"`
}

// grpcDirectives may be written in http, a server and a location.
type grpcDirectives struct {
	GrpcSetHeader       *opt[[]Header]      `mapstructure:"grpc_set_header"`
	GrpcBufferSize      *opt[size]          `mapstructure:"grpc_buffer_size"`
	GrpcConnectTimeout  *opt[time.Duration] `mapstructure:"grpc_connect_timeout"`
	GrpcSendTimeout     *opt[time.Duration] `mapstructure:"grpc_send_timeout"`
	GrpcReadTimeout     *opt[time.Duration] `mapstructure:"grpc_read_timeout"`
	GrpcNextUpstream    *opt[NextUpstream]  `mapstructure:"grpc_next_upstream"`
	GrpcNextTries       *opt[int]           `mapstructure:"grpc_next_upstream_tries"`
	GrpcNextTimeout     *opt[time.Duration] `mapstructure:"grpc_next_upstream_timeout"`
	GrpcHideHeader      *opt[words]         `mapstructure:"grpc_hide_header"`
	GrpcPassHeader      *opt[words]         `mapstructure:"grpc_pass_header"`
	GrpcIgnoreHeaders   *opt[words]         `mapstructure:"grpc_ignore_headers"`
	GrpcInterceptErrors *opt[bool]          `mapstructure:"grpc_intercept_errors"`

	GrpcSSLVerify             *opt[bool]   `mapstructure:"grpc_ssl_verify"`
	GrpcSSLTrustedCertificate *opt[string] `mapstructure:"grpc_ssl_trusted_certificate"`
	GrpcSSLName               *opt[string] `mapstructure:"grpc_ssl_name"`
	GrpcSSLServerName         *opt[bool]   `mapstructure:"grpc_ssl_server_name"`
	GrpcSSLSessionReuse       *opt[bool]   `mapstructure:"grpc_ssl_session_reuse"`
}

// inherit is merge_loc_conf for the grpc directives.
func (d *grpcDirectives) inherit(p *grpcDirectives) {
	merge(&d.GrpcSetHeader, p.GrpcSetHeader)
	merge(&d.GrpcBufferSize, p.GrpcBufferSize)
	merge(&d.GrpcConnectTimeout, p.GrpcConnectTimeout)
	merge(&d.GrpcSendTimeout, p.GrpcSendTimeout)
	merge(&d.GrpcReadTimeout, p.GrpcReadTimeout)
	merge(&d.GrpcNextUpstream, p.GrpcNextUpstream)
	merge(&d.GrpcNextTries, p.GrpcNextTries)
	merge(&d.GrpcNextTimeout, p.GrpcNextTimeout)
	merge(&d.GrpcHideHeader, p.GrpcHideHeader)
	merge(&d.GrpcPassHeader, p.GrpcPassHeader)
	merge(&d.GrpcIgnoreHeaders, p.GrpcIgnoreHeaders)
	merge(&d.GrpcInterceptErrors, p.GrpcInterceptErrors)
	merge(&d.GrpcSSLVerify, p.GrpcSSLVerify)
	merge(&d.GrpcSSLTrustedCertificate, p.GrpcSSLTrustedCertificate)
	merge(&d.GrpcSSLName, p.GrpcSSLName)
	merge(&d.GrpcSSLServerName, p.GrpcSSLServerName)
	merge(&d.GrpcSSLSessionReuse, p.GrpcSSLSessionReuse)
}

// grpcDefaultHeaders are nginx's ngx_http_grpc_headers: the client's Host
// is not passed (:authority is grpc_pass's host, $proxy_host, unless
// grpc_set_header Host says otherwise), nor the HTTP/1 framing headers;
// TE: trailers is passed when the client sent it ($grpc_internal_trailers,
// added by package proxy).
func grpcDefaultHeaders() []Header {
	return []Header{{Name: "Host", Value: "$proxy_host"}, {Name: "Connection", Value: ""},
		{Name: "Transfer-Encoding", Value: ""}, {Name: "Keep-Alive", Value: ""},
		{Name: "Expect", Value: ""}, {Name: "Upgrade", Value: ""}}
}

// resolveGrpc fills in a location's gRPC settings. With grpc_pass, the
// grpc_* directives replace the proxy_* ones in the Location.
func (l *rawLocation) resolveGrpc(loc *Location, upstreams map[string]bool, p *problems) {
	d := &l.grpcDirectives
	if d.GrpcBufferSize.set() && d.GrpcBufferSize.v <= 0 {
		p.add(d.GrpcBufferSize.at(), `"grpc_buffer_size" must be greater than 0`)
	}
	for i, h := range d.GrpcSetHeader.or(nil) {
		p.checkVariables(p.headerKey(d.GrpcSetHeader, i), "grpc_set_header "+h.Name, h.Value)
	}
	if !l.GrpcPass.set() {
		return
	}
	for _, other := range []struct {
		set  bool
		name string
	}{{l.ProxyPass.set(), "proxy_pass"}, {l.FastcgiPass.set(), "fastcgi_pass"}, {l.UwsgiPass.set(), "uwsgi_pass"}, {l.StubStatus.or(false), "stub_status"}} {
		if other.set {
			p.add(l.GrpcPass.at(), `"grpc_pass" and %q cannot both be set in one location`, other.name)
		}
	}
	pp, err := parseGrpcPass(l.GrpcPass.v, upstreams)
	if err != nil {
		p.add(l.GrpcPass.at(), "%v", err)
	}
	loc.ProxyPass = pp
	loc.Grpc = &Grpc{TLS: pp.Scheme == "grpcs"}
	if loc.Grpc.TLS {
		sd := proxySSLDirectives{ProxySSLVerify: d.GrpcSSLVerify, ProxySSLTrustedCertificate: d.GrpcSSLTrustedCertificate,
			ProxySSLName: d.GrpcSSLName, ProxySSLServerName: d.GrpcSSLServerName, ProxySSLSessionReuse: d.GrpcSSLSessionReuse}
		loc.ProxySSL = resolveProxySSL(&sd, ProxyPass{Scheme: "https", Host: pp.Host}, p)
	} else {
		loc.ProxySSL = ProxySSL{}
	}

	p.headersAsWritten(d.GrpcSetHeader)
	set := d.GrpcSetHeader.or(nil)
	hs := slices.Clone(set)
	for _, dh := range grpcDefaultHeaders() {
		if !slices.ContainsFunc(set, func(h Header) bool { return strings.EqualFold(h.Name, dh.Name) }) {
			hs = append(hs, dh)
		}
	}
	loc.ProxySetHeader = hs
	loc.ProxyHTTPVersion = "2"

	bufSize := d.GrpcBufferSize.or(defaultProxyBufferSize)
	loc.ProxyBuffering = false // passed to the client as it comes
	loc.ProxyRequestBuffering = false
	loc.ProxyBufferSize = bufSize
	loc.ProxyBuffers = Buffers{N: 2, Size: bufSize}
	loc.ProxyBusyBuffersSize = bufSize
	loc.ProxyTempFileWriteSize = bufSize
	loc.ProxyMaxTempFileSize = 0
	loc.ProxyConnectTimeout = d.GrpcConnectTimeout.or(defaultProxyTimeout)
	loc.ProxySendTimeout = d.GrpcSendTimeout.or(defaultProxyTimeout)
	loc.ProxyReadTimeout = d.GrpcReadTimeout.or(defaultProxyTimeout)
	loc.ProxyNextUpstream = d.GrpcNextUpstream.or(defaultProxyNextUpstream)
	loc.ProxyNextUpstreamTries = d.GrpcNextTries.or(0)
	loc.ProxyNextUpstreamTimeout = d.GrpcNextTimeout.or(0)
	loc.ProxyIgnoreClientAbort = false
	loc.ProxyPassRequestBody = true
	loc.InterceptErrors = d.GrpcInterceptErrors.or(false)

	u := &loc.UpstreamHeaders
	*u = UpstreamHeaders{}
	for _, h := range d.GrpcHideHeader.or(nil) {
		u.Hide = append(u.Hide, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, h := range d.GrpcPassHeader.or(nil) {
		c := textproto.CanonicalMIMEHeaderKey(h)
		if c == "Date" {
			p.add(d.GrpcPassHeader.at(), `"%s" cannot be passed: spillway always sends its own Date header`, h)
			continue
		}
		u.Pass = append(u.Pass, c)
	}
	for _, h := range d.GrpcIgnoreHeaders.or(nil) {
		c := textproto.CanonicalMIMEHeaderKey(h)
		if !slices.Contains(ignorable, c) {
			p.add(d.GrpcIgnoreHeaders.at(), `invalid value "%s"`, h)
		}
	}
}

// parseGrpcPass parses grpc_pass: grpc://host:port, grpcs://host:port,
// host:port or an http.upstreams name (either with or without a scheme).
// nginx takes no URI part: the client's request target is passed.
func parseGrpcPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	a := strings.TrimSpace(s)
	scheme := "grpc"
	if rest, ok := strings.CutPrefix(a, "grpcs://"); ok {
		scheme, a = "grpcs", rest
	} else if rest, ok := strings.CutPrefix(a, "grpc://"); ok {
		a = rest
	} else if strings.Contains(a, "://") {
		return ProxyPass{Scheme: scheme, Host: a}, fmt.Errorf(`invalid URL prefix in %q: want "grpc://" or "grpcs://"`, s)
	}
	if strings.Contains(a, "/") && !strings.HasPrefix(a, "unix:") {
		return ProxyPass{Scheme: scheme, Host: a}, fmt.Errorf(`invalid host in upstream %q: grpc_pass takes no URI`, s)
	}
	pp, err := parseProxyPass("http://"+a, upstreams)
	pp.Scheme = scheme
	return pp, err
}
