package config

import (
	"fmt"
	"math"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/charset"
	"spillway/proxy/vars"
)

// This file decodes directive values from what viper hands over: YAML
// scalars (string, int, float64, bool), lists ([]any) and mappings
// (map[string]any, keys lower-cased by viper), or the string of an
// environment variable. Every directive accepts its nginx argument string
// ("8 4k", "error timeout", "Host $host"), so that environment overrides work
// for all of them.

// UnmarshalMapstructure decodes one directive value; mapstructure calls it
// for every *opt field present in the input.
func (o *opt[T]) UnmarshalMapstructure(in any) error {
	var err error
	switch p := any(&o.v).(type) {
	case *size:
		*p, err = sizeFrom(in)
	case *SizeValue:
		*p, err = sizeValueFrom(in) // limitrate.go
	case *time.Duration:
		*p, err = durationFrom(in)
	case *int:
		*p, err = countFrom(in)
	case *bool:
		*p, err = flagFrom(in)
	case *string:
		*p, err = stringFrom(in)
	case *httpVersion:
		*p, err = httpVersionFrom(in)
	case *proxyHTTPVersion:
		*p, err = proxyHTTPVersionFrom(in)
	case *ifModifiedSince:
		*p, err = ifModifiedSinceFrom(in)
	case *percent:
		*p, err = percentFrom(in)
	case *checkType:
		*p, err = checkTypeFrom(in)
	case *[]StatusRange:
		*p, err = statusRangesFrom(in)
	case *words:
		*p, err = wordsFrom(in)
	case *serverNames:
		*p, err = serverNamesFrom(in) // servername.go
	case *listenAddrs:
		*p, err = listenFrom(in)
	case *paths:
		*p, err = pathsFrom(in)
	case *[]Header:
		*p, err = headersFrom(in)
	case *mimeTypes:
		*p, err = mimeTypesFrom(in) // static.go
	case *[]AccessRule:
		*p, err = accessRulesFrom(in)
	case *[]AuthRequestSet:
		*p, err = authRequestSetsFrom(in) // authrequest.go
	case *satisfy:
		*p, err = satisfyFrom(in)
	case *[]LimitReq:
		*p, err = limitReqFrom(in)
	case *[]LimitReqZone:
		*p, err = limitReqZonesFrom(in)
	case *[]LimitConn:
		*p, err = limitConnFrom(in)
	case *[]AddHeader:
		*p, err = addHeadersFrom(in)
	case *Expires:
		*p, err = expiresFrom(in)
	case *[]LimitConnZone:
		*p, err = limitConnZonesFrom(in)
	case *Buffers:
		*p, err = buffersFrom(in)
	case *keepaliveTimeout:
		*p, err = keepaliveTimeoutFrom(in) // keepalive.go
	case *GzipStatic:
		*p, err = gzipStaticFrom(in) // gzip.go
	case *NextUpstream:
		*p, err = nextUpstreamFrom(in)
	case *Level:
		*p, err = levelFrom(in)
	case *[]ErrorLog:
		*p, err = errorLogsFrom(in)
	case *[]AccessLog:
		*p, err = accessLogsFrom(in)
	case *[]vars.MapDef:
		*p, err = mapsFrom(in)
	case *[]charset.MapDef:
		*p, err = charsetMapsFrom(in) // charset.go
	case *Return:
		*p, err = returnFrom(in) // rewrite.go
	case *[]Stmt:
		*p, err = scriptFrom(in) // rewrite.go
	case *[]ErrorPage:
		*p, err = errorPagesFrom(in) // errorpage.go
	case *[]rewriteRule:
		*p, err = rewriteRulesFrom(in) // upstreamheaders.go
	case *[]cookieFlagsRule:
		*p, err = cookieFlagsFrom(in) // upstreamheaders.go
	default:
		// A raw struct uses a type this switch lacks: a bug, found by the tests.
		err = fmt.Errorf("internal error: no decoder for %T", o.v)
	}
	if err != nil {
		return &valueError{err}
	}
	return nil
}

// valueError marks an error as coming from a directive's value (as opposed
// to mapstructure's own shape errors), so the message gets the directive's
// name: `"proxy_buffer_size" directive invalid value "8q" ...`.
type valueError struct{ err error }

func (e *valueError) Error() string { return e.err.Error() }
func (e *valueError) Unwrap() error { return e.err }

// unknownKeysError reports keys of a directive written as a mapping
// (proxy_buffers: {number: 8, size: 4k}) that the directive does not have.
type unknownKeysError struct{ keys []string }

func (e *unknownKeysError) Error() string {
	return "unknown keys " + strings.Join(e.keys, ", ")
}

// subKeyError is an error about one key of a directive written as a mapping;
// the key is appended to the directive's key path.
type subKeyError struct {
	key string
	err error
}

func (e *subKeyError) Error() string { return e.key + ": " + e.err.Error() }
func (e *subKeyError) Unwrap() error { return e.err }

// mappingForm decodes a directive written as a mapping: each key must have a
// setter in set, and the keys in required must be present.
func mappingForm(m map[string]any, set map[string]func(any) error, required ...string) error {
	var unknown []string
	for k := range m {
		if set[k] == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &unknownKeysError{unknown}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := set[k](m[k]); err != nil {
			return &subKeyError{k, err}
		}
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("needs %q as well", k)
		}
	}
	return nil
}

// kindOf names the YAML kind of a decoded value, for messages.
func kindOf(in any) string {
	switch in.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	if _, ok := wholeNumber(in); ok {
		return "a number"
	}
	if _, ok := in.(float64); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", in)
}

// badValue is the error for a value that is not what the directive takes:
// `invalid value "8q": want a size ...`, or `expected a size ..., got a list`.
func badValue(in any, want string) error {
	if !isScalar(in) {
		return fmt.Errorf("expected %s, got %s", want, kindOf(in))
	}
	return fmt.Errorf("invalid value %s: want %s", show(in), want)
}

// isScalar reports whether a decoded value is a single YAML value.
func isScalar(in any) bool {
	switch in.(type) {
	case []any, map[string]any, map[any]any, nil:
		return false
	}
	return true
}

// show writes a scalar the way it was probably written, for messages.
func show(in any) string {
	switch x := in.(type) {
	case string:
		return strconv.Quote(x)
	case bool, int, int64, uint64, float64:
		return strconv.Quote(fmt.Sprint(x))
	}
	return kindOf(in)
}

// wholeNumber returns a YAML number as an int64 if it is a whole number.
func wholeNumber(in any) (int64, bool) {
	switch x := in.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// sizeFrom decodes a size: nginx units, or a whole number of bytes.
func sizeFrom(in any) (int64, error) {
	if s, ok := in.(string); ok {
		return ParseSize(s)
	}
	if n, ok := wholeNumber(in); ok && n >= 0 {
		return n, nil
	}
	return 0, badValue(in, "a size like 512, 8k, 1m or 1g")
}

// durationFrom decodes a time: nginx units, or a whole number of seconds
// (not nanoseconds, as mapstructure's time.Duration decoding would have it).
func durationFrom(in any) (time.Duration, error) {
	if s, ok := in.(string); ok {
		return ParseDuration(s)
	}
	n, ok := wholeNumber(in)
	if !ok || n < 0 {
		return 0, badValue(in, "a time like 500ms, 30s, 5m, 1h or 1d; a bare number is seconds")
	}
	if n > math.MaxInt64/int64(time.Second) {
		return 0, fmt.Errorf("invalid value %s: too large", show(in))
	}
	return time.Duration(n) * time.Second, nil
}

// countFrom decodes a non-negative whole number.
func countFrom(in any) (int, error) {
	n, ok := wholeNumber(in)
	if s, isString := in.(string); isString {
		n, ok = parseDigits(s)
	}
	if !ok || n < 0 || n > math.MaxInt32 {
		if !isScalar(in) {
			return 0, fmt.Errorf("expected a number, got %s", kindOf(in))
		}
		return 0, fmt.Errorf("invalid number %s", show(in))
	}
	return int(n), nil
}

// flagFrom decodes a YAML boolean or nginx's "on"/"off".
func flagFrom(in any) (bool, error) {
	switch x := in.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "on", "true":
			return true, nil
		case "off", "false":
			return false, nil
		}
	}
	if !isScalar(in) {
		return false, fmt.Errorf(`expected "on" or "off", got %s`, kindOf(in))
	}
	return false, fmt.Errorf(`invalid value %s, it must be "on" or "off"`, show(in))
}

// stringFrom decodes a string (a path, an address, a URL).
func stringFrom(in any) (string, error) {
	if s, ok := in.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("expected a string, got %s", kindOf(in))
}

// httpVersionFrom decodes "1.0" or "1.1"; an unquoted 1.1 is a YAML float.
func httpVersionFrom(in any) (httpVersion, error) {
	switch x := in.(type) {
	case string:
		if x == "1.0" || x == "1.1" {
			return httpVersion(x), nil
		}
	case float64:
		if x == 1.0 {
			return "1.0", nil
		}
		if x == 1.1 {
			return "1.1", nil
		}
	}
	if !isScalar(in) {
		return "", fmt.Errorf(`expected "1.0" or "1.1", got %s`, kindOf(in))
	}
	return "", fmt.Errorf(`invalid value %s, it must be "1.0" or "1.1"`, show(in))
}

// ifModifiedSinceFrom decodes if_modified_since: "off" (a YAML false
// too), "exact" or "before".
func ifModifiedSinceFrom(in any) (ifModifiedSince, error) {
	if b, ok := in.(bool); ok && !b {
		return "off", nil
	}
	if s, ok := in.(string); ok && (s == "off" || s == "exact" || s == "before") {
		return ifModifiedSince(s), nil
	}
	if !isScalar(in) {
		return "", fmt.Errorf(`expected "off", "exact" or "before", got %s`, kindOf(in))
	}
	return "", fmt.Errorf(`invalid value %s, it must be "off", "exact" or "before"`, show(in))
}

// proxyHTTPVersionFrom decodes proxy_http_version: httpVersionFrom's
// values and nginx 1.29's 2 (HTTP/2 to the upstream), written "2" or
// "2.0" (a YAML int or float too), as "2.0".
func proxyHTTPVersionFrom(in any) (proxyHTTPVersion, error) {
	if s, ok := in.(string); ok && (s == "2" || s == "2.0") {
		return "2.0", nil
	}
	if n, ok := wholeNumber(in); ok && n == 2 {
		return "2.0", nil
	}
	v, err := httpVersionFrom(in)
	if err != nil {
		if !isScalar(in) {
			return "", fmt.Errorf(`expected "1.0", "1.1" or "2", got %s`, kindOf(in))
		}
		return "", fmt.Errorf(`invalid value %s, it must be "1.0", "1.1" or "2"`, show(in))
	}
	return proxyHTTPVersion(v), nil
}

// percentFrom decodes a percentage, "20%" (0 to 100, fractions allowed:
// "12.5%"), as a fraction (0.2), or "off" (also a YAML false) as 0. A bare
// number is refused: 20 and 0.2 would both be plausible readings.
func percentFrom(in any) (percent, error) {
	const want = `a percentage like "20%" (0% to 100%), or off`
	switch x := in.(type) {
	case bool:
		if !x {
			return 0, nil
		}
	case string:
		s := strings.TrimSpace(x)
		if strings.EqualFold(s, "off") {
			return 0, nil
		}
		digits, ok := strings.CutSuffix(s, "%")
		if !ok || digits == "" || strings.ContainsAny(digits, "+-eEx_ \t") {
			break
		}
		f, err := strconv.ParseFloat(digits, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
			break
		}
		return percent(f / 100), nil
	}
	return 0, badValue(in, want)
}

// checkTypeFrom decodes a health_check type: tcp or http.
func checkTypeFrom(in any) (HealthCheckType, error) {
	if s, ok := in.(string); ok {
		switch t := HealthCheckType(strings.ToLower(strings.TrimSpace(s))); t {
		case HealthCheckHTTP, HealthCheckTCP:
			return t, nil
		}
	}
	if !isScalar(in) {
		return "", fmt.Errorf(`expected "tcp" or "http", got %s`, kindOf(in))
	}
	return "", fmt.Errorf(`invalid value %s, it must be "tcp" or "http"`, show(in))
}

// statusRangesFrom decodes health_check status: words or a list of them,
// each a code (200) or an inclusive range (200-399), from 100 to 599.
func statusRangesFrom(in any) ([]StatusRange, error) {
	if n, ok := wholeNumber(in); ok {
		in = strconv.FormatInt(n, 10) // status: 200
	}
	ws, err := wordsFrom(in)
	if err != nil {
		return nil, err
	}
	rs := make([]StatusRange, 0, len(ws))
	for _, w := range ws {
		lo, hi, isRange := strings.Cut(w, "-")
		if !isRange {
			hi = lo
		}
		a, okA := parseDigits(lo)
		b, okB := parseDigits(hi)
		if !okA || !okB || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf(`invalid value %q: want a status code like 200 or a range like 200-399, from 100 to 599`, w)
		}
		rs = append(rs, StatusRange{Lo: int(a), Hi: int(b)})
	}
	return rs, nil
}

// wordsFrom decodes nginx words: "a b c", or a list whose entries are words.
func wordsFrom(in any) ([]string, error) {
	var ws []string
	switch x := in.(type) {
	case string:
		ws = strings.Fields(x)
	case []any:
		for _, e := range x {
			switch e := e.(type) {
			case string:
				ws = append(ws, strings.Fields(e)...)
			default:
				n, ok := wholeNumber(e)
				if !ok {
					return nil, fmt.Errorf("expected words, got %s in the list", kindOf(e))
				}
				ws = append(ws, strconv.FormatInt(n, 10))
			}
		}
	default:
		return nil, fmt.Errorf("expected words or a list of words, got %s", kindOf(in))
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("invalid number of arguments (none given)")
	}
	return ws, nil
}

// listenFrom decodes listen: one address, or a list of them. Addresses are
// checked and normalised by resolve.
func listenFrom(in any) (listenAddrs, error) {
	one := func(e any) (string, error) {
		if s, ok := e.(string); ok {
			return s, nil
		}
		if n, ok := wholeNumber(e); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf(`expected an address like "127.0.0.1:8080", ":8080" or "8080", got %s`, kindOf(e))
	}
	list, ok := in.([]any)
	if !ok {
		a, err := one(in)
		return listenAddrs{a}, err
	}
	addrs := make(listenAddrs, 0, len(list))
	for _, e := range list {
		a, err := one(e)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("invalid number of arguments (none given)")
	}
	return addrs, nil
}

// pairList gives a directive written as a list of entries, one string, or
// a mapping as a list: a mapping's keys become one-key mappings, sorted
// (Go maps have no order). It is false for any other kind.
func pairList(in any) ([]any, bool) {
	switch x := in.(type) {
	case []any:
		return x, true
	case string:
		return []any{x}, true
	case map[string]any:
		names := make([]string, 0, len(x))
		for name := range x {
			names = append(names, name)
		}
		slices.Sort(names)
		list := make([]any, 0, len(names))
		for _, name := range names {
			list = append(list, map[string]any{name: x[name]})
		}
		return list, true
	}
	return nil, false
}

// headersFrom decodes proxy_set_header: a mapping ({Host: $host}), or a list
// whose entries are nginx's "Name value" strings or one-key mappings ("Name:
// value"). Names from mappings reach us lower-cased by viper; they are put in
// canonical form here (x-real-ip → X-Real-Ip) and in the case written, and
// the file's order, by headersAsWritten. An empty value removes the header.
func headersFrom(in any) ([]Header, error) {
	// {Host: $host, Connection: ""}: one header per key. viper has
	// lower-cased the names and Go maps have no order; LoadBytes restores
	// both from the YAML tree (headersAsWritten).
	list, ok := pairList(in)
	if !ok {
		return nil, fmt.Errorf(`expected a mapping like {Host: $host}, or a list like ["Host $host"], got %s`, kindOf(in))
	}
	hs := make([]Header, 0, len(list))
	for _, e := range list {
		var h Header
		switch e := e.(type) {
		case string:
			e = strings.TrimSpace(e)
			name, value := e, ""
			if i := strings.IndexAny(e, " \t"); i >= 0 {
				name, value = e[:i], strings.TrimSpace(e[i:])
			}
			h = Header{Name: name, Value: value}
			if h.Value == `""` || h.Value == `''` {
				h.Value = "" // nginx's proxy_set_header Name ""; removes the header
			}
		case map[string]any:
			if len(e) != 1 {
				return nil, fmt.Errorf(`each entry must set one header, like "Name: value"; got %d in one entry`, len(e))
			}
			for name, v := range e {
				value := ""
				if v != nil {
					s, ok := v.(string)
					if !ok {
						s = strings.Trim(show(v), `"`)
					}
					value = s
				}
				h = Header{Name: textproto.CanonicalMIMEHeaderKey(name), Value: value}
			}
		default:
			return nil, fmt.Errorf(`expected "Name value" or "Name: value" entries, got %s`, kindOf(e))
		}
		if !validHeaderName(h.Name) {
			return nil, fmt.Errorf("invalid header name %q", h.Name)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// buffersFrom decodes nginx's "number size" ("8 4k") or {number: 8, size: 4k}.
func buffersFrom(in any) (Buffers, error) {
	var b Buffers
	switch x := in.(type) {
	case string:
		f := strings.Fields(x)
		if len(f) != 2 {
			return b, fmt.Errorf(`invalid value %q: want "number size", like "8 4k"`, x)
		}
		n, ok := parseDigits(f[0])
		if !ok || n > math.MaxInt32 {
			return b, fmt.Errorf(`invalid value %q: want "number size", like "8 4k"`, x)
		}
		s, err := ParseSize(f[1])
		if err != nil {
			return b, err
		}
		b = Buffers{N: int(n), Size: s}
	case map[string]any:
		err := mappingForm(x, map[string]func(any) error{
			"number": func(v any) (err error) { b.N, err = countFrom(v); return err },
			"size":   func(v any) (err error) { b.Size, err = sizeFrom(v); return err },
		}, "number", "size")
		if err != nil {
			return b, err
		}
	default:
		return b, fmt.Errorf(`expected "number size" like "8 4k" or {number: 8, size: 4k}, got %s`, kindOf(in))
	}
	if b.N == 0 || b.Size == 0 {
		return b, fmt.Errorf(`invalid value "%d %s": number and size must be greater than 0`, b.N, formatSize(b.Size))
	}
	return b, nil
}

// nextUpstreamFrom decodes proxy_next_upstream: words or a list of words.
func nextUpstreamFrom(in any) (NextUpstream, error) {
	ws, err := wordsFrom(in)
	if err != nil {
		return 0, err
	}
	return ParseNextUpstream(ws)
}

// levelFrom decodes an error-log level.
func levelFrom(in any) (Level, error) {
	s, ok := in.(string)
	if !ok {
		return 0, fmt.Errorf("expected a log level like warn, got %s", kindOf(in))
	}
	return ParseLevel(s)
}

// errorLogsFrom decodes error_log: one log, or a list of them (nginx's
// several error_log directives, each with its own file and level).
func errorLogsFrom(in any) ([]ErrorLog, error) {
	list, ok := in.([]any)
	if !ok {
		l, err := errorLogFrom(in)
		return []ErrorLog{l}, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("an empty list: want one or more logs, like [logs/error.log, logs/notice.log notice]")
	}
	out := make([]ErrorLog, len(list))
	for i, v := range list {
		l, err := errorLogFrom(v)
		if err != nil {
			return nil, fmt.Errorf("log %d: %w", i+1, err)
		}
		out[i] = l
	}
	return out, nil
}

// errorLogFrom decodes one error log: nginx's "path [level]" or {path, level}.
// Missing parts are left zero and defaulted by resolve.
func errorLogFrom(in any) (ErrorLog, error) {
	l := ErrorLog{Level: -1}
	switch x := in.(type) {
	case string:
		f := strings.Fields(x)
		if len(f) == 0 || len(f) > 2 {
			return l, fmt.Errorf(`invalid value %q: want "path [level]", like "logs/error.log warn"`, x)
		}
		l.Path = f[0]
		if len(f) == 2 {
			lv, err := ParseLevel(f[1])
			if err != nil {
				return l, err
			}
			l.Level = lv
		}
	case map[string]any:
		err := mappingForm(x, map[string]func(any) error{
			"path":  func(v any) (err error) { l.Path, err = stringFrom(v); return err },
			"level": func(v any) (err error) { l.Level, err = levelFrom(v); return err },
		})
		if err != nil {
			return l, err
		}
	default:
		return l, fmt.Errorf(`expected "path level" or {path: ..., level: ...}, got %s`, kindOf(in))
	}
	return l, nil
}

// accessLogsFrom decodes access_log: one log, or a list of them (nginx's
// several access_log directives at one level).
func accessLogsFrom(in any) ([]AccessLog, error) {
	list, ok := in.([]any)
	if !ok {
		l, err := accessLogFrom(in)
		return []AccessLog{l}, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("an empty list: want off, or one or more logs, like [logs/access.log, logs/json.log]")
	}
	out := make([]AccessLog, len(list))
	for i, v := range list {
		l, err := accessLogFrom(v)
		if err != nil {
			return nil, fmt.Errorf("log %d: %w", i+1, err)
		}
		out[i] = l
	}
	return out, nil
}

// accessLogFrom decodes access_log: off, nginx's "path [format]", or
// {path, format}. As in nginx, the path "off" turns the log off.
func accessLogFrom(in any) (AccessLog, error) {
	var l AccessLog
	switch x := in.(type) {
	case bool:
		if x {
			return l, fmt.Errorf(`invalid value "true": want off, a path, or {path: ..., format: ...}`)
		}
		l.Off = true
	case string:
		f := strings.Fields(x)
		if len(f) == 0 {
			return l, fmt.Errorf(`invalid value "": want off, a path, or "path format"`)
		}
		l.Path = f[0]
		l.Format = strings.TrimSpace(strings.TrimSpace(x)[len(f[0]):])
	case map[string]any:
		err := mappingForm(x, map[string]func(any) error{
			"path":   func(v any) (err error) { l.Path, err = stringFrom(v); return err },
			"format": func(v any) (err error) { l.Format, err = stringFrom(v); return err },
			"escape": func(v any) (err error) {
				if l.Escape, err = stringFrom(v); err == nil && l.Escape != "default" && l.Escape != "json" && l.Escape != "none" {
					err = fmt.Errorf("unknown log format escaping %q: want default, json or none", l.Escape)
				}
				return err
			},
			"buffer": func(v any) (err error) { l.Buffer, err = sizeFrom(v); return err },
			"flush":  func(v any) (err error) { l.Flush, err = durationFrom(v); return err },
			"if": func(v any) (err error) {
				if l.If, err = stringFrom(v); err == nil && l.If == "" {
					err = fmt.Errorf(`empty "if": want a variable, like $loggable`)
				}
				return err
			},
		})
		if err != nil {
			return l, err
		}
	default:
		return l, fmt.Errorf(`expected off, "path [format]" or {path: ..., format: ...}, got %s`, kindOf(in))
	}
	if l.Path == "off" {
		l = AccessLog{Off: true}
	}
	return l, nil
}
