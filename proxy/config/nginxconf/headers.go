package nginxconf

import (
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
		handlers[ctx]["expires"] = expires
	}
}

// addHeader appends one add_header to its level's list. The list is
// created even for an entry that cannot be converted, so that the level
// still replaces the inherited list as in nginx.
func addHeader(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 && (len(d.Args) != 3 || d.Args[2] != "always") {
		if len(d.Args) == 3 {
			return errAt(d, "invalid parameter \"%s\"", d.Args[2])
		}
		return invalidArgs(d)
	}
	list := lv.m.get("add_header")
	if list == nil {
		list = lv.m.set("add_header", &yaml.Node{Kind: yaml.SequenceNode})
	}
	name, value, always := d.Args[0], d.Args[1], len(d.Args) == 3
	if v := c.unknownVariable(value); v != "" {
		c.warn(d, Unsupported, "unsupported add_header \"%s\" in %s: spillway has no \"$%s\" variable, so the header is not added", name, lv.ctx, v)
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

// expires: nginx's forms (off, epoch, max, [modified] [-]TIME, @TIME);
// a value with variables is not converted.
func expires(c *conv, lv *level, d *Directive) error {
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	if strings.Contains(strings.Join(d.Args, " "), "$") {
		c.warn(d, Unsupported, "unsupported directive \"expires\" in %s: spillway takes no variables in expires", lv.ctx)
		return nil
	}
	if _, err := config.ParseExpires(d.Args); err != nil {
		return errAt(d, "invalid value \"%s\"", strings.Join(d.Args, " "))
	}
	lv.m.set("expires", str(strings.Join(d.Args, " ")))
	return nil
}
