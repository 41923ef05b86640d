// Package nginxconf reads nginx's configuration syntax and converts the
// parts spillway implements (the main, http, upstream, server and location
// contexts) into proxy.yaml, listing every directive it does not convert
// with its file and line, and refusing the file when what it would drop is
// access control or a location or server (fail closed).
//
// Parsing follows nginx's ngx_conf_read_token and ngx_conf_parse: the same
// tokens (quotes, backslash escapes, "#" comments only at the start of a
// word, "${var}" not opening a block), the same errors in the same words
// (`unexpected "}" in /etc/nginx/nginx.conf:12`), and include with globs
// relative to the configuration's directory. A Directive's Line is nginx's:
// the line of its ";" or "{".
package nginxconf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// Directive is one directive as written: its name, its arguments with quotes
// and escapes resolved, where it was written, and its block's directives
// when it opens a block. Directives of an included file take the place of
// the include directive.
type Directive struct {
	Name    string
	Args    []string
	File    string // the file it was read from, as opened
	Line    int    // nginx's line: where its ";" or "{" is
	IsBlock bool
	Block   []*Directive

	seq int // position in reading order across files, for ordering warnings
}

// Error is a configuration error at a place in a file, printed like nginx
// prints them: `unexpected "}" in /etc/nginx/nginx.conf:12`.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // the cause, if any (an *os.PathError)

	seq int // the directive's reading order, 0 = unknown
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s in %s:%d", e.Msg, e.File, e.Line)
}

func (e *Error) Unwrap() error { return e.Err }

// ParseOptions tunes ParseFile.
type ParseOptions struct {
	// ConfPrefix is the directory relative include paths start from; ""
	// means ConfDir of the main file: its directory, which is what nginx
	// uses for `nginx -c FILE`.
	ConfPrefix string
}

// IsNginxFile reports whether path names an nginx configuration rather
// than a proxy.yaml: a name ending in ".conf", or a file of Debian's
// sites-available or sites-enabled directories (named after the site, with
// no suffix).
func IsNginxFile(path string) bool {
	if strings.HasSuffix(path, ".conf") {
		return true
	}
	switch filepath.Base(filepath.Dir(path)) {
	case "sites-available", "sites-enabled":
		return true
	}
	return false
}

// ConfDir is the directory relative paths of the configuration at path
// start from (nginx's conf prefix): the file's directory, or, for a file
// nginx.conf includes from a subdirectory (a sites-available/default or a
// conf.d/app.conf taken on its own), the directory of that nginx.conf, so
// that its "include snippets/fastcgi-php.conf" is found where nginx finds it.
func ConfDir(path string) string {
	dir := filepath.Dir(path)
	if exists(filepath.Join(dir, "nginx.conf")) {
		return dir
	}
	if up := filepath.Dir(dir); exists(filepath.Join(up, "nginx.conf")) {
		return up
	}
	return dir
}

// ParseFile reads the nginx configuration at path and every file it
// includes, and returns the main context's directives. It stops at the
// first error, as nginx does.
func ParseFile(path string, opts ParseOptions) ([]*Directive, error) {
	p := &parser{prefix: opts.ConfPrefix}
	if p.prefix == "" {
		p.prefix = ConfDir(path)
	}
	return p.file(path, "", 0)
}

// Parse parses one file already in memory; include directives are resolved
// against the directory of name. It is ParseFile without the first read.
func Parse(name string, data []byte) ([]*Directive, error) {
	p := &parser{prefix: filepath.Dir(name)}
	p.stack = append(p.stack, opened{name: name})
	return p.parse(&scanner{file: name, data: data, line: 1}, false)
}

// maxIncludeDepth bounds nesting where a cycle cannot be seen by file
// identity (a file that cannot be stat'ed twice the same way).
const maxIncludeDepth = 64

type parser struct {
	seq    int
	prefix string
	stack  []opened // files being read, outermost first, for cycle detection
}

type opened struct {
	name string
	info os.FileInfo // nil for in-memory input
}

// file reads and parses one file; from and line name the include directive
// that asked for it ("" for the main file).
func (p *parser) file(name, from string, line int) ([]*Directive, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, &Error{File: from, Line: line, Msg: fmt.Sprintf("open() \"%s\" failed%s", name, errnoText(err)), Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, &Error{File: from, Line: line, Msg: fmt.Sprintf("fstat() \"%s\" failed%s", name, errnoText(err)), Err: err}
	}
	for _, o := range p.stack {
		if o.info != nil && os.SameFile(o.info, info) {
			chain := make([]string, 0, len(p.stack)+1)
			for _, o := range p.stack {
				chain = append(chain, o.name)
			}
			chain = append(chain, name)
			return nil, &Error{File: from, Line: line,
				Msg: fmt.Sprintf("include cycle: \"%s\" is already being read (%s)", name, strings.Join(chain, " -> "))}
		}
	}
	if len(p.stack) >= maxIncludeDepth {
		return nil, &Error{File: from, Line: line, Msg: fmt.Sprintf("too many nested includes (%d) at \"%s\"", maxIncludeDepth, name)}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, &Error{File: from, Line: line, Msg: fmt.Sprintf("read() \"%s\" failed%s", name, errnoText(err)), Err: err}
	}
	p.stack = append(p.stack, opened{name: name, info: info})
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	return p.parse(&scanner{file: name, data: data, line: 1}, false)
}

// errnoText formats an OS error's errno like nginx: " (2: No such file or
// directory)".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf(" (%d: %s)", int(errno), errorlog.StrError(errno))
	}
	return " (" + err.Error() + ")"
}

// parse is ngx_conf_parse: directives until the end of the file, or until
// the "}" that closes the block when inBlock.
func (p *parser) parse(s *scanner, inBlock bool) ([]*Directive, error) {
	var out []*Directive
	for {
		args, kind, err := s.next()
		if err != nil {
			return nil, err
		}
		switch kind {
		case fileDone:
			if inBlock {
				return nil, s.errorf(`unexpected end of file, expecting "}"`)
			}
			return out, nil
		case blockDone:
			if !inBlock {
				return nil, s.errorf(`unexpected "}"`)
			}
			return out, nil
		}
		p.seq++
		d := &Directive{Name: args[0], Args: args[1:], File: s.file, Line: s.line, seq: p.seq}
		if d.Name == "include" {
			if kind == blockStart {
				return nil, s.errorf(`directive "include" is not terminated by ";"`)
			}
			if len(d.Args) != 1 {
				return nil, s.errorf(`invalid number of arguments in "include" directive`)
			}
			inc, err := p.include(d)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		if kind == blockStart {
			d.IsBlock = true
			if d.Block, err = p.parse(s, true); err != nil {
				return nil, err
			}
			if d.Block == nil {
				d.Block = []*Directive{}
			}
		}
		out = append(out, d)
	}
}

// include is ngx_conf_include: a relative name starts from the
// configuration prefix (the main file's directory); a name with "*", "?" or
// "[" is a glob whose matches are read in sorted order, and matching nothing
// is not an error. When a relative name is found neither way from the
// prefix, the including file's own directory is tried, which is what people
// who move a conf.d tree around expect.
func (p *parser) include(d *Directive) ([]*Directive, error) {
	name := d.Args[0]
	full := name
	if !filepath.IsAbs(name) {
		full = filepath.Join(p.prefix, name)
		if local := filepath.Join(filepath.Dir(d.File), name); local != full && !exists(full) && exists(local) {
			full = local
		}
	}
	if !strings.ContainsAny(name, "*?[") {
		if name == "uwsgi_params" && !exists(full) {
			// Debian's nginx ships /etc/nginx/uwsgi_params; a file converted
			// away from it gets the same lines.
			return p.parse(&scanner{file: full + " (spillway's copy of Debian's)", data: []byte(config.UwsgiParams), line: 1}, false)
		}
		if filepath.Base(name) == "mime.types" && !exists(full) {
			// A configuration copied without its mime.types: nginx's own
			// table, as nginx 1.22 installs it (config.MimeTypesFile).
			return p.parse(&scanner{file: full + " (spillway's copy of nginx's)", data: config.MimeTypesFile, line: 1}, false)
		}
		return p.file(full, d.File, d.Line)
	}
	matches, err := filepath.Glob(full)
	if err != nil {
		return nil, &Error{File: d.File, Line: d.Line, Msg: fmt.Sprintf("glob() \"%s\" failed (%v)", full, err), Err: err}
	}
	var out []*Directive
	for _, m := range matches {
		ds, err := p.file(m, d.File, d.Line)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// exists reports whether a path, or for a glob any match, exists.
func exists(path string) bool {
	if strings.ContainsAny(path, "*?[") {
		m, _ := filepath.Glob(path)
		return len(m) > 0
	}
	_, err := os.Stat(path)
	return err == nil
}

// What scanner.next found after the arguments.
const (
	directiveDone = iota // ";"
	blockStart           // "{"
	blockDone            // "}"
	fileDone             // end of file
)

// scanner is ngx_conf_read_token over one file in memory.
type scanner struct {
	file string
	data []byte
	pos  int
	line int
}

func (s *scanner) errorf(format string, args ...any) error {
	return &Error{File: s.file, Line: s.line, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next reads one directive's words and what ended them. It is nginx's state
// machine, flag for flag, so that odd input is read (or refused) the same.
func (s *scanner) next() (args []string, kind int, err error) {
	var (
		found, needSpace, sharpComment, variable bool
		quoted, sQuoted, dQuoted                 bool
		lastSpace                                = true
		start                                    = s.pos
	)
	for {
		if s.pos >= len(s.data) {
			if len(args) > 0 || !lastSpace {
				return nil, 0, s.errorf(`unexpected end of file, expecting ";" or "}"`)
			}
			return nil, fileDone, nil
		}
		ch := s.data[s.pos]
		s.pos++
		if ch == '\n' {
			s.line++
			sharpComment = false
		}
		if sharpComment {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			if isSpace(ch) {
				lastSpace, needSpace = true, false
				continue
			}
			switch ch {
			case ';':
				return args, directiveDone, nil
			case '{':
				return args, blockStart, nil
			case ')':
				lastSpace, needSpace = true, false
			default:
				return nil, 0, s.errorf("unexpected \"%s\"", string(ch))
			}
		}
		if lastSpace {
			start = s.pos - 1
			if isSpace(ch) {
				continue
			}
			switch ch {
			case ';', '{':
				if len(args) == 0 {
					return nil, 0, s.errorf("unexpected \"%s\"", string(ch))
				}
				if ch == '{' {
					return args, blockStart, nil
				}
				return args, directiveDone, nil
			case '}':
				if len(args) != 0 {
					return nil, 0, s.errorf(`unexpected "}"`)
				}
				return nil, blockDone, nil
			case '#':
				sharpComment = true
				continue
			case '\\':
				quoted, lastSpace = true, false
				continue
			case '"':
				start++
				dQuoted, lastSpace = true, false
				continue
			case '\'':
				start++
				sQuoted, lastSpace = true, false
				continue
			case '$':
				variable, lastSpace = true, false
				continue
			default:
				lastSpace = false
			}
			continue
		}
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		switch {
		case dQuoted:
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		case sQuoted:
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		case isSpace(ch) || ch == ';' || ch == '{':
			lastSpace, found = true, true
		}
		if found {
			args = append(args, unescape(s.data[start:s.pos-1]))
			switch ch {
			case ';':
				return args, directiveDone, nil
			case '{':
				return args, blockStart, nil
			}
			found = false
		}
	}
}

// unescape resolves nginx's escapes in a word: \" \' \\ become the
// character, \t \r \n the control character; any other backslash stays.
func unescape(w []byte) string {
	if !strings.Contains(string(w), `\`) {
		return string(w)
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '\\' && i+1 < len(w) {
			switch w[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(w[i])
	}
	return b.String()
}
