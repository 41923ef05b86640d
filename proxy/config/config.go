// Package config owns proxy.yaml: its schema (keys named after nginx directives,
// nested like nginx's http/server/location contexts), nginx's units for sizes and
// durations, nginx's inheritance rule, and validation with messages that name the
// key and its line.
//
// Load is the only code in spillway that touches viper. It returns a *Config that
// is fully resolved: every inheritable directive has been copied down from http to
// server to location and defaulted, so the running proxy reads plain values and
// never asks "was this set?". A *Config is immutable after Load returns and is safe
// to share between goroutines.
package config

import (
	"regexp"
	"time"

	"spillway/proxy/vars"
)

// Config is the resolved, validated content of one proxy.yaml.
type Config struct {
	Source string // the file it was loaded from
	// ConfPrefix is the absolute directory a file named with variables is
	// read from when it evaluates to a relative name (nginx's conf prefix:
	// Paths.ConfPrefix, else the file's directory).
	ConfPrefix string
	// Prefix is the absolute directory relative paths were resolved
	// against (nginx's -p; by default the file's directory). Every path
	// below is absolute, or "stderr".
	Prefix   string
	ErrorLog ErrorLog
	PID      string // pid file path ("" = none)

	// ErrorLogs are every error_log, in order: as in nginx each file gets
	// the lines at or above its own level. Never empty; ErrorLog is the
	// first.
	ErrorLogs []ErrorLog

	// WorkerShutdownTimeout bounds a graceful shutdown or the retirement of
	// an old configuration after a reload (nginx's worker_shutdown_timeout);
	// 0 = wait for every in-flight request.
	WorkerShutdownTimeout time.Duration
	// MetricsListen is metrics.listen: the address of the Prometheus
	// listener ("" = none).
	MetricsListen string

	// BufferMemoryLimit is http.buffer_memory_limit: the process-wide budget of
	// memory buffers for request and response bodies (spillway's own key).
	BufferMemoryLimit int64
	// TempFileLimit is http.temp_file_limit: the process-wide budget of
	// bytes in temp files (spillway's own key; 0 = none). A response that
	// finds it used up stops spilling and is relayed at the client's pace;
	// a request body that does not fit gets nginx's 500.
	TempFileLimit int64

	Upstreams map[string]*Upstream // by name
	Servers   []*Server

	LimitReqZones  map[string]*LimitReqZone  // limit_req_zone by name (limitreq.go)
	LimitConnZones map[string]*LimitConnZone // limit_conn_zone by name (limitconn.go)
	// Maps are http.map: nginx's map blocks, in file order, their
	// variables known in every value (proxy/vars compiles them).
	Maps []vars.MapDef
	// Captures are the variables the named captures ((?<name>...)) of
	// location, rewrite and if regexes define, in file order: a regex
	// that matches sets them (nginx's ngx_http_regex_exec); until one
	// does, each is not found ("").
	Captures []string
	// SetVars are the variables the set directives of every level
	// define (nginx's are known in the whole http block), in file order.
	SetVars []string
}

// AllErrorLogs is ErrorLogs, or ErrorLog alone for a Config built by hand.
func (c *Config) AllErrorLogs() []ErrorLog {
	if len(c.ErrorLogs) == 0 || c.ErrorLogs[0] != c.ErrorLog {
		// Built by hand, or ErrorLog overridden after loading (spillway
		// demo): the first log is ErrorLog.
		return append([]ErrorLog{c.ErrorLog}, c.ErrorLogs[min(1, len(c.ErrorLogs)):]...)
	}
	return c.ErrorLogs
}

// ErrorLog is one error_log: a file and the lowest level written to it.
type ErrorLog struct {
	Path  string // "stderr" or a file path
	Level Level
}

// Level is an nginx error-log level, ordered debug < info < ... < emerg.
type Level int8

const (
	LevelDebug Level = iota
	LevelInfo
	LevelNotice
	LevelWarn
	LevelError
	LevelCrit
	LevelAlert
	LevelEmerg
)

// Upstream is one http.upstreams.<name> block.
type Upstream struct {
	Name              string
	Servers           []UpstreamServer
	Keepalive         int           // idle connections kept per upstream server (0 = no keepalive)
	KeepaliveTimeout  time.Duration // default 60s
	KeepaliveRequests int           // default 1000
	KeepaliveTime     time.Duration // keepalive_time: no connection older than this is kept, default 1h
	// KeepaliveLearn is keepalive_timeout_learn (spillway's own): learn
	// each server's idle timeout (its Keep-Alive header, the idle age at
	// which pooled connections were found closed) and retire idle
	// connections a tenth before it, keepalive_timeout staying the upper
	// bound (proxy/idlelearn). Default on.
	KeepaliveLearn bool

	// RetryBudget is retry_budget (spillway's own): retries to this group may
	// add at most this fraction to the requests it receives (0.2 for "20%"),
	// so a failing server cannot multiply the load on the others. 0 means no
	// budget ("off"). Default 0.2.
	RetryBudget float64
	// RetryBudgetMinPerSecond is retry_budget_min_per_second: retries allowed
	// each second whatever the budget says, so a quiet group can still retry.
	// Default 10.
	RetryBudgetMinPerSecond int

	// LeastConn is least_conn (nginx's least_conn;): pick the server with the
	// fewest requests in flight relative to its weight, instead of weighted
	// round-robin. Default off.
	LeastConn bool
	// Hash is hash's key (nginx's "hash KEY [consistent];"), with variables;
	// "" when the group does not hash. The server is chosen from the
	// key's crc32 (nginx's ngx_http_upstream_hash_module), or on a ketama
	// ring of 160 points per weight unit when HashConsistent.
	Hash           string
	HashConsistent bool
	// IPHash is ip_hash: the server is chosen from the client address (the
	// first three octets of IPv4, all of IPv6).
	IPHash bool
	// Random is random: a server drawn at random by weight; RandomTwo is
	// "random two [least_conn]": of two drawn, the one with fewer requests
	// in flight relative to its weight.
	Random, RandomTwo bool
	// LeastTime is least_time (NGINX Plus): the least average response
	// time per weight, ties by least_conn; the time to the response's
	// head (LeastTimeHeader) or to its last byte; with LeastTimeInflight
	// the requests in flight count too.
	LeastTime, LeastTimeHeader, LeastTimeInflight bool
	// HealthCheck is the health_check block: active checks of every server
	// of the group. nil when the block is absent (passive health only).
	HealthCheck *HealthCheck
	// Zone is zone's name; "" without one. Servers with Resolve need it,
	// as in nginx (which keeps such a group in shared memory).
	Zone string
	// Resolver is the resolver the servers with Resolve ask: the upstream
	// block's own resolver and resolver_timeout, else http's.
	Resolver Resolver
	// Sticky is sticky cookie (NGINX Plus); nil without (sticky.go).
	Sticky *Sticky
}

// HealthCheck is an upstream's health_check block: spillway connects to
// every server of the group each Interval and marks it down after Fails
// failed checks in a row, up again after Passes good ones. A check
// connection is always closed by spillway, with FIN.
type HealthCheck struct {
	Type     HealthCheckType // HealthCheckHTTP (default) or HealthCheckTCP
	URI      string          // the request's URI, http only; default "/"
	Interval time.Duration   // time between two checks of one server; default 5s
	Timeout  time.Duration   // for the whole check; default 1s, at most Interval
	Fails    int             // failed checks in a row that mark a server down; default 1
	Passes   int             // good checks in a row that bring it back; default 1
	Status   []StatusRange   // expected status codes, http only; default 200-399
	Host     string          // the Host header, http only; "" = the server's address
}

// HealthCheckType is how a server is checked.
type HealthCheckType string

const (
	HealthCheckHTTP HealthCheckType = "http" // GET URI, the status must be in Status
	HealthCheckTCP  HealthCheckType = "tcp"  // the connection must be accepted
)

// StatusRange is one entry of health_check status: a code (Lo == Hi) or an
// inclusive range such as 200-399.
type StatusRange struct{ Lo, Hi int }

// Match reports whether code is one of the expected statuses.
func (c *HealthCheck) Match(code int) bool {
	for _, r := range c.Status {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// UpstreamServer is one entry of an upstream's servers list.
type UpstreamServer struct {
	// Name is the address as written (nginx's peer->server): what the
	// ketama ring of hash ... consistent hashes, so "10.0.0.1" and
	// "10.0.0.1:80" place the server differently, as in nginx.
	Name        string
	Address     string // host:port
	Weight      int    // default 1
	MaxFails    int    // default 1; 0 disables accounting
	FailTimeout time.Duration
	Backup      bool
	Down        bool
	// Resolve is resolve (nginx 1.27.3): the host of Address is asked of
	// the upstream's Resolver at start and again when its answer expires
	// (TTL or valid=); the server is one peer per address then, added
	// and removed as the answers change. An IP address is not resolved.
	Resolve bool
	// Service is service=NAME (with Resolve): the server's peers are the
	// targets and ports of the SRV records of _NAME._tcp.HOST, or of
	// NAME.HOST when NAME has a dot (nginx's rule); the records of the
	// best priority are primary servers, the others backup.
	Service string
	// Drain is drain (NGINX Plus): only requests a sticky method binds to
	// the server reach it; the balancing methods skip it.
	Drain bool
	// Route is route= (NGINX Plus, with sticky): the value of the sticky
	// cookie that names this server instead of its address's MD5.
	Route string

	// MaxConns is max_conns: the most attempts (and their connections,
	// until closed or back in the keepalive cache) the server takes at
	// once; a server at its limit is skipped as a down one is. 0 = no
	// limit.
	MaxConns int
}

// Server is one http.servers[] entry (nginx's server block), resolved.
type Server struct {
	Listen []string // host:port
	// ServerName: the first one is logged as "server:" and is
	// $server_name; may be empty. Lower case, but a regex ("~..."), which
	// is as written; "" is the name of requests without Host.
	ServerName []string

	ListenSSL []string  // the Listen addresses written with "ssl" ("127.0.0.1:8443 ssl")
	TLS       ServerTLS // ssl_certificate, ssl_protocols, ... (tls.go)

	// ListenHTTP2 are the Listen addresses that speak HTTP/2: written
	// with "http2" ("127.0.0.1:8443 ssl http2"), or every address of a
	// server with "http2: on" (nginx 1.25's "http2 on"). With ssl, ALPN
	// offers h2 beside http/1.1; without, the address takes HTTP/2 with
	// prior knowledge (h2c) beside HTTP/1.x.
	ListenHTTP2 []string
	HTTP2       HTTP2 // http2_* (http2.go)

	// ListenQUIC are the UDP addresses written with "quic" ("443 quic
	// reuseport"), each also a TCP "ssl" address of the server: HTTP/3 with
	// the same certificates. Empty with "http3: off".
	ListenQUIC []string
	HTTP3      HTTP3 // http3_*, quic_*, ssl_early_data (http3.go)

	// ListenDefault are the Listen addresses written with "default_server"
	// (or nginx's older "default"): this server answers requests to them
	// whose Host no server_name matches, instead of the first server
	// listening there.
	ListenDefault []string
	// ListenProxyProtocol are the Listen addresses written with
	// "proxy_protocol": each connection starts with a PROXY protocol header
	// (v1 or v2), $proxy_protocol_addr (realip.go).
	ListenProxyProtocol []string
	// RealIP is the realip module at the server level: applied before the
	// location is chosen (nginx's post-read phase).
	RealIP RealIP

	// ClientMaxBodySize is the server level's client_max_body_size: the
	// limit nginx applies to a request no location matches (0 = none).
	ClientMaxBodySize int64

	// AccessLog is the server level's first access_log (or {Off: true});
	// AccessLogs are all of them, in file order (AllAccessLogs).
	AccessLog  AccessLog
	AccessLogs []AccessLog
	// ErrorLogs are the error_log lines in effect at the server level (its
	// own, else http's): where the lines about its requests go until a
	// location is chosen, and the lines of connections whose default
	// server it is before a request names a server. nil: the main
	// error_log (Config.ErrorLogs).
	ErrorLogs []ErrorLog

	ClientHeaderTimeout      time.Duration // default 60s
	ClientHeaderBufferSize   int64         // default 1k
	LargeClientHeaderBuffers Buffers       // default 4 8k
	Keepalive                Keepalive     // keepalive_*: a request no location takes (keepalive.go)
	UnderscoresInHeaders     bool          // default off: a name with '_' is dropped and logged
	MergeSlashes             bool          // default on: "//" in a path is "/" in $uri (nginx's merge_slashes)
	// Access is allow/deny at the server level (inherited from http): what
	// a request no location matches is checked against.
	Access     AccessRules
	AuthBasic  AuthBasic
	SatisfyAny bool
	LimitReq   LimitReqConf
	LimitConn  LimitConnConf
	Headers    ResponseHeaders // add_header, expires: for answers no location makes (headers.go)
	Gzip       Gzip            // gzip*, likewise (gzip.go)
	Charset    Charset         // charset*, likewise (charset.go)

	// AuthRequest is the server's auth_request (authrequest.go), for
	// requests no location matches.
	AuthRequest AuthRequest

	// Script is the server's rewrite-module directives (rewrite, set,
	// if, break, then its return key) in order: nginx's server rewrite
	// phase, before a location is chosen (rewrite.go).
	Script     []Stmt
	RewriteLog bool // rewrite_log: the server's rewrites log at notice
	// UninitializedVariableWarn is uninitialized_variable_warn (default
	// on), for what runs before a location is chosen.
	UninitializedVariableWarn bool
	// Redirect is the server level's absolute_redirect,
	// server_name_in_redirect and port_in_redirect: its return's.
	Redirect Redirect
	// ErrorPages is the server level's error_page and
	// recursive_error_pages: for errors answered before a location is
	// chosen (a refused request line, a server return) or when none
	// matches (errorpage.go).
	ErrorPages ErrorPages

	Locations []*Location
}

// AllAccessLogs is AccessLogs, or AccessLog alone for a Server built by hand.
func (s *Server) AllAccessLogs() []AccessLog {
	if len(s.AccessLogs) == 0 || s.AccessLogs[0] != s.AccessLog {
		return []AccessLog{s.AccessLog}
	}
	return s.AccessLogs
}

// AccessLog is one access_log: off, or a path plus a format. As in nginx,
// a level's access_log lines replace the inherited ones as a whole, and an
// "off" among them turns every log of the level off.
type AccessLog struct {
	Off  bool
	Path string
	// If is access_log's if= condition, like "$loggable": a line is
	// written only when its value is neither empty nor "0". "" always.
	If     string
	Format string // the log_format string; "combined" is expanded to nginx's combined format
	// Escape is log_format's escape=: "default" (""), "json" or "none".
	Escape string
	// Buffer and Flush are access_log's buffer= and flush=: 0 writes each
	// line when its request ends, as nginx without them.
	Buffer int64
	Flush  time.Duration
}

// MatchKind is how a location's path matches (nginx's location modifiers).
type MatchKind uint8

const (
	MatchPrefix        MatchKind = iota // "/path"
	MatchExact                          // "= /path"
	MatchPreferPrefix                   // "^~ /path": a prefix match that stops the regex search
	MatchRegex                          // "~ regex"
	MatchRegexCaseless                  // "~* regex"
	MatchNamed                          // "@name": reached only by try_files (static.go), never by a URI
)

// Location is one locations[] entry, with every inheritable directive resolved.
type Location struct {
	Path  string         // the path or regex as written, without the modifier
	Match MatchKind      //
	Regex *regexp.Regexp // for MatchRegex / MatchRegexCaseless

	ProxyPass  ProxyPass
	StubStatus bool     // stub_status: answer with the status page, not proxied
	Internal   bool     // internal: 404 to every client request (access.go)
	Redirect   Redirect // absolute_redirect, server_name_in_redirect, port_in_redirect (rewrite.go)
	// Script is the location's rewrite-module directives (rewrite, set,
	// if, break, then its return key) in order: nginx's rewrite phase,
	// before access checks (rewrite.go).
	Script                    []Stmt
	RewriteLog                bool // rewrite_log: each rewrite's match logged at notice
	UninitializedVariableWarn bool // uninitialized_variable_warn, default on

	ProxySSL ProxySSL // proxy_ssl_*, for an https:// proxy_pass (tls.go)

	// AccessLogs are the access_log lines in effect for the location (its
	// own, else inherited); nil in a Location built by hand: the server's.
	AccessLogs []AccessLog
	// ErrorLogs are the error_log lines in effect for the location (its
	// own, else the server's or http's): where the lines about the
	// requests it handles go. nil: the main error_log (Config.ErrorLogs).
	ErrorLogs []ErrorLog

	ProxySetHeader   []Header // proxy_set_header, in file order; an empty Value removes the header
	ProxyHTTPVersion string   // "1.0" (nginx default), "1.1" or "2.0" (HTTP/2: h2c, or TLS with ALPN h2; grpc_pass too)
	// ProxyMethod is proxy_method: the upstream request's method, with
	// variables; "" = the client's.
	ProxyMethod string
	// ProxySetBody is proxy_set_body: the upstream request's body, with
	// variables, sent in place of the client's (with its Content-Length);
	// HasSetBody tells an empty one from none.
	ProxySetBody string
	HasSetBody   bool
	// ProxyForceRanges is proxy_force_ranges: the range filter answers a
	// Range on the upstream's 200 (one range; several get the whole body),
	// whatever its Accept-Ranges; off, the upstream's answer passes as it
	// is.
	ProxyForceRanges bool
	// MaxRanges is max_ranges: more ranges than this in a Range get the
	// whole body (200); 0, the default, is no limit. NoRanges is
	// "max_ranges 0": ranges off, no Accept-Ranges either.
	MaxRanges int
	NoRanges  bool
	// IfModifiedSince is if_modified_since: "" (exact, nginx's default:
	// 304 when the date is the file's), "before" (also any later date) or
	// "off" (If-Modified-Since ignored).
	IfModifiedSince string

	// Upstream is the buffer, timeout, retry and error directives of the
	// module the location passes with (proxy_*, fastcgi_*, uwsgi_*;
	// proxy_* without a *_pass), resolved (modules.go).
	Upstream UpstreamConf

	// Request bodies.
	ClientMaxBodySize    int64  // default 1m; 0 = unlimited
	ClientBodyBufferSize int64  // default 16k (nginx: 2 pages)
	ClientBodyTempPath   string // default "temp/client"
	ClientBodyTimeout    time.Duration
	SendTimeout          time.Duration
	// ClientBodyMemoryMax is spillway's own client_body_memory_max: a
	// buffered request body stays in memory up to this many bytes while
	// http.buffer_memory_limit has room, and spills to the temp file only
	// past it or when the budget refuses (default 1m; 0 = nginx's rule:
	// spill past client_body_buffer_size). The larger of the two applies.
	ClientBodyMemoryMax int64

	// ProxyNextUpstreamBackoff is proxy_next_upstream_backoff (spillway's
	// own): before a retry goes to a server this request already tried, wait
	// a random time in [0, backoff × 2^k) (k = same-server retries so far).
	// 0 (the default) retries at once, as nginx.
	ProxyNextUpstreamBackoff time.Duration

	// ProxyNextUpstreamIdempotencyKey is proxy_next_upstream_idempotency_key
	// (spillway's own): a POST, PATCH or LOCK that carries an Idempotency-Key
	// header is retried like an idempotent request. Default off.
	ProxyNextUpstreamIdempotencyKey bool

	// FastCGI is set by fastcgi_pass (ProxyPass then holds its address with
	// Scheme "fastcgi", and Upstream the fastcgi_* values); nil for
	// proxy_pass. See fastcgi.go.
	FastCGI   *FastCGI
	Uwsgi     *Uwsgi    // set by uwsgi_pass, as FastCGI by fastcgi_pass (uwsgi.go)
	Grpc      *Grpc     // set by grpc_pass: HTTP/2 to the upstream (grpc.go)
	Root      string    // root: $document_root, default "html"
	Static    *Static   // files served here: no proxy_pass, and root/alias/index/try_files (static.go)
	Lingering Lingering // lingering_close, lingering_time, lingering_timeout
	Keepalive Keepalive // keepalive_timeout, keepalive_requests, keepalive_time, keepalive_disable (keepalive.go)

	Access     AccessRules     // allow/deny in file order (access.go); empty allows everyone
	AuthBasic  AuthBasic       // auth_basic, auth_basic_user_file (access.go)
	SatisfyAny bool            // satisfy any: one passing check is enough (default all)
	LimitReq   LimitReqConf    // limit_req* (limitreq.go)
	LimitConn  LimitConnConf   // limit_conn* (limitconn.go)
	LimitRate  LimitRate       // limit_rate, limit_rate_after (limitrate.go)
	Headers    ResponseHeaders // add_header, expires (headers.go)
	// UpstreamHeaders: proxy_redirect, proxy_cookie_domain/path,
	// proxy_hide_header, proxy_pass_header, proxy_ignore_headers (the
	// fastcgi_ and uwsgi_ ones for their *_pass) (upstreamheaders.go)
	UpstreamHeaders UpstreamHeaders
	// RealIP: set_real_ip_from, real_ip_header, real_ip_recursive, applied
	// before the access checks if the server's did not (realip.go).
	RealIP RealIP
	// Resolver is resolver and resolver_timeout: the DNS servers a
	// proxy_pass with variables asks for a host name (resolver.go).
	Resolver Resolver

	Gzip    Gzip    // gzip* (gzip.go)
	Charset Charset // charset, source_charset, override_charset, charset_types (charset.go)

	// ErrorPages is error_page and recursive_error_pages (errorpage.go);
	// Upstream.InterceptErrors says whether upstream answers use them.
	ErrorPages ErrorPages

	// AuthRequest is auth_request and auth_request_set (authrequest.go).
	AuthRequest AuthRequest

	// LimitExcept is limit_except: the methods it does not list are served
	// with its Location (limitexcept.go); nil without one.
	LimitExcept *LimitExcept

	// Locations are the nested locations, in file order: nginx searches
	// them once this location matched (its exact and prefix ones, then
	// its regexes), and each has inherited this one's directives but
	// proxy_pass, fastcgi_pass, uwsgi_pass, try_files and the rewrite
	// module's.
	Locations []*Location
}

// AllLocations is every location of s, nested ones after their
// enclosing one (depth first, in file order).
func (s *Server) AllLocations() []*Location {
	var all []*Location
	var walk func([]*Location)
	walk = func(ls []*Location) {
		for _, l := range ls {
			all = append(all, l)
			walk(l.Locations)
		}
	}
	walk(s.Locations)
	return all
}

// ProxyPass is a parsed proxy_pass value: http://GROUP[/uri] or
// http://host:port[/uri]; or, when it has variables, only Value (and Scheme
// when it is written out): nginx evaluates it per request.
type ProxyPass struct {
	// Value is proxy_pass (fastcgi_pass, uwsgi_pass) as written when it has
	// variables ("http://$backend", "http://127.0.0.1:$port$request_uri"):
	// each request evaluates it, then takes the upstream block it names,
	// the address, or what the resolver answers for the name. The other
	// fields are then empty but Scheme.
	Value    string
	Scheme   string // "http" or "https"
	Host     string // upstream group name, or host:port as written
	Upstream string // set when Host names an http.upstreams entry
	URI      string // the URI part, "" when proxy_pass has none (the client URI is passed unchanged)
	HasURI   bool   // proxy_pass had a URI part (even just "/"): nginx's replacement rule applies
}

// Header is one proxy_set_header entry. Value may contain nginx variables
// ($host, $remote_addr, $proxy_add_x_forwarded_for, $scheme, $http_NAME, ...).
type Header struct {
	Name  string
	Value string
}

// Buffers is nginx's "number size" form (proxy_buffers 8 4k).
type Buffers struct {
	N    int
	Size int64
}

// NextUpstream is the proxy_next_upstream bitmask (nginx NGX_HTTP_UPSTREAM_FT_*).
type NextUpstream uint32

const (
	NextError NextUpstream = 1 << iota
	NextTimeout
	NextInvalidHeader
	NextHTTP500
	NextHTTP502
	NextHTTP503
	NextHTTP504
	NextHTTP403
	NextHTTP404
	NextHTTP429
	NextNonIdempotent
	NextOff
)
