package nginxconf

import (
	"errors"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/vars"
)

// mapOut is one converted map block.
type mapOut struct {
	d   *Directive
	def vars.MapDef
	n   *ymap
}

// mapBlock converts "map $source $variable { ... }" into an http.map
// entry: {map: "$source $variable", default, hostnames, volatile, values:
// [[key, value], ...]}. An include inside the block has been read in its
// place by the parser, as nginx's map does.
func (c *conv) mapBlock(d *Directive) error {
	if !d.IsBlock {
		return errAt(d, `directive "map" has no opening "{"`)
	}
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if !strings.HasPrefix(d.Args[1], "$") {
		return errAt(d, `invalid variable name "%s"`, d.Args[1])
	}
	out := &mapOut{d: d, def: vars.MapDef{Source: d.Args[0], Variable: d.Args[1][1:]}, n: newMap()}
	values := &yaml.Node{Kind: yaml.SequenceNode, Style: 0}
	hasDefault := false
	for _, e := range d.Block {
		switch {
		case e.Name == "hostnames" && len(e.Args) == 0:
			out.def.Hostnames = true
			continue
		case e.Name == "volatile" && len(e.Args) == 0:
			out.def.Volatile = true
			continue
		case len(e.Args) != 1 || e.IsBlock:
			return errAt(e, `invalid number of the map parameters`)
		case e.Name == "default":
			if hasDefault {
				return errAt(e, `duplicate default map parameter`)
			}
			hasDefault, out.def.Default = true, e.Args[0]
			continue
		}
		out.def.Entries = append(out.def.Entries, vars.MapEntry{Key: e.Name, Value: e.Args[0]})
		pair := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{str(e.Name), str(e.Args[0])}}
		values.Content = append(values.Content, pair)
	}
	out.n.set("map", str(d.Args[0]+" "+d.Args[1]))
	if hasDefault {
		out.n.set("default", str(out.def.Default))
	}
	if out.def.Hostnames {
		out.n.set("hostnames", str("on"))
	}
	if out.def.Volatile {
		out.n.set("volatile", str("on"))
	}
	if len(values.Content) > 0 {
		out.n.set("values", values)
	}
	out.n.n.HeadComment = "map at " + where(d)
	c.maps = append(c.maps, out)
	return nil
}

// checkMaps drops the maps spillway cannot compile (a regular expression
// RE2 lacks, an unknown variable), with a warning, so that what uses their
// variable is reported as using an unknown one.
func (c *conv) checkMaps() {
	for {
		defs := make([]vars.MapDef, len(c.maps))
		for i, m := range c.maps {
			defs[i] = m.def
		}
		maps, err := vars.CompileVars(defs, append(slices.Clone(c.authSets), c.captures...), c.setVars)
		var me *vars.MapError
		if err == nil || !errors.As(err, &me) {
			c.varMaps = maps
			return
		}
		m := c.maps[me.Map]
		c.warn(m.d, Unsupported, `unsupported map "%s" in http, not converted: %v`, "$"+m.def.Variable, err)
		c.maps = append(c.maps[:me.Map], c.maps[me.Map+1:]...)
	}
}

// authSetNames lists the variables every auth_request_set in block (and
// the blocks in it) assigns: nginx adds them to the http block's
// variables, so each is known in every value.
func authSetNames(block []*Directive, names []string) []string {
	for _, d := range block {
		if d.Name == "auth_request_set" && len(d.Args) == 2 && strings.HasPrefix(d.Args[0], "$") && !slices.Contains(names, d.Args[0]) {
			names = append(names, d.Args[0])
		}
		names = authSetNames(d.Block, names)
	}
	return names
}

// unknownVariable returns the first variable of a value that spillway
// does not know (with the converted maps in scope), "" when there is none.
func (c *conv) unknownVariable(v string) string {
	_, err := vars.Compile(v, c.varMaps)
	var ue *vars.UnknownError
	if errors.As(err, &ue) {
		return ue.Name
	}
	if err != nil {
		return v
	}
	return ""
}
