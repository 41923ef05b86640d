package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"spillway/proxy/vars"
)

// Return is the rewrite module's "return" at a server or a location
// (ngx_http_rewrite_return): the request is answered there, before any
// access check, and never proxied. A zero Code means no return.
//
// In proxy.yaml it is one string, nginx's arguments joined by a space:
// "301 https://$host$request_uri", "200 ok", "403", or a bare URL
// ("https://example.com$request_uri", a 302).
type Return struct {
	Code int
	// Text is the body (codes other than 301, 302, 303, 307, 308) or the
	// Location (those five), as written: variables are compiled by proxy/vars.
	Text string
	// HasText tells "return 200" from `return 200 ""` (nginx answers both
	// with an empty body, but a code of 400 or more without text is
	// nginx's error page).
	HasText bool
}

// IsRedirect reports whether the code's text is a Location.
func (r Return) IsRedirect() bool {
	switch r.Code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// ParseReturn parses the proxy.yaml form of return with nginx's rules: a
// code of three digits at most (nginx: 0 to 999), else a URL that starts
// with http://, https:// or $scheme, answered with 302.
func ParseReturn(s string) (Return, error) {
	first, rest, hasRest := strings.Cut(s, " ")
	if code, err := strconv.Atoi(first); err == nil && first != "" && first[0] != '+' && first[0] != '-' {
		if code > 999 {
			return Return{}, fmt.Errorf("invalid return code %q", first)
		}
		return Return{Code: code, Text: rest, HasText: hasRest}, nil
	}
	if hasRest {
		return Return{}, fmt.Errorf("invalid return code %q", first)
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "$scheme") {
		return Return{}, fmt.Errorf("invalid return code %q", s)
	}
	return Return{Code: 302, Text: s, HasText: true}, nil
}

// returnFrom decodes return: a YAML number is a code alone.
func returnFrom(in any) (Return, error) {
	if n, ok := in.(int); ok {
		in = strconv.Itoa(n)
	}
	s, err := stringFrom(in)
	if err != nil {
		return Return{}, err
	}
	return ParseReturn(s)
}

// Redirect is how nginx's header filter writes a Location that starts
// with "/" (a return's, or the 301 of auto_redirect): absolute_redirect,
// server_name_in_redirect and port_in_redirect.
type Redirect struct {
	Absolute   bool // absolute_redirect, default on: scheme://host[:port] is prepended
	ServerName bool // server_name_in_redirect, default off: the server's first name, not the Host line's
	Port       bool // port_in_redirect, default on: the local port unless it is the scheme's own
}

// redirectDirectives are the raw keys of Redirect, in http, server and
// location, inherited.
type redirectDirectives struct {
	AbsoluteRedirect     *opt[bool] `mapstructure:"absolute_redirect"`
	ServerNameInRedirect *opt[bool] `mapstructure:"server_name_in_redirect"`
	PortInRedirect       *opt[bool] `mapstructure:"port_in_redirect"`
	RewriteLog           *opt[bool] `mapstructure:"rewrite_log"`
	// UninitializedVariableWarn is uninitialized_variable_warn (default
	// on): reading a set variable no set has written logs a [warn].
	UninitializedVariableWarn *opt[bool] `mapstructure:"uninitialized_variable_warn"`
}

func (d *redirectDirectives) inherit(p *redirectDirectives) {
	merge(&d.AbsoluteRedirect, p.AbsoluteRedirect)
	merge(&d.ServerNameInRedirect, p.ServerNameInRedirect)
	merge(&d.PortInRedirect, p.PortInRedirect)
	merge(&d.RewriteLog, p.RewriteLog)
	merge(&d.UninitializedVariableWarn, p.UninitializedVariableWarn)
}

func (d *redirectDirectives) resolve() Redirect {
	return Redirect{
		Absolute:   d.AbsoluteRedirect.or(true),
		ServerName: d.ServerNameInRedirect.or(false),
		Port:       d.PortInRedirect.or(true),
	}
}

// Rewrite is one "rewrite regex replacement [flag]". With flag redirect
// (302) or permanent (301), or a replacement that starts with http://,
// https:// or $scheme (302 whatever the flag), the first match answers with
// a redirect. Otherwise it rewrites $uri inside the server (nginx's
// internal rewrite): Flag says what happens next.
type Rewrite struct {
	Source      string         // the regex as written (rewrite_log quotes it)
	Regex       *regexp.Regexp // compiled as a location's (PCRE semantics on bytes)
	Replacement string         // with variables and captures; a final "?" removed
	Code        int            // 301 or 302 when it redirects, else 0
	Flag        RewriteFlag    // for an internal rewrite
	// AddArgs: the request's arguments are appended ("?args", or "&args"
	// when the replacement has a "?"), unless the replacement ended with "?".
	AddArgs bool
}

// RewriteFlag is what an internal rewrite does after changing $uri.
type RewriteFlag uint8

const (
	// FlagNone: the level's next directive runs, and when the location's
	// directives are done the location is searched again for the new $uri.
	FlagNone RewriteFlag = iota
	// FlagLast: the level's directives stop; the location is searched
	// again for the new $uri (at server level: the search that follows).
	FlagLast
	// FlagBreak: the level's directives stop; the request stays in the
	// location found, with the new $uri.
	FlagBreak
)

// Redirects reports whether the rewrite answers with a redirect.
func (r *Rewrite) Redirects() bool { return r.Code != 0 }

// ParseRewrite parses "regex replacement [flag]" (nginx's arguments
// joined by spaces; the regex and the replacement have none).
func ParseRewrite(s string) (Rewrite, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return Rewrite{}, fmt.Errorf("invalid number of arguments in %q: want \"regex replacement [flag]\"", s)
	}
	re, err := compilePCRE(f[0], false)
	if err != nil {
		return Rewrite{}, fmt.Errorf("rewrite %q: %v", f[0], err)
	}
	r := Rewrite{Source: f[0], Regex: re, Replacement: f[1], AddArgs: true}
	external := strings.HasPrefix(f[1], "http://") || strings.HasPrefix(f[1], "https://") || strings.HasPrefix(f[1], "$scheme")
	if len(f) == 3 {
		switch f[2] {
		case "permanent":
			r.Code = 301
		case "redirect":
			r.Code = 302
		case "last":
			r.Flag = FlagLast
		case "break":
			r.Flag = FlagBreak
		default:
			return Rewrite{}, fmt.Errorf("invalid parameter %q", f[2])
		}
	}
	if external && r.Code == 0 {
		r.Code, r.Flag = 302, FlagNone // nginx redirects anyway
	}
	if strings.HasSuffix(r.Replacement, "?") {
		r.Replacement, r.AddArgs = strings.TrimSuffix(r.Replacement, "?"), false
	}
	return r, nil
}

// StmtKind is which rewrite-module directive a Stmt is.
type StmtKind uint8

// The rewrite module's directives, as they run in a level's script.
const (
	StmtRewrite StmtKind = iota + 1 // rewrite regex replacement [flag]
	StmtReturn                      // return code [text] | URL
	StmtSet                         // set $var value
	StmtBreak                       // break
	StmtIf                          // if (condition) { ... }
)

// Stmt is one directive of the rewrite module. nginx compiles a level's
// rewrite, return, set, break and if into one script that runs in file
// order (ngx_http_rewrite_handler): a server's in the server rewrite phase,
// before a location is chosen, a location's in the rewrite phase.
type Stmt struct {
	Kind    StmtKind
	Rewrite Rewrite // StmtRewrite
	Return  Return  // StmtReturn
	Set     Set     // StmtSet
	If      *If     // StmtIf
}

// Set is "set $var value": Var without "$", lower-cased; Value may use
// variables and the captures of the last regex matched.
type Set struct {
	Var   string
	Value string
}

// If is an if block: when Cond holds, Body runs in the place of the block
// and, in a location, Location (the block's own directives over the
// enclosing location's: nginx's "if in location") becomes the request's
// configuration from then on. Location is nil when the block sets no
// location directive.
type If struct {
	Cond     Cond
	Body     []Stmt
	Location *Location
	raw      *rawLocation // the block's keys, until resolve inherits them
}

// Cond is an if condition (ngx_http_rewrite_if_condition).
type Cond struct {
	Source string // as written, without the parentheses
	// Op is "" ($var alone: false when empty or "0"), "=", "!=", "~",
	// "~*", "!~", "!~*", or a file test "-f", "!-f", "-d", "!-d", "-e",
	// "!-e", "-x", "!-x".
	Op    string
	Left  string         // the variable, or the file test's value (with variables)
	Right string         // the value of = and != (with variables), the regex as written
	Regex *regexp.Regexp // ~ ~* !~ !~*
}

// Negated reports whether the condition is the negation of its test.
func (c *Cond) Negated() bool { return strings.HasPrefix(c.Op, "!") }

// ParseCond parses an if condition as nginx reads its arguments: "$var",
// "$var OP value" (the value is the rest of the string, spaces and all),
// or "-f value". Parentheses around the whole are optional.
func ParseCond(s string) (Cond, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	c := Cond{Source: s}
	first, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimLeft(rest, " \t")
	switch first {
	case "-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x":
		if rest == "" {
			return Cond{}, fmt.Errorf("invalid condition %q", s)
		}
		c.Op, c.Left = first, rest
		return c, nil
	}
	if len(first) < 2 || first[0] != '$' {
		return Cond{}, fmt.Errorf("invalid condition %q", s)
	}
	c.Left = first
	if rest == "" {
		return c, nil
	}
	op, val, _ := strings.Cut(rest, " ")
	val = strings.TrimLeft(val, " \t")
	if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
		val = val[1 : len(val)-1]
	}
	c.Op, c.Right = op, val
	switch op {
	case "=", "!=":
	case "~", "~*", "!~", "!~*":
		if val == "" {
			return Cond{}, fmt.Errorf("invalid condition %q: no regular expression", s)
		}
		re, err := compilePCRE(val, strings.HasSuffix(op, "*"))
		if err != nil {
			return Cond{}, fmt.Errorf("if %q: %v", val, err)
		}
		c.Regex = re
	default:
		return Cond{}, fmt.Errorf("unexpected %q in condition", op)
	}
	return c, nil
}

// ParseSet parses "$var value" (the value is the rest of the string).
func ParseSet(s string) (Set, error) {
	name, val, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return Set{}, fmt.Errorf("invalid number of arguments in \"set\": want \"$variable value\"")
	}
	if len(name) < 2 || name[0] != '$' || strings.IndexFunc(name[1:], func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return Set{}, fmt.Errorf("invalid variable name %q", name)
	}
	val = strings.TrimLeft(val, " \t")
	if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
		val = val[1 : len(val)-1]
	}
	return Set{Var: strings.ToLower(name[1:]), Value: val}, nil
}

// scriptFrom decodes rewrite: one string or a list of entries, each a
// rewrite ("regex replacement [flag]") or a mapping naming another
// directive of the rewrite module, in nginx's order:
//
//	rewrite:
//	  - ^/old/(.*)$ /new/$1 last
//	  - set: $mobile 1
//	  - if: $http_user_agent ~* mobile
//	    rewrite: [{return: 403}]   # the block's own directives
//	    add_header: ...             # in a location: the block's location directives
//	  - break: true
//	  - return: 301 /x
func scriptFrom(in any) ([]Stmt, error) {
	var list []any
	switch v := in.(type) {
	case []any:
		list = v
	default:
		list = []any{v}
	}
	var out []Stmt
	for i, e := range list {
		st, err := stmtFrom(e)
		if err != nil {
			return nil, &subKeyError{key: "[" + strconv.Itoa(i) + "]", err: err}
		}
		out = append(out, st)
	}
	return out, nil
}

func stmtFrom(e any) (Stmt, error) {
	m, ok := e.(map[string]any)
	if !ok {
		s, err := stringFrom(e)
		if err != nil {
			return Stmt{}, err
		}
		r, err := ParseRewrite(s)
		return Stmt{Kind: StmtRewrite, Rewrite: r}, err
	}
	if cond, ok := m["if"]; ok {
		s, err := stringFrom(cond)
		if err != nil {
			return Stmt{}, &subKeyError{"if", err}
		}
		c, err := ParseCond(s)
		if err != nil {
			return Stmt{}, &subKeyError{"if", err}
		}
		rest := map[string]any{}
		for k, v := range m {
			if k != "if" {
				rest[k] = v
			}
		}
		raw := &rawLocation{}
		d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: raw, ErrorUnused: true})
		if err != nil {
			return Stmt{}, err
		}
		if err := d.Decode(rest); err != nil {
			return Stmt{}, err
		}
		if raw.Path.set() {
			return Stmt{}, errors.New(`"path" is not allowed in an if block`)
		}
		in := &If{Cond: c, raw: raw, Body: script(raw.Rewrite, raw.Return)}
		raw.Rewrite, raw.Return = nil, nil
		return Stmt{Kind: StmtIf, If: in}, nil
	}
	if len(m) != 1 {
		return Stmt{}, errors.New("an entry is a rewrite string or a mapping with one key: rewrite, return, set, break or if")
	}
	for k, v := range m {
		switch k {
		case "rewrite":
			s, err := stringFrom(v)
			if err != nil {
				return Stmt{}, &subKeyError{k, err}
			}
			r, err := ParseRewrite(s)
			return Stmt{Kind: StmtRewrite, Rewrite: r}, err
		case "return":
			r, err := returnFrom(v)
			if err != nil {
				return Stmt{}, &subKeyError{k, err}
			}
			return Stmt{Kind: StmtReturn, Return: r}, nil
		case "set":
			s, err := stringFrom(v)
			if err != nil {
				return Stmt{}, &subKeyError{k, err}
			}
			st, err := ParseSet(s)
			return Stmt{Kind: StmtSet, Set: st}, err
		case "break":
			if b, err := flagFrom(v); err != nil || !b {
				return Stmt{}, &subKeyError{k, errors.New(`write "break: true"`)}
			}
			return Stmt{Kind: StmtBreak}, nil
		}
		return Stmt{}, fmt.Errorf("unknown key %q: an entry is rewrite, return, set, break or if", k)
	}
	return Stmt{}, nil
}

// Answers reports whether a script answers every request by itself: a
// return that nothing but set comes before.
func Answers(script []Stmt) bool {
	for _, st := range script {
		switch st.Kind {
		case StmtSet:
			continue
		case StmtReturn:
			return true
		}
		return false
	}
	return false
}

// SetVars appends the variables the set directives of a script define, its
// if blocks' included.
func SetVars(dst []string, script []Stmt) []string {
	for _, st := range script {
		switch st.Kind {
		case StmtSet:
			dst = append(dst, st.Set.Var)
		case StmtIf:
			dst = SetVars(dst, st.If.Body)
		}
	}
	return dst
}

// script is a level's rewrite key, then its return key.
func script(rw *opt[[]Stmt], ret *opt[Return]) []Stmt {
	out := slices.Clone(rw.or(nil))
	if r := ret.or(Return{}); r.Code != 0 {
		out = append(out, Stmt{Kind: StmtReturn, Return: r})
	}
	return out
}

// checkServerScript refuses location directives in a server's if blocks:
// nginx allows only the rewrite module's there.
func checkServerScript(sc []Stmt, key string, p *problems) {
	for _, st := range sc {
		if st.Kind != StmtIf {
			continue
		}
		if keys := setKeys(st.If.raw); len(keys) > 0 {
			p.add(key, "%q is not allowed in an if block of a server (only rewrite, return, set, break and if)", keys[0])
		}
		checkServerScript(st.If.Body, key, p)
	}
}

// setKeys lists the keys an if block sets besides its rewrite list.
func setKeys(raw *rawLocation) []string {
	if raw == nil {
		return nil
	}
	var keys []string
	v := reflect.ValueOf(raw).Elem()
	for _, f := range fieldsOf(v.Type()) {
		if fv := v.FieldByIndex(f.index); fv.Kind() == reflect.Pointer && !fv.IsNil() {
			keys = append(keys, f.name)
		}
	}
	return keys
}

// resolveIfs resolves the if blocks of a location's script: each becomes
// a Location of its own, even with no directive but the rewrite module's,
// the enclosing location's directives inherited (ngx_http_rewrite_if: the
// block is a location, merged like a nested one; proxy_pass and
// fastcgi_pass too) but try_files, which nginx does not merge (measured: a
// request whose if holds is served without it, "if ($x) { }" too).
func (l *rawLocation) resolveIfs(sc []Stmt, key string, upstreams map[string]bool, p *problems) {
	for i := range sc {
		st := &sc[i]
		if st.Kind != StmtIf {
			continue
		}
		in := st.If
		if in.raw != nil && in.raw.ErrorLog.set() {
			p.add(key, `"error_log" is not allowed in an if block (nginx: "error_log" directive is not allowed here)`)
		}
		if in.raw != nil && len(in.raw.Locations) > 0 {
			p.add(key, `"location" directive is not allowed here (an if block)`)
		}
		if in.raw != nil && in.raw.LimitExcept != nil {
			p.add(key, `"limit_except" directive is not allowed here (an if block)`)
		}
		if raw := in.raw; raw != nil {
			inherited := *raw
			dst, src := reflect.ValueOf(&inherited).Elem(), reflect.ValueOf(l).Elem()
			for _, f := range fieldsOf(dst.Type()) {
				fv := dst.FieldByIndex(f.index)
				if f.name != "rewrite" && f.name != "return" && f.name != "try_files" && f.name != "limit_except" && fv.Kind() == reflect.Pointer && fv.IsNil() {
					fv.Set(src.FieldByIndex(f.index))
				}
			}
			inherited.ifBlock = true // a proxy_pass is not needed: the enclosing location was checked
			in.Location = resolveLocation(&inherited, key, upstreams, p)
		}
		l.resolveIfs(in.Body, key, upstreams, p)
	}
}

// scriptVars collects the variables set defines in every level of the
// file, each once ($args aside), and refuses set on a variable spillway
// computes.
func (h *rawHTTP) scriptVars(p *problems) []string {
	var names []string
	add := func(o *opt[[]Stmt]) {
		for _, n := range SetVars(nil, o.or(nil)) {
			switch {
			case n == "args" || n == "limit_rate": // set $args changes the arguments, set $limit_rate the rate (proxy/rewrite.go)
				continue
			case vars.Builtin(n):
				p.add(o.at(), "the duplicate %q variable (set cannot change it)", n)
				continue
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	for i := range h.Servers {
		s := &h.Servers[i]
		add(s.Rewrite)
		walkLocations(s.Locations, nil, func(l *rawLocation, _ *locationDirectives) { add(l.Rewrite) })
	}
	return names
}

// captureNames collects the named captures of every map, server_name,
// location, rewrite and if regex of the file (the variables nginx defines for them).
func (h *rawHTTP) captureNames() []string {
	var names []string
	var script func(sc []Stmt)
	script = func(sc []Stmt) {
		for _, st := range sc {
			switch st.Kind {
			case StmtRewrite:
				names = CaptureNames(names, st.Rewrite.Regex)
			case StmtIf:
				names = CaptureNames(names, st.If.Cond.Regex)
				script(st.If.Body)
			}
		}
	}
	for _, d := range h.Map.or(nil) {
		for _, e := range d.Entries {
			if key, ok := strings.CutPrefix(e.Key, "~"); ok {
				re, _ := regexp.Compile(strings.TrimPrefix(key, "*"))
				names = CaptureNames(names, re)
			}
		}
	}
	for i := range h.Servers {
		s := &h.Servers[i]
		for _, n := range s.ServerName.or(nil) {
			if expr, ok := strings.CutPrefix(n, "~"); ok {
				re, _ := ServerNameRegex(expr)
				names = CaptureNames(names, re)
			}
		}
		script(s.Rewrite.or(nil))
		walkLocations(s.Locations, nil, func(l *rawLocation, _ *locationDirectives) {
			if l.Path.set() {
				if _, _, re, err := parseLocationPath(l.Path.v); err == nil {
					names = CaptureNames(names, re)
				}
			}
			script(l.Rewrite.or(nil))
		})
	}
	return names
}
