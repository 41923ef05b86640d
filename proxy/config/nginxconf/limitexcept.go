package nginxconf

import (
	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
)

func init() {
	handlers["location"]["limit_except"] = limitExcept
	blockDirectives["limit_except"] = true
}

// limitExceptDirectives are the directives nginx allows in a limit_except
// block (NGX_HTTP_LMT_CONF, measured with nginx 1.22 -t); anything else is
// "not allowed here". perl is nginx's too, and spillway has no Perl.
var limitExceptDirectives = map[string]bool{
	"allow": true, "deny": true, "auth_basic": true, "auth_basic_user_file": true,
	"proxy_pass": true, "access_log": true,
}

// limitExcept converts "limit_except METHOD... { ... }" into the
// location's limit_except key: methods, then the block's directives.
// The methods it does not list get the block's configuration in place of
// the location's (config.LimitExcept), which c.location checks once the
// location is read: they need content, or a deny for every client.
func limitExcept(c *conv, lv *level, d *Directive) error {
	if lv.inIf {
		return errAt(d, "\"limit_except\" directive is not allowed here")
	}
	methods, err := config.ParseLimitExceptMethods(d.Args)
	if err != nil {
		return errAt(d, "%v", err)
	}
	if lv.m.has("limit_except") {
		return errAt(d, "\"limit_except\" directive is duplicate")
	}
	// regex: a proxy_pass in the block may have no URI part, as nginx says.
	inner := &level{ctx: "location", m: newMap(), regex: true, parent: lv, locName: lv.locName, locMod: lv.locMod}
	inner.m.set("methods", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: strs(methods).Content})
	first := len(c.warns)
	for _, sd := range d.Block {
		switch {
		case sd.Name == "perl":
			c.warn(sd, Refused, "\"perl\" in \"limit_except\" in location is not enforced by spillway (spillway runs no Perl): the methods the block does not list would be answered otherwise")
			continue
		case !limitExceptDirectives[sd.Name]:
			return errAt(sd, "\"%s\" directive is not allowed here", sd.Name)
		}
		if err := c.directive(inner, sd); err != nil {
			return err
		}
	}
	c.finish(inner)
	// An access rule not converted would let in whom nginx keeps out.
	c.refuseDropped(first, "inside \"limit_except\", where dropping it would change whom the block lets in")
	lv.m.set("limit_except", inner.m.n)
	inner.m.n.Content[1].LineComment = "limit_except at " + where(d)
	lv.lmt, lv.lmtAt = inner, d
	return nil
}

// checkLimitExcept refuses a location whose limit_except leaves the
// methods it does not list without content: nginx does not give them the
// location's return, stub_status or try_files, and serves them files from
// its default root, which spillway does not assume (see servesFiles).
func (c *conv) checkLimitExcept(lv *level) {
	lmt := lv.lmt
	if lmt == nil || lmt.proxies || lv.proxies || c.deniesAll(lmt) {
		return
	}
	for _, l := range c.chain(lv) {
		for _, k := range []string{"root", "alias", "index"} {
			if l.m.has(k) {
				return
			}
		}
	}
	c.warn(lv.lmtAt, Refused, "\"limit_except\" in location \"%s\" cannot be converted: the methods it does not list would reach no content in spillway (nginx serves them files from its default root, not the location's return, stub_status or try_files)", lv.locName)
}
