package nginxconf

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Static files: root, alias, index, try_files, types, default_type, etag,
// log_not_found (proxy/static serves them). What spillway does not build is
// refused, so that a location never serves something else than in nginx:
// autoindex listings in another format than nginx's default, and
// try_files with a variable spillway does not know, alias with variables
// other than $1..$9.

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
		handlers[ctx]["autoindex_format"] = autoindexDefault("html")
		handlers[ctx]["autoindex_exact_size"] = autoindexDefault("on")
		handlers[ctx]["autoindex_localtime"] = autoindexDefault("off")
	}
}

// servesFiles reports whether a location without proxy_pass serves files
// in spillway: root, alias, index or try_files reach it (nginx's default
// root "html", relative to its prefix, is not assumed).
func (c *conv) servesFiles(lv, server *level) bool {
	for _, l := range []*level{lv, server, c.httpLevel} {
		if l == nil {
			continue
		}
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
		if strings.Contains(a, "$") {
			c.warn(d, Refused, "\"index\" directive in %s is not enforced by spillway (variables in index names are not expanded)", lv.ctx)
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

// autoindexDefault converts autoindex_format, autoindex_exact_size and
// autoindex_localtime when they keep nginx's default (the listing spillway
// writes) and refuses any other value.
func autoindexDefault(def string) handler {
	return func(c *conv, lv *level, d *Directive) error {
		if len(d.Args) != 1 {
			return invalidArgs(d)
		}
		if !strings.EqualFold(d.Args[0], def) {
			c.warn(d, Refused, "\"%s %s\" directive in %s is not enforced by spillway (its listing is autoindex_format html, autoindex_exact_size on, autoindex_localtime off)", d.Name, d.Args[0], lv.ctx)
		}
		return nil
	}
}

// strs is a flow sequence of strings.
func strs(v []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range v {
		n.Content = append(n.Content, str(s))
	}
	return n
}
