package config

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/charset"
	"spillway/proxy/vars"
)

// The raw layer: proxy.yaml as written, decoded by viper/mapstructure into
// structs whose tags are the directive names. Contexts (the file, http, a
// server, a location, an upstream, an upstream server) are structs, so
// mapstructure reports unknown keys at every level; directive values are
// *opt[T], nil when the level does not set the directive. resolve.go turns
// this into the resolved Config.

// opt is one directive as written at one level: its parsed value and the key
// path it was written at. A nil *opt means "not set here", which is what
// nginx's inheritance (and its derived defaults) need to know.
type opt[T any] struct {
	v   T
	key string // e.g. "http.servers[0].proxy_buffers"; set by stamp after decoding
}

// or returns the value, or def when the directive is not set.
func (o *opt[T]) or(def T) T {
	if o == nil {
		return def
	}
	return o.v
}

// set reports whether the level sets the directive.
func (o *opt[T]) set() bool { return o != nil }

// at returns the key path the value was written at, "" when not set.
func (o *opt[T]) at() string {
	if o == nil {
		return ""
	}
	return o.key
}

func (o *opt[T]) setKey(k string) { o.key = k }

// Names for the value types of opt, so that the raw structs read like the
// reference table in docs/config.md.
type (
	size        = int64    // nginx size: "512", "8k", "1m"
	words       = []string // "a b c" or [a, b, c]
	listenAddrs []string   // one address per entry; a scalar is one entry
	httpVersion string     // "1.0" or "1.1"
	percent     float64    // "20%" as 0.2; "off" as 0
	checkType   = HealthCheckType
)

// proxyHTTPVersion is proxy_http_version: "1.0", "1.1" or "2.0" (nginx
// 1.29's "2"; "2" and 2 decode to "2.0").
type proxyHTTPVersion string

// ifModifiedSince is if_modified_since: "off", "exact" or "before".
type ifModifiedSince string

// rawFile is the whole file.
type rawFile struct {
	ErrorLog *opt[[]ErrorLog] `mapstructure:"error_log"` // one, or a list
	PID      *opt[string]     `mapstructure:"pid"`
	HTTP     *rawHTTP         `mapstructure:"http"`

	WorkerShutdownTimeout *opt[time.Duration] `mapstructure:"worker_shutdown_timeout"`
	Metrics               *rawMetrics         `mapstructure:"metrics"`
}

// rawMetrics is the top-level metrics section (spillway's own): the
// Prometheus listener.
type rawMetrics struct {
	Listen *opt[string] `mapstructure:"listen"`
}

// rawHTTP is the http section (nginx's http block).
type rawHTTP struct {
	BufferMemoryLimit *opt[size]             `mapstructure:"buffer_memory_limit"`
	LimitReqZone      *opt[[]LimitReqZone]   `mapstructure:"limit_req_zone"`  // limitreq.go
	LimitConnZone     *opt[[]LimitConnZone]  `mapstructure:"limit_conn_zone"` // limitconn.go
	Map               *opt[[]vars.MapDef]    `mapstructure:"map"`             // nginx's map blocks (maps.go)
	CharsetMap        *opt[[]charset.MapDef] `mapstructure:"charset_map"`     // charset.go
	TempFileLimit     *opt[size]             `mapstructure:"temp_file_limit"`
	Upstreams         map[string]rawUpstream `mapstructure:"upstreams"`
	Servers           []rawServer            `mapstructure:"servers"`

	serverDirectives   `mapstructure:",squash"`
	locationDirectives `mapstructure:",squash"`
}

// rawServer is one http.servers[] entry (nginx's server block).
type rawServer struct {
	Listen     *opt[listenAddrs] `mapstructure:"listen"`
	ServerName *opt[serverNames] `mapstructure:"server_name"`
	Locations  []rawLocation     `mapstructure:"locations"`
	Return     *opt[Return]      `mapstructure:"return"`  // rewrite.go
	Rewrite    *opt[[]Stmt]      `mapstructure:"rewrite"` // rewrite.go: the rewrite module's directives in order

	serverDirectives   `mapstructure:",squash"`
	locationDirectives `mapstructure:",squash"`
}

// rawLocation is one locations[] entry (nginx's location block).
type rawLocation struct {
	Path *opt[string] `mapstructure:"path"`
	// modulePasses are proxy_pass, fastcgi_pass and uwsgi_pass
	// (modules.go); at most one may be set.
	modulePasses `mapstructure:",squash"`
	// StubStatus answers the location with nginx's stub_status page instead
	// of proxying it.
	StubStatus *opt[bool] `mapstructure:"stub_status"`
	// Internal is nginx's "internal": the location answers only internal
	// redirects (try_files, index) and auth_request's subrequests; a
	// client asking for it gets 404 (access.go).
	Internal *opt[bool] `mapstructure:"internal"`
	// Return answers the location itself (rewrite.go).
	Return  *opt[Return] `mapstructure:"return"`
	Rewrite *opt[[]Stmt] `mapstructure:"rewrite"` // rewrite, set, if, break, return in order
	// Locations are the nested locations (nginx's location inside a
	// location), searched once this one matched (resolve.go).
	Locations []rawLocation `mapstructure:"locations"`
	// aliasFrom is the path of the enclosing prefix location whose alias
	// this nested location inherited ("" when it has its own, or none).
	aliasFrom string
	// ifBlock: this is an if block's own location ("if in location"),
	// whose enclosing location's script answers when nothing here does.
	ifBlock bool
	// LimitExcept is the limit_except block (limitexcept.go).
	LimitExcept *rawLimitExcept `mapstructure:"limit_except"`
	// lmtBlock: this is a limit_except block's own location, whose
	// methods may have no content when it denies them all.
	lmtBlock bool

	fastcgiLocationDirectives `mapstructure:",squash"` // fastcgi_split_path_info (fastcgi.go)
	staticLocationDirectives  `mapstructure:",squash"` // alias, try_files (static.go)
	locationDirectives        `mapstructure:",squash"`
}

// rawUpstream is one http.upstreams.<name> entry (nginx's upstream block).
type rawUpstream struct {
	Keepalive         *opt[int]           `mapstructure:"keepalive"`
	KeepaliveTimeout  *opt[time.Duration] `mapstructure:"keepalive_timeout"`
	KeepaliveRequests *opt[int]           `mapstructure:"keepalive_requests"`
	KeepaliveTime     *opt[time.Duration] `mapstructure:"keepalive_time"`
	KeepaliveLearn    *opt[bool]          `mapstructure:"keepalive_timeout_learn"`
	Servers           []rawUpstreamServer `mapstructure:"servers"`

	RetryBudget             *opt[percent] `mapstructure:"retry_budget"`
	RetryBudgetMinPerSecond *opt[int]     `mapstructure:"retry_budget_min_per_second"`

	LeastConn   *opt[bool]      `mapstructure:"least_conn"`
	Hash        *opt[words]     `mapstructure:"hash"`       // "KEY [consistent]"
	IPHash      *opt[bool]      `mapstructure:"ip_hash"`    // on
	Random      *opt[words]     `mapstructure:"random"`     // "on", "two" or "two least_conn"
	LeastTime   *opt[words]     `mapstructure:"least_time"` // "header|last_byte [inflight]" (NGINX Plus)
	HealthCheck *rawHealthCheck `mapstructure:"health_check"`

	// Zone is zone NAME [SIZE]: the shared memory newer nginx needs for
	// servers with resolve; spillway's state is one process's already.
	Zone               *opt[words]              `mapstructure:"zone"`
	Sticky             *opt[words]              `mapstructure:"sticky"` // sticky cookie NAME ... (sticky.go)
	resolverDirectives `mapstructure:",squash"` // resolver, resolver_timeout for resolve servers (resolver.go)
}

// rawHealthCheck is an upstream's health_check block (nginx Plus's
// health_check directive, with its parameters as keys).
type rawHealthCheck struct {
	Type     *opt[checkType]     `mapstructure:"type"`
	URI      *opt[string]        `mapstructure:"uri"`
	Interval *opt[time.Duration] `mapstructure:"interval"`
	Timeout  *opt[time.Duration] `mapstructure:"timeout"`
	Fails    *opt[int]           `mapstructure:"fails"`
	Passes   *opt[int]           `mapstructure:"passes"`
	Status   *opt[[]StatusRange] `mapstructure:"status"`
	Host     *opt[string]        `mapstructure:"host"`
}

// rawUpstreamServer is one entry of an upstream's servers (nginx's server
// directive inside upstream, with its parameters as keys).
type rawUpstreamServer struct {
	Address     *opt[string]        `mapstructure:"address"`
	Weight      *opt[int]           `mapstructure:"weight"`
	MaxFails    *opt[int]           `mapstructure:"max_fails"`
	MaxConns    *opt[int]           `mapstructure:"max_conns"`
	FailTimeout *opt[time.Duration] `mapstructure:"fail_timeout"`
	Backup      *opt[bool]          `mapstructure:"backup"`
	Down        *opt[bool]          `mapstructure:"down"`
	Resolve     *opt[bool]          `mapstructure:"resolve"` // re-resolve the name at its TTL (nginx 1.27.3)
	Service     *opt[string]        `mapstructure:"service"` // SRV records: _service._tcp.NAME (needs resolve)
	Drain       *opt[bool]          `mapstructure:"drain"`   // only requests bound to it by sticky (NGINX Plus)
	Route       *opt[string]        `mapstructure:"route"`   // the sticky cookie's value for this server (NGINX Plus)
}

// serverDirectives may be written in http and in a server; they resolve
// into Server.
type serverDirectives struct {
	ClientHeaderTimeout      *opt[time.Duration] `mapstructure:"client_header_timeout"`
	ClientHeaderBufferSize   *opt[size]          `mapstructure:"client_header_buffer_size"`
	LargeClientHeaderBuffers *opt[Buffers]       `mapstructure:"large_client_header_buffers"`
	UnderscoresInHeaders     *opt[bool]          `mapstructure:"underscores_in_headers"`
	MergeSlashes             *opt[bool]          `mapstructure:"merge_slashes"`

	sslDirectives   `mapstructure:",squash"` // ssl_* (tls.go)
	http2Directives `mapstructure:",squash"` // http2, http2_* (http2.go)
	http3Directives `mapstructure:",squash"` // http3, http3_*, quic_* (http3.go)
}

// locationDirectives may be written in http, in a server and in a location;
// they resolve into Location.
type locationDirectives struct {
	AccessLog        *opt[[]AccessLog]      `mapstructure:"access_log"` // one, or a list
	ErrorLog         *opt[[]ErrorLog]       `mapstructure:"error_log"`  // one, or a list: the lines about the level's requests
	ProxySetHeader   *opt[[]Header]         `mapstructure:"proxy_set_header"`
	ProxyHTTPVersion *opt[proxyHTTPVersion] `mapstructure:"proxy_http_version"`
	ProxyMethod      *opt[string]           `mapstructure:"proxy_method"`
	ProxySetBody     *opt[string]           `mapstructure:"proxy_set_body"`
	ProxyForceRanges *opt[bool]             `mapstructure:"proxy_force_ranges"`
	MaxRanges        *opt[int]              `mapstructure:"max_ranges"`
	IfModifiedSince  *opt[ifModifiedSince]  `mapstructure:"if_modified_since"`

	ClientMaxBodySize    *opt[size]          `mapstructure:"client_max_body_size"`
	ClientBodyBufferSize *opt[size]          `mapstructure:"client_body_buffer_size"`
	ClientBodyMemoryMax  *opt[size]          `mapstructure:"client_body_memory_max"` // spillway's own
	ClientBodyTempPath   *opt[string]        `mapstructure:"client_body_temp_path"`
	ClientBodyTimeout    *opt[time.Duration] `mapstructure:"client_body_timeout"`
	SendTimeout          *opt[time.Duration] `mapstructure:"send_timeout"`

	ProxyNextUpstreamBackoff *opt[time.Duration] `mapstructure:"proxy_next_upstream_backoff"`

	ProxyNextUpstreamIdempotencyKey *opt[bool] `mapstructure:"proxy_next_upstream_idempotency_key"`

	moduleSets        `mapstructure:",squash"` // proxy_*, fastcgi_*, uwsgi_* buffers, timeouts, retries, ... (modules.go)
	fastcgiDirectives `mapstructure:",squash"` // fastcgi_param, ..., root, lingering_* (fastcgi.go)
	uwsgiDirectives   `mapstructure:",squash"` // uwsgi_param, uwsgi_modifier* (uwsgi.go)
	grpcDirectives    `mapstructure:",squash"` // grpc_set_header, grpc_ssl_* (grpc.go)

	proxySSLDirectives `mapstructure:",squash"` // proxy_ssl_* (tls.go)

	accessDirectives    `mapstructure:",squash"` // allow/deny as access (access.go)
	limitReqDirectives  `mapstructure:",squash"` // limit_req* (limitreq.go)
	limitConnDirectives `mapstructure:",squash"` // limit_conn* (limitconn.go)
	limitRateDirectives `mapstructure:",squash"` // limit_rate, limit_rate_after (limitrate.go)
	headerDirectives    `mapstructure:",squash"` // add_header, expires (headers.go)
	gzipDirectives      `mapstructure:",squash"` // gzip* (gzip.go)
	charsetDirectives   `mapstructure:",squash"` // charset, source_charset, override_charset, charset_types (charset.go)
	staticDirectives    `mapstructure:",squash"` // index, types, default_type, etag, log_not_found (static.go)
	redirectDirectives  `mapstructure:",squash"` // absolute_redirect, *_in_redirect (rewrite.go)
	errorPageDirectives `mapstructure:",squash"` // error_page, recursive_error_pages (errorpage.go)

	upstreamHeaderDirectives `mapstructure:",squash"` // proxy_redirect, proxy_cookie_* (upstreamheaders.go)
	realIPDirectives         `mapstructure:",squash"` // set_real_ip_from, real_ip_header, real_ip_recursive (realip.go)
	resolverDirectives       `mapstructure:",squash"` // resolver, resolver_timeout (resolver.go)
	keepaliveDirectives      `mapstructure:",squash"` // keepalive_timeout, _requests, _time, _disable (keepalive.go)
}

// walkLocations calls f for each location of ls and, after it, those
// nested in it (depth first, in file order), with the directives of the
// level it inherits from (up: its server's, or its enclosing location's).
func walkLocations(ls []rawLocation, up *locationDirectives, f func(l *rawLocation, up *locationDirectives)) {
	for i := range ls {
		f(&ls[i], up)
		walkLocations(ls[i].Locations, &ls[i].locationDirectives, f)
	}
}

// inherit is nginx's merge_srv_conf: every directive d does not set is
// taken from its parent p.
func (d *serverDirectives) inherit(p *serverDirectives) {
	merge(&d.ClientHeaderTimeout, p.ClientHeaderTimeout)
	merge(&d.ClientHeaderBufferSize, p.ClientHeaderBufferSize)
	merge(&d.LargeClientHeaderBuffers, p.LargeClientHeaderBuffers)
	merge(&d.UnderscoresInHeaders, p.UnderscoresInHeaders)
	merge(&d.MergeSlashes, p.MergeSlashes)
	d.sslDirectives.inherit(&p.sslDirectives)
	d.http2Directives.inherit(&p.http2Directives)
	d.http3Directives.inherit(&p.http3Directives)
}

// inherit is nginx's merge_loc_conf: every directive d does not set is taken
// from its parent p. proxy_set_header is one directive here, so a level that
// sets any header replaces the inherited list as a whole, as in nginx.
func (d *locationDirectives) inherit(p *locationDirectives) {
	merge(&d.AccessLog, p.AccessLog)
	merge(&d.ErrorLog, p.ErrorLog)
	merge(&d.ProxySetHeader, p.ProxySetHeader)
	merge(&d.ProxyHTTPVersion, p.ProxyHTTPVersion)
	merge(&d.ProxyMethod, p.ProxyMethod)
	merge(&d.ProxySetBody, p.ProxySetBody)
	merge(&d.ProxyForceRanges, p.ProxyForceRanges)
	merge(&d.MaxRanges, p.MaxRanges)
	merge(&d.IfModifiedSince, p.IfModifiedSince)
	merge(&d.ClientMaxBodySize, p.ClientMaxBodySize)
	merge(&d.ClientBodyBufferSize, p.ClientBodyBufferSize)
	merge(&d.ClientBodyMemoryMax, p.ClientBodyMemoryMax)
	merge(&d.ClientBodyTempPath, p.ClientBodyTempPath)
	merge(&d.ClientBodyTimeout, p.ClientBodyTimeout)
	merge(&d.SendTimeout, p.SendTimeout)
	merge(&d.ProxyNextUpstreamBackoff, p.ProxyNextUpstreamBackoff)
	merge(&d.ProxyNextUpstreamIdempotencyKey, p.ProxyNextUpstreamIdempotencyKey)
	d.moduleSets.inherit(&p.moduleSets)
	d.fastcgiDirectives.inherit(&p.fastcgiDirectives)
	d.uwsgiDirectives.inherit(&p.uwsgiDirectives)
	d.grpcDirectives.inherit(&p.grpcDirectives)
	d.proxySSLDirectives.inherit(&p.proxySSLDirectives)
	d.accessDirectives.inherit(&p.accessDirectives)
	d.limitReqDirectives.inherit(&p.limitReqDirectives)
	d.limitConnDirectives.inherit(&p.limitConnDirectives)
	d.limitRateDirectives.inherit(&p.limitRateDirectives)
	d.headerDirectives.inherit(&p.headerDirectives)
	d.gzipDirectives.inherit(&p.gzipDirectives)
	d.charsetDirectives.inherit(&p.charsetDirectives)
	d.staticDirectives.inherit(&p.staticDirectives)
	d.redirectDirectives.inherit(&p.redirectDirectives)
	d.errorPageDirectives.inherit(&p.errorPageDirectives)
	d.upstreamHeaderDirectives.inherit(&p.upstreamHeaderDirectives)
	d.resolverDirectives.inherit(&p.resolverDirectives)
	d.realIPDirectives.inherit(&p.realIPDirectives)
	d.keepaliveDirectives.inherit(&p.keepaliveDirectives)
}

// merge sets *child to parent when the child level does not set the
// directive. The *opt is shared, so it still knows where it was written.
func merge[T any](child **opt[T], parent *opt[T]) {
	if *child == nil {
		*child = parent
	}
}

// The rest of this file reads the raw structs' tags with reflection, so that
// the list of keys is written once, in the structs above.

// field is one tagged field of a raw struct; squashed directive sets are
// flattened into their context.
type field struct {
	name  string
	index []int
	typ   reflect.Type
}

// fieldsOf lists the keys of a raw context struct type.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, rest, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if rest == "squash" {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				fs = append(fs, sub)
			}
			continue
		}
		if name != "" && name != "-" {
			fs = append(fs, field{name: name, index: []int{i}, typ: f.Type})
		}
	}
	return fs
}

// keyed is implemented by *opt[T]: a directive value that records its key.
type keyed interface{ setKey(string) }

// stamp records in every *opt under v the key path it was decoded from,
// using mapstructure's path syntax (http.servers[0].proxy_buffers,
// http.upstreams[app].keepalive), so that an error about an inherited value
// can point at the line where it was written.
func stamp(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(reflect.TypeFor[keyed]()) {
			v.Interface().(keyed).setKey(path)
			return
		}
		stamp(v.Elem(), path)
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			stamp(v.FieldByIndex(f.index), joinKey(path, f.name))
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stamp(v.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			// Map values are not addressable; the *opt pointers inside a copy
			// are the same pointers, so stamping the copy is enough.
			stamp(it.Value(), path+"["+it.Key().String()+"]")
		}
	}
}

// joinKey appends a key to a key path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// context is one kind of block of the file, for "not allowed here" errors
// and for the reference documentation.
type context struct {
	name string
	typ  reflect.Type
}

// contexts lists the blocks of the file, outermost first.
func contexts() []context {
	return []context{
		{"top level", reflect.TypeFor[rawFile]()},
		{"http", reflect.TypeFor[rawHTTP]()},
		{"server", reflect.TypeFor[rawServer]()},
		{"location", reflect.TypeFor[rawLocation]()},
		{"limit_except", reflect.TypeFor[rawLimitExcept]()},
		{"upstream", reflect.TypeFor[rawUpstream]()},
		{"upstream server", reflect.TypeFor[rawUpstreamServer]()},
		{"health_check", reflect.TypeFor[rawHealthCheck]()},
		{"metrics", reflect.TypeFor[rawMetrics]()},
	}
}

// allowedIn returns the contexts where key is a valid key.
func allowedIn(key string) []string {
	var in []string
	for _, c := range contexts() {
		for _, f := range fieldsOf(c.typ) {
			if f.name == key {
				in = append(in, c.name)
			}
		}
	}
	return in
}

// envKeys lists the keys viper binds to environment variables: the
// directives of the top level and of http (lists such as servers cannot be
// addressed by a variable). error_log and access_log are bound by sub-key
// (SPILLWAY_ERROR_LOG_LEVEL), the other directives as a whole
// (SPILLWAY_HTTP_PROXY_BUFFERS="4 8k"). Keys use "." between levels.
func envKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for _, f := range fieldsOf(t) {
			key := joinKey(prefix, f.name)
			switch {
			case f.typ.Implements(reflect.TypeFor[keyed]()):
				switch f.typ {
				case reflect.TypeFor[*opt[[]ErrorLog]]():
					keys = append(keys, key+".path", key+".level")
				case reflect.TypeFor[*opt[[]AccessLog]]():
					keys = append(keys, key+".path", key+".format")
				default:
					keys = append(keys, key)
				}
			case f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Struct:
				walk(f.typ.Elem(), key)
			}
		}
	}
	walk(reflect.TypeFor[rawFile](), "")
	return keys
}

// EnvOverrides lists the environment variables (NAME=value, sorted) that
// override a directive of a proxy.yaml: SPILLWAY_ plus a bound key's path
// with "_" between levels. Other SPILLWAY_* variables (the test suite's
// SPILLWAY_REQUIRE_*, say) override nothing and are not listed.
func EnvOverrides() []string {
	var out []string
	for _, key := range envKeys() {
		name := strings.ToUpper(envPrefix + "_" + strings.ReplaceAll(key, ".", "_"))
		if v, ok := os.LookupEnv(name); ok && v != "" {
			out = append(out, name+"="+v)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
