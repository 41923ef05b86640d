// Package nginxuri is nginx 1.22's request-target normalisation: the URI
// checks of ngx_http_parse_request_line, ngx_http_parse_complex_uri (which
// gives $uri: percent-decoded, "//" merged, "./" and "../" resolved) and
// ngx_escape_uri's NGX_ESCAPE_URI table (how proxy_pass re-escapes a $uri
// it rewrote).
//
// Every request goes through Parse before routing: a location is matched
// on the $uri it returns, and a target Parse refuses is nginx's 400
// "client sent invalid request" (a ".." above the root, a decoded NUL, a
// broken %-escape, a control byte).
package nginxuri

import "errors"

// ErrInvalid is nginx's NGX_HTTP_PARSE_INVALID_REQUEST for a request
// target: the client gets 400 and the error log says "client sent invalid
// request while reading client request line".
var ErrInvalid = errors.New("client sent invalid request")

// URI is a request target as nginx splits it.
type URI struct {
	// Path is $uri: decoded and normalised. It aliases the dst given to
	// Parse.
	Path []byte
	// Args is $args: the raw bytes after the first '?' of the path, up to a
	// '#'. It aliases the target given to Parse.
	Args []byte
	// Quoted is nginx's r->quoted_uri: the path had a %-escape. proxy_pass
	// re-escapes the $uri it rewrites only then (AppendEscaped).
	Quoted bool
}

// usual is nginx's table of bytes that need no attention in a path: a 1
// bit passes the byte through as it is. Not usual: control bytes, ' ',
// '#', '%', '+', '.', '/', '?' and 0x7f (ngx_http_parse.c).
var usual = [8]uint32{
	0x00000000, // 0x00-0x1f
	0x7fff37d6, // ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!
	0xffffffff, // _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@
	0x7fffffff, //  ~}| {zyx wvut srqp  onml kjih gfed cba`
	0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
}

func isUsual(c byte) bool { return usual[c>>5]&(1<<(c&0x1f)) != 0 }

// Parse normalises target, a request target in origin form ("/a/../b?x"),
// into dst[:0] as nginx does: ErrInvalid for what nginx answers with 400.
// mergeSlashes is the merge_slashes directive (nginx's default: on).
func Parse(dst, target []byte, mergeSlashes bool) (URI, error) {
	if len(target) == 0 || target[0] != '/' {
		return URI{}, ErrInvalid
	}
	// ngx_http_parse_request_line: a control byte anywhere in the target
	// is refused. A path with '.' or '/' after a '/', or a '%', or a '#'
	// anywhere, goes through ngx_http_parse_complex_uri; taking a few
	// simple paths that way too ("/a.b") changes nothing but the time.
	complex, inArgs := false, false
	q := -1 // the first '?': where a simple path's args begin
	for i, c := range target {
		switch {
		case c < 0x20 || c == 0x7f:
			return URI{}, ErrInvalid
		case c == '#':
			complex = true
		case inArgs:
		case c == '?':
			inArgs, q = true, i
		case c == '%', c == '.' && target[i-1] == '/', c == '/' && i > 0 && target[i-1] == '/':
			complex = true
		}
	}
	if !complex {
		path, args := target, []byte(nil)
		if q >= 0 {
			path, args = target[:q], target[q+1:]
		}
		return URI{Path: append(dst[:0], path...), Args: args}, nil
	}
	return parseComplex(dst[:0], target, mergeSlashes)
}

// parseComplex is ngx_http_parse_complex_uri, state for state (the Win32
// branches left out).
func parseComplex(u, p []byte, mergeSlashes bool) (URI, error) {
	const (
		swUsual = iota
		swSlash
		swDot
		swDotDot
		swQuoted
		swQuotedSecond
	)
	var (
		r                  URI
		state, quotedState = swUsual, swUsual
		decoded            byte
	)
	// up removes the last path segment for "/..": u ends with "/../"
	// (or "/.." at the end); back to the '/' before the segment it names.
	up := func() bool {
		i := len(u) - 4
		for {
			if i < 0 {
				return false
			}
			if u[i] == '/' {
				u = u[:i+1]
				return true
			}
			i--
		}
	}
	// nginx reads one byte past the target (the request line's CR); a 0
	// stands for it here: it is not usual and matches no case that
	// consumes input.
	i := 0
	next := func() byte {
		if i < len(p) {
			c := p[i]
			i++
			return c
		}
		i++
		return 0
	}
	ch := next()
	for i <= len(p) {
		switch state {
		case swUsual:
			if isUsual(ch) {
				u = append(u, ch)
				ch = next()
				continue
			}
			switch ch {
			case '/':
				state = swSlash
				u = append(u, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				return r.args(u, p[i:]), nil
			case '#':
				r.Path = u
				return r, nil
			default:
				u = append(u, ch)
			}
			ch = next()

		case swSlash:
			if isUsual(ch) {
				state = swUsual
				u = append(u, ch)
				ch = next()
				continue
			}
			switch ch {
			case '/':
				if !mergeSlashes {
					u = append(u, ch)
				}
			case '.':
				state = swDot
				u = append(u, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				return r.args(u, p[i:]), nil
			case '#':
				r.Path = u
				return r, nil
			default:
				state = swUsual
				u = append(u, ch)
			}
			ch = next()

		case swDot:
			if isUsual(ch) {
				state = swUsual
				u = append(u, ch)
				ch = next()
				continue
			}
			switch ch {
			case '/':
				state = swSlash
				u = u[:len(u)-1]
			case '.':
				state = swDotDot
				u = append(u, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				return r.args(u[:len(u)-1], p[i:]), nil
			case '#':
				r.Path = u[:len(u)-1]
				return r, nil
			default:
				state = swUsual
				u = append(u, ch)
			}
			ch = next()

		case swDotDot:
			if isUsual(ch) {
				state = swUsual
				u = append(u, ch)
				ch = next()
				continue
			}
			switch ch {
			case '/', '?', '#':
				if !up() {
					return URI{}, ErrInvalid
				}
				if ch == '?' {
					return r.args(u, p[i:]), nil
				}
				if ch == '#' {
					r.Path = u
					return r, nil
				}
				state = swSlash
			case '%':
				quotedState, state = state, swQuoted
			default:
				state = swUsual
				u = append(u, ch)
			}
			ch = next()

		case swQuoted:
			r.Quoted = true
			if ch >= '0' && ch <= '9' {
				decoded = ch - '0'
				state = swQuotedSecond
				ch = next()
				continue
			}
			if c := ch | 0x20; c >= 'a' && c <= 'f' {
				decoded = c - 'a' + 10
				state = swQuotedSecond
				ch = next()
				continue
			}
			return URI{}, ErrInvalid

		case swQuotedSecond:
			if ch >= '0' && ch <= '9' {
				ch = decoded<<4 + (ch - '0')
				if ch == '%' || ch == '#' {
					state = swUsual
					u = append(u, ch)
					ch = next()
					continue
				} else if ch == 0 {
					return URI{}, ErrInvalid
				}
				state = quotedState
				continue
			}
			if c := ch | 0x20; c >= 'a' && c <= 'f' {
				ch = decoded<<4 + (c - 'a') + 10
				if ch == '?' {
					state = swUsual
					u = append(u, ch)
					ch = next()
					continue
				}
				state = quotedState
				continue
			}
			return URI{}, ErrInvalid
		}
	}
	switch state {
	case swQuoted, swQuotedSecond:
		return URI{}, ErrInvalid
	case swDot:
		u = u[:len(u)-1]
	case swDotDot:
		if !up() {
			return URI{}, ErrInvalid
		}
	}
	r.Path = u
	return r, nil
}

// args ends the path at a '?': the arguments run to the end of the target
// or to a '#'.
func (r URI) args(path, rest []byte) URI {
	r.Path = path
	r.Args = rest
	for j, c := range rest {
		if c == '#' {
			r.Args = rest[:j]
			break
		}
	}
	return r
}

// escapeURI is ngx_escape_uri's NGX_ESCAPE_URI table in nginx 1.22 (a 1
// bit is escaped): control bytes, ' ', '"', '#', '%', '<', '>', '?', '\\',
// '^', '`', '{', '|', '}', 0x7f and every byte >= 0x80. Measured on nginx
// 1.22.1 for all 255 bytes through proxy_pass with a URI part.
var escapeURI = [8]uint32{
	0xffffffff, // 0x00-0x1f
	0xd000002d, // ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!
	0x50000000, // _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@
	0xb8000001, //  ~}| {zyx wvut srqp  onml kjih gfed cba`
	0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
}

// AppendEscaped appends s to dst with the bytes of nginx's NGX_ESCAPE_URI
// table as %XX (upper-case hex, as nginx).
func AppendEscaped(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range s {
		if escapeURI[c>>5]&(1<<(c&0x1f)) != 0 {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
