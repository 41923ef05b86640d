package vars

import (
	"fmt"
	"regexp"
	"strings"
)

// MapDef is one nginx map block as configured: `map $source $variable {
// hostnames; volatile; default value; key value; ~regex value; }`.
type MapDef struct {
	Source    string // a value with variables, e.g. "$http_upgrade"
	Variable  string // the name it defines, without '$'
	Default   string // the value when nothing matches ("" when not set)
	Hostnames bool   // keys may be "*.example.com", ".example.com", "www.example.*"
	Volatile  bool   // the value is evaluated at every read, not kept for the request (Request.MapCache)
	Entries   []MapEntry
}

// MapEntry is one "key value" line of a map, in file order. A key starting
// with "~" is a case-sensitive regular expression, "~*" a case-insensitive
// one; a value may use variables, and $1..$9 of its regular expression.
type MapEntry struct{ Key, Value string }

// Maps is the compiled map blocks of one configuration. The zero and nil
// Maps have none. It is immutable and safe to share.
type Maps struct {
	byName map[string]int
	list   []*compiledMap
	// sets are the variables auth_request_set and set assign, by name: a
	// slot each, whose value the request carries (Request.Set); slots
	// says what each reads before it is assigned.
	sets  map[string]int
	slots []setSlot
}

// setSlot is one variable of Maps.sets.
type setSlot struct {
	name string
	// rewrite: set defines it (and auth_request_set does not): before it
	// is set it reads "" and is reported (uninitialized_variable_warn),
	// or, named like a family ($http_NAME), reads the family's value.
	rewrite  bool
	fallback part // k == kLiteral: none
}

type compiledMap struct {
	source    *Value
	volatile  bool
	hostnames bool
	exact     map[string]*Value // lower-case keys
	head      []wildcard        // "*.example.com", ".example.com": longest suffix first
	tail      []wildcard        // "www.example.*": longest prefix first
	regex     []regexEntry      // in file order
	dflt      *Value
}

type wildcard struct {
	key string // ".example.com" (matching also "example.com" when dot is set) or "www.example."
	dot bool   // written ".example.com": the bare name matches too
	val *Value
}

type regexEntry struct {
	re    *regexp.Regexp
	val   *Value
	named []namedCapture // its named groups whose variable is in scope
}

// namedCapture is a regex group that sets a variable when the regex
// matches (nginx's named captures): its group number and the variable's
// slot in Request.Set.
type namedCapture struct{ group, slot int }

// MapError is a problem with one map: its index in the definitions, and
// which entry (-1 for the source, the default or the name).
type MapError struct {
	Map, Entry int
	Msg        string
}

func (e *MapError) Error() string { return e.Msg }

// CompileMaps compiles map blocks. Every map's variable is in scope in
// every other's source and values (nginx resolves variables after reading
// the whole http block).
func CompileMaps(defs []MapDef) (*Maps, error) {
	return CompileScope(defs, nil)
}

// CompileScope is CompileMaps with the variables that auth_request_set
// assigns (names with or without '$'; a name may repeat, one slot each
// name): in scope everywhere, as nginx adds them to the http block's
// variables, and numbered in the order given (SetIndex). A request that
// did not set one finds it not found ("-" in a log).
func CompileScope(defs []MapDef, sets []string) (*Maps, error) {
	return CompileVars(defs, sets, nil)
}

// CompileVars is CompileScope with the variables the rewrite module's set
// defines as well (rewriteSets, numbered after sets; a name of both is
// auth_request_set's): in scope everywhere too.
func CompileVars(defs []MapDef, sets, rewriteSets []string) (*Maps, error) {
	m := &Maps{byName: map[string]int{}}
	for i, n := range append(append([]string(nil), sets...), rewriteSets...) {
		name := strings.ToLower(strings.TrimPrefix(n, "$"))
		if _, ok := m.sets[name]; ok {
			continue
		}
		if _, ok := names[name]; ok || name == "" {
			return nil, fmt.Errorf("the duplicate %q variable", name)
		}
		if m.sets == nil {
			m.sets = map[string]int{}
		}
		m.sets[name] = len(m.sets)
		sl := setSlot{name: name, rewrite: i >= len(sets)}
		if sl.rewrite {
			sl.fallback, _ = prefixPart(name)
		}
		m.slots = append(m.slots, sl)
	}
	for i, d := range defs {
		name := strings.ToLower(strings.TrimPrefix(d.Variable, "$"))
		if _, ok := names[name]; ok || name == "" {
			return nil, &MapError{i, -1, fmt.Sprintf("the duplicate %q variable", name)}
		}
		if _, ok := m.byName[name]; ok {
			return nil, &MapError{i, -1, fmt.Sprintf("the duplicate %q variable", name)}
		}
		if _, ok := m.sets[name]; ok {
			return nil, &MapError{i, -1, fmt.Sprintf("the duplicate %q variable", name)}
		}
		m.byName[name] = i
		m.list = append(m.list, nil)
	}
	for i, d := range defs {
		cm, err := compileMap(d, m)
		if err != nil {
			err.Map = i
			return nil, err
		}
		m.list[i] = cm
	}
	return m, nil
}

func compileMap(d MapDef, m *Maps) (*compiledMap, *MapError) {
	cm := &compiledMap{hostnames: d.Hostnames, volatile: d.Volatile, exact: map[string]*Value{}}
	var err error
	if cm.source, err = Compile(d.Source, m); err != nil {
		return nil, &MapError{Entry: -1, Msg: err.Error()}
	}
	if cm.dflt, err = Compile(d.Default, m); err != nil {
		return nil, &MapError{Entry: -1, Msg: err.Error()}
	}
	for j, e := range d.Entries {
		fail := func(format string, a ...any) *MapError {
			return &MapError{Entry: j, Msg: fmt.Sprintf(format, a...)}
		}
		key := e.Key
		if re, ok := strings.CutPrefix(key, "~"); ok {
			if rest, ok := strings.CutPrefix(re, "*"); ok {
				re = "(?i)" + rest
			}
			r, err := regexp.Compile(re)
			if err != nil {
				return nil, fail("invalid regular expression %q in map: %v", key, err)
			}
			v, err := compile(e.Value, m, true)
			if err != nil {
				return nil, fail("%v", err)
			}
			re := regexEntry{re: r, val: v}
			for g, name := range r.SubexpNames() {
				if slot, ok := m.SetIndex(name); ok && name != "" {
					re.named = append(re.named, namedCapture{g, slot})
				}
			}
			cm.regex = append(cm.regex, re)
			continue
		}
		key = strings.TrimPrefix(key, `\`) // "\~" is a literal "~"
		v, err := Compile(e.Value, m)
		if err != nil {
			return nil, fail("%v", err)
		}
		lk := strings.ToLower(key)
		if d.Hostnames && strings.HasSuffix(lk, ".") && len(lk) > 1 && !strings.HasSuffix(lk, ".*") {
			lk = lk[:len(lk)-1]
		}
		switch {
		case d.Hostnames && strings.HasPrefix(lk, "*."):
			cm.head = append(cm.head, wildcard{key: lk[1:], val: v})
		case d.Hostnames && strings.HasPrefix(lk, ".") && len(lk) > 1:
			cm.head = append(cm.head, wildcard{key: lk, dot: true, val: v})
		case d.Hostnames && strings.HasSuffix(lk, ".*"):
			cm.tail = append(cm.tail, wildcard{key: lk[:len(lk)-1], val: v})
		default:
			if _, dup := cm.exact[lk]; dup {
				return nil, fail("duplicate map entry %q", key)
			}
			cm.exact[lk] = v
		}
	}
	// nginx's wildcard hashes find the longest match.
	longestFirst := func(w []wildcard) {
		for i := 1; i < len(w); i++ {
			for j := i; j > 0 && len(w[j].key) > len(w[j-1].key); j-- {
				w[j], w[j-1] = w[j-1], w[j]
			}
		}
	}
	longestFirst(cm.head)
	longestFirst(cm.tail)
	return cm, nil
}

func (m *Maps) index(name string) (int, bool) {
	if m == nil {
		return 0, false
	}
	i, ok := m.byName[name]
	return i, ok
}

// SetIndex is the slot of an auth_request_set or set variable (name with
// or without '$'), false when the scope has no such variable.
func (m *Maps) SetIndex(name string) (int, bool) {
	if m == nil {
		return 0, false
	}
	i, ok := m.sets[strings.ToLower(strings.TrimPrefix(name, "$"))]
	return i, ok
}

func (m *Maps) slot(i int) *setSlot {
	if m == nil || i >= len(m.slots) {
		return nil
	}
	return &m.slots[i]
}

// Sets is the number of auth_request_set and set variables in scope.
func (m *Maps) Sets() int {
	if m == nil {
		return 0
	}
	return len(m.sets)
}

// Len is the number of maps.
func (m *Maps) Len() int {
	if m == nil {
		return 0
	}
	return len(m.list)
}

// appendMap appends the value of the i-th map for x: the one the request
// keeps (Request.MapCache) once it has evaluated it, unless the map is
// volatile.
func (m *Maps) appendMap(dst []byte, i int, x Exchange, depth int) []byte {
	cm := m.list[i]
	if cm.volatile {
		return cm.append(dst, x, depth)
	}
	r := x.Request()
	if r == nil || i >= len(r.MapCache) {
		return cm.append(dst, x, depth)
	}
	if c := r.MapCache[i]; c != nil {
		return append(dst, c...)
	}
	start := len(dst)
	dst = cm.append(dst, x, depth)
	r.MapCache[i] = append(make([]byte, 0, len(dst)-start), dst[start:]...) // not nil: evaluated, maybe to ""
	return dst
}

// append appends the map's value for x: the source's value matched
// exactly (case-insensitively), then against the hostnames wildcards, then
// against the regular expressions in order, else the default. The source
// and its lower-case copy are worked out at the end of dst, which the value
// then replaces: no scratch buffer of its own.
func (cm *compiledMap) append(dst []byte, x Exchange, depth int) []byte {
	start := len(dst)
	dst = cm.source.append(dst, x, nil, nil, depth)
	src := dst[start:]
	key := src
	if cm.hostnames && len(key) > 0 && key[len(key)-1] == '.' {
		key = key[:len(key)-1]
	}
	mid := len(dst)
	dst = appendLower(dst, key)
	src, lk := dst[start:mid], dst[mid:]
	v, caps := cm.find(src, lk)
	if caps != nil && len(caps.named) > 0 {
		caps.set(x.Request())
	}
	return v.append(dst[:start], x, nil, caps, depth)
}

func (cm *compiledMap) find(src, lk []byte) (*Value, *captures) {
	if v, ok := cm.exact[string(lk)]; ok {
		return v, nil
	}
	if cm.hostnames {
		for i := range cm.head {
			w := &cm.head[i]
			if len(lk) > len(w.key) && string(lk[len(lk)-len(w.key):]) == w.key ||
				w.dot && string(lk) == w.key[1:] {
				return w.val, nil
			}
		}
		for i := range cm.tail {
			w := &cm.tail[i]
			if len(lk) > len(w.key) && string(lk[:len(w.key)]) == w.key {
				return w.val, nil
			}
		}
	}
	if len(cm.regex) > 0 {
		s := string(src) // the regexp keeps its input, and dst is overwritten
		for i := range cm.regex {
			r := &cm.regex[i]
			if loc := r.re.FindStringSubmatchIndex(s); loc != nil {
				return r.val, &captures{src: s, loc: loc, named: r.named}
			}
		}
	}
	return cm.dflt, nil
}

// captures are a regular expression's submatches, for $1..$9.
type captures struct {
	src   string
	loc   []int
	named []namedCapture
}

// set gives the named captures' variables their values in r (a group that
// did not take part sets "").
func (c *captures) set(r *Request) {
	for _, n := range c.named {
		if n.slot < len(r.Set) {
			r.Set[n.slot] = c.append([]byte{}, n.group)
		}
	}
}

func (c *captures) append(dst []byte, n int) []byte {
	if c == nil || 2*n+1 >= len(c.loc) || c.loc[2*n] < 0 {
		return dst
	}
	return append(dst, c.src[c.loc[2*n]:c.loc[2*n+1]]...)
}

func appendLower[T string | []byte](dst []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
