package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/vars"
)

// nginx's map (ngx_http_map_module) and the check that every variable a
// value uses exists. http.map is a list of map blocks:
//
//	map:
//	  - map: $http_upgrade $connection_upgrade   # map $source $variable
//	    default: upgrade
//	    values:                                    # "key value", in order
//	      - '"" close'
//	      - ["~*^(ws)$", "$1"]                     # or [key, value]
//	    hostnames: off
//	    volatile: off
//
// A list, not a mapping, keeps the entries in file order (regular
// expressions are tried in order) and their case (viper lower-cases
// mapping keys).

// mapsFrom decodes http.map.
func mapsFrom(in any) ([]vars.MapDef, error) {
	list, ok := in.([]any)
	if !ok {
		return nil, fmt.Errorf(`expected a list of {map: "$source $variable", values: [...]}, got %s`, kindOf(in))
	}
	defs := make([]vars.MapDef, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &subKeyError{fmt.Sprintf("[%d]", i), fmt.Errorf(`expected a mapping {map: "$source $variable", values: [...]}, got %s`, kindOf(e))}
		}
		var d vars.MapDef
		hasDefault := false
		err := mappingForm(m, map[string]func(any) error{
			"map": func(v any) error {
				s, err := stringFrom(v)
				if err != nil {
					return err
				}
				f := strings.Fields(s)
				if len(f) != 2 {
					return fmt.Errorf(`want "$source $variable", got %q`, s)
				}
				if !strings.HasPrefix(f[1], "$") {
					return fmt.Errorf(`invalid variable name %q: it starts with "$"`, f[1])
				}
				d.Source, d.Variable = f[0], f[1][1:]
				return nil
			},
			"default": func(v any) (err error) {
				hasDefault = true
				d.Default, err = scalarString(v)
				return err
			},
			"hostnames": func(v any) (err error) { d.Hostnames, err = flagFrom(v); return err },
			"volatile":  func(v any) (err error) { d.Volatile, err = flagFrom(v); return err },
			"values": func(v any) error {
				entries, ok := v.([]any)
				if !ok {
					return fmt.Errorf(`expected a list of "key value" entries, got %s`, kindOf(v))
				}
				for j, e := range entries {
					me, err := mapEntryFrom(e)
					if err != nil {
						return &subKeyError{fmt.Sprintf("[%d]", j), err}
					}
					if me.Key == "default" { // nginx's own spelling of the default
						if hasDefault {
							return &subKeyError{fmt.Sprintf("[%d]", j), errors.New(`duplicate default map parameter`)}
						}
						hasDefault, d.Default = true, me.Value
						continue
					}
					d.Entries = append(d.Entries, me)
				}
				return nil
			},
		}, "map")
		if err != nil {
			return nil, &subKeyError{fmt.Sprintf("[%d]", i), err}
		}
		defs = append(defs, d)
	}
	return defs, nil
}

// mapEntryFrom decodes one entry: nginx's "key value" (either may be
// quoted: '"" close'), or a list [key, value].
func mapEntryFrom(in any) (vars.MapEntry, error) {
	switch x := in.(type) {
	case []any:
		if len(x) != 2 {
			return vars.MapEntry{}, fmt.Errorf("expected [key, value], got %d items", len(x))
		}
		k, err := scalarString(x[0])
		if err != nil {
			return vars.MapEntry{}, err
		}
		v, err := scalarString(x[1])
		return vars.MapEntry{Key: k, Value: v}, err
	case string:
		f, err := nginxWords(x)
		if err != nil {
			return vars.MapEntry{}, err
		}
		if len(f) != 2 {
			return vars.MapEntry{}, fmt.Errorf(`invalid number of the map parameters in %q: want "key value"`, x)
		}
		return vars.MapEntry{Key: f[0], Value: f[1]}, nil
	}
	return vars.MapEntry{}, fmt.Errorf(`expected "key value" or [key, value], got %s`, kindOf(in))
}

// scalarString is a string, or a number or boolean as YAML wrote it.
func scalarString(in any) (string, error) {
	switch x := in.(type) {
	case string:
		return x, nil
	case int, int64, float64, bool:
		return fmt.Sprint(x), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("expected a string, got %s", kindOf(in))
}

// nginxWords splits s as nginx splits a directive's arguments: at
// whitespace, with "..." and '...' quoting; \" \' \\ \t \r \n are
// unescaped, any other backslash stays (regular expressions keep "\.").
func nginxWords(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		var q byte
		if s[0] == '"' || s[0] == '\'' {
			q, s = s[0], s[1:]
		}
		var w strings.Builder
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if q != 0 && c == q || q == 0 && (c == ' ' || c == '\t') {
				break
			}
			if c == '\\' && i+1 < len(s) {
				switch n := s[i+1]; n {
				case '"', '\'', '\\':
					c, i = n, i+1
				case 't':
					c, i = '\t', i+1
				case 'r':
					c, i = '\r', i+1
				case 'n':
					c, i = '\n', i+1
				}
			}
			w.WriteByte(c)
		}
		if q != 0 {
			if i == len(s) {
				return nil, fmt.Errorf("unexpected end of parameter, expecting %q", string(q))
			}
			i++
		}
		s = s[i:]
		out = append(out, w.String())
	}
}

// resolveMaps compiles http.map (to report its problems at their lines),
// with auth_request_set's variables sets in scope, and keeps the
// definitions; p.mapNames are the variables they define, in scope in every
// value checked afterwards.
func resolveMaps(o *opt[[]vars.MapDef], sets []string, p *problems) []vars.MapDef {
	defs := o.or(nil)
	if len(defs) == 0 {
		return nil
	}
	for _, d := range defs {
		p.mapNames = append(p.mapNames, d.Variable)
	}
	if _, err := vars.CompileScope(defs, sets); err != nil {
		key := o.at()
		var me *vars.MapError
		if errors.As(err, &me) {
			key = fmt.Sprintf("%s[%d]", key, me.Map)
			if me.Entry >= 0 {
				key = fmt.Sprintf("%s.values[%d]", key, p.valuesIndex(key+".values", me.Entry))
			}
		}
		p.add(key, "%v", err)
	}
	return defs
}

// valuesIndex is the position in the file's values list of the entry-th
// map entry: a "default" line is not an entry.
func (p *problems) valuesIndex(key string, entry int) int {
	n := nodeAt(p.doc, key)
	if n == nil || n.Kind != yaml.SequenceNode {
		return entry
	}
	for i, e := range n.Content {
		e = deref(e, 0)
		first := e.Value
		if e.Kind == yaml.SequenceNode && len(e.Content) > 0 {
			first = e.Content[0].Value
		} else if f := strings.Fields(first); len(f) > 0 {
			first = f[0]
		}
		if first == "default" {
			continue
		}
		if entry--; entry < 0 {
			return i
		}
	}
	return entry
}

// headerKey is the key path of the i-th entry of proxy_set_header or
// fastcgi_param, for its line: [i] in a list, the name in a mapping.
func (p *problems) headerKey(o *opt[[]Header], i int) string {
	if n := nodeAt(p.doc, o.at()); n != nil && n.Kind == yaml.MappingNode {
		return o.at() + "." + o.v[i].Name
	}
	if n := nodeAt(p.doc, o.at()); n != nil && n.Kind == yaml.SequenceNode {
		return fmt.Sprintf("%s[%d]", o.at(), i)
	}
	return o.at()
}

// checkVariables reports a value with an unknown variable at the key it
// is written at: "what: message" (what is e.g. `proxy_set_header Host`).
func (p *problems) checkVariables(key, what, value string) {
	if err := vars.Check(value, p.mapNames); err != nil {
		p.add(key, "%s: %v", what, err)
	}
}

// checkPassVariables is checkVariables for proxy_pass (fastcgi_pass,
// uwsgi_pass), which may also use the captures of a regex location.
func (p *problems) checkPassVariables(key, what, value string) {
	if err := vars.CheckCaptures(value, p.mapNames); err != nil {
		p.add(key, "%s: %v", what, err)
	}
}

// checkCaptureVariables is checkVariables for a value that may also use
// its regex's captures ($1..$9).
func (p *problems) checkCaptureVariables(key, value string) {
	if err := vars.CheckCaptures(value, p.mapNames); err != nil {
		p.add(key, "replacement: %v", err)
	}
}
