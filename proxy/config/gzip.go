package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Compression (nginx's ngx_http_gzip_module), written in http, server and
// location.

// Gzip is what the gzip filter does at one level.
type Gzip struct {
	On        bool
	Types     []string // gzip_types, lower-cased; text/html is always in; "*" is every type
	MinLength int64    // gzip_min_length, default 20: a declared length below is not compressed
	Level     int      // gzip_comp_level, 1 to 9, default 1
	Proxied   GzipProxied
	Vary      bool             // gzip_vary: "Vary: Accept-Encoding" on every response that could be compressed
	MSIE6     bool             // gzip_disable msie6
	Disable   []*regexp.Regexp // gzip_disable's other values: regexes on User-Agent (case-insensitive)
	HTTP10    bool             // gzip_http_version 1.0: HTTP/1.0 requests too (default 1.1)
	// Static is gzip_static (ngx_http_gzip_static_module): serve "file.gz"
	// in place of a file, with Content-Encoding: gzip.
	Static GzipStatic
	// Gunzip is gunzip (ngx_http_gunzip_filter_module): a gzip'd response
	// is decompressed for a client that does not take gzip.
	Gunzip bool
}

// GzipStatic is gzip_static's value.
type GzipStatic uint8

const (
	GzipStaticOff    GzipStatic = iota
	GzipStaticOn                // when the client takes gzip (gzip_http_version, gzip_proxied, gzip_disable)
	GzipStaticAlways            // whatever the client says
)

// gzipStaticFrom decodes gzip_static: "on", "off", "always" or a YAML boolean.
func gzipStaticFrom(in any) (GzipStatic, error) {
	if s, ok := in.(string); ok && strings.EqualFold(s, "always") {
		return GzipStaticAlways, nil
	}
	on, err := flagFrom(in)
	if err != nil {
		return 0, fmt.Errorf(`invalid value %s, it must be "on", "off" or "always"`, show(in))
	}
	if on {
		return GzipStaticOn, nil
	}
	return GzipStaticOff, nil
}

// GzipProxied is gzip_proxied's flags: which responses to requests that
// came through a proxy (with a Via header) are compressed. Zero is off.
type GzipProxied uint16

const (
	GzipProxiedExpired GzipProxied = 1 << iota
	GzipProxiedNoCache
	GzipProxiedNoStore
	GzipProxiedPrivate
	GzipProxiedNoLastModified
	GzipProxiedNoETag
	GzipProxiedAuth
	GzipProxiedAny
)

var gzipProxiedNames = map[string]GzipProxied{
	"expired": GzipProxiedExpired, "no-cache": GzipProxiedNoCache, "no-store": GzipProxiedNoStore,
	"private": GzipProxiedPrivate, "no_last_modified": GzipProxiedNoLastModified, "no_etag": GzipProxiedNoETag,
	"auth": GzipProxiedAuth, "any": GzipProxiedAny,
}

// ParseGzipProxied reads gzip_proxied's words with nginx's errors.
func ParseGzipProxied(ws []string) (GzipProxied, error) {
	var p GzipProxied
	for _, w := range ws {
		if w == "off" {
			continue
		}
		f, ok := gzipProxiedNames[w]
		if !ok {
			return 0, fmt.Errorf("invalid value %q in \"gzip_proxied\" directive", w)
		}
		p |= f
	}
	return p, nil
}

type gzipDirectives struct {
	Gzip            *opt[bool]        `mapstructure:"gzip"`
	GzipTypes       *opt[words]       `mapstructure:"gzip_types"`
	GzipMinLength   *opt[size]        `mapstructure:"gzip_min_length"`
	GzipCompLevel   *opt[int]         `mapstructure:"gzip_comp_level"`
	GzipProxied     *opt[words]       `mapstructure:"gzip_proxied"`
	GzipVary        *opt[bool]        `mapstructure:"gzip_vary"`
	GzipDisable     *opt[words]       `mapstructure:"gzip_disable"`
	GzipHTTPVersion *opt[httpVersion] `mapstructure:"gzip_http_version"`
	GzipBuffers     *opt[Buffers]     `mapstructure:"gzip_buffers"` // accepted: spillway's compressor needs no buffers of its own
	GzipStatic      *opt[GzipStatic]  `mapstructure:"gzip_static"`
	Gunzip          *opt[bool]        `mapstructure:"gunzip"`
	GunzipBuffers   *opt[Buffers]     `mapstructure:"gunzip_buffers"` // accepted: the decompressor needs no buffers of its own
}

func (d *gzipDirectives) inherit(p *gzipDirectives) {
	merge(&d.Gzip, p.Gzip)
	merge(&d.GzipTypes, p.GzipTypes)
	merge(&d.GzipMinLength, p.GzipMinLength)
	merge(&d.GzipCompLevel, p.GzipCompLevel)
	merge(&d.GzipProxied, p.GzipProxied)
	merge(&d.GzipVary, p.GzipVary)
	merge(&d.GzipDisable, p.GzipDisable)
	merge(&d.GzipHTTPVersion, p.GzipHTTPVersion)
	merge(&d.GzipBuffers, p.GzipBuffers)
	merge(&d.GzipStatic, p.GzipStatic)
	merge(&d.Gunzip, p.Gunzip)
	merge(&d.GunzipBuffers, p.GunzipBuffers)
}

// resolve is the level's Gzip; check has reported what does not parse.
// gzip_vary, gzip_http_version, gzip_proxied and gzip_disable are the core
// module's in nginx: gzip_static and gunzip read them with gzip off too.
func (d *gzipDirectives) resolve() Gzip {
	if !d.Gzip.or(false) && d.GzipStatic.or(GzipStaticOff) == GzipStaticOff && !d.Gunzip.or(false) {
		return Gzip{} // all off: the rest does not matter
	}
	g := Gzip{
		On:        d.Gzip.or(false),
		Types:     []string{"text/html"},
		MinLength: int64(d.GzipMinLength.or(20)),
		Level:     d.GzipCompLevel.or(1),
		Vary:      d.GzipVary.or(false),
		HTTP10:    d.GzipHTTPVersion.or("1.1") == "1.0",
		Static:    d.GzipStatic.or(GzipStaticOff),
		Gunzip:    d.Gunzip.or(false),
	}
	for _, t := range d.GzipTypes.or(nil) {
		if t = strings.ToLower(t); t != "text/html" {
			g.Types = append(g.Types, t)
		}
	}
	g.Proxied, _ = ParseGzipProxied(d.GzipProxied.or(nil))
	for _, w := range d.GzipDisable.or(nil) {
		if w == "msie6" {
			g.MSIE6 = true
			continue
		}
		if re, err := compilePCRE(w, true); err == nil {
			g.Disable = append(g.Disable, re)
		}
	}
	return g
}

func (d *gzipDirectives) check(p *problems) {
	if l := d.GzipCompLevel.or(1); l < 1 || l > 9 {
		p.add(d.GzipCompLevel.at(), "value must be between 1 and 9")
	}
	if _, err := ParseGzipProxied(d.GzipProxied.or(nil)); err != nil {
		p.add(d.GzipProxied.at(), "%v", err)
	}
	for _, w := range d.GzipDisable.or(nil) {
		if w == "msie6" {
			continue
		}
		if _, err := compilePCRE(w, true); err != nil {
			p.add(d.GzipDisable.at(), "%q: %v", w, err)
		}
	}
}

// CompilePCRE compiles an nginx regex as spillway runs it (PCRE's
// semantics where RE2 differs); for converters that check one in advance.
func CompilePCRE(expr string, caseless bool) (*regexp.Regexp, error) {
	return compilePCRE(expr, caseless)
}
