package nginxconf

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Static files: root, alias, index, try_files, types, default_type, etag,
// log_not_found, autoindex*, charset* (proxy/static serves them). What
// spillway does not build is refused, so that a location never serves
// something else than in nginx: try_files with a variable spillway does not
// know, alias with variables other than $1..$9.

func init() {
	blockDirectives["types"] = true
	handlers["location"]["alias"] = single(aliasValue)
	handlers["location"]["try_files"] = tryFiles
	for _, ctx := range strings.Fields(inLocations) {
		handlers[ctx]["index"] = index
		handlers[ctx]["types"] = types
		handlers[ctx]["default_type"] = single(anyValue)
		handlers[ctx]["etag"] = single(flagValue)
		handlers[ctx]["log_not_found"] = single(flagValue)
		handlers[ctx]["autoindex"] = single(flagValue)
		handlers[ctx]["autoindex_format"] = single(autoindexFormatValue)
		handlers[ctx]["autoindex_exact_size"] = single(flagValue)
		handlers[ctx]["autoindex_localtime"] = single(flagValue)
		handlers[ctx]["charset"] = charset
		handlers[ctx]["source_charset"] = charset
		handlers[ctx]["override_charset"] = single(flagValue)
		handlers[ctx]["charset_types"] = charsetTypes
	}
}

func autoindexFormatValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "html", "xml", "json", "jsonp":
		return strings.ToLower(v), nil
	}
	return "", errAt(d, `invalid value "%s" in "%s" directive, it must be "html" or "xml" or "json" or "jsonp"`, v, d.Name)
}

// charset converts charset and source_charset: a charset, or one
// variable ("$arg_cs"), which must exist.
func charset(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if strings.HasPrefix(d.Args[0], "$") {
		if name := c.unknownVariable(d.Args[0]); name != "" {
			return errAt(d, "unknown \"%s\" variable", name)
		}
	}
	lv.m.set(d.Name, str(d.Args[0]))
	return nil
}

// charsetTypes converts charset_types: a list of MIME types.
func charsetTypes(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.m.set(d.Name, strs(d.Args))
	return nil
}

// servesFiles reports whether a location without proxy_pass serves files
// in spillway: root, alias, index or try_files reach it (nginx's default
// root "html", relative to its prefix, is not assumed).
func (c *conv) servesFiles(lv *level) bool {
	for _, l := range c.chain(lv) {
		for _, k := range []string{"root", "alias", "index", "try_files"} {
			if l.m.has(k) {
				return true
			}
		}
	}
	return false
}

// aliasValue takes alias's path; a variable other than a regex capture
// ($1..$9) is not computed by spillway.
func aliasValue(d *Directive, v string) (string, error) {
	if !onlyVars(v, func(name string) bool { return len(name) == 1 && name[0] >= '1' && name[0] <= '9' }) {
		return "", errAt(d, `"alias" with variables other than $1..$9 is not supported by spillway`)
	}
	return v, nil
}

// onlyVars reports whether every $name in v passes ok.
func onlyVars(v string, ok func(string) bool) bool {
	for i := strings.IndexByte(v, '$'); i >= 0; i = strings.IndexByte(v, '$') {
		v = v[i+1:]
		n := strings.TrimLeft(v, "{")
		end := 0
		for end < len(n) && (n[end] == '_' || n[end] >= 'a' && n[end] <= 'z' || n[end] >= 'A' && n[end] <= 'Z' || n[end] >= '0' && n[end] <= '9') {
			end++
		}
		if !ok(n[:end]) {
			return false
		}
	}
	return true
}

func tryFiles(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 2 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	for _, a := range d.Args {
		if name := c.unknownVariable(a); name != "" {
			c.warn(d, Refused, "\"try_files\" directive in %s is not enforced by spillway (it does not know the variable \"%s\")", lv.ctx, name)
			return nil
		}
	}
	lv.m.set("try_files", strs(d.Args))
	return nil
}

func index(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	for _, a := range d.Args {
		if a == "" {
			return errAt(d, `index "" in "index" directive is invalid`)
		}
		if name := c.unknownVariable(a); name != "" {
			c.warn(d, Refused, "\"index\" directive in %s is not enforced by spillway (it does not know the variable \"%s\")", lv.ctx, name)
			return nil
		}
	}
	if n := lv.m.get("index"); n != nil { // nginx: several index directives add up
		n.Content = append(n.Content, strs(d.Args).Content...)
		return nil
	}
	lv.m.set("index", strs(d.Args))
	return nil
}

// types converts a types block (include mime.types puts nginx's table in
// one): "type ext ext;" lines become extension: type entries.
func types(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 0 {
		return invalidArgs(d)
	}
	m := lv.m.get("types")
	if m == nil {
		m = lv.m.set("types", &yaml.Node{Kind: yaml.MappingNode})
	}
	for _, t := range d.Block {
		if t.IsBlock || len(t.Args) == 0 {
			return errAt(t, `invalid number of arguments in "types" block`)
		}
		for _, ext := range t.Args {
			m.Content = append(m.Content, str(strings.ToLower(ext)), str(t.Name))
		}
	}
	return nil
}

// strs is a flow sequence of strings.
func strs(v []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range v {
		n.Content = append(n.Content, str(s))
	}
	return n
}
