package nginxconf

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// The upstream's response headers (docs/config.md, proxy.yaml's keys of the
// same names): proxy_redirect, proxy_cookie_domain and proxy_cookie_path
// become one list per level, the *_hide_header and *_pass_header names and
// the *_ignore_headers words too, as nginx adds up a level's directives.

// headerRewrites converts proxy_redirect, proxy_cookie_domain and
// proxy_cookie_path (ngx_http_proxy_redirect, _cookie_domain,
// _cookie_path): "off" empties the level's list and makes nginx skip the
// level's later ones; "default" needs proxy_pass before it.
func headerRewrites(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	cur := lv.m.get(d.Name)
	if cur != nil && cur.Kind == yaml.ScalarNode {
		return nil // after "off", nginx ignores the level's others
	}
	redirect := d.Name == "proxy_redirect"
	var entry *yaml.Node
	if len(d.Args) == 1 {
		switch a := d.Args[0]; {
		case a == "off", redirect && a == "false":
			lv.m.set(d.Name, str("off"))
			return nil
		case redirect && a == "default":
			if !lv.m.has("proxy_pass") {
				return errAt(d, `"proxy_redirect default" should be placed after the "proxy_pass" directive`)
			}
			entry = str("default")
		default:
			return errAt(d, "invalid parameter \"%s\"", a)
		}
	} else {
		pattern, repl := d.Args[0], d.Args[1]
		if re, ok := strings.CutPrefix(pattern, "~"); ok {
			caseless := d.Name == "proxy_cookie_domain"
			if r, ok := strings.CutPrefix(re, "*"); ok && !caseless {
				re, caseless = r, true
			}
			if _, err := config.CompilePCRE(re, caseless); err != nil {
				c.warn(d, Unsupported, "unsupported \"%s\" in %s, not converted: its regex is not valid in Go's RE2 syntax (%v)", d.Name, lv.ctx, err)
				return nil
			}
			if _, err := vars.CompileCaptures(repl, c.varMaps); err != nil {
				return errAt(d, "%v", err)
			}
		} else {
			for _, v := range []string{pattern, repl} {
				if name := c.unknownVariable(v); name != "" {
					return errAt(d, "unknown \"%s\" variable", name)
				}
			}
		}
		if strings.ContainsAny(pattern+repl, " \t") || repl == "" {
			entry = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{str(pattern), str(repl)}}
		} else {
			entry = str(pattern + " " + repl)
		}
	}
	if cur == nil {
		cur = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	cur.Content = append(cur.Content, entry)
	return nil
}

// cookieFlags converts proxy_cookie_flags (ngx_http_proxy_cookie_flags):
// "off" alone, or a cookie (with variables, or "~regex") and one to three
// flags; a level's entries add up, and "off" with any other entry of the
// level is a duplicate.
func cookieFlags(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 4 {
		return invalidArgs(d)
	}
	cur := lv.m.get(d.Name)
	if len(d.Args) == 1 {
		if d.Args[0] != "off" {
			return errAt(d, "invalid parameter \"%s\"", d.Args[0])
		}
		if cur != nil {
			return errAt(d, "\"%s\" directive is duplicate", d.Name)
		}
		lv.m.set(d.Name, str("off"))
		return nil
	}
	if cur != nil && cur.Kind == yaml.ScalarNode {
		return errAt(d, "\"%s\" directive is duplicate", d.Name)
	}
	if re, ok := strings.CutPrefix(d.Args[0], "~"); ok {
		if _, err := config.CompilePCRE(re, true); err != nil {
			c.warn(d, Unsupported, "unsupported \"%s\" in %s, not converted: its regex is not valid in Go's RE2 syntax (%v)", d.Name, lv.ctx, err)
			return nil
		}
	} else if name := c.unknownVariable(d.Args[0]); name != "" {
		return errAt(d, "unknown \"%s\" variable", name)
	}
	entry := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for i, a := range d.Args {
		if i > 0 {
			if name := c.unknownVariable(a); name != "" {
				return errAt(d, "unknown \"%s\" variable", name)
			}
		}
		entry.Content = append(entry.Content, str(a))
	}
	if cur == nil {
		cur = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	cur.Content = append(cur.Content, entry)
	return nil
}

// headerName converts proxy_hide_header, proxy_pass_header and the
// fastcgi_ ones: one name each, added up into the level's list.
func headerName(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if strings.HasSuffix(d.Name, "_pass_header") && strings.EqualFold(d.Args[0], "Date") {
		c.warn(d, Unsupported, "unsupported \"%s Date\" in %s: spillway always sends its own Date header", d.Name, lv.ctx)
		return nil
	}
	addWords(lv, d.Name, d.Args)
	return nil
}

// ignorableHeaders are the values nginx's proxy_ignore_headers takes.
var ignorableHeaders = []string{"X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering",
	"X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary"}

// ignoreHeaders converts proxy_ignore_headers and fastcgi_ignore_headers
// (a bitmask in nginx: the level's directives add up).
func ignoreHeaders(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	for _, a := range d.Args {
		ok := false
		for _, h := range ignorableHeaders {
			ok = ok || strings.EqualFold(a, h)
		}
		if !ok {
			return errAt(d, "invalid value \"%s\"", a)
		}
	}
	addWords(lv, d.Name, d.Args)
	return nil
}

// addWords appends words to the level's list for key.
func addWords(lv *level, key string, words []string) {
	cur := lv.m.get(key)
	if cur == nil {
		cur = lv.m.set(key, &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle})
	}
	for _, w := range words {
		cur.Content = append(cur.Content, str(w))
	}
}

// realIPFrom converts set_real_ip_from: an address, a network, a host
// name (config resolves it at load, as nginx at start) or unix:, added up
// into the level's list.
func realIPFrom(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	addWords(lv, d.Name, d.Args)
	return nil
}
