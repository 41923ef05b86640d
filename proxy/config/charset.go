package config

import (
	"fmt"
	"strings"

	"spillway/proxy/charset"
)

// The charset filter (nginx's ngx_http_charset_filter_module, package
// proxy/charset): charset, source_charset, override_charset and
// charset_types, written in http, server and location (charset and
// source_charset may be one variable, "$arg_cs"), and charset_map,
// written in http:
//
//	charset_map:
//	  - charset_map: koi8-r utf-8      # charset_map SRC DST
//	    values: ["C0 D18E", "C1 D0B0"] # "SRC DST" in hex, as nginx's lines
//
// nginx recodes a body only between two charsets a charset_map links (in
// either direction); a level whose source_charset and charset differ
// without one is refused at load, as nginx -t does.

// Charset is what the charset filter does at one level.
type Charset = charset.Conf

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
	c.Types = charset.DefaultTypes
	if d.CharsetTypes.set() {
		c.Types = []string{"text/html"} // always in, as in gzip_types
		for _, t := range d.CharsetTypes.v {
			c.Types = append(c.Types, strings.ToLower(t))
		}
	}
	return c
}

// check is ngx_http_charset_merge_loc_conf's and its postconfiguration's:
// two different charsets need a charset_map between them. The names join
// the configuration's charsets (p.charsets, which resolveCharsetMaps
// started with the maps').
func (d *charsetDirectives) check(p *problems) {
	for _, o := range []*opt[string]{d.Charset, d.SourceCharset} {
		switch {
		case o.set() && o.v == "":
			p.add(o.at(), `%q must name a charset`, directiveOf(o.at()))
		case o.set() && charset.IsVariable(o.v):
			p.checkVariables(o.at(), directiveOf(o.at()), o.v)
		}
	}
	src, dst := charsetValue(d.SourceCharset), charsetValue(d.Charset)
	if p.charsets == nil {
		p.charsets = charset.NewSet()
	}
	for _, n := range []string{dst, src} {
		if n != "" && !charset.IsVariable(n) {
			p.charsets.Add(n)
		}
	}
	if src == "" || dst == "" || charset.IsVariable(src) || charset.IsVariable(dst) {
		return // a variable's charset is looked up per answer (nginx: no check at load)
	}
	if err := p.charsets.Check(src, dst); err != nil {
		p.add(d.SourceCharset.at(), "%v", err)
	}
}

// resolveCharsetMaps builds the configuration's charsets from http.charset_map.
func resolveCharsetMaps(o *opt[[]charset.MapDef], p *problems) *charset.Set {
	s := charset.NewSet()
	for i, d := range o.or(nil) {
		if err := s.AddMap(d); err != nil {
			key := fmt.Sprintf("%s[%d]", o.at(), i)
			if ee, ok := err.(*charset.EntryError); ok {
				key = fmt.Sprintf("%s.values[%d]", key, ee.Entry)
			}
			p.add(key, "%v", err)
		}
	}
	return s
}

// charsetMapsFrom decodes http.charset_map: a list of {charset_map: "SRC
// DST", values: ["SRC DST", ...]}, each value also [SRC, DST].
func charsetMapsFrom(in any) ([]charset.MapDef, error) {
	list, ok := in.([]any)
	if !ok {
		return nil, fmt.Errorf(`expected a list of {charset_map: "SRC DST", values: [...]}, got %s`, kindOf(in))
	}
	defs := make([]charset.MapDef, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &subKeyError{fmt.Sprintf("[%d]", i), fmt.Errorf(`expected a mapping {charset_map: "SRC DST", values: [...]}, got %s`, kindOf(e))}
		}
		var d charset.MapDef
		err := mappingForm(m, map[string]func(any) error{
			"charset_map": func(v any) error {
				s, err := stringFrom(v)
				if err != nil {
					return err
				}
				f := strings.Fields(s)
				if len(f) != 2 {
					return fmt.Errorf(`want "SRC DST" (two charsets), got %q`, s)
				}
				d.Src, d.Dst = f[0], f[1]
				return nil
			},
			"values": func(v any) error {
				entries, ok := v.([]any)
				if !ok {
					return fmt.Errorf(`expected a list of "SRC DST" entries, got %s`, kindOf(v))
				}
				for j, e := range entries {
					me, err := mapEntryFrom(e)
					if err != nil {
						return &subKeyError{fmt.Sprintf("[%d]", j), err}
					}
					d.Entries = append(d.Entries, [2]string{me.Key, me.Value})
				}
				return nil
			},
		}, "charset_map")
		if err != nil {
			return nil, &subKeyError{fmt.Sprintf("[%d]", i), err}
		}
		defs = append(defs, d)
	}
	return defs, nil
}

// setCharsets gives every level the configuration's charsets.
func (c *Config) setCharsets(s *charset.Set) {
	if s.Len() == 0 {
		return
	}
	for _, sv := range c.Servers {
		sv.Charset.Set = s
		for _, l := range sv.AllLocations() {
			l.Charset.Set = s
		}
	}
}
