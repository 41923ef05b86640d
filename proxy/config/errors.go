package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"spillway/proxy/charset"
)

// Error is one problem in a configuration file, reported like nginx -t
// reports it: what is wrong, the key path it is about, and the line that key
// is written on. Load returns one *Error, or several joined with
// errors.Join (errors.As finds the first).
type Error struct {
	File string // the file name given to Load or LoadBytes
	Line int    // 1-based line of Key in File; 0 when the file does not have the key
	Key  string // key path, e.g. "http.servers[0].locations[1].proxy_buffers"; "" for the whole file
	Msg  string // what is wrong, in nginx's words where nginx has them

	// Env is the environment variable the value came from, when it came from
	// one (SPILLWAY_HTTP_PROXY_READ_TIMEOUT) rather than from the file.
	Env string
	// Err is the underlying error, if any (reading the file, parsing YAML).
	Err error
}

// Error formats e like nginx -t: `<msg> (<key>) in <file>:<line>`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Msg)
	if e.Key != "" {
		fmt.Fprintf(&b, " (%s)", e.Key)
	}
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, " in environment variable %s", e.Env)
	case e.Line > 0:
		fmt.Fprintf(&b, " in %s:%d", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, " in %s", e.File)
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// problems collects the errors of one Load, each located in the file (or in
// the environment) by its key path.
type problems struct {
	file string
	doc  *yaml.Node // the file's root mapping, for line numbers; may be nil
	errs []*Error
	// mapNames are the variables http.map defines (resolveMaps): known
	// to checkVariables.
	mapNames []string
	// charsets are the charsets the configuration names and its
	// charset_maps (resolveCharsetMaps, charsetDirectives.check).
	charsets *charset.Set
}

// add records a problem about the key path key.
func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{
		File: p.file,
		Line: lineOf(p.doc, key),
		Key:  key,
		Msg:  fmt.Sprintf(format, args...),
		Env:  envVarOf(key),
	})
}

// err returns the problems in file order without duplicates (an inherited
// value is checked once per level that inherits it): nil, one *Error, or
// several joined.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	var errs []error
	for i, e := range p.errs {
		if i > 0 && e.Error() == p.errs[i-1].Error() {
			continue
		}
		errs = append(errs, e)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// envVarOf returns the environment variable that supplied the value at key,
// or "" if the value came from the file. viper looks up SPILLWAY_ + the key
// path with "_" between levels, for every key it has (AutomaticEnv) and for
// the bound ones (envKeys); list entries have no variable.
func envVarOf(key string) string {
	if key == "" {
		return ""
	}
	var names []string
	for _, s := range splitPath(key) {
		if _, err := strconv.Atoi(s.name); s.index && err == nil {
			return ""
		}
		names = append(names, s.name)
	}
	name := strings.ToUpper(envPrefix + "_" + strings.Join(names, "_"))
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return name
	}
	return ""
}

// pathSeg is one step of a key path: a key, or an [index] / [map key].
type pathSeg struct {
	name  string
	index bool
}

// splitPath splits a mapstructure key path such as
// "http.upstreams[app.v1].servers[0].weight" into its steps.
func splitPath(path string) []pathSeg {
	var segs []pathSeg
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, pathSeg{path[1:end], true})
			path = path[min(end+1, len(path)):]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, pathSeg{path[:end], false})
			path = path[end:]
		}
	}
	return segs
}

// directiveOf returns the directive a key path ends in, relative to its
// block: "proxy_buffers" for http.servers[0].proxy_buffers,
// "proxy_buffers.size" for a key inside its mapping form.
func directiveOf(path string) string {
	segs := splitPath(path)
	start := 0
	for i, s := range segs {
		if s.index || (i == 0 && s.name == "http") {
			start = i + 1
		}
	}
	var names []string
	for _, s := range segs[start:] {
		names = append(names, s.name)
	}
	if len(names) == 0 && len(segs) > 0 {
		return path[strings.LastIndexAny(path, ".")+1:]
	}
	return strings.Join(names, ".")
}

// lineOf returns the line where the key path is written in doc: the line of
// its deepest key or list entry that the document has (so a key the file
// lacks points at the block it belongs to); 0 if none.
func lineOf(doc *yaml.Node, path string) int {
	line, _ := walk(doc, path)
	return line
}

// unknownKey reports key k under name. A key the decoder reads as empty
// (":::" is one) has no path to follow back to its line: at the top level it
// is named by the document's first key line (found by FuzzLoadErrorsLocated).
func (p *problems) unknownKey(name, k string) {
	key := joinKey(name, k)
	p.add(key, "unknown key %q", k)
	if e := p.errs[len(p.errs)-1]; e.Line == 0 && key == "" {
		e.Line = firstKeyLine(p.doc)
	}
}

// firstKeyLine returns the line of the document's first mapping key, 0 if
// it has none.
func firstKeyLine(doc *yaml.Node) int {
	n := deref(doc, 0)
	for n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = deref(n.Content[0], 0)
	}
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return 0
	}
	return n.Content[0].Line
}

// nodeAt returns the node at the key path, nil if the file does not have it.
func nodeAt(doc *yaml.Node, path string) *yaml.Node {
	_, n := walk(doc, path)
	return n
}

// walk follows a key path through the YAML tree. It returns the line of the
// deepest step found, and the node at the path if every step was found.
func walk(doc *yaml.Node, path string) (line int, node *yaml.Node) {
	n := doc
	for _, s := range splitPath(path) {
		n = deref(n, 0)
		if n == nil {
			return line, nil
		}
		var at, next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			at, next = lookup(n, s.name, 0)
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(s.name); err == nil && i >= 0 && i < len(n.Content) {
				at, next = n.Content[i], n.Content[i]
			}
		}
		if at == nil {
			return line, nil
		}
		line, n = at.Line, next
	}
	return line, deref(n, 0)
}

// deref follows YAML aliases (*name) to the anchored node.
func deref(n *yaml.Node, depth int) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && depth < 32 {
		n, depth = n.Alias, depth+1
	}
	return n
}

// lookup finds key in a mapping node (case-insensitively, as viper does),
// then in the mappings merged into it with YAML's "<<" key.
func lookup(m *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	if depth > 32 {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if strings.EqualFold(m.Content[i].Value, key) && m.Content[i].Value != "<<" {
			return m.Content[i], m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "<<" {
			continue
		}
		merged := []*yaml.Node{deref(m.Content[i+1], 0)}
		if merged[0] != nil && merged[0].Kind == yaml.SequenceNode {
			merged = merged[0].Content
		}
		for _, mm := range merged {
			if mm = deref(mm, 0); mm != nil && mm.Kind == yaml.MappingNode {
				if k, v := lookup(mm, key, depth+1); k != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}

// duplicateKeys reports keys that differ only in case: viper lower-cases
// keys, so one of them would silently win.
func (p *problems) duplicateKeys(n *yaml.Node, path string, depth int) {
	if n == nil || depth > 64 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := joinKey(path, k.Value)
			if first, ok := seen[strings.ToLower(k.Value)]; ok && k.Value != "<<" {
				msg := fmt.Sprintf("duplicate key %q, first written at line %d", k.Value, first.Line)
				if k.Value != first.Value {
					msg = fmt.Sprintf("duplicate key %q: keys ignore case, and %q is at line %d", k.Value, first.Value, first.Line)
				}
				p.errs = append(p.errs, &Error{File: p.file, Line: k.Line, Key: key, Msg: msg})
			}
			seen[strings.ToLower(k.Value)] = k
			p.duplicateKeys(n.Content[i+1], key, depth+1)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			p.duplicateKeys(e, path+"["+strconv.Itoa(i)+"]", depth+1)
		}
	}
}

// yamlError turns a YAML syntax error ("yaml: line 3: did not find expected
// key", or yaml.v3's list of "line N: ..." unmarshal errors) into *Errors.
func yamlError(file string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "While parsing config: ") // viper's wrapping
	msg = strings.TrimPrefix(msg, "yaml: ")
	var errs []error
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "unmarshal errors:" {
			continue
		}
		line := 0
		if rest, ok := strings.CutPrefix(l, "line "); ok {
			if n, after, ok := strings.Cut(rest, ": "); ok {
				if v, err := strconv.Atoi(n); err == nil {
					line, l = v, after
				}
			}
		}
		if line == 0 {
			line = 1 // yaml.v3 leaves "line 1" out of its syntax errors (found by FuzzLoadErrorsLocated)
		}
		errs = append(errs, &Error{File: file, Line: line, Msg: "invalid YAML: " + l, Err: err})
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) == 0 {
		return &Error{File: file, Msg: "invalid YAML: " + msg, Err: err}
	}
	return errors.Join(errs...)
}

// decodeErrors turns what viper's UnmarshalExact returned (mapstructure's
// *DecodeErrors, joined) into problems at their key paths.
func (p *problems) decodeErrors(err error) {
	var de *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range e.Unwrap() {
			p.decodeErrors(e)
		}
	case *mapstructure.DecodeError:
		de = e
	default:
		if inner := errors.Unwrap(err); inner != nil {
			p.decodeErrors(inner)
		} else {
			p.add("", "%v", err)
		}
	}
	if de == nil {
		return
	}
	name, err := de.Name(), de.Unwrap()
	if name == reflect.TypeFor[rawFile]().String() {
		name = "" // mapstructure names the root by its Go type
	}
	if _, ok := err.(interface{ Unwrap() []error }); ok {
		p.decodeErrors(err)
		return
	}
	if _, ok := err.(*mapstructure.DecodeError); ok {
		p.decodeErrors(err)
		return
	}
	p.decodeError(name, err)
}

// decodeError reports one decoding error about the key path name.
func (p *problems) decodeError(name string, err error) {
	if ve, ok := err.(*valueError); ok {
		err = ve.err
		for {
			sub, ok := err.(*subKeyError)
			if !ok {
				break
			}
			name, err = joinKey(name, sub.key), sub.err
		}
		if uk, ok := err.(*unknownKeysError); ok {
			for _, k := range uk.keys {
				p.unknownKey(name, k)
			}
			return
		}
		p.add(name, "%q directive %v", directiveOf(name), err)
		return
	}
	msg := err.Error()
	if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
		for _, k := range strings.Split(keys, ", ") {
			if in := allowedIn(k); len(in) > 0 {
				p.add(joinKey(name, k), "%q directive is not allowed here, only in: %s", k, strings.Join(in, ", "))
			} else {
				p.unknownKey(name, k)
			}
		}
		return
	}
	expected := ""
	var ute *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &ute):
		expected, msg = kindOfType(ute.Expected.Type()), kindOf(ute.Value)
	case strings.HasPrefix(msg, "source data must be an array or slice, got "):
		expected, msg = "a list", kindName(strings.TrimPrefix(msg, "source data must be an array or slice, got "))
	case strings.HasPrefix(msg, "expected a map or struct, got "):
		expected, msg = "a mapping", kindName(strings.TrimPrefix(msg, "expected a map or struct, got "))
	}
	if expected != "" {
		p.add(name, "invalid value for %q: expected %s, got %s", directiveOf(name), expected, msg)
		return
	}
	p.add(name, "invalid value for %q: %v", directiveOf(name), err)
}

// kindOfType names the YAML kind a Go type is decoded from, for messages.
func kindOfType(t reflect.Type) string {
	return kindName(t.Kind().String())
}

// kindName turns a reflect.Kind name (as mapstructure prints it) into a YAML
// kind for messages.
func kindName(k string) string {
	switch strings.Trim(k, `"`) {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "a mapping"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return k
}
