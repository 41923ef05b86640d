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
)

// Config is the resolved, validated content of one proxy.yaml.
type Config struct {
	Source   string // the file it was loaded from
	ErrorLog ErrorLog
	PID      string // pid file path ("" = none)

	// BufferMemoryLimit is http.buffer_memory_limit: the process-wide budget of
	// memory buffers for request and response bodies (spillway's own key).
	BufferMemoryLimit int64

	Upstreams map[string]*Upstream // by name
	Servers   []*Server
}

// ErrorLog is the top-level error_log key.
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
}

// UpstreamServer is one entry of an upstream's servers list.
type UpstreamServer struct {
	Address     string // host:port
	Weight      int    // default 1
	MaxFails    int    // default 1; 0 disables accounting
	FailTimeout time.Duration
	Backup      bool
	Down        bool
}

// Server is one http.servers[] entry (nginx's server block), resolved.
type Server struct {
	Listen     []string // host:port
	ServerName []string // first one is logged as "server:"; may be empty

	AccessLog AccessLog

	ClientHeaderTimeout      time.Duration // default 60s
	ClientHeaderBufferSize   int64         // default 1k
	LargeClientHeaderBuffers Buffers       // default 4 8k
	KeepaliveTimeout         time.Duration // client keepalive, default 75s
	KeepaliveRequests        int           // default 1000

	Locations []*Location
}

// AccessLog is access_log: off, or a path plus a format.
type AccessLog struct {
	Off    bool
	Path   string
	Format string // the log_format string; "combined" is expanded to nginx's combined format
}

// MatchKind is how a location's path matches (nginx's location modifiers).
type MatchKind uint8

const (
	MatchPrefix        MatchKind = iota // "/path"
	MatchExact                          // "= /path"
	MatchPreferPrefix                   // "^~ /path": a prefix match that stops the regex search
	MatchRegex                          // "~ regex"
	MatchRegexCaseless                  // "~* regex"
)

// Location is one locations[] entry, with every inheritable directive resolved.
type Location struct {
	Path  string         // the path or regex as written, without the modifier
	Match MatchKind      //
	Regex *regexp.Regexp // for MatchRegex / MatchRegexCaseless

	ProxyPass ProxyPass

	ProxySetHeader   []Header // proxy_set_header, in file order; an empty Value removes the header
	ProxyHTTPVersion string   // "1.0" (nginx default) or "1.1"

	ProxyConnectTimeout time.Duration // default 60s
	ProxySendTimeout    time.Duration // default 60s
	ProxyReadTimeout    time.Duration // default 60s

	// Response buffering (nginx ngx_http_proxy_module).
	ProxyBuffering         bool    // default on
	ProxyBufferSize        int64   // default 4k (one page): the response header must fit
	ProxyBuffers           Buffers // default 8 4k
	ProxyBusyBuffersSize   int64   // default 2 * max(proxy_buffer_size, one buffer)
	ProxyMaxTempFileSize   int64   // default 1024m; 0 = never spill
	ProxyTempFileWriteSize int64   // default 2 * max(proxy_buffer_size, one buffer)
	ProxyTempPath          string  // default "temp/proxy"

	// Request bodies.
	ProxyRequestBuffering bool   // default on
	ClientMaxBodySize     int64  // default 1m; 0 = unlimited
	ClientBodyBufferSize  int64  // default 16k (nginx: 2 pages)
	ClientBodyTempPath    string // default "temp/client"
	ClientBodyTimeout     time.Duration
	SendTimeout           time.Duration

	// Retries.
	ProxyNextUpstream        NextUpstream  // default error|timeout
	ProxyNextUpstreamTries   int           // default 0 = unlimited (one per server)
	ProxyNextUpstreamTimeout time.Duration // default 0 = unlimited
}

// ProxyPass is a parsed proxy_pass value: http://GROUP[/uri] or http://host:port[/uri].
type ProxyPass struct {
	Scheme   string // "http"
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
