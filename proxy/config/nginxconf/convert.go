package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/vars"

	"spillway/proxy/config"
)

// Options tunes Convert.
type Options struct {
	// Source names the converted file in the output's header comment; ""
	// means the file of the first directive.
	Source string
	// Prefix is nginx's prefix (nginx -p): relative paths of logs, the pid
	// file and temp directories are joined to it. "" keeps them as written,
	// so spillway resolves them from its working directory.
	Prefix string
	// OwnPID makes the file's "pid" spillway.pid in the same directory,
	// so that a proxy.yaml written by "spillway convert" never takes
	// nginx's pid file; without it (an nginx.conf run with -c, where
	// spillway stands in for nginx: init scripts, logrotate's -s reopen and
	// nginx's test suite go by that file) the pid is the file's.
	OwnPID bool
	// ConfPrefix is the directory relative certificate paths start from
	// (nginx's conf prefix); ConvertFile sets it to the main file's
	// directory.
	ConfPrefix string
}

// Kind tells a directive spillway does not implement (Unsupported: the
// converted proxy behaves differently) from one it can do without
// (Ignored: the behaviour is the same, e.g. worker_processes), and both
// from what spillway must not drop (Refused: access control it does not
// enforce, or a location or server it cannot convert, whose requests would
// then be answered where nginx refuses them). One Refused warning makes
// Convert fail: spillway fails closed, never open.
type Kind uint8

const (
	Unsupported Kind = iota
	Ignored
	Refused
)

// Warning is one directive, parameter or block that was not converted.
type Warning struct {
	File string
	Line int
	Kind Kind
	Msg  string // `unsupported directive "gzip" in http`, `ignored directive ...: why`

	seq int
}

// String is "file:line: message".
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// Result is a converted configuration.
type Result struct {
	YAML     []byte    // proxy.yaml, with a header comment naming the source
	Warnings []Warning // in the order the directives were read
}

// RefusedError is Convert's error when the configuration has something
// spillway must not drop (the Refused warnings, in reading order). Convert
// then also returns the Result with every warning and no YAML, so that all
// of what does not convert can be listed, not just the first refusal.
type RefusedError struct {
	Refused []Warning
}

// Error is one line per refusal, in nginx's emerg form: "message in
// file:line".
func (e *RefusedError) Error() string {
	lines := make([]string, len(e.Refused))
	for i, w := range e.Refused {
		lines[i] = fmt.Sprintf("%s in %s:%d", w.Msg, w.File, w.Line)
	}
	return strings.Join(lines, "\n")
}

// Unsupported counts the warnings of kind Unsupported.
func (r *Result) Unsupported() int {
	n := 0
	for _, w := range r.Warnings {
		if w.Kind == Unsupported {
			n++
		}
	}
	return n
}

// ConvertFile parses the nginx configuration at path (with its includes)
// and converts it.
func ConvertFile(path string, opts Options) (*Result, error) {
	ds, err := ParseFile(path, ParseOptions{})
	if err != nil {
		return nil, err
	}
	if opts.Source == "" {
		opts.Source = path
	}
	if opts.ConfPrefix == "" {
		opts.ConfPrefix = ConfDir(path)
	}
	return Convert(ds, opts)
}

// Convert turns parsed nginx directives (the main context) into proxy.yaml.
// Errors are what nginx -t would refuse too (a duplicate directive, an
// invalid value, a wrong number of arguments), as *Error with file and
// line; everything nginx accepts and spillway does not implement is a
// Warning instead. When a warning is Refused (access control spillway does
// not enforce, a location or server it cannot convert), the error is a
// *RefusedError and the Result is returned too, with every warning and no
// YAML.
func Convert(main []*Directive, opts Options) (*Result, error) {
	c := &conv{opts: opts, upstreams: map[string]*upstreamOut{}, formats: map[string]*logFormat{},
		matches: map[string]*Directive{}}
	if c.opts.Source == "" && len(main) > 0 {
		c.opts.Source = main[0].File
	}
	root := newMap()
	top := &level{ctx: "main", m: root}
	// A file of server blocks (Debian's sites-available/default) is read
	// as if inside http { }; otherwise the main context's directives.
	http := serverFile(main)
	if http != nil {
		main = nil // they are http's
	}
	for _, d := range main {
		if d.Name == "http" {
			if http != nil {
				return c.stop(errAt(d, `"http" directive is duplicate`))
			}
			http = d
			continue
		}
		if err := c.emerg(c.directive(top, d)); err != nil {
			return c.stop(err)
		}
	}
	if http == nil {
		return c.stop(&Error{File: c.opts.Source, Line: 1, Msg: `no "http" block: nothing to convert`})
	}
	if !http.IsBlock {
		return c.stop(errAt(http, `directive "http" has no opening "{"`))
	}
	h, err := c.http(http)
	if err == nil {
		err = c.firstErr
	}
	if err != nil {
		return c.stop(err)
	}
	sort.SliceStable(c.warns, func(i, j int) bool { return c.warns[i].seq < c.warns[j].seq })
	if refused := c.refused(); len(refused) > 0 {
		return &Result{Warnings: c.warns}, &RefusedError{Refused: refused}
	}
	root.set("http", h.n)

	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.n}}
	doc.HeadComment = c.header()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	_ = enc.Close()
	return &Result{YAML: b.Bytes(), Warnings: c.warns}, nil
}

// serverFile returns the http block to convert a file of http-context
// directives by (Debian's sites-available/default, a conf.d file: server
// blocks, upstreams, maps with no "http" around them), as if it were inside
// http { } as nginx.conf includes it; nil for a main-context file.
func serverFile(main []*Directive) *Directive {
	if len(main) == 0 {
		return nil
	}
	for _, d := range main {
		switch d.Name {
		case "http", "events", "user", "pid", "worker_processes", "error_log", "load_module", "include",
			"daemon", "master_process", "stream", "mail", "env", "worker_rlimit_nofile", "worker_shutdown_timeout":
			return nil
		}
	}
	for _, d := range main {
		if d.Name == "server" && d.IsBlock {
			return &Directive{Name: "http", IsBlock: true, Block: main, File: main[0].File, Line: main[0].Line, seq: main[0].seq}
		}
	}
	return nil
}

// emerg takes a directive's error: an nginx error (*Error) is kept, the
// one nginx would stop at (the first in reading order; upstreams are
// converted before servers), and conversion goes on so that everything
// after it that does not convert is listed too (Convert then returns it);
// any other error is returned.
func (c *conv) emerg(err error) error {
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	if c.firstErr == nil || e.seq != 0 && e.seq < c.firstSeq {
		c.firstErr, c.firstSeq = err, e.seq
	}
	return nil
}

// stop ends a conversion with err, returning the warnings so far too, so
// that what did not convert is listed before nginx's one [emerg] line.
func (c *conv) stop(err error) (*Result, error) {
	if c.firstErr != nil {
		err = c.firstErr // the first error, as nginx would have stopped there
	}
	sort.SliceStable(c.warns, func(i, j int) bool { return c.warns[i].seq < c.warns[j].seq })
	return &Result{Warnings: c.warns}, err
}

// header is the comment at the top of the output.
func (c *conv) header() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spillway configuration converted by `spillway convert` from %s.\n", c.opts.Source)
	b.WriteString("Keys are nginx's directive names (docs/config.md); docs/convert.md lists what converts.\n")
	if len(c.warns) == 0 {
		b.WriteString("Every directive was converted.")
		return b.String()
	}
	b.WriteString("Not converted (also printed on stderr):")
	for _, w := range c.warns {
		b.WriteString("\n  " + w.String())
	}
	return b.String()
}

// refused returns the Refused warnings.
func (c *conv) refused() []Warning {
	var out []Warning
	for _, w := range c.warns {
		if w.Kind == Refused {
			out = append(out, w)
		}
	}
	return out
}

// conv is one conversion's state.
type conv struct {
	opts  Options
	warns []Warning

	upstreams map[string]*upstreamOut // by lower-cased name
	formats   map[string]*logFormat   // log_format by name
	matches   map[string]*Directive   // match blocks (for health_check) by name
	usedMatch map[string]bool
	servers   []*level   // the converted servers, in file order
	httpLevel *level     // the http block's level
	fastcgi   bool       // some location has fastcgi_pass
	maps      []*mapOut  // map blocks, in file order (maps.go)
	varMaps   *vars.Maps // the maps compiled: their variables are known to every value checked
	firstErr  error      // the first nginx error (*Error); conversion goes on to list the rest
	firstSeq  int        // its directive's reading order
	authSets  []string   // the variables auth_request_set assigns (maps.go authSetNames)
	setVars   []string   // the variables set defines anywhere in http (rewrite.go)
	captures  []string   // the variables named captures define (rewrite.go captureNames)
}

// level is one context being converted: its output mapping and what its
// directives accumulate.
type level struct {
	ctx string // nginx's context name: main, http, server, location, upstream
	m   *ymap

	headers   []header   // proxy_set_header, in file order
	headerVal *yaml.Node // where they go, filled by finish
	accessVal *yaml.Node // allow/deny entries

	// lines are the lists of the directives each of whose lines is one
	// entry (limit_req, limit_req_zone, limit_conn, limit_conn_zone), by
	// name (appendLine).
	lines map[string]*yaml.Node

	// server
	listens   []listenAddr
	names     []string
	locations *yaml.Node

	parent *level // the enclosing location or server; nil for http, main, upstream

	// location
	locName     string     // nginx's name: the URI or regex as written
	locMod      string     // its modifier: "", "=", "^~", "~", "~*"
	regex       bool       // a ~ or ~* location
	internal    bool       // internal: answered 404, needs no proxy_pass
	proxies     bool       // proxy_pass or stub_status converted
	answers     bool       // return converted: the level answers by itself (rewrite.go)
	returned    bool       // a return converted: later rewrites are never reached
	broken      bool       // break: later rewrites and returns are never reached
	rewriteVal  *yaml.Node // the rewrite list (rewrite.go)
	inIf        bool       // an if block's level (rewrite.go)
	proxyTarget string
	healthCheck *Directive
	lmt         *level     // the limit_except block's level (limitexcept.go)
	lmtAt       *Directive // its directive

	// upstream
	up *upstreamOut
}

type header struct{ name, value string }

type listenAddr struct {
	addr          string
	ssl           bool
	h2            bool // http2: HTTP/2 beside HTTP/1.x
	quic          bool // quic: HTTP/3 on the UDP port
	def           bool // default_server: proxy.yaml takes it as it is
	proxyProtocol bool // proxy_protocol: likewise
	d             *Directive
}

type upstreamOut struct {
	name    string
	d       *Directive
	m       *ymap
	servers *yaml.Node
	hc      *Directive // the health_check converted into it
	method  string     // the balancing method's key: least_conn, hash, ip_hash, random; "" = round-robin
}

type logFormat struct {
	format string
	escape string // escape=: default, json or none
	err    error
}

func errAt(d *Directive, format string, args ...any) error {
	return &Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf(format, args...), seq: d.seq}
}

func (c *conv) warn(d *Directive, k Kind, format string, args ...any) {
	c.warns = append(c.warns, Warning{File: d.File, Line: d.Line, Kind: k, Msg: fmt.Sprintf(format, args...), seq: d.seq})
}

// directive converts one directive of lv's context, or reports it.
func (c *conv) directive(lv *level, d *Directive) error {
	if h := handlers[lv.ctx][d.Name]; h != nil {
		if d.IsBlock && !blockDirectives[d.Name] {
			return errAt(d, "directive \"%s\" is not terminated by \";\"", d.Name)
		}
		if !d.IsBlock && blockDirectives[d.Name] {
			return errAt(d, "directive \"%s\" has no opening \"{\"", d.Name)
		}
		return h(c, lv, d)
	}
	if why, ok := refusedWhy[d.Name]; ok {
		return refuse(c, lv, d, why)
	}
	if why, ok := ignored[d.Name]; ok && (why.ctxs == "" || strings.Contains(" "+why.ctxs+" ", " "+lv.ctx+" ")) {
		c.warn(d, Ignored, "ignored directive \"%s\" in %s: %s", d.Name, lv.ctx, why.reason)
		return nil
	}
	if why := unsupportedWhy[d.Name]; why != "" {
		c.warn(d, Unsupported, "unsupported directive \"%s\" in %s: %s", d.Name, lv.ctx, why)
		return nil
	}
	c.warn(d, Unsupported, "unsupported directive \"%s\" in %s", d.Name, lv.ctx)
	return nil
}

// http converts the http block: upstreams first (locations' health_check
// and proxy_pass refer to them), then the http-level directives and the
// servers in file order.
func (c *conv) http(http *Directive) (*ymap, error) {
	lv := &level{ctx: "http", m: newMap()}
	c.httpLevel = lv
	c.usedMatch = map[string]bool{}
	for _, d := range http.Block {
		if d.Name == "map" { // first: log_format and every value may use its variable
			if err := c.emerg(c.mapBlock(d)); err != nil {
				return nil, err
			}
		}
	}
	c.authSets = authSetNames(http.Block, nil) // in scope everywhere, like the maps' (maps.go)
	c.setVars = setNames(http.Block, nil)      // set's too (rewrite.go)
	c.captures = captureNames(http.Block, nil) // and named captures' (rewrite.go)
	c.checkMaps()
	for _, d := range http.Block {
		switch d.Name {
		case "upstream":
			if err := c.emerg(c.upstreamName(d)); err != nil {
				return nil, err
			}
		case "log_format":
			if err := c.emerg(c.logFormat(d)); err != nil {
				return nil, err
			}
		case "match":
			if len(d.Args) != 1 || !d.IsBlock {
				if err := c.emerg(errAt(d, `invalid number of arguments in "match" directive`)); err != nil {
					return nil, err
				}
				continue
			}
			c.matches[d.Args[0]] = d
		}
	}
	for _, d := range http.Block {
		if d.Name == "upstream" && c.registered(d) {
			if err := c.emerg(c.upstream(d)); err != nil {
				return nil, err
			}
		}
	}
	var servers []*yaml.Node
	for _, d := range http.Block {
		switch d.Name {
		case "upstream", "log_format", "match", "map":
			continue
		case "server":
			if !d.IsBlock {
				if err := c.emerg(errAt(d, `directive "server" has no opening "{"`)); err != nil {
					return nil, err
				}
				continue
			}
			s, err := c.server(d)
			if err := c.emerg(err); err != nil {
				return nil, err
			}
			if s != nil {
				servers = append(servers, s)
			}
			continue
		}
		if err := c.emerg(c.directive(lv, d)); err != nil {
			return nil, err
		}
	}
	c.finish(lv)
	if len(c.maps) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, m := range c.maps {
			seq.Content = append(seq.Content, m.n.n)
		}
		lv.m.set("map", seq)
	}
	if c.fastcgi {
		// nginx sends a FastCGI application only the fastcgi_param
		// directives it is given (usually by include fastcgi_params, whose
		// lines are converted one by one); spillway's default set would add
		// SCRIPT_FILENAME and the others on top.
		lv.m.set("fastcgi_params", str("none"))
	}
	for _, d := range http.Block {
		if d.Name == "match" && !c.usedMatch[d.Args[0]] {
			c.warn(d, Ignored, "ignored directive \"match\" in http: no health_check uses \"%s\"", d.Args[0])
		}
	}
	if len(c.upstreams) > 0 {
		ups := newMap()
		for _, d := range http.Block {
			if d.Name == "upstream" && c.registered(d) {
				u := c.upstreams[strings.ToLower(d.Args[0])]
				if u.d == d && u.m != nil {
					ups.set(u.name, u.m.n)
					ups.n.Content[len(ups.n.Content)-2].LineComment = "upstream at " + where(d)
				}
			}
		}
		lv.m.set("upstreams", ups.n)
	}
	if len(servers) == 0 && (len(c.refused()) > 0 || c.firstErr != nil) {
		return lv.m, nil // Convert reports the refusals
	}
	if len(servers) == 0 {
		return nil, errAt(http, "no server block could be converted (every server needs a listen address spillway serves and a location that proxies)")
	}
	lv.m.set("servers", &yaml.Node{Kind: yaml.SequenceNode, Content: servers})
	return lv.m, nil
}

// registered reports whether an upstream block is the one upstreamName
// registered under its name (not a duplicate or a malformed one).
func (c *conv) registered(d *Directive) bool {
	return len(d.Args) == 1 && d.IsBlock && c.upstreams[strings.ToLower(d.Args[0])] != nil &&
		c.upstreams[strings.ToLower(d.Args[0])].d == d
}

// upstreamName registers an upstream block so that proxy_pass can tell an
// upstream name from a host name wherever the block is written.
func (c *conv) upstreamName(d *Directive) error {
	if !d.IsBlock {
		return errAt(d, `directive "upstream" has no opening "{"`)
	}
	if len(d.Args) != 1 {
		return errAt(d, `invalid number of arguments in "upstream" directive`)
	}
	key := strings.ToLower(d.Args[0])
	if c.upstreams[key] != nil {
		return errAt(d, "duplicate upstream \"%s\"", d.Args[0])
	}
	c.upstreams[key] = &upstreamOut{name: d.Args[0], d: d}
	return nil
}

func (c *conv) upstream(d *Directive) error {
	u := c.upstreams[strings.ToLower(d.Args[0])]
	lv := &level{ctx: "upstream", m: newMap(), up: u}
	u.m = lv.m
	u.servers = &yaml.Node{Kind: yaml.SequenceNode}
	for _, sd := range d.Block {
		if err := c.emerg(c.directive(lv, sd)); err != nil {
			return err
		}
	}
	if len(u.servers.Content) == 0 {
		e := errAt(d, `no servers are inside upstream`).(*Error)
		e.seq = endSeq(d) // nginx finds it at the block's "}", after its directives' errors
		return e
	}
	lv.m.set("servers", u.servers)
	return nil
}

// server converts one server block; nil when nothing of it can run in
// spillway (no listen address it serves, or no location that proxies).
func (c *conv) server(d *Directive) (*yaml.Node, error) {
	lv := &level{ctx: "server", m: newMap(), locations: &yaml.Node{Kind: yaml.SequenceNode}}
	listenVal := lv.m.set("listen", &yaml.Node{})
	for _, sd := range d.Block {
		if err := c.emerg(c.directive(lv, sd)); err != nil {
			return nil, err
		}
	}
	c.finish(lv)
	if !hasDirective(d.Block, "listen") {
		// nginx's default: *:80 when run as root, *:8000 otherwise.
		lv.listens = append(lv.listens, listenAddr{addr: "*:80", d: d})
		listenVal.LineComment = "nginx's default (*:8000 when nginx does not run as root); "
	}
	if len(lv.listens) == 0 {
		c.warn(d, Refused, "server cannot be converted: none of its listen addresses can be served by spillway")
		return nil, nil
	}
	if !hasRootLocation(d.Block) && c.servesFiles(lv) {
		// nginx answers a request no location matches with the server's
		// own settings: files from its root (ngx_http_core_find_location
		// finds nothing, the server's configuration stays). A prefix
		// location "/" written for it is the same: the shortest prefix,
		// which every regex location still overrides.
		n := newMap()
		n.set("path", str("/"))
		n.n.Content[1].LineComment = "no location of the server at " + where(d) + " matches: nginx serves files from the server's root"
		lv.locations.Content = append(lv.locations.Content, n.n)
	}
	if len(lv.locations.Content) == 0 && !lv.answers {
		c.warn(d, Refused, "server cannot be converted: none of its locations proxies (proxy_pass, fastcgi_pass), answers stub_status or serves files, so its requests would reach another server")
		return nil, nil
	}
	listenVal.Kind, listenVal.Style = yaml.SequenceNode, yaml.FlowStyle
	for _, l := range lv.listens {
		a := l.addr
		if l.quic {
			// spillway takes the certificates of the same address's
			// "ssl" listen in this server.
			if !slices.ContainsFunc(lv.listens, func(o listenAddr) bool { return o.ssl && o.addr == l.addr }) {
				c.warn(l.d, Unsupported, "unsupported parameter \"quic\" of \"listen\" in server: spillway serves HTTP/3 only beside a \"listen %s ssl\" of the same server, so %s is not converted", l.addr, l.addr)
				continue
			}
			listenVal.Content = append(listenVal.Content, str(a+" quic reuseport"))
			continue
		}
		if l.ssl {
			a += " ssl"
		}
		if l.h2 {
			a += " http2"
		}
		if l.def {
			a += " default_server"
		}
		if l.proxyProtocol {
			a += " proxy_protocol"
		}
		listenVal.Content = append(listenVal.Content, str(a))
	}
	if len(lv.names) > 0 {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, name := range lv.names {
			n.Content = append(n.Content, str(name))
		}
		lv.m.insertAfter("listen", "server_name", n)
	}
	lv.m.set("locations", lv.locations)
	listenVal.LineComment += "server at " + where(d)
	c.servers = append(c.servers, lv)
	return lv.m.n, nil
}

// location converts one location block; nil when it does not proxy.
func (c *conv) location(d *Directive, parent *level) (*yaml.Node, error) {
	path, re, err := locationPath(d)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, nil // reported by locationPath's caller
	}
	// a named location's proxy_pass may not have a URI part, as a regex one
	lv := &level{ctx: "location", m: newMap(), regex: re != "" || strings.HasPrefix(path, "@"), parent: parent}
	lv.locName, lv.locMod = locationName(d)
	lv.m.set("path", str(path))
	if re != "" {
		if _, err := config.CompilePCRE(re, false); err != nil { // RE2, and the lookahead config rewrites
			c.warn(d, Refused, "location \"%s\" cannot be converted: its regex is not valid in Go's RE2 syntax (%v), so its requests would reach another location", path, err)
			return nil, c.dropped(d, true)
		}
	}
	for _, sd := range d.Block {
		if err := c.emerg(c.directive(lv, sd)); err != nil {
			return nil, err
		}
	}
	c.finish(lv)
	c.checkLimitExcept(lv)
	if lv.locations != nil && len(lv.locations.Content) > 0 {
		lv.m.set("locations", lv.locations)
	}
	if !lv.proxies && (lv.answers || lv.internal || c.deniesAll(lv)) {
		// nginx answers every client with the return, or 404 (internal)
		// or 403 (allow/deny) here before any content handler; spillway
		// does the same without one.
		lv.m.n.Content[1].LineComment = "location at " + where(d)
		return lv.m.n, nil
	}
	if !lv.proxies && !c.servesFiles(lv) { // root, alias, index, try_files (static.go)
		c.warn(d, Refused, "location \"%s\" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location", path)
		return nil, nil
	}
	if lv.healthCheck != nil {
		if err := c.healthCheck(lv); err != nil {
			return nil, err
		}
	}
	lv.m.n.Content[1].LineComment = "location at " + where(d)
	return lv.m.n, nil
}

// deniesAll reports whether the allow/deny list in effect in a location
// (its own, else its server's, else http's: a level with any replaces the
// inherited list) refuses every client. With "satisfy any" written
// anywhere above, a password could let one in: no.
func (c *conv) deniesAll(lv *level) bool {
	for _, l := range c.chain(lv) {
		if l.m.has("satisfy") {
			return false
		}
	}
	for _, l := range c.chain(lv) {
		if l.accessVal == nil {
			continue
		}
		var rules []config.AccessRule
		for _, e := range l.accessVal.Content {
			verb, arg, _ := strings.Cut(e.Value, " ")
			r, err := config.ParseAccessRule(verb, arg)
			if err != nil {
				return false
			}
			rules = append(rules, r)
		}
		a := config.AccessRules{Rules: rules}
		return a.DeniesAll()
	}
	return false
}

// chain is lv and the levels it inherits from, innermost first: the
// enclosing locations, the server, http.
func (c *conv) chain(lv *level) []*level {
	var ls []*level
	for l := lv; l != nil; l = l.parent {
		ls = append(ls, l)
	}
	if c.httpLevel != nil {
		ls = append(ls, c.httpLevel)
	}
	return ls
}

// nestedLocation converts a location inside a location into the
// enclosing one's locations key, after nginx's checks of the nesting
// (ngx_http_core_location).
func nestedLocation(c *conv, lv *level, d *Directive) error {
	path, re, err := locationPath(d)
	if err != nil {
		return err
	}
	name, _ := locationName(d)
	switch {
	case lv.locMod == "=":
		return errAt(d, "location \"%s\" cannot be inside the exact location \"%s\"", name, lv.locName)
	case strings.HasPrefix(lv.locName, "@"):
		return errAt(d, "location \"%s\" cannot be inside the named location \"%s\"", name, lv.locName)
	case strings.HasPrefix(path, "@"):
		return errAt(d, "named location \"%s\" can be on the server level only", name)
	case re == "" && !strings.HasPrefix(name, lv.locName):
		return errAt(d, "location \"%s\" is outside location \"%s\"", name, lv.locName)
	}
	n, err := c.location(d, lv)
	if err != nil || n == nil {
		return err
	}
	if lv.locations == nil {
		lv.locations = &yaml.Node{Kind: yaml.SequenceNode}
	}
	lv.locations.Content = append(lv.locations.Content, n)
	return nil
}

// locationName is nginx's clcf->name of a location directive (its URI or
// regex, without the modifier) and the modifier.
func locationName(d *Directive) (name, mod string) {
	if len(d.Args) == 2 {
		return d.Args[1], d.Args[0]
	}
	if len(d.Args) == 1 {
		uri := d.Args[0]
		for _, m := range []string{"=", "~*", "~"} {
			if rest, ok := strings.CutPrefix(uri, m); ok {
				return rest, m
			}
		}
		return uri, ""
	}
	return "", ""
}

// dropped reads the block of a location that is not converted, so that
// what it holds is reported too (and what nginx -t refuses is an error).
func (c *conv) dropped(d *Directive, regex bool) error {
	lv := &level{ctx: "location", m: newMap(), regex: regex}
	for _, sd := range d.Block {
		if err := c.directive(lv, sd); err != nil {
			return err
		}
	}
	return nil
}

// locationPath reads nginx's "location [=|~|~*|^~] uri" into spillway's
// path key, and the regex to check when there is one. An empty path means
// the location cannot be converted (a named location), already reported.
func locationPath(d *Directive) (path, re string, err error) {
	var mod, uri string
	switch len(d.Args) {
	case 2:
		mod, uri = d.Args[0], d.Args[1]
		switch mod {
		case "=", "^~", "~", "~*":
		default:
			return "", "", errAt(d, "invalid location modifier \"%s\"", mod)
		}
	case 1:
		uri = d.Args[0]
		switch {
		case strings.HasPrefix(uri, "="):
			mod, uri = "=", uri[1:]
		case strings.HasPrefix(uri, "~*"):
			mod, uri = "~*", uri[2:]
		case strings.HasPrefix(uri, "~"):
			mod, uri = "~", uri[1:]
		case strings.HasPrefix(uri, "@"):
			return uri, "", nil // a named location (try_files's @name)
		}
	default:
		return "", "", errAt(d, `invalid number of arguments in "location" directive`)
	}
	switch mod {
	case "":
		return uri, "", nil
	case "~":
		return "~ " + uri, uri, nil
	case "~*":
		return "~* " + uri, "(?i)" + uri, nil
	}
	return mod + " " + uri, "", nil
}

// finish writes what a level accumulated over several directives: its
// proxy_set_header list.
func (c *conv) finish(lv *level) {
	if lv.headerVal != nil {
		fillHeaders(lv.headerVal, lv.headers)
	}
}

// fillHeaders writes proxy_set_header as a mapping ({Host: $host}), or, when
// a name repeats (nginx then sends both), as a list of one-key mappings.
func fillHeaders(n *yaml.Node, hs []header) {
	seen := map[string]bool{}
	dup := false
	for _, h := range hs {
		k := strings.ToLower(h.name)
		dup = dup || seen[k]
		seen[k] = true
	}
	if !dup {
		n.Kind = yaml.MappingNode
		for _, h := range hs {
			n.Content = append(n.Content, str(h.name), str(h.value))
		}
		return
	}
	n.Kind = yaml.SequenceNode
	for _, h := range hs {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{str(h.name), str(h.value)}})
	}
}

// healthCheck moves a location's health_check (nginx Plus) to the upstream
// its proxy_pass names, which is where spillway keeps it.
func (c *conv) healthCheck(lv *level) error {
	d := lv.healthCheck
	u := c.upstreams[strings.ToLower(lv.proxyTarget)]
	if u == nil {
		c.warn(d, Unsupported, `unsupported directive "health_check" in location: spillway checks upstream groups, and this location's proxy_pass names none`)
		return nil
	}
	if u.hc != nil {
		c.warn(d, Unsupported, `unsupported directive "health_check" in location: upstream "%s" is already checked as %s says (spillway runs one check per group)`, u.name, where(u.hc))
		return nil
	}
	hc := newMap()
	for _, a := range d.Args {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "interval", "uri", "fails", "passes":
			if name == "interval" {
				if _, err := config.ParseDuration(val); err != nil {
					return errAt(d, "invalid parameter \"%s\"", a)
				}
			}
			if name == "fails" || name == "passes" {
				if n, err := strconv.Atoi(val); err != nil || n < 1 {
					return errAt(d, "invalid parameter \"%s\"", a)
				}
			}
			hc.set(name, str(val))
		case "match":
			m := c.matches[val]
			if m == nil {
				return errAt(d, "match \"%s\" not found", val)
			}
			c.usedMatch[val] = true
			status, err := c.matchStatus(m)
			if err != nil {
				return err
			}
			if status != "" {
				hc.set("status", str(status))
			}
		default:
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"health_check\" in location", a)
		}
	}
	u.hc = d
	u.m.insertBefore("servers", "health_check", hc.n)
	if len(hc.n.Content) == 0 {
		hc.n.Style = yaml.FlowStyle
	}
	return nil
}

// matchStatus converts a match block's status tests; header and body tests
// are reported.
func (c *conv) matchStatus(m *Directive) (string, error) {
	var out []string
	for _, d := range m.Block {
		if d.Name != "status" {
			c.warn(d, Unsupported, "unsupported directive \"%s\" in match: spillway's health checks test the status only", d.Name)
			continue
		}
		if len(d.Args) == 0 {
			return "", errAt(d, `invalid number of arguments in "status" directive`)
		}
		if d.Args[0] == "!" {
			c.warn(d, Unsupported, `unsupported parameter "!" of "status" in match: list the expected codes instead`)
			continue
		}
		out = append(out, d.Args...)
	}
	return strings.Join(out, " "), nil
}

// endSeq is the reading order of the last directive in d's block (d's own
// when the block is empty).
func endSeq(d *Directive) int {
	n := d.seq
	for _, b := range d.Block {
		n = max(n, endSeq(b))
	}
	return n
}

// where is "file:line" of a directive.
func where(d *Directive) string { return d.File + ":" + strconv.Itoa(d.Line) }

// hasRootLocation reports whether a server block has a location "/" (or
// "^~ /") of its own, converted or not: one that is not converted must
// not be replaced by the server's files.
func hasRootLocation(ds []*Directive) bool {
	for _, d := range ds {
		if d.Name != "location" {
			continue
		}
		if name, mod := locationName(d); name == "/" && (mod == "" || mod == "^~") {
			return true
		}
	}
	return false
}

func hasDirective(ds []*Directive, name string) bool {
	for _, d := range ds {
		if d.Name == name {
			return true
		}
	}
	return false
}

// withConfPrefix joins a relative path to the configuration's directory,
// which is where nginx reads certificates from.
func (c *conv) withConfPrefix(p string) string {
	if c.opts.ConfPrefix == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.opts.ConfPrefix, p)
}

// withPrefix joins a relative path to Options.Prefix, as nginx does with
// its prefix.
func (c *conv) withPrefix(p string) string {
	if c.opts.Prefix == "" || p == "stderr" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.opts.Prefix, p)
}

// ymap builds a YAML mapping in insertion order.
type ymap struct{ n *yaml.Node }

func newMap() *ymap { return &ymap{n: &yaml.Node{Kind: yaml.MappingNode}} }

// set appends key: v, or replaces the value of an existing key, and returns v.
// appendLine appends d's arguments, as written, to the level's list for
// d's name, which it makes on first use.
func (lv *level) appendLine(d *Directive) {
	l := lv.lines[d.Name]
	if l == nil {
		if lv.lines == nil {
			lv.lines = map[string]*yaml.Node{}
		}
		l = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
		lv.lines[d.Name] = l
	}
	l.Content = append(l.Content, str(strings.Join(d.Args, " ")))
}

func (m *ymap) set(key string, v *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			m.n.Content[i+1] = v
			return v
		}
	}
	m.n.Content = append(m.n.Content, keyNode(key), v)
	return v
}

// del removes key if it is there.
func (m *ymap) del(key string) {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			m.n.Content = append(m.n.Content[:i], m.n.Content[i+2:]...)
			return
		}
	}
}

// get returns the value of key, nil when there is none.
func (m *ymap) get(key string) *yaml.Node {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			return m.n.Content[i+1]
		}
	}
	return nil
}

func (m *ymap) has(key string) bool {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// insertAfter puts key: v right after an existing key (at the end if the
// key is missing).
func (m *ymap) insertAfter(after, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == after {
			rest := append([]*yaml.Node{keyNode(key), v}, m.n.Content[i+2:]...)
			m.n.Content = append(m.n.Content[:i+2], rest...)
			return
		}
	}
	m.set(key, v)
}

// insertBefore puts key: v right before an existing key (at the end if the
// key is missing).
func (m *ymap) insertBefore(before, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == before {
			rest := append([]*yaml.Node{keyNode(key), v}, m.n.Content[i:]...)
			m.n.Content = append(m.n.Content[:i], rest...)
			return
		}
	}
	m.set(key, v)
}

func keyNode(k string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k} }

// str is a scalar for an nginx argument: digits are written as a YAML
// number, everything else as a string (quoted when YAML would read it as
// something else, such as "1.1").
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if s != "" && len(s) < 10 && strings.Trim(s, "0123456789") == "" && (s == "0" || s[0] != '0') {
		n.Tag = "!!int"
	}
	return n
}
