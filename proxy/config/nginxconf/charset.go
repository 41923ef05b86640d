package nginxconf

import (
	"go.yaml.in/yaml/v3"
)

// charset_map (proxy/charset recodes through it): "charset_map SRC DST {
// SRC DST; ... }" in http becomes an http.charset_map entry {charset_map:
// "SRC DST", values: ["SRC DST", ...]}. An include inside the block, or of
// nginx's own koi-utf, koi-win and win-utf files around it, has been read
// in its place by the parser. The values are checked at load (proxy/config).

func init() {
	blockDirectives["charset_map"] = true
	if handlers["http"] == nil {
		handlers["http"] = map[string]handler{}
	}
	handlers["http"]["charset_map"] = charsetMap
}

func charsetMap(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	values := &yaml.Node{Kind: yaml.SequenceNode}
	for _, e := range d.Block {
		if e.IsBlock || len(e.Args) != 1 {
			return errAt(e, "invalid parameters number")
		}
		values.Content = append(values.Content, str(e.Name+" "+e.Args[0]))
	}
	m := newMap()
	m.set("charset_map", str(d.Args[0]+" "+d.Args[1]))
	if len(values.Content) > 0 {
		m.set("values", values)
	}
	m.n.HeadComment = "charset_map at " + where(d)
	seq := lv.m.get("charset_map")
	if seq == nil {
		seq = lv.m.set("charset_map", &yaml.Node{Kind: yaml.SequenceNode})
	}
	seq.Content = append(seq.Content, m.n)
	return nil
}
