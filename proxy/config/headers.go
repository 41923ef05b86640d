package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Response headers (nginx's ngx_http_headers_module): add_header,
// add_trailer and expires, written in http, server and location.

// AddHeader is one add_header. Value may contain nginx variables; a value
// that is empty once computed adds nothing. Always adds it whatever the
// status (nginx: only 200, 201, 204, 206, 301, 302, 303, 304, 307, 308).
type AddHeader struct {
	Name   string
	Value  string
	Always bool
}

// ExpiresKind is the form of an expires directive.
type ExpiresKind uint8

const (
	ExpiresOff      ExpiresKind = iota // expires off (the default): headers untouched
	ExpiresEpoch                       // expires epoch
	ExpiresMax                         // expires max
	ExpiresAccess                      // expires [-]TIME: from the time of the response
	ExpiresModified                    // expires modified [-]TIME: from Last-Modified
	ExpiresDaily                       // expires @TIME: the next such time of day
)

// Expires is the expires directive: Kind and, for the timed forms, Time
// (negative allowed; for ExpiresDaily the time of day). Value is an
// argument with variables (nginx's expires_value), read per response by
// ParseExpiresValue with Kind ExpiresAccess, or ExpiresModified for
// "modified $var".
type Expires struct {
	Kind  ExpiresKind
	Time  time.Duration
	Value string
}

// ResponseHeaders is what the headers module does at one level.
type ResponseHeaders struct {
	Add     []AddHeader // in file order; a level with any add_header replaces the inherited list
	Expires Expires
	// Trailers is add_trailer, in file order (inherited like add_header):
	// sent after a chunked body; an HTTP/1.1 answer that has one is sent
	// chunked.
	Trailers []AddHeader
}

// Empty reports whether the level changes no response header.
func (r *ResponseHeaders) Empty() bool {
	return len(r.Add) == 0 && r.Expires.Kind == ExpiresOff && len(r.Trailers) == 0
}

// headerDirectives are the headers module's directives (http, server,
// location).
type headerDirectives struct {
	AddHeader  *opt[[]AddHeader] `mapstructure:"add_header"`
	Expires    *opt[Expires]     `mapstructure:"expires"`
	AddTrailer *opt[[]AddHeader] `mapstructure:"add_trailer"`
}

func (d *headerDirectives) inherit(p *headerDirectives) {
	merge(&d.AddHeader, p.AddHeader)
	merge(&d.Expires, p.Expires)
	merge(&d.AddTrailer, p.AddTrailer)
}

func (d *headerDirectives) resolve() ResponseHeaders {
	return ResponseHeaders{Add: d.AddHeader.or(nil), Expires: d.Expires.or(Expires{}), Trailers: d.AddTrailer.or(nil)}
}

func (d *headerDirectives) check(p *problems) {
	if e := d.Expires.or(Expires{}); e.Value != "" {
		p.checkVariables(d.Expires.at(), "expires", e.Value)
	}
	for _, o := range []*opt[[]AddHeader]{d.AddHeader, d.AddTrailer} {
		for i, h := range o.or(nil) {
			key := o.at()
			if n := nodeAt(p.doc, key); n != nil && n.Kind == yaml.SequenceNode {
				key = fmt.Sprintf("%s[%d]", key, i)
			}
			p.checkVariables(key, directiveOf(o.at())+" "+h.Name, h.Value)
			if o == d.AddTrailer && badTrailer(h.Name) {
				p.add(key, "add_trailer %q: spillway's HTTP library does not send this header as a trailer", h.Name)
			}
		}
	}
}

// badTrailer lists the names fasthttp (v1.78's isBadTrailer) refuses to
// send as trailers: framing, routing, authentication, content description.
func badTrailer(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "content-encoding", "content-length", "content-type", "content-range", "connection", "cookie",
		"expect", "host", "keep-alive", "location", "max-forwards", "proxy-authenticate", "proxy-authorization",
		"proxy-connection", "range", "set-cookie", "te", "trailer", "transfer-encoding", "www-authenticate":
		return true
	}
	return strings.HasPrefix(n, "x-forwarded") || strings.HasPrefix(n, "x-real-ip")
}

// addHeadersFrom decodes add_header: nginx's "Name value [always]" string,
// a mapping {name: N, value: V, always: true} (for a value that itself ends
// in the word always), or a list of either.
func addHeadersFrom(in any) ([]AddHeader, error) {
	list, ok := in.([]any)
	if !ok {
		list = []any{in}
	}
	out := make([]AddHeader, 0, len(list))
	for _, e := range list {
		var h AddHeader
		switch e := e.(type) {
		case string:
			var err error
			if h, err = ParseAddHeader(e); err != nil {
				return nil, err
			}
		case map[string]any:
			err := mappingForm(e, map[string]func(any) error{
				"name":   func(v any) (err error) { h.Name, err = stringFrom(v); return },
				"value":  func(v any) (err error) { h.Value, err = stringFrom(v); return },
				"always": func(v any) (err error) { h.Always, err = flagFrom(v); return },
			}, "name", "value")
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf(`expected "Name value [always]" entries, got %s`, kindOf(e))
		}
		if !validHeaderName(h.Name) {
			return nil, fmt.Errorf("invalid header name %q", h.Name)
		}
		out = append(out, h)
	}
	return out, nil
}

// ParseAddHeader reads one add_header written as a string: the name, the
// value (the rest, trimmed; "" or ” for empty) and a last word "always".
func ParseAddHeader(s string) (AddHeader, error) {
	s = strings.TrimSpace(s)
	name, rest, _ := strings.Cut(s, " ")
	h := AddHeader{Name: name}
	rest = strings.TrimSpace(rest)
	if v, ok := strings.CutSuffix(rest, " always"); ok {
		rest, h.Always = strings.TrimSpace(v), true
	}
	if rest == `""` || rest == `''` {
		rest = ""
	}
	h.Value = rest
	if name == "" {
		return h, fmt.Errorf(`invalid number of arguments in "add_header" directive`)
	}
	return h, nil
}

// expiresFrom decodes expires: nginx's argument string, or one or two words.
func expiresFrom(in any) (Expires, error) {
	switch v := in.(type) {
	case bool: // YAML 1.1's off
		if !v {
			return Expires{}, nil
		}
	case int, int64, float64: // seconds: expires: 3600, expires: -1
		in = fmt.Sprint(v)
	}
	s, err := stringFrom(in)
	if err != nil {
		return Expires{}, err
	}
	return ParseExpires(strings.Fields(s))
}

// ParseExpires reads expires's arguments as nginx does
// (ngx_http_headers_expires): off, epoch, max, [modified] [-]TIME, @TIME,
// or an argument with variables, kept in Value.
func ParseExpires(args []string) (Expires, error) {
	modified := false
	switch {
	case len(args) == 2 && args[0] == "modified":
		modified = true
		args = args[1:]
	case len(args) != 1:
		return Expires{}, fmt.Errorf(`invalid number of arguments in "expires" directive`)
	}
	if strings.Contains(args[0], "$") {
		e := Expires{Kind: ExpiresAccess, Value: args[0]}
		if modified {
			e.Kind = ExpiresModified
		}
		return e, nil
	}
	e, err := ParseExpiresValue(modified, args[0])
	if err != nil {
		all := args[0]
		if modified {
			all = "modified " + all
		}
		return Expires{}, fmt.Errorf(`invalid value %q in "expires" directive`, all)
	}
	return e, nil
}

// ParseExpiresValue reads expires's time argument (after "modified" when
// modified is set) as nginx's ngx_http_parse_expires, which also reads an
// argument with variables once evaluated: an error leaves the response's
// headers alone.
func ParseExpiresValue(modified bool, v string) (Expires, error) {
	bad := func() (Expires, error) {
		return Expires{}, fmt.Errorf("invalid value %q", v)
	}
	var e Expires
	if modified {
		e.Kind = ExpiresModified
	}
	switch {
	case e.Kind == ExpiresModified:
	case v == "off":
		return Expires{}, nil
	case v == "epoch":
		return Expires{Kind: ExpiresEpoch}, nil
	case v == "max":
		return Expires{Kind: ExpiresMax}, nil
	default:
		e.Kind = ExpiresAccess
	}
	if t, ok := strings.CutPrefix(v, "@"); ok {
		if e.Kind == ExpiresModified {
			return bad() // nginx: daily time and "modified" do not mix
		}
		d, err := ParseDuration(t)
		if err != nil || d >= 24*time.Hour {
			return bad()
		}
		return Expires{Kind: ExpiresDaily, Time: d}, nil
	}
	neg := false
	if t, ok := strings.CutPrefix(v, "-"); ok {
		neg, v = true, t
	} else if t, ok := strings.CutPrefix(v, "+"); ok {
		v = t
	}
	d, err := ParseDuration(v)
	if err != nil {
		return bad()
	}
	if neg {
		d = -d
	}
	e.Time = d
	return e, nil
}
