package accesslog

import (
	"errors"
	"fmt"
	"slices"

	"spillway/proxy/vars"
)

// Combined is nginx's predefined "combined" format (ngx_http_combined_fmt).
const Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// Format is a compiled log_format string. It is immutable and safe to share
// between Logs and goroutines.
type Format struct {
	src string
	v   *vars.Value
	esc vars.Escape // log_format's escape=: default, json or none
}

// Compile parses a log_format string with proxy/vars: literal text with
// $name or ${name} variables, every variable spillway knows (docs/config.md)
// and the map variables of maps (nil for none). "combined" stands for
// nginx's combined format. Errors use nginx's wording: `unknown "foo"
// variable`.
func Compile(format string, maps *vars.Maps) (*Format, error) {
	return CompileEscape(format, "default", maps)
}

// CompileEscape is Compile with log_format's escape= mode: "default"
// (\xHH, "-" for a value not found), "json" (JSON string escapes) or
// "none" (bytes as they are); with json and none a value not found is
// empty (nginx 1.22, measured).
func CompileEscape(format, mode string, maps *vars.Maps) (*Format, error) {
	var esc vars.Escape
	switch mode {
	case "default", "":
		esc = escape
	case "json":
		esc = escapeJSON
	case "none":
		esc = escapeNone
	default:
		return nil, fmt.Errorf("unknown log format escaping %q", mode)
	}
	src := format
	if format == "combined" {
		format = Combined
	}
	if format == "" {
		return nil, errors.New("empty log format")
	}
	v, err := vars.Compile(format, maps)
	if ne := (*vars.NameError)(nil); errors.As(err, &ne) {
		return nil, fmt.Errorf("invalid parameter %q", format) // log_format's wording
	}
	if err != nil {
		return nil, err
	}
	return &Format{src: src, v: v, esc: esc}, nil
}

// String returns the format as given to Compile.
func (f *Format) String() string { return f.src }

// appendLine appends x's line formatted by f, and "\n".
func (f *Format) appendLine(b []byte, x vars.Exchange) []byte {
	return append(f.v.AppendEscaped(b, x, f.esc), '\n')
}

// escape is nginx's default escaping of a variable's value
// (ngx_http_log_escape), done in place at b[start:]: '"', '\', bytes below
// 0x20 and from 0x7f up become \xHH in upper-case hex. A value nginx
// does not find, or an empty one it does not call found, is "-".
func escape(b []byte, start int, found bool) []byte {
	if len(b) == start {
		if found {
			return b
		}
		return append(b, '-')
	}
	n := 0
	for _, c := range b[start:] {
		if mustEscape(c) {
			n++
		}
	}
	if n == 0 {
		return b
	}
	end := len(b)
	b = slices.Grow(b, 3*n)[:end+3*n]
	const hex = "0123456789ABCDEF"
	j := len(b)
	for i := end - 1; i >= start; i-- {
		c := b[i]
		if !mustEscape(c) {
			j--
			b[j] = c
			continue
		}
		j -= 4
		b[j], b[j+1], b[j+2], b[j+3] = '\\', 'x', hex[c>>4], hex[c&0xf]
	}
	return b
}

func mustEscape(c byte) bool { return c < 0x20 || c >= 0x7f || c == '"' || c == '\\' }

// escapeNone is escape=none: the value as it is, empty when not found.
func escapeNone(b []byte, _ int, _ bool) []byte { return b }

// escapeJSON is escape=json (ngx_escape_json): '"' and '\' get a
// backslash, \n \r \t \b \f their short forms, other bytes below 0x20
// \u00XX; bytes from 0x7f up pass as they are. A value not found is empty.
func escapeJSON(b []byte, start int, found bool) []byte {
	n := 0
	for _, c := range b[start:] {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			n++
		case c < 0x20:
			n += 5
		}
	}
	if n == 0 {
		return b
	}
	end := len(b)
	b = slices.Grow(b, n)[:end+n]
	const hex = "0123456789abcdef"
	j := len(b)
	for i := end - 1; i >= start; i-- {
		c := b[i]
		short := byte(0)
		switch c {
		case '"', '\\':
			short = c
		case '\n':
			short = 'n'
		case '\r':
			short = 'r'
		case '\t':
			short = 't'
		case '\b':
			short = 'b'
		case '\f':
			short = 'f'
		}
		switch {
		case short != 0:
			j -= 2
			b[j], b[j+1] = '\\', short
		case c < 0x20:
			j -= 6
			b[j], b[j+1], b[j+2], b[j+3], b[j+4], b[j+5] = '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]
		default:
			j--
			b[j] = c
		}
	}
	return b
}

// Condition is access_log's if=: compiled once, true for a request when
// its value is neither empty nor "0" (a variable not found is empty), as
// nginx's ngx_http_log_handler decides.
type Condition struct{ v *vars.Value }

// CompileCondition compiles an if= value such as "$loggable".
func CompileCondition(src string, maps *vars.Maps) (*Condition, error) {
	v, err := vars.Compile(src, maps)
	if err != nil {
		return nil, err
	}
	return &Condition{v: v}, nil
}

// True reports whether x's line is written. A nil Condition is always true.
func (c *Condition) True(x vars.Exchange) bool {
	if c == nil {
		return true
	}
	var buf [8]byte
	b := c.v.AppendEscaped(buf[:0], x, escapeNone)
	return len(b) != 0 && !(len(b) == 1 && b[0] == '0')
}
