package config

import (
	"strings"
)

// The charset filter's header part (nginx's ngx_http_charset_filter_module):
// charset, source_charset, override_charset and charset_types, written in
// http, server and location. nginx recodes a body only between charsets a
// charset_map links; spillway has no charset_map, so, as in nginx without
// one, it never recodes: it adds "; charset=..." to Content-Type, and a
// source_charset other than charset is refused at load as nginx -t does.

// Charset is what the charset filter does at one level.
type Charset struct {
	// Charset is the charset named in Content-Type ("" is charset off).
	Charset string
	// Source is source_charset: the charset a response without one in its
	// Content-Type is in ("" is off).
	Source string
	// Override is override_charset: a proxied response whose Content-Type
	// names a charset gets Charset instead, when it is the same charset
	// (nginx would recode through a charset_map otherwise).
	Override bool
	// Types is charset_types, lower-cased ("*" is every type); text/html
	// is always in.
	Types []string
	// Known are the charsets the whole configuration names, lower-cased
	// (nginx's charsets array): a response's charset outside it is one
	// nginx has no map for.
	Known map[string]bool
}

// defaultCharsetTypes is charset_types' default (ngx_http_charset_default_types).
var defaultCharsetTypes = []string{"text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
	"application/javascript", "application/rss+xml"}

type charsetDirectives struct {
	Charset         *opt[string] `mapstructure:"charset"`
	SourceCharset   *opt[string] `mapstructure:"source_charset"`
	OverrideCharset *opt[bool]   `mapstructure:"override_charset"`
	CharsetTypes    *opt[words]  `mapstructure:"charset_types"`
}

func (d *charsetDirectives) inherit(p *charsetDirectives) {
	merge(&d.Charset, p.Charset)
	merge(&d.SourceCharset, p.SourceCharset)
	merge(&d.OverrideCharset, p.OverrideCharset)
	merge(&d.CharsetTypes, p.CharsetTypes)
}

// charsetValue is a charset or source_charset value: "off" is "".
func charsetValue(o *opt[string]) string {
	if v := o.or("off"); v != "off" {
		return v
	}
	return ""
}

func (d *charsetDirectives) resolve() Charset {
	c := Charset{
		Charset:  charsetValue(d.Charset),
		Source:   charsetValue(d.SourceCharset),
		Override: d.OverrideCharset.or(false),
	}
	if c.Charset == "" {
		return c // the types matter only to name a charset
	}
	c.Types = defaultCharsetTypes
	if d.CharsetTypes.set() {
		c.Types = []string{"text/html"} // always in, as in gzip_types
		for _, t := range d.CharsetTypes.v {
			c.Types = append(c.Types, strings.ToLower(t))
		}
	}
	return c
}

// check is ngx_http_charset_merge_loc_conf's: two different charsets need a
// charset_map, which spillway does not have (nor does nginx by default).
func (d *charsetDirectives) check(p *problems) {
	for _, o := range []*opt[string]{d.Charset, d.SourceCharset} {
		if o.set() && (o.v == "" || strings.Contains(o.v, "$")) {
			p.add(o.at(), `%q must name a charset (spillway takes no variables in it)`, directiveOf(o.at()))
		}
	}
	src, dst := charsetValue(d.SourceCharset), charsetValue(d.Charset)
	if src != "" && dst != "" && !strings.EqualFold(src, dst) {
		p.add(d.SourceCharset.at(), `no "charset_map" between the charsets "%s" and "%s" (spillway does not recode)`, src, dst)
	}
}

// knownCharsets is every charset the configuration names (lower-cased),
// shared by every level's Charset.
func (c *Config) knownCharsets() {
	known := map[string]bool{}
	levels := []*Charset{}
	for _, s := range c.Servers {
		levels = append(levels, &s.Charset)
		for _, l := range s.AllLocations() {
			levels = append(levels, &l.Charset)
		}
	}
	for _, cs := range levels {
		for _, n := range []string{cs.Charset, cs.Source} {
			if n != "" {
				known[strings.ToLower(n)] = true
			}
		}
	}
	if len(known) == 0 {
		return
	}
	for _, cs := range levels {
		cs.Known = known
	}
}
