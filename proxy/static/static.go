// Package static is nginx's file serving for a location without proxy_pass:
// the static module (root, alias), gzip_static, the index and autoindex
// modules, try_files, the types hash, and the not_modified and range
// filters' decisions. It maps a request to a file and says what to answer;
// proxy writes the answer.
//
// The path can never leave root or alias: the URI it is given is nginx's
// normalised $uri, which has no ".." segment above "/" (proxy/internal/
// nginxuri). Symlinks are followed, as nginx's default disable_symlinks off.
package static

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// captureRef is nginx's $1..$9 in alias: one digit, so "$1x" is capture 1
// then "x" (Go's Expand would read a capture named "1x").
var captureRef = regexp.MustCompile(`\$([0-9])`)

// Location serves one location's files.
type Location struct {
	conf   *config.Static
	root   string
	prefix string         // the location's path, for alias in a prefix location
	regex  *regexp.Regexp // a regex location's pattern, for alias captures
	// tryFiles is try_files's arguments compiled: any variable, as nginx
	// expands them ($uri, $fastcgi_script_name in Debian's
	// snippets/fastcgi-php.conf, ...).
	tryArgs []*vars.Value
	// indexArgs are index's names with variables compiled (nil for a name
	// without one), evaluated per request as ngx_http_index_handler does.
	indexArgs []*vars.Value
}

// New compiles a location that serves files (maps are the site's map
// variables, for try_files); nil when it does not.
func New(loc *config.Location, maps *vars.Maps) (*Location, error) {
	if loc.Static == nil {
		return nil, nil
	}
	l := &Location{conf: loc.Static, root: strings.TrimSuffix(loc.Root, "/"), prefix: loc.Path}
	switch {
	case loc.Static.AliasPrefix != "": // alias inherited from an enclosing prefix location
		l.prefix = loc.Static.AliasPrefix
	case loc.Match == config.MatchRegex || loc.Match == config.MatchRegexCaseless:
		l.regex = loc.Regex
	}
	args := loc.Static.TryFiles
	for i, a := range args {
		if i < len(args)-1 && strings.HasSuffix(a, "/") {
			// nginx's test_dir: the "/" is not part of the name it
			// tests (a directory) and makes the new $uri.
			a = a[:len(a)-1]
		}
		v, err := vars.Compile(a, maps)
		if err != nil {
			return nil, fmt.Errorf("try_files %q: %w", a, err)
		}
		l.tryArgs = append(l.tryArgs, v)
	}
	for _, name := range loc.Static.Index {
		var v *vars.Value
		if strings.Contains(name, "$") {
			var err error
			if v, err = vars.Compile(name, maps); err != nil {
				return nil, fmt.Errorf("index %q: %w", name, err)
			}
		}
		l.indexArgs = append(l.indexArgs, v)
	}
	return l, nil
}

// Kind is what the request gets.
type Kind int

const (
	Serve    Kind = iota // the file in Result.File
	Status               // Result.Code with nginx's error page
	Redirect             // 301 to the URI with a "/" appended (a directory)
	Internal             // internal redirect to Result.URI (index, try_files's fallback)
	Pass                 // a proxied location's try_files found Result.URI: proxy it
	Named                // try_files's fallback is the named location Result.URI ("@app")
	Listing              // autoindex: 200 with Result.Body, of Result.Type (Result.Format "jsonp": see JSONP)
)

// Result is the outcome of Resolve.
type Result struct {
	Kind     Kind
	Code     int
	URI      string // Internal: the new $uri (with Args, the new query)
	Args     string
	File     *os.File
	Info     fs.FileInfo
	Filename string // $request_filename
	Body     []byte // Listing's page
	Type     string // Listing's Content-Type
	Format   string // Listing's autoindex_format
	Logs     []Log  // error-log lines to write, in order
	// Gzip: File is the ".gz" of the file asked for (gzip_static): the
	// answer says Content-Encoding: gzip and takes no ranges.
	Gzip bool
	// Vary is nginx's r->gzip_vary: gzip_static on found a ".gz", so the
	// answer, whatever it is, varies with Accept-Encoding (under gzip_vary).
	Vary bool
}

// Gzip is what gzip_static needs of the request and of the location's
// gzip settings.
type Gzip struct {
	Static config.GzipStatic
	OK     bool // ngx_http_gzip_ok: the client takes gzip (needed for "on")
	Vary   bool // gzip_vary
}

// Log is one nginx error-log line: level "error" or "crit".
type Log struct {
	Level string
	Msg   string
	Errno syscall.Errno
}

// Resolve maps method and $uri to nginx's answer: try_files first (nginx's
// try-files phase), then the content phase. x is the request try_files's
// variables read; its $uri must be uri.
func (l *Location) Resolve(method, uri string, x vars.Exchange) Result {
	return l.ResolveGzip(method, uri, x, Gzip{})
}

// ResolveGzip is Resolve with gzip_static.
func (l *Location) ResolveGzip(method, uri string, x vars.Exchange, gz Gzip) Result {
	if len(l.tryArgs) > 0 {
		return l.tryFiles(method, uri, x, gz)
	}
	return l.content(method, uri, x, gz)
}

// path is $request_filename for uri: root + uri, or alias in place of the
// location's prefix (regex locations: alias with its captures, whole).
func (l *Location) path(uri string) string {
	if l.conf.Alias == "" {
		return l.root + uri
	}
	if l.regex != nil {
		m := l.regex.FindStringSubmatchIndex(uri)
		if m == nil {
			return l.conf.Alias
		}
		return string(l.regex.ExpandString(nil, captureRef.ReplaceAllString(l.conf.Alias, "$${$1}"), uri, m))
	}
	rest := uri
	if strings.HasPrefix(uri, l.prefix) {
		rest = uri[len(l.prefix):]
	}
	return l.conf.Alias + rest
}

// content is the content phase: the index module for a URI ending in "/",
// then the static module.
func (l *Location) content(method, uri string, x vars.Exchange, gz Gzip) Result {
	if method != "GET" && method != "HEAD" && method != "POST" {
		return Result{Kind: Status, Code: http.StatusMethodNotAllowed}
	}
	if strings.HasSuffix(uri, "/") {
		return l.index(method, uri, x)
	}
	r, served := l.gzipStatic(method, uri, gz)
	if served {
		return r
	}
	s := l.static(method, uri)
	s.Vary = r.Vary
	s.Logs = append(r.Logs, s.Logs...)
	return s
}

// gzipStatic is ngx_http_gzip_static_handler: the file's ".gz" when the
// client takes gzip (or gzip_static is always). served is false when the
// static module goes on; r then carries Vary and the lines to log.
func (l *Location) gzipStatic(method, uri string, gz Gzip) (r Result, served bool) {
	if gz.Static == config.GzipStaticOff || method != "GET" && method != "HEAD" {
		return r, false
	}
	ok := gz.OK || gz.Static == config.GzipStaticAlways
	if !ok && !gz.Vary {
		return r, false
	}
	name := l.path(uri) + ".gz"
	f, err := os.Open(name)
	if err != nil {
		switch errno := errnoOf(err); errno {
		case syscall.ENOENT, syscall.ENOTDIR, syscall.ENAMETOOLONG:
		case syscall.EACCES, syscall.EMLINK, syscall.ELOOP:
			r.Logs = []Log{{"error", `open() "` + name + `" failed`, errno}}
		default:
			r.Logs = []Log{{"crit", `open() "` + name + `" failed`, errno}}
		}
		return r, false
	}
	if gz.Static == config.GzipStaticOn {
		r.Vary = true
	}
	fi, err := f.Stat()
	switch {
	case !ok:
	case err != nil:
		r.Logs = []Log{{"crit", `fstat() "` + name + `" failed`, errnoOf(err)}}
	case fi.IsDir():
	case !fi.Mode().IsRegular():
		f.Close()
		return Result{Kind: Status, Code: 404, Vary: r.Vary, Logs: []Log{{"crit", `"` + name + `" is not a regular file`, 0}}}, true
	default:
		return Result{Kind: Serve, Code: 200, File: f, Info: fi, Filename: l.path(uri), Gzip: true, Vary: r.Vary}, true
	}
	f.Close()
	return r, false
}

// static is ngx_http_static_handler for a URI that does not end in "/".
func (l *Location) static(method, uri string) Result {
	name := l.path(uri)
	f, err := os.Open(name)
	if err != nil {
		return l.openFailed(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return Result{Kind: Status, Code: 500, Filename: name, Logs: []Log{{"crit", `fstat() "` + name + `" failed`, errnoOf(err)}}}
	}
	if fi.IsDir() {
		f.Close()
		return Result{Kind: Redirect, Code: http.StatusMovedPermanently, Filename: name}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return Result{Kind: Status, Code: 404, Filename: name, Logs: []Log{{"crit", `"` + name + `" is not a regular file`, 0}}}
	}
	if method == "POST" {
		f.Close()
		return Result{Kind: Status, Code: http.StatusMethodNotAllowed, Filename: name}
	}
	return Result{Kind: Serve, Code: 200, File: f, Info: fi, Filename: name}
}

// openFailed is ngx_http_static_handler's answer to a failed open.
func (l *Location) openFailed(name string, err error) Result {
	r := Result{Kind: Status, Filename: name}
	errno := errnoOf(err)
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR, syscall.ENAMETOOLONG:
		r.Code = 404
		if !l.conf.LogNotFound {
			return r
		}
	case syscall.EACCES:
		r.Code = 403
	default:
		r.Code = 500
		r.Logs = []Log{{"crit", `open() "` + name + `" failed`, errno}}
		return r
	}
	r.Logs = []Log{{"error", `open() "` + name + `" failed`, errno}}
	return r
}

// index is ngx_http_index_handler: the first index file that exists is an
// internal redirect; none, in a directory that exists, is the 403 of
// "directory index ... is forbidden". A name with variables is evaluated
// for the request (x).
func (l *Location) index(method, uri string, x vars.Exchange) Result {
	dir := l.path(uri)
	first := "" // the name nginx tests the directory with (ngx_http_index_test_dir), and logs
	for i := range l.conf.Index {
		name := l.indexName(i, x)
		if first == "" {
			first = name
		}
		if strings.HasPrefix(name, "/") { // an absolute index is a URI, tried last by nginx
			return Result{Kind: Internal, URI: name}
		}
		_, err := os.Stat(dir + name)
		if err == nil {
			return Result{Kind: Internal, URI: uri + name}
		}
		switch errnoOf(err) {
		case syscall.ENOENT, syscall.ENOTDIR, syscall.ENAMETOOLONG:
			continue
		case syscall.EACCES:
			return Result{Kind: Status, Code: 403, Filename: dir, Logs: []Log{{"error", `open() "` + dir + name + `" failed`, syscall.EACCES}}}
		default:
			return Result{Kind: Status, Code: 500, Filename: dir, Logs: []Log{{"crit", `open() "` + dir + name + `" failed`, errnoOf(err)}}}
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		r := Result{Kind: Status, Code: 404, Filename: dir}
		e := errnoOf(err)
		if err == nil {
			e = syscall.ENOTDIR
		}
		if e == syscall.EACCES {
			r.Code = 403
		}
		if l.conf.LogNotFound || r.Code != 404 {
			r.Logs = []Log{{"error", `"` + dir + first + `" is not found`, e}}
		}
		return r
	}
	if l.conf.Autoindex && (method == "GET" || method == "HEAD") {
		if r, ok := l.autoindex(uri, dir); ok {
			return r
		}
	}
	return Result{Kind: Status, Code: 403, Filename: dir, Logs: []Log{{"error", `directory index of "` + dir + `" is forbidden`, 0}}}
}

// indexName is index's i-th name, its variables evaluated.
func (l *Location) indexName(i int, x vars.Exchange) string {
	if i < len(l.indexArgs) && l.indexArgs[i] != nil && x != nil {
		return string(l.indexArgs[i].Append(nil, x))
	}
	return l.conf.Index[i]
}

// tryFiles is ngx_http_core_try_files_phase: the first argument naming a
// file (or, written with a trailing "/", a directory) that exists becomes
// $uri, without that "/", and the content phase serves it; else the last
// argument decides.
func (l *Location) tryFiles(method, uri string, x vars.Exchange, gz Gzip) Result {
	args := l.conf.TryFiles
	for i, a := range args[:len(args)-1] {
		cand := string(l.tryArgs[i].Append(nil, x))
		dir := strings.HasSuffix(a, "/")
		name := l.path(cand)
		fi, err := os.Stat(name)
		if err != nil || fi.IsDir() != dir {
			continue
		}
		if l.conf.Handler {
			return Result{Kind: Pass, URI: cand, Filename: name}
		}
		return l.content(method, cand, x, gz)
	}
	last := args[len(args)-1]
	if strings.HasPrefix(last, "=") {
		code, _ := strconv.Atoi(last[1:])
		return Result{Kind: Status, Code: code}
	}
	if strings.HasPrefix(last, "@") {
		return Result{Kind: Named, URI: last}
	}
	u := string(l.tryArgs[len(args)-1].Append(nil, x))
	r := Result{Kind: Internal, URI: u}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		r.URI, r.Args = u[:i], u[i+1:]
	}
	return r
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// ContentType is the types hash's answer for uri's extension (nginx:
// after the last "." of the last segment, lower-cased), else default_type.
func (l *Location) ContentType(uri string) string {
	seg := uri[strings.LastIndexByte(uri, '/')+1:]
	if i := strings.LastIndexByte(seg, '.'); i >= 0 {
		if t, ok := l.conf.Types[strings.ToLower(seg[i+1:])]; ok {
			return t
		}
	}
	return l.conf.DefaultType
}

// ETag is nginx's strong entity tag: hex mtime, "-", hex size; "" when
// etag is off.
func (l *Location) ETag(fi fs.FileInfo) string {
	if !l.conf.ETag {
		return ""
	}
	return `"` + strconv.FormatInt(fi.ModTime().Unix(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`
}

// Precondition is the not_modified filter's answer for a 200: 0 (send
// it), 304 or 412. Header values are as received ("" when absent).
func Precondition(mtime time.Time, etag, ifUnmodifiedSince, ifMatch, ifModifiedSince, ifNoneMatch, imsMode string) int {
	lm := mtime.Unix()
	if ifUnmodifiedSince != "" {
		t, err := http.ParseTime(ifUnmodifiedSince)
		if err == nil && t.Unix() < lm {
			return http.StatusPreconditionFailed
		}
	}
	if ifMatch != "" && !etagMatch(ifMatch, etag, false) {
		return http.StatusPreconditionFailed
	}
	if ifModifiedSince == "" && ifNoneMatch == "" {
		return 0
	}
	if ifModifiedSince != "" {
		// nginx's ngx_http_test_if_modified: "off" never matches, "exact"
		// (nginx's default, "") the file's date only, "before" any date
		// not before it.
		t, err := http.ParseTime(ifModifiedSince)
		switch {
		case imsMode == "off":
			return 0
		case err != nil:
			return 0
		case t.Unix() == lm:
		case imsMode != "before" || t.Unix() < lm:
			return 0
		}
	}
	if ifNoneMatch != "" && !etagMatch(ifNoneMatch, etag, true) {
		return 0
	}
	return http.StatusNotModified
}

// etagMatch is ngx_http_test_if_match: "*", or one of the list's tags
// (weak "W/" tags match only when weak comparison is allowed).
func etagMatch(list, etag string, weak bool) bool {
	if etag == "" {
		return false
	}
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if weak {
			t = strings.TrimPrefix(t, "W/")
		}
		if t == etag {
			return true
		}
	}
	return false
}

// Span is one byte range of a file, [Start, End).
type Span struct{ Start, End int64 }

// Ranges is nginx's range filter (ngx_http_range_parse) for a 200 of size
// bytes, header as received: status 0 means send the whole body (no
// "bytes=" Range, or ranges adding up to more than the file), 206 the
// spans (several: multipart/byteranges), 416 none is satisfiable or the
// header is malformed. max limits the satisfiable ranges (max_ranges, or 1
// for proxy_force_ranges): one more, as far as nginx has read, is the
// whole body; < 0 is no limit.
func Ranges(header string, size int64, max int) ([]Span, int) {
	if len(header) < 6 || !strings.EqualFold(header[:6], "bytes=") {
		return nil, 0
	}
	p := header[6:]
	var spans []Span
	var total int64
	skip := func() {
		for len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
	}
	num := func() (int64, bool) {
		if len(p) == 0 || p[0] < '0' || p[0] > '9' {
			return 0, false
		}
		var n int64
		for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
			if n >= (1<<63-1)/10 {
				return 0, false
			}
			n = n*10 + int64(p[0]-'0')
			p = p[1:]
		}
		return n, true
	}
	for {
		var start, end int64
		suffix, open := false, false
		skip()
		if len(p) > 0 && p[0] == '-' {
			suffix = true
			p = p[1:]
		} else {
			var ok bool
			if start, ok = num(); !ok {
				return nil, 416
			}
			skip()
			if len(p) == 0 || p[0] != '-' {
				return nil, 416
			}
			p = p[1:]
			skip()
			if len(p) == 0 || p[0] == ',' {
				end, open = size, true
			}
		}
		if !open {
			var ok bool
			if end, ok = num(); !ok {
				return nil, 416
			}
			skip()
			if len(p) > 0 && p[0] != ',' {
				return nil, 416
			}
			if suffix {
				start = 0
				if end < size {
					start = size - end
				}
				end = size - 1
			}
			if end >= size {
				end = size
			} else {
				end++
			}
		}
		if start < end {
			spans = append(spans, Span{start, end})
			total += end - start
			if max >= 0 && len(spans) > max {
				return nil, 0
			}
		}
		if len(p) == 0 {
			break
		}
		p = p[1:] // ','
	}
	if len(spans) == 0 {
		return nil, 416
	}
	if total > size {
		return nil, 0
	}
	return spans, 206
}
