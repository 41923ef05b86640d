package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// envPrefix prefixes the environment variables that override keys:
// SPILLWAY_PID, SPILLWAY_ERROR_LOG_LEVEL, SPILLWAY_HTTP_PROXY_READ_TIMEOUT.
const envPrefix = "SPILLWAY"

// keyDelimiter separates levels in viper's keys. It is not viper's ".",
// because upstream names may contain dots ("api.v1") and viper would split
// them into levels. Environment variables still use "_".
const keyDelimiter = "::"

// Load reads the configuration file at path, applies SPILLWAY_* environment
// overrides, and returns the resolved, validated Config. Errors are *Error
// (several are joined with errors.Join), each naming the key and its line.
// Relative paths are resolved against the file's directory (LoadPaths).
func Load(path string) (*Config, error) { return LoadPaths(path, Paths{}) }

// Paths says how the relative paths of a file are resolved, as nginx's
// command line does.
type Paths struct {
	// Prefix is nginx's prefix (-p): relative error_log, access_log, pid
	// and temp paths are joined to it, and the Config holds them absolute.
	// "" means the configuration file's directory.
	Prefix string
	// ErrorLog is the error log when the file sets none (nginx's -e);
	// "" means logs/error.log under the prefix.
	ErrorLog string
	// ConfPrefix is nginx's conf prefix (the main file's directory): where
	// a file named with variables that evaluates to a relative name is
	// read (auth_basic_user_file $file). "" means the file's directory.
	ConfPrefix string
}

// LoadPaths is Load with the prefix and default error log of paths.
func LoadPaths(path string, paths Paths) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		cause := err
		var pe *os.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		return nil, &Error{File: path, Msg: fmt.Sprintf("open() %q failed (%v)", path, cause), Err: err}
	}
	return LoadBytesPaths(path, data, paths)
}

// LoadBytes is Load for a file already in memory; name is used in messages
// and as Config.Source. SPILLWAY_* environment overrides apply here too.
//
// The bytes are read once and parsed twice: by viper, which owns the
// decoding and the environment overrides, and by yaml.v3 into a node tree,
// which viper does not keep and which gives each key its line number.
func LoadBytes(name string, data []byte) (*Config, error) {
	return LoadBytesPaths(name, data, Paths{})
}

// LoadBytesPaths is LoadBytes with the prefix and default error log of
// paths; the default prefix is name's directory.
func LoadBytesPaths(name string, data []byte, paths Paths) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	root := documentRoot(&doc)
	if root != nil && root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line,
			Msg: fmt.Sprintf("the file must be a mapping of keys (error_log, pid, http), not %s", nodeKind(root))}
	}
	p := &problems{file: name, doc: root}
	p.duplicateKeys(root, "", 0)
	if err := p.err(); err != nil {
		return nil, err
	}

	v := newViper()
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, yamlError(name, err)
	}
	p.envOverString()
	var raw rawFile
	if err := v.UnmarshalExact(&raw, exactDecoding); err != nil {
		p.decodeErrors(err)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	stamp(reflect.ValueOf(&raw), "")
	if h := raw.HTTP; h != nil {
		p.headersAsWritten(h.ProxySetHeader)
		for _, s := range h.Servers {
			p.headersAsWritten(s.ProxySetHeader)
			walkLocations(s.Locations, nil, func(l *rawLocation, _ *locationDirectives) { p.headersAsWritten(l.ProxySetHeader) })
		}
	}
	if paths.ErrorLog != "" && (raw.ErrorLog == nil || len(raw.ErrorLog.v) == 0 || raw.ErrorLog.v[0].Path == "") {
		// nginx's -e: the error log when the file names none
		l := ErrorLog{Level: -1}
		if raw.ErrorLog != nil && len(raw.ErrorLog.v) > 0 {
			l = raw.ErrorLog.v[0]
		}
		l.Path = paths.ErrorLog
		raw.ErrorLog = &opt[[]ErrorLog]{v: []ErrorLog{l}}
	}
	c := resolve(&raw, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	prefix := paths.Prefix
	if prefix == "" {
		prefix = filepath.Dir(name)
	}
	abs, err := filepath.Abs(prefix)
	if err != nil {
		return nil, &Error{File: name, Msg: fmt.Sprintf("prefix %q: %v", prefix, err), Err: err}
	}
	c.absolutePaths(abs)
	confPrefix := paths.ConfPrefix
	if confPrefix == "" {
		confPrefix = filepath.Dir(name)
	}
	if c.ConfPrefix, err = filepath.Abs(confPrefix); err != nil {
		return nil, &Error{File: name, Msg: fmt.Sprintf("conf prefix %q: %v", confPrefix, err), Err: err}
	}
	c.Source = name
	return c, nil
}

// newViper returns a viper that reads YAML and lets SPILLWAY_<KEY> override
// any key: AutomaticEnv covers the keys the file has, BindEnv the top-level
// and http-level directives it may not have (viper ignores variables for
// keys it knows nothing about).
func newViper() *viper.Viper {
	v := viper.NewWithOptions(
		viper.KeyDelimiter(keyDelimiter),
		viper.EnvKeyReplacer(strings.NewReplacer(keyDelimiter, "_")),
	)
	v.SetConfigType("yaml")
	v.SetEnvPrefix(envPrefix)
	v.AutomaticEnv()
	for _, k := range envKeys() {
		_ = v.BindEnv(strings.ReplaceAll(k, ".", keyDelimiter)) // fails only without a key
	}
	return v
}

// exactDecoding makes mapstructure strict: no hooks (viper's would split
// strings into lists and read a bare 60 as 60ns; every directive decodes
// itself, see opt.UnmarshalMapstructure) and no weak typing (a string where
// a list of servers is expected is an error, not a list of one).
// UnmarshalExact adds ErrorUnused: unknown keys are errors at every level.
func exactDecoding(c *mapstructure.DecoderConfig) {
	c.DecodeHook = nil
	c.WeaklyTypedInput = false
}

// envOverString reports a variable for part of a directive
// (SPILLWAY_ERROR_LOG_LEVEL) when the file writes that directive as a string
// (error_log: "logs/error.log warn"): viper cannot merge the two, and which
// one won would be left to chance.
func (p *problems) envOverString() {
	for _, k := range envKeys() {
		parent := k[:strings.LastIndexByte(k, '.')+1]
		if parent == "" || envVarOf(k) == "" {
			continue
		}
		parent = strings.TrimSuffix(parent, ".")
		if n := nodeAt(p.doc, parent); n != nil && n.Kind == yaml.ScalarNode {
			p.add(parent, "%s cannot override part of %q written as a string; write it as a mapping, e.g. {path: ..., %s: ...}",
				envVarOf(k), directiveOf(parent), k[len(parent)+1:])
		} else if n != nil && n.Kind == yaml.SequenceNode {
			p.add(parent, "%s cannot override part of %q written as a list (which entry?); set it in the file",
				envVarOf(k), directiveOf(parent))
		}
	}
}

// documentRoot returns the top node of a parsed YAML document, nil if the
// document is empty.
func documentRoot(doc *yaml.Node) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n = deref(n, 0); n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	return n
}

// nodeKind names a YAML node's kind for messages.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "a single value"
}

// headersAsWritten restores what viper loses from proxy_set_header written
// with mappings ({Host: $host, Connection: ""} or entries like "- Host:
// $host"): the order of the headers and the case of their names. Both are
// read back from the YAML tree.
func (p *problems) headersAsWritten(o *opt[[]Header]) {
	if o == nil || envVarOf(o.key) != "" {
		return
	}
	n := nodeAt(p.doc, o.key)
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		byName := map[string]Header{}
		for _, h := range o.v {
			byName[strings.ToLower(h.Name)] = h
		}
		var hs []Header
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			if h, ok := byName[strings.ToLower(name)]; ok {
				h.Name = name
				hs = append(hs, h)
				delete(byName, strings.ToLower(name))
			}
		}
		if len(hs) == len(o.v) {
			o.v = hs
		}
	case yaml.SequenceNode:
		if len(n.Content) != len(o.v) {
			return
		}
		for i, e := range n.Content {
			if e = deref(e, 0); e != nil && e.Kind == yaml.MappingNode && len(e.Content) == 2 &&
				strings.EqualFold(e.Content[0].Value, o.v[i].Name) {
				o.v[i].Name = e.Content[0].Value
			}
		}
	}
}
