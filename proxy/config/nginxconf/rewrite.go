package nginxconf

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// The rewrite module's directives (proxy/rewrite.go runs them): return,
// rewrite (redirects and internal rewrites with last, break or no flag),
// set, break and if, at server and location level, rewrite_log and
// uninitialized_variable_warn. A level's return goes to its return key
// (what follows it is never reached); its other directives, in order, to
// its rewrite list. A level with a return (or a redirect of every URI,
// "rewrite ^ ..."), or whose rewrites send requests to another location,
// answers by itself, so a server with one needs no location and a location
// no proxy_pass.
//
// An if block is a list entry {if: condition, rewrite: [...]} with, in a
// location, the directives nginx allows in "if in location" (proxy_pass,
// add_header, expires, root, gzip...) as the block's own location keys.
// Whatever else the block holds that spillway cannot enforce refuses the
// file: dropping it would run the block without it.

// returnDirective converts "return code [text]" and "return URL" with
// nginx's checks (ngx_http_rewrite_return).
func returnDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	v := strings.Join(d.Args, " ")
	r, err := config.ParseReturn(v)
	if err != nil {
		return errAt(d, "%v", err)
	}
	if _, err := vars.CompileCaptures(r.Text, c.varMaps); err != nil {
		c.warn(d, Refused, "\"return\" directive in %s is not enforced by spillway (%v: requests would be answered otherwise)", lv.ctx, err)
		return nil
	}
	if lv.returned || lv.broken {
		// nginx runs the first; the rest are never reached.
		c.warn(d, Ignored, "ignored directive \"return\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	lv.answers, lv.returned = true, true
	if lv.inIf {
		item := newMap()
		item.set("return", str(v))
		lv.script().Content = append(lv.script().Content, item.n)
		return nil
	}
	lv.m.set("return", str(v))
	return nil
}

// script is the level's rewrite list, made on first use.
func (lv *level) script() *yaml.Node {
	if lv.rewriteVal == nil {
		lv.rewriteVal = lv.m.set("rewrite", &yaml.Node{Kind: yaml.SequenceNode})
	}
	return lv.rewriteVal
}

// rewriteDirective converts a rewrite: a redirect, or an internal rewrite
// (last, break, no flag).
func rewriteDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 2 || len(d.Args) > 3 {
		return invalidArgs(d)
	}
	if lv.returned || lv.broken {
		c.warn(d, Ignored, "ignored directive \"rewrite\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	for _, a := range d.Args {
		if strings.ContainsAny(a, " \t\r\n") {
			c.warn(d, Refused, "\"rewrite\" directive in %s is not enforced by spillway (an argument with a space: requests would be answered otherwise)", lv.ctx)
			return nil
		}
	}
	v := strings.Join(d.Args, " ")
	if len(d.Args) == 3 {
		switch d.Args[2] {
		case "last", "break", "redirect", "permanent":
		default:
			return errAt(d, "invalid parameter \"%s\"", d.Args[2])
		}
	}
	r, err := config.ParseRewrite(v)
	if err == nil {
		_, err = vars.CompileCaptures(r.Replacement, c.varMaps)
	}
	if err != nil {
		// A rewrite that is not run sends requests to the wrong place:
		// a redirect not answered, a URI not changed.
		c.warn(d, Refused, "\"rewrite\" directive in %s is not enforced by spillway (%v: requests would be answered otherwise)", lv.ctx, err)
		return nil
	}
	lv.script().Content = append(lv.script().Content, str(v))
	switch {
	case r.Redirects() && everyURI[r.Source]:
		lv.answers = true
	case !r.Redirects() && r.Flag != config.FlagBreak:
		lv.answers = true // the location is searched again: this one needs no content of its own
	}
	return nil
}

// setDirective converts "set $var value".
func setDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if lv.returned || lv.broken {
		c.warn(d, Ignored, "ignored directive \"set\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	name := d.Args[0]
	if len(name) < 2 || name[0] != '$' {
		return errAt(d, "invalid variable name \"%s\"", name)
	}
	lname := strings.ToLower(name[1:])
	switch {
	case lname != "args" && lname != "limit_rate" && (vars.Builtin(lname) || nginxBuiltin[lname]):
		return errAt(d, "the duplicate \"%s\" variable", lname)
	}
	st, err := config.ParseSet(name + " " + quotedValue(d.Args[1]))
	if err == nil {
		_, err = vars.CompileCaptures(st.Value, c.varMaps)
	}
	if err != nil {
		c.warn(d, Refused, "\"set\" directive in %s is not enforced by spillway (%v)", lv.ctx, err)
		return nil
	}
	item := newMap()
	item.set("set", str(name+" "+quotedValue(d.Args[1])))
	item.n.Style = yaml.FlowStyle
	lv.script().Content = append(lv.script().Content, item.n)
	return nil
}

// nginxBuiltin are nginx variables set cannot define (nginx -t: "the
// duplicate variable") that spillway does not compute.
var nginxBuiltin = map[string]bool{"uri": true, "document_uri": true, "request_uri": true, "request": true,
	"request_method": true, "is_args": true, "query_string": true, "document_root": true, "realpath_root": true,
	"request_filename": true, "scheme": true, "host": true, "status": true}

// setNames collects the variables the set directives of a block define,
// everywhere inside it: nginx knows them in the whole http block.
func setNames(ds []*Directive, into []string) []string {
	for _, d := range ds {
		if d.Name == "set" && len(d.Args) == 2 && len(d.Args[0]) > 1 && d.Args[0][0] == '$' {
			n := strings.ToLower(d.Args[0][1:])
			if n != "args" && !vars.Builtin(n) && !nginxBuiltin[n] && n != "limit_rate" && !slices.Contains(into, n) {
				into = append(into, n)
			}
		}
		into = setNames(d.Block, into)
	}
	return into
}

// captureNames lists the named captures ((?<name>...)) of every map,
// location, rewrite and if regex in ds (and the blocks in it): nginx defines a
// variable for each.
func captureNames(ds []*Directive, into []string) []string {
	for _, d := range ds {
		var re *regexp.Regexp
		switch d.Name {
		case "map":
			for _, e := range d.Block {
				if key, ok := strings.CutPrefix(e.Name, "~"); ok {
					re, _ := regexp.Compile(strings.TrimPrefix(key, "*"))
					into = config.CaptureNames(into, re)
				}
			}
			continue
		case "location":
			if _, expr, err := locationPath(d); err == nil && expr != "" {
				re, _ = regexp.Compile(config.NamedGroupsRE2(expr))
			}
		case "rewrite":
			if len(d.Args) > 0 {
				re, _ = regexp.Compile(config.NamedGroupsRE2(d.Args[0]))
			}
		case "server_name":
			for _, n := range d.Args {
				if expr, ok := strings.CutPrefix(n, "~"); ok {
					re, _ := config.ServerNameRegex(expr)
					into = config.CaptureNames(into, re)
				}
			}
			continue
		case "if":
			if cond, err := ifCondition(d); err == nil {
				if pc, err := config.ParseCond(cond); err == nil {
					re = pc.Regex
				}
			}
		}
		into = config.CaptureNames(into, re)
		into = captureNames(d.Block, into)
	}
	return into
}

// ifDirective converts an if block (ngx_http_rewrite_if).
func ifDirective(c *conv, lv *level, d *Directive) error {
	if !d.IsBlock {
		return errAt(d, "directive \"if\" has no opening \"{\"")
	}
	cond, err := ifCondition(d)
	if err != nil {
		return err
	}
	if lv.returned || lv.broken {
		c.warn(d, Ignored, "ignored directive \"if\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	pc, err := config.ParseCond(cond)
	if err == nil {
		if _, err = vars.CompileCaptures(pc.Left, c.varMaps); err == nil && pc.Regex == nil {
			_, err = vars.CompileCaptures(pc.Right, c.varMaps)
		}
	}
	refusedHere := err != nil
	if refusedHere {
		c.warn(d, Refused, "\"if (%s)\" in %s is not enforced by spillway (%v): what the block does would never happen", cond, lv.ctx, err)
	}
	inner := &level{ctx: lv.ctx, m: newMap(), regex: true, inIf: true}
	inner.m.set("if", str(cond))
	first := len(c.warns)
	for _, sd := range d.Block {
		if !allowedInIf(lv.ctx, sd.Name) {
			return errAt(sd, "\"%s\" directive is not allowed here", sd.Name)
		}
		if err := c.directive(inner, sd); err != nil {
			return err
		}
	}
	c.finish(inner)
	// Inside if, a directive not converted would make the block do less
	// than nginx's: fail closed.
	c.refuseDropped(first, "inside \"if\", where dropping it would change what the block does")
	if refusedHere {
		return nil
	}
	inner.m.n.Content[1].LineComment = "if at " + where(d)
	lv.script().Content = append(lv.script().Content, inner.m.n)
	if inner.answers || inner.proxies {
		lv.answers = true
	}
	return nil
}

// ifCondition reads nginx's if arguments, "(" and ")" included, into
// proxy.yaml's condition string: "$var", "$var OP value" or "-f value",
// with nginx -t's errors.
func ifCondition(d *Directive) (string, error) {
	args := slices.Clone(d.Args)
	if len(args) == 0 {
		return "", errAt(d, "invalid number of arguments in \"if\" directive")
	}
	if !strings.HasPrefix(args[0], "(") || !strings.HasSuffix(args[len(args)-1], ")") {
		return "", errAt(d, "invalid condition \"%s\"", strings.Join(d.Args, " "))
	}
	args[0] = args[0][1:]
	if args[0] == "" {
		args = args[1:]
	}
	if len(args) > 0 {
		last := args[len(args)-1]
		args[len(args)-1] = last[:len(last)-1]
		if args[len(args)-1] == "" {
			args = args[:len(args)-1]
		}
	}
	switch len(args) {
	case 1, 2, 3:
	default:
		return "", errAt(d, "invalid condition \"%s\"", strings.Join(d.Args, " "))
	}
	if len(args) == 2 {
		switch args[0] {
		case "-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x":
		default:
			return "", errAt(d, "unexpected \"%s\" in condition", args[0])
		}
	}
	if args[0] == "" || (len(args) != 2 && args[0][0] != '$') {
		return "", errAt(d, "invalid condition \"%s\"", args[0])
	}
	if len(args) == 3 {
		switch args[1] {
		case "=", "!=", "~", "~*", "!~", "!~*":
		default:
			return "", errAt(d, "unexpected \"%s\" in condition", args[1])
		}
	}
	if len(args) == 3 {
		args[2] = quotedValue(args[2])
	}
	return strings.Join(args, " "), nil
}

// quotedValue is the last argument of set or of an if condition as
// proxy.yaml reads it back: the rest of the string, one pair of quotes
// around it removed. A value that is empty, has spaces at an end or quotes
// at both gets quotes of its own.
func quotedValue(v string) string {
	if v == "" || strings.TrimSpace(v) != v || len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return `"` + v + `"`
	}
	return v
}

// allowedInIf is whether nginx takes a directive inside an if block: in a
// server's only the rewrite module's, in a location's also those of
// "if in location" (NGX_HTTP_LIF_CONF). An unknown directive goes on to
// be reported (and refused) as such.
func allowedInIf(ctx, name string) bool {
	switch name {
	case "return", "rewrite", "set", "break", "if", "rewrite_log", "uninitialized_variable_warn":
		return true
	}
	if ctx != "location" || name == "location" {
		return false
	}
	if ifLocationDirectives[name] {
		return true
	}
	return handlers["location"][name] == nil // not one spillway knows: reported below
}

// ifLocationDirectives are the directives spillway knows that nginx
// allows in "if in location".
var ifLocationDirectives = map[string]bool{
	"proxy_pass": true, "fastcgi_pass": true, "uwsgi_pass": true, "scgi_pass": true, "grpc_pass": true,
	"memcached_pass": true, "add_header": true, "add_trailer": true, "expires": true, "root": true,
	"access_log": true, "gzip": true, "limit_rate": true, "limit_rate_after": true, "sendfile": true,
	"aio": true, "directio": true, "error_page": true, "charset": true, "source_charset": true,
	"override_charset": true, "ssi": true, "log_not_found": true, "more_set_headers": true,
	"more_clear_headers": true, "proxy_cache": true, "proxy_cache_valid": true, "echo": true,
}

// everyURI are the regexes of "redirect everything" rewrites: $uri
// always starts with "/" (and ".*" stops at a decoded newline, which
// hardly any client sends).
var everyURI = map[string]bool{"^": true, "^/": true, "^(.*)$": true, "^(.*)": true, "^/(.*)$": true, "^/(.*)": true,
	"(.*)": true, ".*": true, "^.*$": true, "^.*": true, "^/.*": true, "^/.*$": true}

// breakDirective: nginx stops the level's rewrite directives there, so
// the rewrites and return after it are never reached (and not converted).
func breakDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 0 {
		return invalidArgs(d)
	}
	if lv.inIf && !lv.returned && !lv.broken {
		// it stops the enclosing level's directives too
		item := newMap()
		item.set("break", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		item.n.Style = yaml.FlowStyle
		lv.script().Content = append(lv.script().Content, item.n)
	}
	lv.broken = true
	return nil
}

func unreached(lv *level) string {
	if lv.returned {
		return "an earlier return answers every request"
	}
	return "an earlier break stops the rewrite directives"
}

// notAllowedHere is nginx's error for a rewrite directive in http.
func notAllowedHere(c *conv, lv *level, d *Directive) error {
	return errAt(d, "\"%s\" directive is not allowed here", d.Name)
}

// refuseDropped makes the Unsupported warnings from first on (a block's
// directives that were not converted) Refused, saying why in a suffix: in
// a block that guards or branches, a dropped directive changes what the
// block does, so the conversion fails closed.
func (c *conv) refuseDropped(first int, why string) {
	for i := first; i < len(c.warns); i++ {
		if w := &c.warns[i]; w.Kind == Unsupported {
			w.Kind, w.Msg = Refused, w.Msg+" ("+why+")"
		}
	}
}
