package config

import (
	"fmt"
	"strings"
	"time"
)

// uwsgi (ngx_http_uwsgi_module): uwsgi_pass runs the same pipeline as
// proxy_pass and fastcgi_pass. resolveUwsgi copies the uwsgi_* buffer,
// timeout and retry directives into the Location's Proxy* fields, so only
// the wire protocol differs: a uwsgi packet (the uwsgi_param values) and
// the request body, answered with plain HTTP.

// Uwsgi is a location's uwsgi_pass and what only uwsgi needs.
type Uwsgi struct {
	// Params are the uwsgi_param directives in order (nginx sends none by
	// default: "include uwsgi_params" is what writes them).
	Params    []FastCGIParam
	Modifier1 int // uwsgi_modifier1: the packet's first byte, default 0
	Modifier2 int // uwsgi_modifier2: its last byte, default 0
	// PassRequestHeaders is uwsgi_pass_request_headers (default on): every
	// client header as an HTTP_NAME var.
	PassRequestHeaders bool
}

const defaultUwsgiTempPath = "temp/uwsgi"

// UwsgiParams is the content of Debian's /etc/nginx/uwsgi_params, which
// "include uwsgi_params" reads: nginx's file, with HTTP_HOST set from $host
// (Debian's security workaround for a client-supplied Host).
const UwsgiParams = `uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;

uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;

uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;

uwsgi_param  HTTP_HOST        $host;
`

// uwsgiLocationDirectives may only be written in a location.
type uwsgiLocationDirectives struct {
	UwsgiPass *opt[string] `mapstructure:"uwsgi_pass"`
}

// uwsgiDirectives may be written in http, a server and a location.
type uwsgiDirectives struct {
	UwsgiParam              *opt[[]Header] `mapstructure:"uwsgi_param"`
	UwsgiModifier1          *opt[int]      `mapstructure:"uwsgi_modifier1"`
	UwsgiModifier2          *opt[int]      `mapstructure:"uwsgi_modifier2"`
	UwsgiPassRequestHeaders *opt[bool]     `mapstructure:"uwsgi_pass_request_headers"`
	UwsgiPassRequestBody    *opt[bool]     `mapstructure:"uwsgi_pass_request_body"`
	UwsgiBuffering          *opt[bool]     `mapstructure:"uwsgi_buffering"`

	UwsgiBufferSize        *opt[size]          `mapstructure:"uwsgi_buffer_size"`
	UwsgiBuffers           *opt[Buffers]       `mapstructure:"uwsgi_buffers"`
	UwsgiBusyBuffersSize   *opt[size]          `mapstructure:"uwsgi_busy_buffers_size"`
	UwsgiTempPath          *opt[string]        `mapstructure:"uwsgi_temp_path"`
	UwsgiMaxTempFileSize   *opt[size]          `mapstructure:"uwsgi_max_temp_file_size"`
	UwsgiTempFileWriteSize *opt[size]          `mapstructure:"uwsgi_temp_file_write_size"`
	UwsgiSpillGrace        *opt[time.Duration] `mapstructure:"uwsgi_spill_grace"` // spillway's own

	UwsgiConnectTimeout *opt[time.Duration] `mapstructure:"uwsgi_connect_timeout"`
	UwsgiSendTimeout    *opt[time.Duration] `mapstructure:"uwsgi_send_timeout"`
	UwsgiReadTimeout    *opt[time.Duration] `mapstructure:"uwsgi_read_timeout"`

	UwsgiNextUpstream        *opt[NextUpstream]  `mapstructure:"uwsgi_next_upstream"`
	UwsgiNextUpstreamTries   *opt[int]           `mapstructure:"uwsgi_next_upstream_tries"`
	UwsgiNextUpstreamTimeout *opt[time.Duration] `mapstructure:"uwsgi_next_upstream_timeout"`
	UwsgiRequestBuffering    *opt[bool]          `mapstructure:"uwsgi_request_buffering"`
	UwsgiIgnoreClientAbort   *opt[bool]          `mapstructure:"uwsgi_ignore_client_abort"`
}

// inherit is merge_loc_conf for the uwsgi directives.
func (d *uwsgiDirectives) inherit(p *uwsgiDirectives) {
	merge(&d.UwsgiParam, p.UwsgiParam)
	merge(&d.UwsgiModifier1, p.UwsgiModifier1)
	merge(&d.UwsgiModifier2, p.UwsgiModifier2)
	merge(&d.UwsgiPassRequestHeaders, p.UwsgiPassRequestHeaders)
	merge(&d.UwsgiPassRequestBody, p.UwsgiPassRequestBody)
	merge(&d.UwsgiBuffering, p.UwsgiBuffering)
	merge(&d.UwsgiBufferSize, p.UwsgiBufferSize)
	merge(&d.UwsgiBuffers, p.UwsgiBuffers)
	merge(&d.UwsgiBusyBuffersSize, p.UwsgiBusyBuffersSize)
	merge(&d.UwsgiTempPath, p.UwsgiTempPath)
	merge(&d.UwsgiMaxTempFileSize, p.UwsgiMaxTempFileSize)
	merge(&d.UwsgiTempFileWriteSize, p.UwsgiTempFileWriteSize)
	merge(&d.UwsgiSpillGrace, p.UwsgiSpillGrace)
	merge(&d.UwsgiConnectTimeout, p.UwsgiConnectTimeout)
	merge(&d.UwsgiSendTimeout, p.UwsgiSendTimeout)
	merge(&d.UwsgiReadTimeout, p.UwsgiReadTimeout)
	merge(&d.UwsgiNextUpstream, p.UwsgiNextUpstream)
	merge(&d.UwsgiNextUpstreamTries, p.UwsgiNextUpstreamTries)
	merge(&d.UwsgiNextUpstreamTimeout, p.UwsgiNextUpstreamTimeout)
	merge(&d.UwsgiRequestBuffering, p.UwsgiRequestBuffering)
	merge(&d.UwsgiIgnoreClientAbort, p.UwsgiIgnoreClientAbort)
}

// buffers is buffers() for the uwsgi_* set (ngx_http_uwsgi_merge_loc_conf's
// derived defaults, the same as fastcgi's).
func (d *uwsgiDirectives) buffers() bufferSizes {
	b := bufferSizes{
		bufferSize: d.UwsgiBufferSize.or(defaultProxyBufferSize),
		buffers:    d.UwsgiBuffers.or(defaultProxyBuffers()),
	}
	b.largest = max(b.bufferSize, b.buffers.Size)
	b.busy = d.UwsgiBusyBuffersSize.or(mulSat(2, b.largest))
	b.tempFileWrite = d.UwsgiTempFileWriteSize.or(mulSat(2, b.largest))
	b.maxTempFile = d.UwsgiMaxTempFileSize.or(defaultProxyMaxTempFileSize)
	return b
}

// check is nginx -t's check of the uwsgi directives, with uwsgi's names.
func (d *uwsgiDirectives) check(p *problems) {
	if d.UwsgiBufferSize.set() && d.UwsgiBufferSize.v <= 0 {
		p.add(d.UwsgiBufferSize.at(), `"uwsgi_buffer_size" must be greater than 0`)
	}
	if o := d.UwsgiTempPath; o.set() && strings.TrimSpace(o.v) == "" {
		p.add(o.at(), `"uwsgi_temp_path" must not be empty`)
	}
	for _, o := range []*opt[int]{d.UwsgiModifier1, d.UwsgiModifier2} {
		if o.set() && (o.v < 0 || o.v > 255) {
			p.add(o.at(), `invalid value "%d" in %q: want 0 to 255`, o.v, directiveOf(o.at()))
		}
	}
	for i, h := range d.UwsgiParam.or(nil) {
		v, _, _ := splitIfNotEmpty(h.Value)
		p.checkVariables(p.headerKey(d.UwsgiParam, i), "uwsgi_param "+h.Name, v)
	}
	b := d.buffers()
	at := func() string {
		return p.latest(d.UwsgiBusyBuffersSize.at(), d.UwsgiBufferSize.at(), d.UwsgiBuffers.at())
	}
	switch {
	case b.buffers.N < 2:
		p.add(d.UwsgiBuffers.at(), `there must be at least 2 "uwsgi_buffers"`)
	case b.busy < b.largest:
		p.add(at(), `"uwsgi_busy_buffers_size" must be equal to or greater than the maximum of the value of "uwsgi_buffer_size" and one of the "uwsgi_buffers": %s < %s`,
			formatSize(b.busy), formatSize(b.largest))
	case b.busy > mulSat(int64(b.buffers.N-1), b.buffers.Size):
		p.add(at(), `"uwsgi_busy_buffers_size" must be less than the size of all "uwsgi_buffers" minus one buffer: %s > (%d-1) × %s`,
			formatSize(b.busy), b.buffers.N, formatSize(b.buffers.Size))
	case b.tempFileWrite < b.largest:
		p.add(p.latest(d.UwsgiTempFileWriteSize.at(), d.UwsgiBufferSize.at(), d.UwsgiBuffers.at()),
			`"uwsgi_temp_file_write_size" must be equal to or greater than the maximum of the value of "uwsgi_buffer_size" and one of the "uwsgi_buffers": %s < %s`,
			formatSize(b.tempFileWrite), formatSize(b.largest))
	case b.maxTempFile != 0 && b.maxTempFile < b.largest:
		p.add(p.latest(d.UwsgiMaxTempFileSize.at(), d.UwsgiBufferSize.at(), d.UwsgiBuffers.at()),
			`"uwsgi_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than the maximum of the value of "uwsgi_buffer_size" and one of the "uwsgi_buffers": %s < %s`,
			formatSize(b.maxTempFile), formatSize(b.largest))
	}
}

// resolveUwsgi fills in a location's uwsgi settings. With uwsgi_pass, the
// uwsgi_* directives replace the proxy_* ones in the Location.
func (l *rawLocation) resolveUwsgi(loc *Location, upstreams map[string]bool, p *problems) {
	d := &l.uwsgiDirectives
	d.check(p)
	if !l.UwsgiPass.set() {
		return
	}
	switch {
	case l.ProxyPass.set():
		p.add(l.UwsgiPass.at(), `"uwsgi_pass" and "proxy_pass" cannot both be set in one location`)
	case l.FastcgiPass.set():
		p.add(l.UwsgiPass.at(), `"uwsgi_pass" and "fastcgi_pass" cannot both be set in one location`)
	case l.StubStatus.or(false):
		p.add(l.UwsgiPass.at(), `"stub_status" and "uwsgi_pass" cannot both be set in one location`)
	}
	pp, err := parseUwsgiPass(l.UwsgiPass.v, upstreams)
	if pp.Value != "" {
		p.checkPassVariables(l.UwsgiPass.at(), "uwsgi_pass", pp.Value)
	}
	if err != nil {
		p.add(l.UwsgiPass.at(), "%v", err)
	}
	loc.ProxyPass = pp
	u := &Uwsgi{Modifier1: d.UwsgiModifier1.or(0), Modifier2: d.UwsgiModifier2.or(0),
		PassRequestHeaders: d.UwsgiPassRequestHeaders.or(true)}
	p.headersAsWritten(d.UwsgiParam)
	for _, h := range d.UwsgiParam.or(nil) {
		v, ifNotEmpty, _ := splitIfNotEmpty(h.Value)
		u.Params = append(u.Params, FastCGIParam{Name: h.Name, Value: v, IfNotEmpty: ifNotEmpty})
	}
	loc.Uwsgi = u

	b := d.buffers()
	loc.ProxySetHeader = nil
	loc.ProxyBuffering = d.UwsgiBuffering.or(true)
	loc.ProxyBufferSize = b.bufferSize
	loc.ProxyBuffers = b.buffers
	loc.ProxyBusyBuffersSize = b.busy
	loc.ProxyMaxTempFileSize = b.maxTempFile
	loc.ProxyTempFileWriteSize = b.tempFileWrite
	loc.ProxyTempPath = d.UwsgiTempPath.or(defaultUwsgiTempPath)
	loc.ProxySpillGrace = d.UwsgiSpillGrace.or(defaultSpillGrace)
	loc.ProxyConnectTimeout = d.UwsgiConnectTimeout.or(defaultProxyTimeout)
	loc.ProxySendTimeout = d.UwsgiSendTimeout.or(defaultProxyTimeout)
	loc.ProxyReadTimeout = d.UwsgiReadTimeout.or(defaultProxyTimeout)
	loc.ProxyNextUpstream = d.UwsgiNextUpstream.or(defaultProxyNextUpstream)
	loc.ProxyNextUpstreamTries = d.UwsgiNextUpstreamTries.or(0)
	loc.ProxyNextUpstreamTimeout = d.UwsgiNextUpstreamTimeout.or(0)
	loc.ProxyRequestBuffering = d.UwsgiRequestBuffering.or(true)
	loc.ProxyIgnoreClientAbort = d.UwsgiIgnoreClientAbort.or(false)
	loc.ProxyPassRequestBody = d.UwsgiPassRequestBody.or(true)
}

// parseUwsgiPass parses uwsgi_pass: an http.upstreams name, host:port or
// unix:/path, optionally with nginx's uwsgi:// scheme (suwsgi:// is TLS,
// which spillway does not speak).
func parseUwsgiPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	a := strings.TrimSpace(s)
	if strings.Contains(a, "$") {
		return ProxyPass{Scheme: "uwsgi", Value: a}, nil // evaluated per request
	}
	if strings.HasPrefix(a, "suwsgi://") {
		return ProxyPass{Scheme: "uwsgi", Host: a}, fmt.Errorf(`invalid uwsgi_pass %q: suwsgi (uwsgi over TLS) is not supported`, s)
	}
	a = strings.TrimPrefix(a, "uwsgi://")
	pp := ProxyPass{Scheme: "uwsgi", Host: a}
	if name := strings.ToLower(a); upstreams[name] {
		pp.Upstream = name
		return pp, nil
	}
	if strings.Contains(a, "://") {
		return pp, fmt.Errorf(`invalid uwsgi_pass %q: want an upstream name, host:port or unix:/path`, s)
	}
	addr, err := upstreamAddress(a)
	if err != nil {
		return pp, err
	}
	if !strings.HasPrefix(a, "unix:") && !strings.Contains(a, ":") {
		return pp, fmt.Errorf(`host not found in upstream %q: it is not in http.upstreams, and an address needs a port ("%s:3031")`, a, a)
	}
	pp.Host = addr
	return pp, nil
}
