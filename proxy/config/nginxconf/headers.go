package nginxconf

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
)

// The headers module (add_header, expires) converts to proxy.yaml's
// directives of the same names (proxy/config/headers.go).

func init() {
	for _, ctx := range strings.Fields(inLocations) {
		if handlers[ctx] == nil {
			handlers[ctx] = map[string]handler{}
		}
		handlers[ctx]["add_header"] = addHeader
		handlers[ctx]["add_trailer"] = addHeader
		handlers[ctx]["expires"] = expires
	}
}

// addHeader appends one add_header (or add_trailer) to its level's list.
// The list is created even for an entry that cannot be converted, so that
// the level still replaces the inherited list as in nginx.
func addHeader(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 && (len(d.Args) != 3 || d.Args[2] != "always") {
		if len(d.Args) == 3 {
			return errAt(d, "invalid parameter \"%s\"", d.Args[2])
		}
		return invalidArgs(d)
	}
	list := lv.m.get(d.Name)
	if list == nil {
		list = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	name, value, always := d.Args[0], d.Args[1], len(d.Args) == 3
	if v := c.unknownVariable(value); v != "" {
		c.warn(d, Unsupported, "unsupported %s \"%s\" in %s: spillway has no \"$%s\" variable, so the header is not added", d.Name, name, lv.ctx, v)
		return nil
	}
	list.Content = append(list.Content, addHeaderNode(name, value, always))
	return nil
}

// addHeaderNode writes an add_header as "Name value [always]", or as a
// mapping when the string form would read back differently.
func addHeaderNode(name, value string, always bool) *yaml.Node {
	line := name + " " + value
	if always {
		line += " always"
	}
	if h, err := config.ParseAddHeader(line); err == nil && h.Name == name && h.Value == value && h.Always == always && value != "" {
		return str(line)
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	m.Content = append(m.Content, keyNode("name"), str(name), keyNode("value"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
	if always {
		m.Content = append(m.Content, keyNode("always"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	return m
}

// expires: nginx's forms (off, epoch, max, [modified] [-]TIME, @TIME),
// the time with variables too.
func expires(c *conv, lv *level, d *Directive) error {
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	if name := c.unknownVariable(d.Args[len(d.Args)-1]); name != "" {
		return errAt(d, "unknown \"%s\" variable", name)
	}
	if _, err := config.ParseExpires(d.Args); err != nil {
		return errAt(d, "invalid value \"%s\"", strings.Join(d.Args, " "))
	}
	lv.m.set("expires", str(strings.Join(d.Args, " ")))
	return nil
}

// gzip directives (ngx_http_gzip_module, ngx_http_gzip_static_module,
// ngx_http_gunzip_filter_module) convert to the same keys.
func init() {
	for _, ctx := range strings.Fields(inLocations) {
		handlers[ctx]["gzip_static"] = single(gzipStaticValue)
		handlers[ctx]["gunzip"] = single(flagValue)
		handlers[ctx]["gunzip_buffers"] = buffers
		handlers[ctx]["gzip"] = single(flagValue)
		handlers[ctx]["gzip_vary"] = single(flagValue)
		handlers[ctx]["gzip_min_length"] = single(sizeValue)
		handlers[ctx]["gzip_comp_level"] = single(gzipLevelValue)
		handlers[ctx]["gzip_http_version"] = single(httpVersionValue)
		handlers[ctx]["gzip_buffers"] = buffers
		handlers[ctx]["gzip_types"] = gzipWords
		handlers[ctx]["gzip_proxied"] = gzipWords
		handlers[ctx]["gzip_disable"] = gzipWords
	}
}

func gzipStaticValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "on", "off", "always":
		return strings.ToLower(v), nil
	}
	return "", errAt(d, `invalid value "%s" in "%s" directive, it must be "on", "off" or "always"`, v, d.Name)
}

func gzipLevelValue(d *Directive, v string) (string, error) {
	if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 9 {
		return "", errAt(d, "value must be between 1 and 9")
	}
	return v, nil
}

// gzipWords converts gzip_types, gzip_proxied and gzip_disable: a list of
// their arguments (a regex of gzip_disable may hold spaces).
func gzipWords(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	switch d.Name {
	case "gzip_proxied":
		if _, err := config.ParseGzipProxied(d.Args); err != nil {
			return errAt(d, "%v", err)
		}
	case "gzip_disable":
		for _, a := range d.Args {
			if a == "msie6" {
				continue
			}
			if _, err := config.CompilePCRE(a, true); err != nil {
				c.warn(d, Unsupported, "unsupported directive \"gzip_disable\" in %s: the regex \"%s\" does not compile in Go's RE2 (%v)", lv.ctx, a, err)
				return nil
			}
		}
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, a := range d.Args {
		list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: a})
	}
	lv.m.set(d.Name, list)
	return nil
}
