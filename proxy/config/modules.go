package config

import (
	"fmt"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"time"
)

// nginx's modules that pass a request upstream (proxy, fastcgi, uwsgi;
// scgi and grpc have the same shape) share ngx_http_upstream_conf_t: the
// same buffer, temp-file, timeout, retry and response-header directives,
// each written with the module's prefix (proxy_read_timeout,
// fastcgi_read_timeout, ...). Here they are described once, in
// moduleDirectives, and known under every prefix of upstreamModules:
// modules_gen.go declares one raw struct per prefix with the same fields and
// the prefixed keys, a location resolves the set of the module its *_pass
// names into one UpstreamConf, and the nginx.conf converter reads its table
// of these directives from ModuleDirectives.

//go:generate env SPILLWAY_UPDATE_GEN=1 go test -run TestModuleSetsGenerated .

// upstreamModule is one of nginx's modules that pass requests upstream.
// Adding a module is one entry here and "go generate ./proxy/config".
type upstreamModule struct {
	name     string // the directive prefix without its "_": "proxy"
	tempPath string // the default of NAME_temp_path, relative to the prefix
	// without lists the directives of moduleDirectives that the module
	// does not have (or that spillway does not implement for it): their
	// keys are refused as unknown.
	without string
}

// upstreamModules are the modules in the order of moduleSets' fields; the
// first one, proxy, is also what a location that passes nothing upstream
// resolves (its proxy_* values are what nginx reports for it).
//
// fastcgi_pass always sends the client's headers (no
// fastcgi_pass_request_headers yet) and the body (its STDIN stream would
// need its closing record without one).
var upstreamModules = []upstreamModule{
	{name: "proxy", tempPath: "temp/proxy"},
	{name: "fastcgi", tempPath: "temp/fastcgi", without: "pass_request_headers pass_request_body"},
	{name: "uwsgi", tempPath: "temp/uwsgi"},
	// grpc never buffers either way (nginx's grpc module): *_buffer_size
	// is its one buffer; grpc.go sets the rest.
	{name: "grpc", tempPath: "temp/grpc", without: "limit_rate buffering buffers busy_buffers_size max_temp_file_size temp_file_write_size temp_path spill_grace request_buffering ignore_client_abort pass_request_body pass_request_headers"},
}

// moduleDirectives is the protocol-neutral directive set as written at one
// level; the module tag is the directive's name after the prefix, and
// "own" marks spillway's own directives (no nginx.conf has them).
// modules_gen.go declares the per-prefix twins of this struct, which
// convert to it: the same fields in the same order, only the tags differ.
type moduleDirectives struct {
	ConnectTimeout *opt[time.Duration] `module:"connect_timeout"`
	SendTimeout    *opt[time.Duration] `module:"send_timeout"`
	ReadTimeout    *opt[time.Duration] `module:"read_timeout"`

	Buffering         *opt[bool]          `module:"buffering"`
	BufferSize        *opt[size]          `module:"buffer_size"`
	Buffers           *opt[Buffers]       `module:"buffers"`
	BusyBuffersSize   *opt[size]          `module:"busy_buffers_size"`
	MaxTempFileSize   *opt[size]          `module:"max_temp_file_size"`
	TempFileWriteSize *opt[size]          `module:"temp_file_write_size"`
	TempPath          *opt[string]        `module:"temp_path"`
	SpillGrace        *opt[time.Duration] `module:"spill_grace,own"`
	LimitRate         *opt[SizeValue]     `module:"limit_rate"`

	RequestBuffering   *opt[bool] `module:"request_buffering"`
	IgnoreClientAbort  *opt[bool] `module:"ignore_client_abort"`
	PassRequestBody    *opt[bool] `module:"pass_request_body"`
	PassRequestHeaders *opt[bool] `module:"pass_request_headers"`

	NextUpstream        *opt[NextUpstream]  `module:"next_upstream"`
	NextUpstreamTries   *opt[int]           `module:"next_upstream_tries"`
	NextUpstreamTimeout *opt[time.Duration] `module:"next_upstream_timeout"`

	InterceptErrors *opt[bool]  `module:"intercept_errors"`
	HideHeader      *opt[words] `module:"hide_header"`
	PassHeader      *opt[words] `module:"pass_header"`
	IgnoreHeaders   *opt[words] `module:"ignore_headers"`
}

// UpstreamConf is what a location's module (proxy_pass, fastcgi_pass,
// uwsgi_pass) resolves to from its prefix's directives: the running proxy
// reads these whatever the wire protocol.
type UpstreamConf struct {
	Module string // "proxy", "fastcgi" or "uwsgi": the prefix the values were read with

	ConnectTimeout time.Duration // default 60s
	SendTimeout    time.Duration // default 60s
	ReadTimeout    time.Duration // default 60s

	// Response buffering (nginx's *_buffering and friends).
	Buffering         bool    // default on
	BufferSize        int64   // default 4k (one page): the response header must fit
	Buffers           Buffers // default 8 4k
	BusyBuffersSize   int64   // default 2 * max(buffer_size, one buffer)
	MaxTempFileSize   int64   // default 1024m; 0 = never spill
	TempFileWriteSize int64   // default 2 * max(buffer_size, one buffer)
	TempPath          string  // default "temp/proxy" (temp/fastcgi, temp/uwsgi)
	// SpillGrace is spillway's own *_spill_grace: how long in all a
	// response may wait on a client that stopped taking bytes, with memory
	// full, before it spills to the temp file (default 50ms; 0 = at once,
	// as nginx).
	SpillGrace time.Duration
	// LimitRate is *_limit_rate (default 0: none): a buffered response
	// is read from the upstream at this many bytes per second (nginx's
	// event pipe; with buffering off it does nothing, as in nginx 1.22).
	// It may have variables ($upstream_http_NAME among them: evaluated
	// once the upstream's head is in), as nginx 1.27's.
	LimitRate SizeValue

	RequestBuffering bool // *_request_buffering, default on
	// IgnoreClientAbort (*_ignore_client_abort, default off): a client
	// that closes while the upstream is still awaited does not end the
	// exchange (nginx's rule otherwise: 499, the upstream closed).
	IgnoreClientAbort bool
	// PassRequestBody is *_pass_request_body (default on): off sends the
	// request's headers, Content-Length included, and no body.
	PassRequestBody bool
	// PassRequestHeaders is proxy_pass_request_headers and
	// uwsgi_pass_request_headers (default on): off sends none of the
	// client's headers, only proxy_set_header's (uwsgi: no HTTP_NAME vars).
	PassRequestHeaders bool

	// Retries.
	NextUpstream        NextUpstream  // default error|timeout
	NextUpstreamTries   int           // default 0 = unlimited (one per server)
	NextUpstreamTimeout time.Duration // default 0 = unlimited

	// InterceptErrors is *_intercept_errors (default off): an upstream
	// answer of 300 or more that the location's error_page has a page for
	// is discarded and the page sent.
	InterceptErrors bool
}

// moduleDirective is one entry of the description: a directive's name
// after the prefix and its Go field.
type moduleDirective struct {
	name  string
	own   bool // spillway's own, not nginx's
	field reflect.StructField
}

// moduleDirectiveList reads moduleDirectives' tags.
func moduleDirectiveList() []moduleDirective {
	t := reflect.TypeFor[moduleDirectives]()
	ds := make([]moduleDirective, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, flag, _ := strings.Cut(f.Tag.Get("module"), ",")
		ds = append(ds, moduleDirective{name: name, own: flag == "own", field: f})
	}
	return ds
}

// has reports whether the module has the directive named (without prefix).
func (m *upstreamModule) has(name string) bool {
	return !slices.Contains(strings.Fields(m.without), name)
}

// key is the directive's name with the module's prefix.
func (m *upstreamModule) key(name string) string { return m.name + "_" + name }

// ModuleDirective is one directive of an upstream module as nginx.conf
// writes it, for the converter: its name with the prefix and the kind of
// its value.
type ModuleDirective struct {
	Name string
	// Kind is the value's kind: "time", "size", "size_value" (a size
	// or a value with variables), "flag", "number",
	// "buffers", "path", "next_upstream", "header_names" or
	// "ignore_headers".
	Kind string
}

// ModuleDirectives lists, for every upstream module, the nginx directives
// of the shared set that spillway implements (not spillway's own).
func ModuleDirectives() []ModuleDirective {
	var out []ModuleDirective
	for _, m := range upstreamModules {
		for _, d := range moduleDirectiveList() {
			if d.own || !m.has(d.name) {
				continue
			}
			out = append(out, ModuleDirective{Name: m.key(d.name), Kind: directiveKind(d)})
		}
	}
	return out
}

// directiveKind names the kind of a directive's value from its Go type.
func directiveKind(d moduleDirective) string {
	switch d.name {
	case "temp_path":
		return "path"
	case "ignore_headers":
		return "ignore_headers"
	}
	switch d.field.Type {
	case reflect.TypeFor[*opt[time.Duration]]():
		return "time"
	case reflect.TypeFor[*opt[size]]():
		return "size"
	case reflect.TypeFor[*opt[SizeValue]]():
		return "size_value"
	case reflect.TypeFor[*opt[bool]]():
		return "flag"
	case reflect.TypeFor[*opt[int]]():
		return "number"
	case reflect.TypeFor[*opt[Buffers]]():
		return "buffers"
	case reflect.TypeFor[*opt[NextUpstream]]():
		return "next_upstream"
	case reflect.TypeFor[*opt[words]]():
		return "header_names"
	}
	panic(fmt.Sprintf("config: no kind for module directive %q of type %v", d.name, d.field.Type))
}

// inherit is merge_loc_conf for one module's set: every directive d does
// not set is taken from p.
func (d *moduleDirectives) inherit(p *moduleDirectives) {
	dv, pv := reflect.ValueOf(d).Elem(), reflect.ValueOf(p).Elem()
	for i := range dv.NumField() {
		if f := dv.Field(i); f.IsNil() {
			f.Set(pv.Field(i))
		}
	}
}

// inherit merges every module's set.
func (s *moduleSets) inherit(p *moduleSets) {
	ps := p.sets()
	for i, d := range s.sets() {
		d.inherit(ps[i])
	}
}

// buffers computes the effective buffer sizes like the modules'
// merge_loc_conf: busy and temp-file write sizes default to twice the
// larger of *_buffer_size and one *_buffers buffer.
func (d *moduleDirectives) buffers() bufferSizes {
	b := bufferSizes{
		bufferSize: d.BufferSize.or(defaultProxyBufferSize),
		buffers:    d.Buffers.or(defaultProxyBuffers()),
	}
	b.largest = max(b.bufferSize, b.buffers.Size)
	b.busy = d.BusyBuffersSize.or(mulSat(2, b.largest))
	b.tempFileWrite = d.TempFileWriteSize.or(mulSat(2, b.largest))
	b.maxTempFile = d.MaxTempFileSize.or(defaultProxyMaxTempFileSize)
	return b
}

// check checks every module's set in effect at one level.
func (s *moduleSets) check(p *problems) {
	for i, d := range s.sets() {
		upstreamModules[i].check(d, p)
	}
}

// check is nginx -t's check of one module's set: the buffer directives
// from merge_loc_conf, in the same order and with the same messages (the
// module's names); like nginx it stops at the first failure. The message
// adds the values involved; the error points at the one written last,
// since that is usually the one just changed (and where nginx reports it).
func (m *upstreamModule) check(d *moduleDirectives, p *problems) {
	if o := d.TempPath; o.set() && strings.TrimSpace(o.v) == "" {
		p.add(o.at(), "%q must not be empty", directiveOf(o.at()))
	}
	if o := d.LimitRate; o.set() && o.v.Vars != "" {
		p.checkVariables(o.at(), directiveOf(o.at()), o.v.Vars)
	}
	if o := d.BufferSize; o.set() && o.v <= 0 {
		p.add(o.at(), "%q must be greater than 0", directiveOf(o.at()))
	}
	if !m.has("buffers") {
		// grpc: *_buffer_size is its one buffer (nginx's grpc module
		// checks nothing else), whatever proxy_buffers' default says.
		return
	}
	k := m.key
	b := d.buffers()
	if b.buffers.N < 2 {
		p.add(d.Buffers.at(), `there must be at least 2 "%s"`, k("buffers"))
		return
	}
	largest := fmt.Sprintf(`max(%s %s, %s size %s) = %s`,
		k("buffer_size"), formatSize(b.bufferSize), k("buffers"), formatSize(b.buffers.Size), formatSize(b.largest))
	busy := k("busy_buffers_size") + " " + formatSize(b.busy)
	if !d.BusyBuffersSize.set() {
		busy = fmt.Sprintf("default %s = 2 × %s", busy, formatSize(b.largest))
	}
	busyAt := p.latest(d.BusyBuffersSize.at(), d.BufferSize.at(), d.Buffers.at())
	if b.busy < b.largest {
		p.add(busyAt, `"%s" must be equal to or greater than the maximum of the value of "%s" and one of the "%s": %s < %s`,
			k("busy_buffers_size"), k("buffer_size"), k("buffers"), busy, largest)
		return
	}
	if all := mulSat(int64(b.buffers.N-1), b.buffers.Size); b.busy > all {
		p.add(busyAt, `"%s" must be less than the size of all "%s" minus one buffer: %s > (%d-1) × %s = %s`,
			k("busy_buffers_size"), k("buffers"), busy, b.buffers.N, formatSize(b.buffers.Size), formatSize(all))
		return
	}
	if b.tempFileWrite < b.largest {
		p.add(p.latest(d.TempFileWriteSize.at(), d.BufferSize.at(), d.Buffers.at()),
			`"%s" must be equal to or greater than the maximum of the value of "%s" and one of the "%s": %s %s < %s`,
			k("temp_file_write_size"), k("buffer_size"), k("buffers"), k("temp_file_write_size"), formatSize(b.tempFileWrite), largest)
		return
	}
	if b.maxTempFile != 0 && b.maxTempFile < b.largest {
		p.add(p.latest(d.MaxTempFileSize.at(), d.BufferSize.at(), d.Buffers.at()),
			`"%s" must be equal to zero to disable temporary files usage or must be equal to or greater than the maximum of the value of "%s" and one of the "%s": %s %s < %s`,
			k("max_temp_file_size"), k("buffer_size"), k("buffers"), k("max_temp_file_size"), formatSize(b.maxTempFile), largest)
	}
}

// resolve is the module's UpstreamConf from its set as inherited into a
// location, with nginx's defaults.
func (m *upstreamModule) resolve(d *moduleDirectives) UpstreamConf {
	b := d.buffers()
	return UpstreamConf{
		Module:         m.name,
		ConnectTimeout: d.ConnectTimeout.or(defaultProxyTimeout),
		SendTimeout:    d.SendTimeout.or(defaultProxyTimeout),
		ReadTimeout:    d.ReadTimeout.or(defaultProxyTimeout),

		Buffering:         d.Buffering.or(true),
		BufferSize:        b.bufferSize,
		Buffers:           b.buffers,
		BusyBuffersSize:   b.busy,
		MaxTempFileSize:   b.maxTempFile,
		TempFileWriteSize: b.tempFileWrite,
		TempPath:          d.TempPath.or(m.tempPath),
		SpillGrace:        d.SpillGrace.or(defaultSpillGrace),
		LimitRate:         d.LimitRate.or(SizeValue{}),

		RequestBuffering:   d.RequestBuffering.or(true),
		IgnoreClientAbort:  d.IgnoreClientAbort.or(false),
		PassRequestBody:    d.PassRequestBody.or(true),
		PassRequestHeaders: d.PassRequestHeaders.or(true),

		NextUpstream:        d.NextUpstream.or(defaultProxyNextUpstream),
		NextUpstreamTries:   d.NextUpstreamTries.or(0),
		NextUpstreamTimeout: d.NextUpstreamTimeout.or(0),

		InterceptErrors: d.InterceptErrors.or(false),
	}
}

// resolveHeaders fills in the module's part of loc.UpstreamHeaders:
// *_hide_header, *_pass_header and *_ignore_headers.
func (d *moduleDirectives) resolveHeaders(u *UpstreamHeaders, p *problems) {
	for _, h := range d.HideHeader.or(nil) {
		u.Hide = append(u.Hide, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, h := range d.PassHeader.or(nil) {
		c := textproto.CanonicalMIMEHeaderKey(h)
		if c == "Date" {
			p.add(d.PassHeader.at(), `"%s" cannot be passed: spillway always sends its own Date header`, h)
			continue
		}
		u.Pass = append(u.Pass, c)
	}
	for _, h := range d.IgnoreHeaders.or(nil) {
		c := textproto.CanonicalMIMEHeaderKey(h)
		if !slices.Contains(ignorable, c) {
			p.add(d.IgnoreHeaders.at(), `invalid value "%s"`, h)
		}
		u.IgnoreAccelBuffering = u.IgnoreAccelBuffering || c == "X-Accel-Buffering"
		u.IgnoreAccelRedirect = u.IgnoreAccelRedirect || c == "X-Accel-Redirect"
		u.IgnoreAccelLimitRate = u.IgnoreAccelLimitRate || c == "X-Accel-Limit-Rate"
	}
}
