package proxy

import (
	"bytes"
	"fmt"
	"os"
	"regexp"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// nginx's rewrite module (ngx_http_rewrite_module): a level's rewrite,
// return, set, break and if directives are one script that runs in file
// order, the server's in the server rewrite phase (before a location is
// chosen), the location's in the rewrite phase (before access control).
//
//	rewrite regex repl            $uri changes, the script goes on; when the
//	                              location's script is done the location is
//	                              searched again (rewritePhases)
//	rewrite regex repl last       $uri changes, the script stops; searched again
//	rewrite regex repl break      $uri changes, the script stops; the location stays
//	rewrite ... redirect|permanent, or http://, https://, $scheme: 302/301
//	return, break, set $v value   as nginx
//	if (cond) { ... }             the block runs when cond holds; in a
//	                              location the block's own directives become
//	                              the request's location ("if in location")
//
// $1..$9 are the captures of the last regex that matched: the location's,
// then each rewrite's and if's. With rewrite_log on each regex tried is
// logged at notice, as nginx does. A search again counts against nginx's
// 10 URI changes (maxInternalRedirects): the 11th search is its 500 and
// "rewrite or internal redirection cycle while processing".

// rewritePhase is one level's compiled script.
type rewritePhase struct {
	ops      []op
	log      bool // rewrite_log
	redirect config.Redirect
	// ret is the return every run of the script reaches (only set before
	// it): the level answers every request (expect's 100 Continue).
	ret *compiledReturn
}

// op is one compiled directive.
type op struct {
	kind config.StmtKind
	rw   *compiledRewrite
	ret  *compiledReturn
	set  *compiledSet
	cond *compiledCond
	body []op      // if
	loc  *location // if in location: the block's own location; nil in a server
}

// compiledRewrite is a config.Rewrite with its replacement compiled: the
// part before its first literal "?" and the arguments after it, whose
// captures nginx escapes differently.
type compiledRewrite struct {
	conf       *config.Rewrite
	path, args *vars.Value // args nil: the replacement has no "?"
}

type compiledSet struct {
	slot  int  // in vars.Request.Set (exchange.authVars)
	args  bool // set $args: the request's arguments
	rate  bool // set $limit_rate: the answer's rate (limitrate.go)
	value *vars.Value
}

type compiledCond struct {
	conf        *config.Cond
	left, right *vars.Value
}

// compileScript compiles one level's script; buildLoc builds the location
// of an if block that has one.
func compileScript(sc []config.Stmt, log bool, rd config.Redirect, maps *vars.Maps, buildLoc func(*config.Location) (*location, error)) (*rewritePhase, error) {
	if len(sc) == 0 {
		return nil, nil
	}
	ops, err := compileOps(sc, maps, buildLoc)
	if err != nil {
		return nil, err
	}
	s := &rewritePhase{ops: ops, log: log, redirect: rd}
	if config.Answers(sc) {
		for _, o := range ops {
			if o.kind == config.StmtReturn {
				s.ret = o.ret
				break
			}
		}
	}
	return s, nil
}

func compileOps(sc []config.Stmt, maps *vars.Maps, buildLoc func(*config.Location) (*location, error)) ([]op, error) {
	var ops []op
	for i := range sc {
		st := &sc[i]
		o := op{kind: st.Kind}
		var err error
		switch st.Kind {
		case config.StmtRewrite:
			o.rw, err = compileRewrite(&st.Rewrite, maps)
		case config.StmtReturn:
			o.ret, err = compileReturn(st.Return, maps)
		case config.StmtSet:
			o.set = &compiledSet{args: st.Set.Var == "args", rate: st.Set.Var == "limit_rate"}
			if !o.set.args && !o.set.rate {
				var ok bool
				if o.set.slot, ok = maps.SetIndex(st.Set.Var); !ok {
					return nil, fmt.Errorf("set: unknown %q variable", st.Set.Var)
				}
			}
			if o.set.value, err = vars.CompileCaptures(st.Set.Value, maps); err != nil {
				err = fmt.Errorf("set $%s: %w", st.Set.Var, err)
			}
		case config.StmtIf:
			c := &compiledCond{conf: &st.If.Cond}
			if c.left, err = vars.CompileCaptures(c.conf.Left, maps); err == nil && (c.conf.Op == "=" || c.conf.Op == "!=") {
				c.right, err = vars.CompileCaptures(c.conf.Right, maps)
			}
			if err != nil {
				return nil, fmt.Errorf("if (%s): %w", c.conf.Source, err)
			}
			o.cond = c
			if o.body, err = compileOps(st.If.Body, maps, buildLoc); err != nil {
				return nil, err
			}
			if st.If.Location != nil {
				if o.loc, err = buildLoc(st.If.Location); err != nil {
					return nil, fmt.Errorf("if (%s): %w", c.conf.Source, err)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func compileRewrite(rw *config.Rewrite, maps *vars.Maps) (*compiledRewrite, error) {
	c := &compiledRewrite{conf: rw}
	path, args, hasArgs := bytes.Cut([]byte(rw.Replacement), []byte("?"))
	var err error
	if c.path, err = vars.CompileCaptures(string(path), maps); err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", rw.Source, err)
	}
	if hasArgs {
		if c.args, err = vars.CompileCaptures(string(args), maps); err != nil {
			return nil, fmt.Errorf("rewrite %s: %w", rw.Source, err)
		}
	}
	return c, nil
}

// scriptEnd is how a script run ended.
type scriptEnd uint8

const (
	scriptOn       scriptEnd = iota // to its end: the request goes on
	scriptStopped                   // break, or a rewrite's last or break
	scriptAnswered                  // a return, a redirect or an error answered the request
)

// rewritePhases runs nginx's phases from the server rewrite phase to the
// post-rewrite phase: the server's script, then the location for $uri and
// its script, again while a rewrite changed $uri (internalRedirect counts
// the searches). It reports whether the request has been answered. serve
// runs them for the request, serveFiles again after an internal redirect
// (index, try_files), as ngx_http_internal_redirect does.
func (x *exchange) rewritePhases() bool {
	// error_page's @name (errorpage.go): the location is chosen; its
	// rewrite phase comes first, as nginx's named redirect.
	named := x.errPage.named
	x.errPage.named = false             // once: a later try_files redirect searches again
	if !named && x.runScript(x.vh.rw) { // the server's rewrite, set, if, return
		return true
	}
	for {
		if !named {
			x.findLocation() // the location for $uri, again after a rewrite changed it
			if x.loc != nil && x.loc.conf.Internal && !x.internal {
				// ngx_http_core_find_config_phase: a client's request for an
				// internal location is 404, before its rewrites.
				x.page(fasthttp.StatusNotFound)
				return true
			}
			// The location's error_log from here on (levellog.go).
			x.logLocationDebug()
			if x.declaredTooLarge() { // nginx's 413, before the location's rewrites and auto_redirect (body.go)
				return true
			}
			if x.vh.autoRedirect(x.path) { // "/admin" for "location /admin/ { proxy_pass ...": nginx's 301 (redirect.go)
				x.redirectSlash()
				return true
			}
		}
		named = false
		x.limitExcept()
		x.errPage.located = true                   // from here on an error is answered with the location's error_page (errorpage.go)
		if x.loc != nil && x.runScript(x.loc.rw) { // the location's, before access control
			return true
		}
		if !x.uriChanged { // no rewrite without break changed $uri: this location it is
			return false
		}
		if !x.internalRedirect() { // search again, at most 10 times: nginx's 500
			return true
		}
	}
}

// runScript runs sc; it reports whether the request has been answered.
func (x *exchange) runScript(sc *rewritePhase) bool {
	if sc == nil {
		return false
	}
	return x.runOps(sc, sc.ops) == scriptAnswered
}

func (x *exchange) runOps(sc *rewritePhase, ops []op) scriptEnd {
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case config.StmtRewrite:
			if end := x.rewrite(sc, o.rw); end != scriptOn {
				return end
			}
		case config.StmtReturn:
			x.answerReturn(o.ret, sc.redirect)
			return scriptAnswered
		case config.StmtSet:
			x.setVar(o.set)
		case config.StmtBreak:
			if x.uriChanged { // ngx_http_script_break_code: as a rewrite's break flag
				x.uriChanged, x.rewriteBroke = false, true
			}
			return scriptStopped
		case config.StmtIf:
			if !x.test(sc, o.cond) {
				continue
			}
			if o.loc != nil {
				if x.loc != nil && x.loc.proxies() && !o.loc.proxies() && !o.loc.conf.StubStatus {
					// nginx's content handler stays the proxy_pass of the
					// block matched before (ngx_http_update_location_config
					// keeps it when the new one has none), run with a
					// configuration that has no upstream (noUpstream).
					x.stickyProxy = true
				}
				x.setLocation(o.loc)
			}
			if end := x.runOps(sc, o.body); end != scriptOn {
				return end
			}
		}
	}
	return scriptOn
}

// rewrite runs one rewrite directive.
func (x *exchange) rewrite(sc *rewritePhase, rw *compiledRewrite) scriptEnd {
	m := config.FindSubmatchIndexPCRE(rw.conf.Regex, x.path)
	if sc.log {
		verb := "matches"
		if m == nil {
			verb = "does not match"
		}
		x.logf(errorlog.Notice, "\""+rw.conf.Source+"\" "+verb+" \""+string(x.path)+"\"", 0, "")
	}
	if m == nil {
		return scriptOn
	}
	x.caps.src, x.caps.loc = string(x.path), m
	x.setCaptures(rw.conf.Regex, m)
	if rw.conf.Redirects() {
		loc := x.rewriteLocation(rw)
		if sc.log {
			x.logf(errorlog.Notice, "rewritten redirect: \""+string(loc)+"\"", 0, "")
		}
		x.page(rw.conf.Code)
		if len(loc) > 0 && loc[0] == '/' {
			loc = x.absoluteLocation(nil, loc, sc.redirect)
		}
		x.ctx.Response.Header.Set("Location", string(loc))
		return scriptAnswered
	}
	path, args := x.rewriteURI(rw)
	if sc.log {
		x.logf(errorlog.Notice, "rewritten data: \""+string(path)+"\", args: \""+string(args)+"\"", 0, "")
	}
	if len(path) == 0 {
		x.logf(errorlog.Error, "the rewritten URI has a zero length", 0, "")
		x.page(fasthttp.StatusInternalServerError)
		return scriptAnswered
	}
	x.path = append(x.path[:0], path...)
	x.vars.req.URI = bstr(x.path)
	x.args = args
	x.vars.req.Args = bstr(x.args)
	x.redirected = true // the upstream gets $uri and $args now (request.go)
	x.internal = true   // an internal location is reachable now
	switch rw.conf.Flag {
	case config.FlagLast:
		x.uriChanged = true
		return scriptStopped
	case config.FlagBreak:
		x.uriChanged, x.rewriteBroke = false, true
		return scriptStopped
	}
	x.uriChanged = true
	return scriptOn
}

// rewriteURI is an internal rewrite's new $uri and $args
// (ngx_http_script_regex_end_code): the replacement up to its "?" with the
// captures as they are, and after it the arguments, whose captures are
// escaped when the request's path had a %XX or a "+"; then the request's
// arguments ("&args" after the replacement's, else they stay) unless the
// replacement ended with "?".
func (x *exchange) rewriteURI(rw *compiledRewrite) (path, args []byte) {
	src := x.caps.src
	path = rw.path.AppendCaptures(nil, x, src, x.caps.loc)
	if rw.args == nil {
		if rw.conf.AddArgs {
			return path, x.args
		}
		return path, nil
	}
	if x.quotedTarget() {
		args = rw.args.AppendCapturesEscaped(nil, x, src, x.caps.loc, func(dst []byte, start int) []byte {
			return escapeTail(dst, start, &rewriteArgsEscape)
		})
	} else {
		args = rw.args.AppendCaptures(nil, x, src, x.caps.loc)
	}
	if rw.conf.AddArgs && len(x.args) > 0 {
		args = append(append(args, '&'), x.args...)
	}
	return path, args
}

// quotedTarget is nginx's r->quoted_uri || r->plus_in_uri: the request's
// path had a %XX or a "+".
func (x *exchange) quotedTarget() bool {
	raw := x.ctx.Request.Header.RequestURI()
	if i := bytes.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	return bytes.ContainsAny(raw, "%+")
}

// setVar runs set.
func (x *exchange) setVar(s *compiledSet) {
	v := s.value.AppendCaptures(nil, x, x.caps.src, x.caps.loc)
	if s.args {
		x.args = v
		x.vars.req.Args = bstr(x.args)
		x.redirected = true // the upstream gets the new $args (request.go)
		return
	}
	if s.rate {
		x.setLimitRate(v)
		return
	}
	if s.slot < len(x.authVars) { // the slots (vars.Request.Set), sized by beginVars
		if v == nil {
			v = []byte{} // set, to ""
		}
		x.authVars[s.slot] = v
	}
}

// test evaluates an if condition (ngx_http_script_if_code and the codes
// before it): a variable is false when empty or "0"; = and != compare
// bytes; a regex sets $1..$9 when it matches; -f -d -e -x ask the file
// system (stat follows symbolic links, as nginx's open_file_cache does).
func (x *exchange) test(sc *rewritePhase, c *compiledCond) bool {
	caps := x.caps
	left := c.left.AppendCaptures(nil, x, caps.src, caps.loc)
	op := c.conf.Op
	neg := c.conf.Negated()
	switch op {
	case "":
		return len(left) > 0 && !(len(left) == 1 && left[0] == '0')
	case "=", "!=":
		return bytes.Equal(left, c.right.AppendCaptures(nil, x, caps.src, caps.loc)) != neg
	case "~", "~*", "!~", "!~*":
		m := config.FindSubmatchIndexPCRE(c.conf.Regex, left)
		if sc.log {
			verb := "matches"
			if m == nil {
				verb = "does not match"
			}
			x.logf(errorlog.Notice, "\""+c.conf.Right+"\" "+verb+" \""+string(left)+"\"", 0, "")
		}
		if m != nil {
			x.caps.src, x.caps.loc = string(left), m
			x.setCaptures(c.conf.Regex, m)
		}
		return (m != nil) != neg
	}
	fi, err := os.Stat(string(left))
	var ok bool
	switch op[len(op)-1] {
	case 'f':
		ok = err == nil && fi.Mode().IsRegular()
	case 'd':
		ok = err == nil && fi.IsDir()
	case 'e':
		if err != nil {
			_, err = os.Lstat(string(left)) // a dangling link exists too
		}
		ok = err == nil
	case 'x':
		ok = err == nil && fi.Mode().Perm()&0o100 != 0
	}
	return ok != neg
}

// setLocation makes loc the request's location: what the location found
// for $uri, or an if block's ("if in location").
func (x *exchange) setLocation(loc *location) {
	x.loc = loc
	if loc == nil {
		return
	}
	x.vars.req.Root = loc.conf.Root
	x.vars.req.ProxyHost = loc.conf.ProxyPass.Host
	x.vars.req.ProxyPort = proxyPort(loc.conf.ProxyPass)
	if upstream.IsUnixAddr(x.vars.req.ProxyHost) {
		x.vars.req.ProxyHost = "localhost" // nginx's $proxy_host for a unix socket
	}
}

// noUpstream answers the request whose content handler is a proxy_pass
// left by an if block that matched before the one whose location has none
// ("location / { if ($a) { proxy_pass ...; } if ($b) { } }"): nginx's
// proxy handler finds no upstream, logs an alert and answers 500. It
// reports whether it answered.
func (x *exchange) noUpstream() bool {
	if !x.stickyProxy || x.loc == nil || x.loc.proxies() {
		return false
	}
	x.logf(errorlog.Alert, "no upstream configuration", 0, "")
	x.page(fasthttp.StatusInternalServerError)
	return true
}

// limitExcept switches the request to its location's limit_except block
// when the block does not list the method, as ngx_http_update_location_config
// does once the location is found: from then on the block's access rules,
// auth_basic and content apply, and the location's rewrite directives do
// not run (config.LimitExcept).
func (x *exchange) limitExcept() {
	if x.loc != nil && x.loc.lmt != nil && !x.loc.conf.LimitExcept.Allows(x.ctx.Request.Header.Method()) {
		x.setLocation(x.loc.lmt)
	}
}

// findLocation is nginx's find-config phase: the location for $uri, whose
// regex (if it is one) sets $1..$9.
func (x *exchange) findLocation() {
	x.uriChanged = false
	if x.redirected { // begin found the location for the request's own $uri
		x.setLocation(x.vh.match(x.path))
	}
	x.caps.src, x.caps.loc = x.caps.srvSrc, x.caps.srv // a regex server_name's $1..$9, if one chose the server
	if x.loc != nil {
		x.outerCaptures(x.loc.parent)
	}
	if x.loc != nil && x.loc.conf.Regex != nil && (x.loc.rw != nil || x.loc.named || x.loc.pass != nil || x.loc.lmt != nil) { // only a script, named captures or a proxy_pass with variables read them (limit_except's too)
		x.caps.src = string(x.path)
		x.caps.loc = config.FindSubmatchIndexPCRE(x.loc.conf.Regex, x.path)
		x.setCaptures(x.loc.conf.Regex, x.caps.loc)
	}
}

// outerCaptures runs the regexes of the locations l is nested in, l
// included, outermost first: each matched to reach the location found,
// and nginx's $1..$9 and named captures are what the last regex run set.
func (x *exchange) outerCaptures(l *location) {
	if l == nil {
		return
	}
	x.outerCaptures(l.parent)
	if l.conf.Regex != nil {
		x.caps.src = string(x.path)
		x.caps.loc = config.FindSubmatchIndexPCRE(l.conf.Regex, x.path)
		x.setCaptures(l.conf.Regex, x.caps.loc)
	}
}

// serverNameCaptures runs the regex server_name that chose the request's
// server, as ngx_http_find_virtual_server does: its named captures are
// variables, its $1..$9 those of the request until another regex matches.
func (x *exchange) serverNameCaptures(host []byte) {
	x.caps.srvSrc, x.caps.srv = "", nil
	if len(x.vh.names.regex) == 0 {
		return // no regex to run (regexMatch's first test, before host is trimmed)
	}
	re, src, m := x.vh.names.regexMatch(bytes.TrimSuffix(hostOnly(host), []byte(".")))
	if re == nil {
		return
	}
	x.caps.srvSrc, x.caps.srv = src, m
	x.caps.src, x.caps.loc = src, m
	x.setCaptures(re, m)
}

// setCaptures sets the variables of re's named captures from its match m
// on x.caps.src, as ngx_http_regex_exec does: each keeps its value until
// another regex that names it matches (a group that did not take part
// reads "").
func (x *exchange) setCaptures(re *regexp.Regexp, m []int) {
	if m == nil || len(x.site.cfg.Captures) == 0 {
		return
	}
	for i, name := range re.SubexpNames() {
		if name == "" {
			continue
		}
		slot, ok := x.site.maps.SetIndex(name)
		if !ok || slot >= len(x.authVars) {
			continue
		}
		v := []byte{} // set, maybe to ""
		if m[2*i] >= 0 {
			v = append(v, x.caps.src[m[2*i]:m[2*i+1]]...)
		}
		x.authVars[slot] = v
	}
}

// internalRedirect goes back to nginx's find-config phase after the
// location's rewrites changed $uri (post-rewrite phase). It counts the URI
// changes: the 11th answers nginx's 500 and reports false.
func (x *exchange) internalRedirect() bool {
	x.uriChanged = false
	x.uriChanges++
	if x.uriChanges > maxInternalRedirects { // nginx's r->uri_changes: 11, down to 0
		x.logf(errorlog.Error, "rewrite or internal redirection cycle while processing \""+string(x.path)+"\"", 0, "")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	return true
}

// uninitialized is told by proxy/vars of a set variable read before any
// set wrote it: nginx's uninitialized_variable_warn.
func (x *exchange) uninitialized(name string) {
	warn := x.vh.conf.UninitializedVariableWarn
	if x.loc != nil {
		warn = x.loc.conf.UninitializedVariableWarn
	}
	if warn {
		x.logf(errorlog.Warn, "using uninitialized \""+name+"\" variable", 0, "")
	}
}

// rewriteLocation is a matched rewrite's Location before it is made
// absolute: the replacement with the captures, escaped as nginx 1.22 does
// when the request's path had a %XX or a "+" (measured), then the
// request's arguments unless the replacement ended with "?".
func (x *exchange) rewriteLocation(rw *compiledRewrite) []byte {
	quoted := x.quotedTarget()
	src, m := x.caps.src, x.caps.loc
	appendPart := func(dst []byte, v *vars.Value, table *[256]bool) []byte {
		if !quoted {
			return v.AppendCaptures(dst, x, src, m)
		}
		return v.AppendCapturesEscaped(dst, x, src, m, func(dst []byte, start int) []byte {
			return escapeTail(dst, start, table)
		})
	}
	loc := appendPart(nil, rw.path, &rewritePathEscape)
	if rw.args != nil {
		loc = appendPart(append(loc, '?'), rw.args, &rewriteArgsEscape)
	}
	if rw.conf.AddArgs && len(x.args) > 0 {
		sep := byte('?')
		if rw.args != nil {
			sep = '&'
		}
		loc = append(append(loc, sep), x.args...)
	}
	return loc
}

// The bytes nginx 1.22 sends as %XX in a rewrite redirect's captures,
// measured: before the replacement's "?", controls, space, non-ASCII and
// " # % < > \ ^ ` { | }; after it also & + ; ?.
var rewritePathEscape, rewriteArgsEscape = func() (p, a [256]bool) {
	for c := 0; c < 256; c++ {
		p[c] = c <= ' ' || c >= 0x7f
	}
	for _, c := range []byte("\"#%<>\\^`{|}") {
		p[c] = true
	}
	a = p
	for _, c := range []byte("&+;?") {
		a[c] = true
	}
	return p, a
}()

// escapeTail escapes dst[start:] in place with table.
func escapeTail(dst []byte, start int, table *[256]bool) []byte {
	const hex = "0123456789ABCDEF"
	val := append([]byte(nil), dst[start:]...)
	dst = dst[:start]
	for _, c := range val {
		if table[c] {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
