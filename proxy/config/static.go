package config

import (
	"fmt"
	"strings"
)

// Static files (nginx's ngx_http_static_module, ngx_http_index_module,
// try_files and the types hash): a location with no proxy_pass,
// fastcgi_pass or stub_status serves files when root, alias, index or
// try_files reach it. proxy/static serves them.

// Static is what a location that serves files needs.
type Static struct {
	// Alias replaces the location's prefix (or, in a regex location, the
	// whole URI) by this path; "" means root + $uri.
	Alias string
	// AliasPrefix is what Alias replaces when a nested location inherits
	// it: the enclosing prefix location's path (nginx strips the length of
	// the name of the location that wrote alias); "" otherwise.
	AliasPrefix string
	// Index is index's file names, tried in order for a URI ending in "/"
	// (default "index.html").
	Index []string
	// TryFiles is try_files's arguments as written; the last is the
	// fallback (a URI, "@name" or "=code"). Empty when not set.
	TryFiles []string
	// Types maps a lower-case file extension to its MIME type (types;
	// nginx's default is the three below). DefaultType is default_type
	// (default "text/plain").
	Types       map[string]string
	DefaultType string
	ETag        bool // etag, default on
	LogNotFound bool // log_not_found, default on
	Autoindex   bool // autoindex: nginx's listing of a directory without an index file
	// AutoindexFormat is autoindex_format: "html" (default), "xml", "json"
	// or "jsonp"; AutoindexExactSize (default on) and AutoindexLocaltime
	// (default off) shape the HTML listing.
	AutoindexFormat    string
	AutoindexExactSize bool
	AutoindexLocaltime bool
	// UTF8: the location's charset is utf-8, so the HTML listing counts a
	// name's columns in characters, not bytes (as nginx).
	UTF8 bool
	// Handler: the location proxies (or answers stub_status) and has
	// try_files, which only picks the URI it goes on with (or answers its
	// fallback), as "try_files $uri =404" before fastcgi_pass.
	Handler bool
}

// staticDirectives may be written in http, in a server and in a location.
type staticDirectives struct {
	Index       *opt[words]     `mapstructure:"index"`
	Types       *opt[mimeTypes] `mapstructure:"types"` // extension: MIME type
	DefaultType *opt[string]    `mapstructure:"default_type"`
	Etag        *opt[bool]      `mapstructure:"etag"`
	LogNotFound *opt[bool]      `mapstructure:"log_not_found"`
	Autoindex   *opt[bool]      `mapstructure:"autoindex"`

	AutoindexFormat    *opt[string] `mapstructure:"autoindex_format"`
	AutoindexExactSize *opt[bool]   `mapstructure:"autoindex_exact_size"`
	AutoindexLocaltime *opt[bool]   `mapstructure:"autoindex_localtime"`
}

// staticLocationDirectives may be written in a location only.
type staticLocationDirectives struct {
	Alias    *opt[string] `mapstructure:"alias"`
	TryFiles *opt[words]  `mapstructure:"try_files"`
}

// inherit is merge_loc_conf for the static directives.
func (d *staticDirectives) inherit(p *staticDirectives) {
	merge(&d.Index, p.Index)
	merge(&d.Types, p.Types)
	merge(&d.DefaultType, p.DefaultType)
	merge(&d.Etag, p.Etag)
	merge(&d.LogNotFound, p.LogNotFound)
	merge(&d.Autoindex, p.Autoindex)
	merge(&d.AutoindexFormat, p.AutoindexFormat)
	merge(&d.AutoindexExactSize, p.AutoindexExactSize)
	merge(&d.AutoindexLocaltime, p.AutoindexLocaltime)
}

// checkNamedTargets refuses a try_files whose fallback names a location
// the server does not have (nginx: 'could not find named location "@x"',
// at run time; spillway at load).
func checkNamedTargets(srv *Server, s *rawServer, p *problems) {
	named := map[string]bool{}
	for _, l := range srv.Locations {
		if l.Match == MatchNamed {
			named[l.Path] = true
		}
	}
	var check func(locs []*Location, raws []rawLocation)
	check = func(locs []*Location, raws []rawLocation) {
		for i, l := range locs {
			check(l.Locations, raws[i].Locations)
			if l.Static == nil || len(l.Static.TryFiles) == 0 {
				continue
			}
			if last := l.Static.TryFiles[len(l.Static.TryFiles)-1]; strings.HasPrefix(last, "@") && !named[last] {
				p.add(raws[i].TryFiles.at(), `could not find named location "%s"`, last)
			}
		}
	}
	check(srv.Locations, s.Locations)
}

// defaultTypes is nginx's types hash when no types block is written
// (ngx_http_core_module.c, ngx_http_core_default_types).
func defaultTypes() map[string]string {
	return map[string]string{"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"}
}

// DefaultContentType is the Content-Type nginx gives what it answers for
// uri by itself (a return's text) where no types block is written: its
// default types hash for the extension of uri's last segment, else
// text/plain.
func DefaultContentType(uri string) string {
	seg := uri[strings.LastIndexByte(uri, '/')+1:]
	if i := strings.LastIndexByte(seg, '.'); i >= 0 {
		if t, ok := defaultTypes()[strings.ToLower(seg[i+1:])]; ok {
			return t
		}
	}
	return "text/plain"
}

// servesFiles reports whether a location without a content handler serves
// files: root, alias, index or try_files reach it.
func (l *rawLocation) servesFiles() bool {
	return l.Root.set() || l.Alias.set() || l.TryFiles.set() || l.Index.set()
}

// resolveStatic fills in loc.Static for a location that serves files, and
// refuses the static directives where they cannot apply.
func (l *rawLocation) resolveStatic(loc *Location, p *problems) {
	content := l.passesUpstream() || l.StubStatus.or(false)
	if content && l.Alias.set() {
		p.add(l.Alias.at(), `"alias" cannot be used in a location that proxies or answers stub_status`)
	}
	if content && !l.TryFiles.set() || !content && !l.servesFiles() {
		return
	}
	st := &Static{
		Alias:       l.Alias.or(""),
		AliasPrefix: l.aliasFrom,
		Index:       l.Index.or([]string{"index.html"}),
		TryFiles:    l.TryFiles.or(nil),
		Types:       l.Types.or(nil),
		DefaultType: l.DefaultType.or("text/plain"),
		ETag:        l.Etag.or(true),
		LogNotFound: l.LogNotFound.or(true),
		Autoindex:   l.Autoindex.or(false),

		AutoindexFormat:    strings.ToLower(l.AutoindexFormat.or("html")),
		AutoindexExactSize: l.AutoindexExactSize.or(true),
		AutoindexLocaltime: l.AutoindexLocaltime.or(false),
		UTF8:               strings.EqualFold(charsetValue(l.Charset), "utf-8"),
		Handler:            content,
	}
	if st.Types == nil {
		st.Types = defaultTypes()
	} else {
		lower := make(map[string]string, len(st.Types))
		for ext, typ := range st.Types {
			lower[strings.ToLower(ext)] = typ
		}
		st.Types = lower
	}
	switch st.AutoindexFormat {
	case "html", "xml", "json", "jsonp":
	default:
		p.add(l.AutoindexFormat.at(), `invalid value "%s" in "autoindex_format" directive, it must be "html", "xml", "json" or "jsonp"`, l.AutoindexFormat.v)
	}
	if l.Alias.set() && l.Alias.v == "" {
		p.add(l.Alias.at(), `"alias" needs a path`)
	}
	if l.TryFiles.set() && len(l.TryFiles.v) < 2 {
		p.add(l.TryFiles.at(), `invalid number of arguments in "try_files" directive`)
	}
	for _, a := range st.TryFiles {
		p.checkVariables(l.TryFiles.at(), "try_files", a)
	}
	for _, n := range st.Index {
		if n == "" {
			p.add(l.Index.at(), `index "" in "index" directive is invalid`)
		}
	}
	loc.Static = st
}

// mimeTypes is the types mapping: file extension → MIME type.
type mimeTypes = map[string]string

func mimeTypesFrom(in any) (mimeTypes, error) {
	if s, ok := in.(string); ok && s == "mime.types" {
		return NginxMimeTypes(), nil // nginx's table (mimetypes.go)
	}
	m, ok := in.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a mapping of file extensions to MIME types, e.g. {html: text/html}, or mime.types for nginx's table")
	}
	out := make(mimeTypes, len(m))
	for ext, v := range m {
		t, ok := v.(string)
		if !ok || t == "" {
			return nil, fmt.Errorf("the MIME type of %q must be a string", ext)
		}
		out[strings.ToLower(ext)] = t
	}
	return out, nil
}
