package config

import (
	"fmt"
	"slices"
	"strings"
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

// grpcDirectives may be written in http, a server and a location (the
// shared grpc_* set, timeouts, retries, grpc_buffer_size, headers, is
// modules.go's).
type grpcDirectives struct {
	GrpcSetHeader *opt[[]Header] `mapstructure:"grpc_set_header"`

	GrpcSSLVerify             *opt[bool]   `mapstructure:"grpc_ssl_verify"`
	GrpcSSLVerifyDepth        *opt[int]    `mapstructure:"grpc_ssl_verify_depth"`
	GrpcSSLCRL                *opt[string] `mapstructure:"grpc_ssl_crl"`
	GrpcSSLTrustedCertificate *opt[string] `mapstructure:"grpc_ssl_trusted_certificate"`
	GrpcSSLName               *opt[string] `mapstructure:"grpc_ssl_name"`
	GrpcSSLServerName         *opt[bool]   `mapstructure:"grpc_ssl_server_name"`
	GrpcSSLSessionReuse       *opt[bool]   `mapstructure:"grpc_ssl_session_reuse"`
	GrpcSSLCertificate        *opt[string] `mapstructure:"grpc_ssl_certificate"`
	GrpcSSLCertificateKey     *opt[string] `mapstructure:"grpc_ssl_certificate_key"`
	GrpcSSLPasswordFile       *opt[string] `mapstructure:"grpc_ssl_password_file"`
	GrpcSSLProtocols          *opt[words]  `mapstructure:"grpc_ssl_protocols"`
	GrpcSSLCiphers            *opt[words]  `mapstructure:"grpc_ssl_ciphers"`
}

// inherit is merge_loc_conf for the grpc directives.
func (d *grpcDirectives) inherit(p *grpcDirectives) {
	merge(&d.GrpcSetHeader, p.GrpcSetHeader)
	merge(&d.GrpcSSLVerify, p.GrpcSSLVerify)
	merge(&d.GrpcSSLVerifyDepth, p.GrpcSSLVerifyDepth)
	merge(&d.GrpcSSLCRL, p.GrpcSSLCRL)
	merge(&d.GrpcSSLTrustedCertificate, p.GrpcSSLTrustedCertificate)
	merge(&d.GrpcSSLName, p.GrpcSSLName)
	merge(&d.GrpcSSLServerName, p.GrpcSSLServerName)
	merge(&d.GrpcSSLSessionReuse, p.GrpcSSLSessionReuse)
	merge(&d.GrpcSSLCertificate, p.GrpcSSLCertificate)
	merge(&d.GrpcSSLCertificateKey, p.GrpcSSLCertificateKey)
	merge(&d.GrpcSSLPasswordFile, p.GrpcSSLPasswordFile)
	merge(&d.GrpcSSLProtocols, p.GrpcSSLProtocols)
	merge(&d.GrpcSSLCiphers, p.GrpcSSLCiphers)
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

// resolveGrpc fills in a location's gRPC settings, after resolveLocation
// resolved the shared grpc_* set into loc.Upstream.
func (l *rawLocation) resolveGrpc(loc *Location, upstreams map[string]bool, p *problems) {
	d := &l.grpcDirectives
	for i, h := range d.GrpcSetHeader.or(nil) {
		p.checkVariables(p.headerKey(d.GrpcSetHeader, i), "grpc_set_header "+h.Name, h.Value)
	}
	if !l.GrpcPass.set() {
		return
	}
	pp, err := parseGrpcPass(l.GrpcPass.v, upstreams)
	if pp.Value != "" {
		p.checkPassVariables(l.GrpcPass.at(), "grpc_pass", pp.Value)
	}
	if err != nil {
		p.add(l.GrpcPass.at(), "%v", err)
	}
	loc.ProxyPass = pp
	loc.Grpc = &Grpc{TLS: pp.Scheme == "grpcs"}
	// With variables the scheme is the evaluated value's: grpcs:// may
	// come with any request (passvars.go), and its name is the host's.
	if loc.Grpc.TLS || pp.Value != "" {
		sd := proxySSLDirectives{ProxySSLVerify: d.GrpcSSLVerify, ProxySSLTrustedCertificate: d.GrpcSSLTrustedCertificate,
			ProxySSLName: d.GrpcSSLName, ProxySSLServerName: d.GrpcSSLServerName, ProxySSLSessionReuse: d.GrpcSSLSessionReuse,
			ProxySSLVerifyDepth: d.GrpcSSLVerifyDepth, ProxySSLCRL: d.GrpcSSLCRL,
			proxySSLClientDirectives: proxySSLClientDirectives{ProxySSLCertificate: d.GrpcSSLCertificate,
				ProxySSLCertificateKey: d.GrpcSSLCertificateKey, ProxySSLPasswordFile: d.GrpcSSLPasswordFile,
				ProxySSLProtocols: d.GrpcSSLProtocols, ProxySSLCiphers: d.GrpcSSLCiphers}}
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
	loc.ProxyHTTPVersion = "2.0"

	// Passed on as it comes, both ways: grpc_buffer_size is the one buffer.
	u := &loc.Upstream
	u.Buffering, u.RequestBuffering = false, false
	u.Buffers = Buffers{N: 2, Size: u.BufferSize}
	u.BusyBuffersSize, u.TempFileWriteSize, u.MaxTempFileSize = u.BufferSize, u.BufferSize, 0
	u.IgnoreClientAbort, u.PassRequestBody, u.PassRequestHeaders = false, true, true
}

// parseGrpcPass parses grpc_pass: grpc://host:port, grpcs://host:port,
// host:port or an http.upstreams name (either with or without a scheme).
// nginx takes no URI part: the client's request target is passed. A value
// with variables is evaluated per request (ProxyPass.Value), its scheme
// then taken from the result.
func parseGrpcPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	a := strings.TrimSpace(s)
	if strings.Contains(a, "$") {
		scheme := "grpc"
		if len(a) >= 8 && strings.EqualFold(a[:8], "grpcs://") {
			scheme = "grpcs"
		}
		return ProxyPass{Scheme: scheme, Value: a}, nil
	}
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
