package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// nginx's defaults (ngx_http_proxy_module, ngx_http_core_module,
// ngx_http_upstream_module, ngx_http_upstream_keepalive_module), plus
// spillway's own buffer_memory_limit. docs/config.md lists them per key.
const (
	defaultErrorLogPath  = "logs/error.log"
	defaultErrorLogLevel = LevelError
	defaultAccessLogPath = "logs/access.log"
	defaultAccessFormat  = "combined"

	defaultBufferMemoryLimit = 64 << 20
	// defaultClientBodyMemoryMax: a body up to nginx's default
	// client_max_body_size stays in memory while the budget allows
	// (docs/config.md, client_body_memory_max).
	defaultClientBodyMemoryMax = 1 << 20

	defaultProxyHTTPVersion     = "1.0"
	defaultProxyTimeout         = 60 * time.Second // connect, send and read
	defaultProxyBufferSize      = 4 << 10          // one page
	defaultProxyMaxTempFileSize = 1024 << 20
	// defaultSpillGrace: a client may keep a response waiting this long in
	// all before it is spilled (docs/config.md, proxy_spill_grace).
	defaultSpillGrace            = 50 * time.Millisecond
	defaultClientMaxBodySize     = 1 << 20
	defaultClientBodyBufferSize  = 16 << 10 // two pages
	defaultClientBodyTempPath    = "temp/client"
	defaultClientBodyTimeout     = 60 * time.Second
	defaultSendTimeout           = 60 * time.Second
	defaultProxyNextUpstream     = NextError | NextTimeout
	defaultClientHeaderTimeout   = 60 * time.Second
	defaultClientHeaderBufSize   = 1 << 10
	defaultKeepaliveTimeout      = 75 * time.Second
	defaultKeepaliveRequests     = 1000
	defaultUpstreamKeepaliveTime = 60 * time.Second
	defaultUpstreamKeepaliveReqs = 1000
	defaultWeight                = 1
	defaultMaxFails              = 1
	defaultFailTimeout           = 10 * time.Second
	defaultRetryBudget           = 0.2 // spillway's own: retries add at most 20% to the requests
	defaultRetryBudgetMinPerSec  = 10
	defaultCheckURI              = "/"
	defaultCheckInterval         = 5 * time.Second
	defaultCheckTimeout          = time.Second
	defaultCheckFails            = 1
	defaultCheckPasses           = 1
)

// defaultCheckStatus is health_check status when not set: 2xx and 3xx, as
// nginx Plus's default match.
func defaultCheckStatus() []StatusRange { return []StatusRange{{200, 399}} }

// nginx's proxy_buffers default (8 4k) and large_client_header_buffers
// default (4 8k).
func defaultProxyBuffers() Buffers             { return Buffers{N: 8, Size: 4 << 10} }
func defaultLargeClientHeaderBuffers() Buffers { return Buffers{N: 4, Size: 8 << 10} }

// defaultHeaders are the proxy_set_header entries nginx adds to every
// location's list unless the list sets a header of the same name.
func defaultHeaders() []Header {
	return []Header{{Name: "Host", Value: "$proxy_host"}, {Name: "Connection", Value: "close"}}
}

// resolve builds the Config from the raw file: it applies nginx's
// inheritance (http → server → location), fills in the defaults and records
// every problem in p.
func resolve(raw *rawFile, p *problems) *Config {
	c := &Config{
		ErrorLogs: resolveErrorLogs(raw.ErrorLog),
		PID:       raw.PID.or(""),
		Upstreams: map[string]*Upstream{},

		WorkerShutdownTimeout: raw.WorkerShutdownTimeout.or(0),
	}
	c.ErrorLog = c.ErrorLogs[0]
	checkErrorLogs(raw.ErrorLog, p)
	if c.WorkerShutdownTimeout < 0 {
		p.add(raw.WorkerShutdownTimeout.at(), `"worker_shutdown_timeout" must not be negative`)
	}
	if raw.Metrics != nil {
		c.MetricsListen = raw.Metrics.Listen.or("")
		if c.MetricsListen != "" {
			if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
				p.add(raw.Metrics.Listen.at(), "invalid metrics listen address %q: %v", c.MetricsListen, err)
			}
		}
	}
	h := raw.HTTP
	if h == nil {
		p.add("", `no "http" section: at least one server must be defined in http.servers`)
		return c
	}
	c.BufferMemoryLimit = h.BufferMemoryLimit.or(defaultBufferMemoryLimit)
	c.TempFileLimit = h.TempFileLimit.or(0) // a size is never negative
	if c.BufferMemoryLimit <= 0 {
		p.add(h.BufferMemoryLimit.at(), `"buffer_memory_limit" must be greater than 0`)
	}

	sets := authRequestSetNames(h) // in scope everywhere, maps included (authrequest.go)
	c.SetVars = h.scriptVars(p)    // set's likewise (rewrite.go)
	c.Captures = h.captureNames()  // and named captures' (rewrite.go)
	sets = append(sets, c.Captures...)
	c.Maps = resolveMaps(h.Map, append(slices.Clone(sets), c.SetVars...), p)
	p.mapNames = append(p.mapNames, sets...)
	p.mapNames = append(p.mapNames, c.SetVars...)
	p.charsets = resolveCharsetMaps(h.CharsetMap, p) // charset.go
	names := make([]string, 0, len(h.Upstreams))
	for name := range h.Upstreams {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		u := h.Upstreams[name]
		c.Upstreams[name] = resolveUpstream(name, &u, "http.upstreams["+name+"]", &h.resolverDirectives, p)
	}
	// viper drops keys whose value is empty ("app: {}"), so an upstream
	// without servers only shows in the YAML tree.
	known := map[string]bool{}
	for name := range c.Upstreams {
		known[name] = true
	}
	for _, name := range p.mappingKeys("http.upstreams") {
		if name = strings.ToLower(name); !known[name] {
			known[name] = true
			p.add("http.upstreams["+name+"]", "no servers are inside upstream")
		}
	}

	h.checkDirectives(p)
	if len(h.Servers) == 0 {
		p.add("http", `no servers are defined: http.servers needs at least one server with "listen" and "locations"`)
	}
	for i := range h.Servers {
		s := &h.Servers[i]
		s.serverDirectives.inherit(&h.serverDirectives)
		s.locationDirectives.inherit(&h.locationDirectives)
		c.Servers = append(c.Servers, resolveServer(s, fmt.Sprintf("http.servers[%d]", i), known, p))
	}
	c.setCharsets(p.charsets) // charset.go
	c.LimitReqZones = resolveLimitReqZones(h, p)
	c.LimitConnZones = resolveLimitConnZones(h, p)
	checkServerNames(c.Servers, h.Servers, p)
	checkDefaultServers(c.Servers, h.Servers, p)
	checkSSLAddresses(c.Servers, h.Servers, p)
	return c
}

// absolutePaths joins every relative file path to prefix, as nginx joins
// them to its prefix (-p), so that the running proxy does not depend on its
// working directory (a "spillway -s reopen" from logrotate runs in /) and
// logs absolute temp-file paths.
func (c *Config) absolutePaths(prefix string) {
	c.Prefix = prefix
	abs := func(p *string) {
		if *p != "" && *p != "stderr" && !filepath.IsAbs(*p) {
			*p = filepath.Join(prefix, *p)
		}
	}
	abs(&c.ErrorLog.Path)
	for i := range c.ErrorLogs {
		abs(&c.ErrorLogs[i].Path)
	}
	abs(&c.PID)
	for _, s := range c.Servers {
		if !s.AccessLog.Off {
			abs(&s.AccessLog.Path)
		}
		for i := range s.AccessLogs {
			abs(&s.AccessLogs[i].Path)
		}
		for i := range s.ErrorLogs {
			abs(&s.ErrorLogs[i].Path)
		}
		for _, l := range s.AllLocations() {
			for i := range l.AccessLogs {
				abs(&l.AccessLogs[i].Path)
			}
			for i := range l.ErrorLogs {
				abs(&l.ErrorLogs[i].Path)
			}
			for _, in := range l.IfLocations() {
				for i := range in.AccessLogs {
					abs(&in.AccessLogs[i].Path)
				}
				for i := range in.ErrorLogs {
					abs(&in.ErrorLogs[i].Path)
				}
				abs(&in.Root)
			}
			abs(&l.Upstream.TempPath)
			abs(&l.ClientBodyTempPath)
			abs(&l.Root)
		}
	}
}

// IfLocations are the Locations of l's if blocks that set location
// directives (nginx's "if in location"), nested ones too, in file order,
// then its limit_except block's: the locations a request can switch to
// once l was found.
func (l *Location) IfLocations() []*Location {
	var out []*Location
	forIfLocations(l.Script, func(in *Location) { out = append(out, in) })
	if l.LimitExcept != nil {
		out = append(out, l.LimitExcept.Location)
	}
	return out
}

// forIfLocations calls fn for the Location of every if block of sc that
// has one, nested ones too.
func forIfLocations(sc []Stmt, fn func(*Location)) {
	for _, st := range sc {
		if st.Kind != StmtIf {
			continue
		}
		if st.If.Location != nil {
			fn(st.If.Location)
			forIfLocations(st.If.Location.Script, fn)
		}
		forIfLocations(st.If.Body, fn)
	}
}

// confPath joins a relative certificate path to the configuration file's
// directory, where nginx reads certificates from (its conf prefix, not -p).
func (p *problems) confPath(f string) string {
	if f == "" || filepath.IsAbs(f) {
		return f
	}
	if dir := filepath.Dir(p.file); dir != "." {
		return filepath.Join(dir, f)
	}
	return f
}

// checkDirectives checks the directives as they are in effect at one level:
// nginx checks its merged configuration at every level, so a bad http-level
// value is reported even if every location overrides it.
func (h *rawHTTP) checkDirectives(p *problems) {
	h.serverDirectives.check(p)
	h.locationDirectives.check(p)
}

func resolveErrorLogs(o *opt[[]ErrorLog]) []ErrorLog {
	logs := slices.Clone(o.or([]ErrorLog{{Level: -1}}))
	for i := range logs {
		if logs[i].Path == "" {
			logs[i].Path = defaultErrorLogPath
		}
		if logs[i].Level < 0 { // errorLogFrom leaves -1 when no level is given
			logs[i].Level = defaultErrorLogLevel
		}
	}
	return logs
}

// resolveLevelErrorLogs is the error_log in effect at the http, server or
// location level: nil when none of them sets one, so the level writes to
// the main error_log (nginx's http level inherits the main one).
func resolveLevelErrorLogs(o *opt[[]ErrorLog]) []ErrorLog {
	if !o.set() {
		return nil
	}
	return resolveErrorLogs(o)
}

// resolveAccessLogs is a level's access logs: nginx's default one when
// none is set, and just {Off: true} when one of them is off (nginx's
// log handler stops at "off" whatever else the level lists).
func resolveAccessLogs(o *opt[[]AccessLog]) []AccessLog {
	logs := slices.Clone(o.or([]AccessLog{{}}))
	for i := range logs {
		l := &logs[i]
		if l.Off {
			return []AccessLog{{Off: true}}
		}
		if l.Path == "" {
			l.Path = defaultAccessLogPath
		}
		if l.Format == "" {
			l.Format = defaultAccessFormat
		}
	}
	return logs
}

func resolveUpstream(name string, u *rawUpstream, key string, http *resolverDirectives, p *problems) *Upstream {
	up := &Upstream{
		Name:              name,
		Keepalive:         u.Keepalive.or(0),
		KeepaliveTimeout:  u.KeepaliveTimeout.or(defaultUpstreamKeepaliveTime),
		KeepaliveRequests: u.KeepaliveRequests.or(defaultUpstreamKeepaliveReqs),
		KeepaliveTime:     u.KeepaliveTime.or(defaultKeepaliveTime),
		KeepaliveLearn:    u.KeepaliveLearn.or(true),

		RetryBudget:             float64(u.RetryBudget.or(defaultRetryBudget)),
		RetryBudgetMinPerSecond: u.RetryBudgetMinPerSecond.or(defaultRetryBudgetMinPerSec),
		LeastConn:               u.LeastConn.or(false),
	}
	up.HealthCheck = resolveHealthCheck(u.HealthCheck, key+".health_check", p)
	resolveBalance(up, u, p)
	if len(u.Servers) == 0 {
		p.add(key, "no servers are inside upstream")
	}
	for i, s := range u.Servers {
		if !s.Address.set() {
			p.add(fmt.Sprintf("%s.servers[%d]", key, i), `upstream server has no "address" (host:port)`)
			continue
		}
		addr, err := upstreamAddress(s.Address.v)
		if err != nil {
			p.add(s.Address.at(), "%v", err)
		}
		us := UpstreamServer{
			Address:     addr,
			Name:        strings.TrimSpace(s.Address.v),
			Weight:      s.Weight.or(defaultWeight),
			MaxFails:    s.MaxFails.or(defaultMaxFails),
			MaxConns:    s.MaxConns.or(0),
			FailTimeout: s.FailTimeout.or(defaultFailTimeout),
			Backup:      s.Backup.or(false),
			Down:        s.Down.or(false),
		}
		if us.Backup && up.balanced() {
			p.add(s.Backup.at(), `balancing method does not support parameter "backup"`)
		}
		if us.MaxConns < 0 {
			p.add(s.MaxConns.at(), `invalid parameter "max_conns=%d"`, us.MaxConns)
		}
		if us.Weight < 1 {
			p.add(s.Weight.at(), `invalid parameter "weight=%d": the weight must be 1 or more`, us.Weight)
		}
		resolveServerResolve(up, &us, &s, p)
		us.Route = s.Route.or("")
		us.Drain = s.Drain.or(false)
		up.Servers = append(up.Servers, us)
	}
	if u.Zone.set() {
		if z := u.Zone.v; len(z) < 1 || len(z) > 2 {
			p.add(u.Zone.at(), `invalid number of arguments in "zone" directive`)
		} else {
			up.Zone = z[0]
		}
	}
	resolveSticky(up, u, p)
	u.resolverDirectives.inherit(http)
	if r := u.resolverDirectives.resolve(p); slices.ContainsFunc(up.Servers, func(s UpstreamServer) bool { return s.Resolve }) {
		up.Resolver = r // only what uses it: an unchanged group survives a reload (site.go)
	}
	for i, s := range up.Servers {
		if !s.Resolve {
			continue
		}
		at := u.Servers[i].Resolve.at()
		switch {
		case up.Zone == "":
			p.add(at, `resolving names at run time requires upstream "%s" to be in shared memory`, name)
		case len(up.Resolver.Servers) == 0:
			p.add(at, `no resolver defined to resolve names at run time in upstream "%s"`, name)
		case up.HealthCheck != nil:
			p.add(at, `"resolve" with "health_check" in upstream "%s" is not implemented: the resolved servers would not be checked`, name)
		}
	}
	return up
}

// resolveServerResolve reads a server's resolve and service= with nginx
// 1.27.3's checks: service= needs resolve and a name without a port; an
// IP address is never resolved (nginx uses it as written).
func resolveServerResolve(up *Upstream, us *UpstreamServer, s *rawUpstreamServer, p *problems) {
	us.Service = s.Service.or("")
	if !s.Resolve.or(false) {
		if s.Service.set() {
			p.add(s.Service.at(), `service upstream "%s" requires "resolve" parameter`, us.Name)
		}
		return
	}
	host, _, err := net.SplitHostPort(us.Address)
	if err != nil || strings.HasPrefix(us.Address, "unix:") {
		return // reported by upstreamAddress, or a socket: nothing to resolve
	}
	if _, err := netip.ParseAddr(host); err == nil {
		if s.Service.set() {
			p.add(s.Service.at(), `service upstream "%s" requires domain name`, us.Name)
		}
		return
	}
	if s.Service.set() {
		if us.Service == "" {
			p.add(s.Service.at(), `invalid parameter "service="`)
		}
		if _, _, err := net.SplitHostPort(us.Name); err == nil {
			p.add(s.Service.at(), `service upstream "%s" may not have port`, us.Name)
		}
	}
	us.Resolve = true
}

// resolveBalance reads the balancing method: least_conn, hash, ip_hash or
// random, at most one of them (nginx warns "load balancing method
// redefined" and keeps the last; a YAML mapping has no order, so spillway
// refuses two).
func resolveBalance(up *Upstream, u *rawUpstream, p *problems) {
	var set []string
	if u.LeastConn.or(false) {
		set = append(set, u.LeastConn.at())
	}
	if u.Hash.set() {
		set = append(set, u.Hash.at())
		ws := u.Hash.v
		switch {
		case len(ws) == 2 && ws[1] == "consistent":
			up.HashConsistent = true
		case len(ws) != 1:
			p.add(u.Hash.at(), `invalid parameter "%s"`, ws[len(ws)-1])
		}
		up.Hash = ws[0]
	}
	if u.IPHash.or(false) {
		set = append(set, u.IPHash.at())
		up.IPHash = true
	}
	if u.Random.set() && !slices.Equal(u.Random.v, []string{"off"}) {
		set = append(set, u.Random.at())
		ws := u.Random.v
		up.Random = true
		switch {
		case len(ws) == 1 && (ws[0] == "on" || ws[0] == "two"):
			up.RandomTwo = ws[0] == "two"
		case len(ws) == 2 && ws[0] == "two" && ws[1] == "least_conn":
			up.RandomTwo = true
		default:
			p.add(u.Random.at(), `invalid parameter "%s"`, ws[len(ws)-1])
		}
	}
	if u.LeastTime.set() {
		set = append(set, u.LeastTime.at())
		ws := u.LeastTime.v
		up.LeastTime = true
		switch {
		case len(ws) == 0 || len(ws) > 2:
			p.add(u.LeastTime.at(), `invalid number of arguments in "least_time" directive`)
		case ws[0] != "header" && ws[0] != "last_byte":
			p.add(u.LeastTime.at(), `invalid parameter "%s"`, ws[0])
		case len(ws) == 2 && ws[1] != "inflight":
			p.add(u.LeastTime.at(), `invalid parameter "%s"`, ws[1])
		}
		up.LeastTimeHeader = len(ws) > 0 && ws[0] == "header"
		up.LeastTimeInflight = len(ws) == 2 && ws[1] == "inflight"
	}
	if len(set) > 1 {
		slices.SortStableFunc(set, func(a, b string) int { return lineOf(p.doc, a) - lineOf(p.doc, b) })
		p.add(set[1], `load balancing method redefined: %q and %q are both set`, lastKey(set[0]), lastKey(set[1]))
	}
}

func lastKey(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// balanced reports whether the group uses hash, ip_hash or random, which
// have no backup servers (nginx).
func (u *Upstream) balanced() bool { return u.Hash != "" || u.IPHash || u.Random }

// resolveHealthCheck resolves an upstream's health_check block; nil when the
// upstream has none. viper drops an empty mapping, so "health_check: {}"
// (every default) is found in the YAML tree.
func resolveHealthCheck(h *rawHealthCheck, key string, p *problems) *HealthCheck {
	if h == nil {
		n := nodeAt(p.doc, key)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		h = &rawHealthCheck{}
	}
	hc := &HealthCheck{
		Type:     h.Type.or(HealthCheckHTTP),
		URI:      h.URI.or(defaultCheckURI),
		Interval: h.Interval.or(defaultCheckInterval),
		Timeout:  h.Timeout.or(defaultCheckTimeout),
		Fails:    h.Fails.or(defaultCheckFails),
		Passes:   h.Passes.or(defaultCheckPasses),
		Status:   h.Status.or(defaultCheckStatus()),
		Host:     h.Host.or(""),
	}
	if hc.Type == HealthCheckTCP {
		for _, o := range []interface{ at() string }{h.URI, h.Status, h.Host} {
			if at := o.at(); at != "" {
				p.add(at, `%q is only for "type: http" health checks`, directiveOf(at))
			}
		}
	}
	if h.URI.set() && !validCheckURI(hc.URI) {
		p.add(h.URI.at(), `invalid "health_check.uri" %q: it must start with "/" and have no spaces or control characters`, hc.URI)
	}
	if hc.Interval <= 0 {
		p.add(h.Interval.at(), `"health_check.interval" must be greater than 0`)
	}
	switch {
	case hc.Timeout <= 0:
		p.add(h.Timeout.at(), `"health_check.timeout" must be greater than 0`)
	case hc.Timeout > hc.Interval && hc.Interval > 0:
		p.add(p.latest(h.Timeout.at(), h.Interval.at()), `"health_check.timeout" %s must not be greater than "health_check.interval" %s`,
			formatDuration(hc.Timeout), formatDuration(hc.Interval))
	}
	for _, o := range []*opt[int]{h.Fails, h.Passes} {
		if o.set() && o.v < 1 {
			p.add(o.at(), "%q must be 1 or more", directiveOf(o.at()))
		}
	}
	if h.Host.set() && !validCheckHost(hc.Host) {
		p.add(h.Host.at(), `invalid "health_check.host" %q: want a host name, optionally with a port`, hc.Host)
	}
	return hc
}

// validCheckURI reports whether a health_check uri can be sent as is on a
// request line.
func validCheckURI(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validCheckHost reports whether a health_check host can be sent as a Host
// header value.
func validCheckHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"/\<>@{}|^`+"`", c) >= 0 {
			return false
		}
	}
	return true
}

func resolveServer(s *rawServer, key string, upstreams map[string]bool, p *problems) *Server {
	srv := &Server{
		AccessLogs:               resolveAccessLogs(s.locationDirectives.AccessLog),
		ErrorLogs:                resolveLevelErrorLogs(s.locationDirectives.ErrorLog),
		ClientHeaderTimeout:      s.ClientHeaderTimeout.or(defaultClientHeaderTimeout),
		ClientHeaderBufferSize:   s.ClientHeaderBufferSize.or(defaultClientHeaderBufSize),
		LargeClientHeaderBuffers: s.LargeClientHeaderBuffers.or(defaultLargeClientHeaderBuffers()),
		Keepalive:                s.keepaliveDirectives.resolve(),
		UnderscoresInHeaders:     s.UnderscoresInHeaders.or(false),
		MergeSlashes:             s.MergeSlashes.or(true),
		ClientMaxBodySize:        s.ClientMaxBodySize.or(defaultClientMaxBodySize),
		Access:                   s.accessDirectives.resolve(),
		AuthBasic:                s.accessDirectives.authBasic(),
		SatisfyAny:               s.accessDirectives.satisfyAny(),
		AuthRequest:              s.accessDirectives.authRequest(),
		LimitReq:                 s.limitReqDirectives.resolve(),
		LimitConn:                s.limitConnDirectives.resolve(),
		Headers:                  s.headerDirectives.resolve(),
		Gzip:                     s.gzipDirectives.resolve(),
		ErrorPages:               s.errorPageDirectives.resolve(),
		Charset:                  s.charsetDirectives.resolve(),
		RealIP:                   s.realIPDirectives.resolve(p),
	}
	srv.ServerName = resolveServerNames(s.ServerName.or(nil), s.ServerName.at(), p) // nginx compares names lower-cased, regexes aside (servername.go)
	if !s.Listen.set() {
		p.add(key, `server has no "listen": add listen: ["127.0.0.1:8080"]`)
	}
	var quic []string
	for i, a := range s.Listen.or(nil) {
		if a, ok := cutListenQUIC(a); ok {
			addr, err := listenAddress(a)
			if err != nil {
				p.add(fmt.Sprintf("%s[%d]", s.Listen.at(), i), "%v", err)
			} else if s.HTTP3.or(true) {
				quic = append(quic, addr)
			}
			continue
		}
		a, ssl := cutListenSSL(a)
		a, h2 := cutListenHTTP2(a)
		a, def := cutListenDefault(a)
		a, pp := cutListenProxyProtocol(a) // realip.go
		addr, err := listenAddress(a)
		switch {
		case err != nil:
			p.add(fmt.Sprintf("%s[%d]", s.Listen.at(), i), "%v", err)
		case slices.Contains(srv.Listen, addr):
			p.add(fmt.Sprintf("%s[%d]", s.Listen.at(), i), "a duplicate listen %s", addr)
		default:
			srv.Listen = append(srv.Listen, addr)
			if ssl {
				srv.ListenSSL = append(srv.ListenSSL, addr)
			}
			if h2 || s.HTTP2.or(false) {
				srv.ListenHTTP2 = append(srv.ListenHTTP2, addr)
			}
			if def {
				srv.ListenDefault = append(srv.ListenDefault, addr)
			}
			if pp {
				srv.ListenProxyProtocol = append(srv.ListenProxyProtocol, addr)
			}
		}
	}
	srv.AccessLog = srv.AccessLogs[0]
	srv.TLS = resolveServerTLS(&s.sslDirectives, srv, s.Listen.at(), p)
	srv.HTTP2 = s.http2Directives.resolve(srv)
	for _, addr := range quic {
		// The QUIC socket takes the certificates of the TCP "ssl"
		// address of the same host:port (nginx: the server's ssl_*).
		if !slices.Contains(srv.ListenSSL, addr) {
			p.add(s.Listen.at(), `"quic" on %s needs the same address with "ssl" in this server: HTTP/3 uses its certificates`, addr)
			continue
		}
		if !slices.Contains(srv.ListenQUIC, addr) {
			srv.ListenQUIC = append(srv.ListenQUIC, addr)
		}
	}
	srv.HTTP3 = s.http3Directives.resolve(srv)

	srv.Script = script(s.Rewrite, s.Return)
	srv.RewriteLog = s.RewriteLog.or(false)
	srv.UninitializedVariableWarn = s.UninitializedVariableWarn.or(true)
	srv.Redirect = s.redirectDirectives.resolve()
	checkServerScript(srv.Script, s.Rewrite.at(), p)
	s.checkDirectives(p)
	if len(s.Locations) == 0 && len(srv.Script) == 0 {
		p.add(key, `server has no locations: add locations: [{path: /, proxy_pass: http://...}]`)
	}
	seen := map[string]bool{}
	for j := range s.Locations {
		l := &s.Locations[j]
		l.locationDirectives.inherit(&s.locationDirectives)
		loc := resolveLocation(l, fmt.Sprintf("%s.locations[%d]", key, j), upstreams, p)
		if id, ok := locationID(loc); ok {
			if seen[id] {
				p.add(l.Path.at(), "duplicate location %q", l.Path.v)
			}
			seen[id] = true
		}
		srv.Locations = append(srv.Locations, loc)
	}
	checkNamedTargets(srv, s, p) // try_files's @name (static.go)
	return srv
}

func (s *rawServer) checkDirectives(p *problems) {
	s.serverDirectives.check(p)
	s.locationDirectives.check(p)
}

func resolveLocation(l *rawLocation, key string, upstreams map[string]bool, p *problems) *Location {
	loc := &Location{AccessLogs: resolveAccessLogs(l.AccessLog), ErrorLogs: resolveLevelErrorLogs(l.ErrorLog)}
	if l.Path.set() {
		var err error
		if loc.Path, loc.Match, loc.Regex, err = parseLocationPath(l.Path.v); err != nil {
			p.add(l.Path.at(), "%v", err)
		}
	} else {
		p.add(key, `location has no "path"`)
	}
	if l.ProxyPass.set() {
		pp, err := parseProxyPass(l.ProxyPass.v, upstreams)
		switch {
		case pp.Value != "":
			p.checkPassVariables(l.ProxyPass.at(), "proxy_pass", pp.Value)
		case err != nil:
			p.add(l.ProxyPass.at(), "%v", err)
		case pp.HasURI && (loc.Regex != nil || loc.Match == MatchNamed):
			p.add(l.ProxyPass.at(), `"proxy_pass" cannot have URI part in location given by regular expression`)
		}
		loc.ProxyPass = pp
	}
	loc.ProxySSL = resolveProxySSL(&l.proxySSLDirectives, loc.ProxyPass, p)
	loc.StubStatus = l.StubStatus.or(false)
	loc.Internal = l.Internal.or(false)
	loc.Script = script(l.Rewrite, l.Return)
	loc.RewriteLog = l.RewriteLog.or(false)
	loc.UninitializedVariableWarn = l.UninitializedVariableWarn.or(true)
	loc.Redirect = l.redirectDirectives.resolve()
	switch {
	case loc.StubStatus && l.ProxyPass.set():
		p.add(l.StubStatus.at(), `"stub_status" and "proxy_pass" cannot both be set in one location`)
	case !loc.StubStatus && !l.ifBlock && !l.lmtBlock && !l.passesUpstream() && !l.accessDirectives.deniesAll() && !l.Internal.or(false) && !l.servesFiles() && len(loc.Script) == 0:
		p.add(key, `location has no "proxy_pass"`)
	}
	l.checkPasses(p)
	l.locationDirectives.check(p)
	l.locationDirectives.resolveInto(loc)
	l.resolveFastCGI(loc, key, upstreams, p) // fastcgi_param, ... (fastcgi.go)
	l.resolveUwsgi(loc, upstreams, p)        // uwsgi_param, ... (uwsgi.go)
	m, set := l.upstreamModule()
	loc.Upstream = m.resolve(set)                          // the module's buffers, timeouts, retries, ... (modules.go)
	set.resolveHeaders(&loc.UpstreamHeaders, p)            // its *_hide_header, *_pass_header, *_ignore_headers
	l.resolveGrpc(loc, upstreams, p)                       // grpc_pass, grpc_set_header, grpc_ssl_* (grpc.go)
	l.upstreamHeaderDirectives.resolveInto(loc, p)         // proxy_redirect, proxy_cookie_* (upstreamheaders.go)
	loc.RealIP = l.realIPDirectives.resolve(p)             // set_real_ip_from, ... (realip.go)
	loc.Resolver = l.resolverDirectives.resolve(p)         // resolver, resolver_timeout (resolver.go)
	l.resolveStatic(loc, p)                                // root, alias, index, try_files (static.go)
	l.resolveIfs(loc.Script, l.Rewrite.at(), upstreams, p) // "if in location" (rewrite.go)
	loc.Locations = l.resolveNested(loc, key, upstreams, p)
	loc.LimitExcept = l.resolveLimitExcept(key, upstreams, p) // limit_except (limitexcept.go)
	return loc
}

// resolveNested resolves the locations nested in l (resolved as loc):
// each inherits l's directives as nginx's merge_loc_conf does (not
// proxy_pass, fastcgi_pass, uwsgi_pass, try_files, nor the rewrite
// module's), and nginx's ngx_http_core_location refuses what it refuses.
func (l *rawLocation) resolveNested(loc *Location, key string, upstreams map[string]bool, p *problems) []*Location {
	var out []*Location
	seen := map[string]bool{}
	for j := range l.Locations {
		nl := &l.Locations[j]
		if l.Alias.set() && !nl.Alias.set() && !nl.Root.set() {
			// nginx's merge takes root and alias together: the nested
			// location maps URIs with the enclosing one's alias in place
			// of the enclosing one's name.
			content := nl.passesUpstream() || nl.StubStatus.or(false)
			switch {
			case loc.Regex != nil && l.aliasFrom == "":
				p.add(nl.Path.at(), `a location nested in a regex location with "alias" needs its own "alias" or "root" in spillway`)
			case !content:
				nl.Alias, nl.aliasFrom = l.Alias, l.aliasFrom
				if nl.aliasFrom == "" {
					nl.aliasFrom = loc.Path
				}
			}
		}
		nl.locationDirectives.inherit(&l.locationDirectives)
		n := resolveLocation(nl, fmt.Sprintf("%s.locations[%d]", key, j), upstreams, p)
		if msg := nestingError(loc, n); msg != "" && nl.Path.set() {
			p.add(nl.Path.at(), "%s", msg)
		}
		if id, ok := locationID(n); ok {
			if seen[id] {
				p.add(nl.Path.at(), "duplicate location %q", nl.Path.v)
			}
			seen[id] = true
		}
		out = append(out, n)
	}
	return out
}

// nestingError is nginx's error for location in inside location out, or
// "" when nginx takes it (ngx_http_core_location): nothing nests in an
// exact or a named location, a named location only in a server, and a
// prefix location must start with the enclosing one's name (for a regex
// location, the regex as written).
func nestingError(out, in *Location) string {
	switch {
	case out.Match == MatchExact:
		return fmt.Sprintf(`location "%s" cannot be inside the exact location "%s"`, in.Path, out.Path)
	case out.Match == MatchNamed:
		return fmt.Sprintf(`location "%s" cannot be inside the named location "%s"`, in.Path, out.Path)
	case in.Match == MatchNamed:
		return fmt.Sprintf(`named location "%s" can be on the server level only`, in.Path)
	case in.Match != MatchRegex && in.Match != MatchRegexCaseless && !strings.HasPrefix(in.Path, out.Path):
		return fmt.Sprintf(`location "%s" is outside location "%s"`, in.Path, out.Path)
	}
	return ""
}

// upstreamModule is the module whose directives the location reads, and
// its set: the one its *_pass names, proxy without one.
func (l *rawLocation) upstreamModule() (*upstreamModule, *moduleDirectives) {
	i := max(0, slices.IndexFunc(l.passes(), (*opt[string]).set))
	return &upstreamModules[i], l.sets()[i]
}

// passesUpstream reports whether the location has a *_pass.
func (l *rawLocation) passesUpstream() bool {
	return slices.ContainsFunc(l.passes(), (*opt[string]).set)
}

// checkPasses reports a location with two *_pass, or with one and
// stub_status (proxy_pass's is resolveLocation's), as nginx -t does.
func (l *rawLocation) checkPasses(p *problems) {
	passes := l.passes()
	for i, o := range passes {
		if i == 0 || !o.set() {
			continue
		}
		name := upstreamModules[i].key("pass")
		if j := slices.IndexFunc(passes[:i], (*opt[string]).set); j >= 0 {
			p.add(o.at(), `"%s" and "%s" cannot both be set in one location`, name, upstreamModules[j].key("pass"))
		} else if l.StubStatus.or(false) {
			p.add(o.at(), `"stub_status" and "%s" cannot both be set in one location`, name)
		}
	}
}

// resolveInto fills in the location's directives: each one is the value set
// at the innermost level (inherit has copied them down) or nginx's default.
func (d *locationDirectives) resolveInto(l *Location) {
	l.ProxySetHeader = withDefaultHeaders(d.ProxySetHeader.or(nil))
	l.ProxyHTTPVersion = string(d.ProxyHTTPVersion.or(defaultProxyHTTPVersion))
	l.ProxyMethod = d.ProxyMethod.or("")
	l.ProxySetBody, l.HasSetBody = d.ProxySetBody.or(""), d.ProxySetBody.set()
	l.ProxyForceRanges = d.ProxyForceRanges.or(false)
	l.MaxRanges = d.MaxRanges.or(0)
	l.NoRanges = d.MaxRanges.set() && l.MaxRanges <= 0
	l.IfModifiedSince = string(d.IfModifiedSince.or(""))
	if l.IfModifiedSince == "exact" {
		l.IfModifiedSince = "" // nginx's default
	}

	l.ClientMaxBodySize = d.ClientMaxBodySize.or(defaultClientMaxBodySize)
	l.ClientBodyBufferSize = d.ClientBodyBufferSize.or(defaultClientBodyBufferSize)
	l.ClientBodyMemoryMax = d.ClientBodyMemoryMax.or(defaultClientBodyMemoryMax)
	l.ClientBodyTempPath = d.ClientBodyTempPath.or(defaultClientBodyTempPath)
	l.ClientBodyTimeout = d.ClientBodyTimeout.or(defaultClientBodyTimeout)
	l.SendTimeout = d.SendTimeout.or(defaultSendTimeout)

	l.ProxyNextUpstreamBackoff = d.ProxyNextUpstreamBackoff.or(0)
	l.ProxyNextUpstreamIdempotencyKey = d.ProxyNextUpstreamIdempotencyKey.or(false)
	l.Access = d.accessDirectives.resolve()
	l.AuthBasic = d.accessDirectives.authBasic()
	l.SatisfyAny = d.accessDirectives.satisfyAny()
	l.AuthRequest = d.accessDirectives.authRequest()
	l.LimitReq = d.limitReqDirectives.resolve()
	l.LimitConn = d.limitConnDirectives.resolve()
	l.LimitRate = d.limitRateDirectives.resolve()
	l.Headers = d.headerDirectives.resolve()
	l.Gzip = d.gzipDirectives.resolve()
	l.ErrorPages = d.errorPageDirectives.resolve()
	l.Charset = d.charsetDirectives.resolve()
	l.Keepalive = d.keepaliveDirectives.resolve()
}

// bufferSizes are the response-buffer directives of one module in effect
// at one level, with nginx's derived defaults applied (modules.go).
type bufferSizes struct {
	bufferSize    int64
	buffers       Buffers
	largest       int64 // max(proxy_buffer_size, one of proxy_buffers)
	busy          int64
	tempFileWrite int64
	maxTempFile   int64
}

// withDefaultHeaders returns the proxy_set_header list a location sends,
// built like nginx's ngx_http_proxy_init_headers: the configured entries
// first, then each default (Host: $proxy_host, Connection: close) whose
// name the configured list does not set.
func withDefaultHeaders(set []Header) []Header {
	hs := slices.Clone(set)
	for _, d := range defaultHeaders() {
		if !slices.ContainsFunc(set, func(h Header) bool { return strings.EqualFold(h.Name, d.Name) }) {
			hs = append(hs, d)
		}
	}
	return hs
}
