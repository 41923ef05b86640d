package nginxconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// flat renders directives as "line:name[arg|arg]{...}" for comparisons.
func flat(ds []*Directive) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strings.TrimPrefix(filepath.Base(d.File)+":", "x.conf:"))
		b.WriteString(itoa(d.Line) + ":" + d.Name + "[" + strings.Join(d.Args, "|") + "]")
		if d.IsBlock {
			b.WriteString("{" + flat(d.Block) + "}")
		}
	}
	return b.String()
}

func itoa(n int) string { return fmt.Sprintf("%02d", n) }

// Words are read as ngx_conf_read_token reads them.
func TestTokens(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"simple", "a b c;", "01:a[b|c]"},
		{"block and nesting", "http {\n  server { listen 80; }\n}\n", "01:http[]{02:server[]{02:listen[80]}}"},
		{"empty block", "events {}", "01:events[]{}"},
		{"line is where the ; is", "proxy_pass\n  http://app\n;", "03:proxy_pass[http://app]"},
		{"double quotes keep spaces and ;{}", `log_format main "a; b {c} # d";`, `01:log_format[main|a; b {c} # d]`},
		{"single quotes", `add 'x "y" z';`, `01:add[x "y" z]`},
		{"empty quoted word", `proxy_set_header Connection "";`, `01:proxy_set_header[Connection|]`},
		{"escapes in quotes", `a "q\"q" 'q\'q' "b\\s" "t\tn\nr\r" "other\d";`, "01:a[q\"q|q'q|b\\s|t\tn\nr\r|other\\d]"},
		{"a backslash keeps ; and space in a word, and stays", `a b\;c d\ e;`, `01:a[b\;c|d\ e]`},
		{"comment to end of line", "a b; # c d;\ne f;", "01:a[b] 02:e[f]"},
		{"# inside a word is not a comment", "a b#c;", "01:a[b#c]"},
		{"comment between words", "a # x\n b;", "02:a[b]"},
		{"${var} does not open a block", "set $x ${host}y;", "01:set[$x|${host}y]"},
		{"quote then ; or {", `a "b";c "d"{}`, "01:a[b] 01:c[d]{}"},
		{"CRLF", "a b;\r\nc d;\r\n", "01:a[b] 02:c[d]"},
		{"} inside a word", "a b}c;", "01:a[b}c]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Parse("x.conf", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(ds); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// Syntax errors are nginx's, with the file and line nginx gives.
func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a b;\n}\n", `unexpected "}" in x.conf:2`},
		{"http {\n a b;\n", `unexpected end of file, expecting "}" in x.conf:3`},
		{"a b", `unexpected end of file, expecting ";" or "}" in x.conf:1`},
		{"a b\n\n", `unexpected end of file, expecting ";" or "}" in x.conf:3`},
		{"a {\n b }\n}", `unexpected "}" in x.conf:2`},
		{"\n;", `unexpected ";" in x.conf:2`},
		{"{ a; }", `unexpected "{" in x.conf:1`},
		{`a "b"c;`, `unexpected "c" in x.conf:1`},
		{"a 'b\n\n", `unexpected end of file, expecting ";" or "}" in x.conf:3`},
		{"include a.conf {}", `directive "include" is not terminated by ";" in x.conf:1`},
		{"include a b;", `invalid number of arguments in "include" directive in x.conf:1`},
	} {
		_, err := Parse("x.conf", []byte(c.in))
		var pe *Error
		if !errors.As(err, &pe) || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// include reads files relative to the main file's directory (nginx's conf
// prefix), globs in sorted order, in place of the include directive, and
// every directive keeps its own file and line.
func TestInclude(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"nginx.conf":        "a 1;\nhttp {\n  include conf.d/*.conf;\n  include none/*.conf;\n  z 9;\n}\n",
		"conf.d/b.conf":     "\n\nb 2;\ninclude snippets/s.conf;\n",
		"conf.d/a.conf":     "a 3;",
		"conf.d/c.txt":      "not included;",
		"snippets/s.conf":   "server {\n  s 4;\n}\n",
		"conf.d/sub/d.conf": "never;",
	})
	ds, err := ParseFile(filepath.Join(dir, "nginx.conf"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "nginx.conf:01:a[1] nginx.conf:02:http[]{a.conf:01:a[3] b.conf:03:b[2] s.conf:01:server[]{s.conf:02:s[4]} nginx.conf:05:z[9]}"
	if got := flat(ds); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if f := ds[1].Block[2].File; f != filepath.Join(dir, "snippets/s.conf") {
		t.Errorf("File = %q", f)
	}
}

// A relative include that is not under the conf prefix is looked for next
// to the including file.
func TestIncludeNextToIncludingFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"main.conf":             "include sites/site.conf;",
		"sites/site.conf":       "include site-extra.conf;",
		"sites/site-extra.conf": "x 1;",
	})
	ds, err := ParseFile(filepath.Join(dir, "main.conf"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(ds); got != "site-extra.conf:01:x[1]" {
		t.Errorf("got %s", got)
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"cycle.conf":   "http {\n  include b.conf;\n}\n",
		"b.conf":       "\ninclude c.conf;\n",
		"c.conf":       "include cycle.conf;",
		"self.conf":    "include self.conf;",
		"missing.conf": "a;\n\ninclude nope.conf;",
		"syntax.conf":  "include bad.conf;",
		"bad.conf":     "a {\n}\n}\n",
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, c := range []struct{ file, want string }{
		{"cycle.conf", `include cycle: "` + p("cycle.conf") + `" is already being read (` + p("cycle.conf") + " -> " + p("b.conf") + " -> " + p("c.conf") + " -> " + p("cycle.conf") + `) in ` + p("c.conf") + `:1`},
		{"self.conf", `include cycle: "` + p("self.conf") + `" is already being read (` + p("self.conf") + " -> " + p("self.conf") + `) in ` + p("self.conf") + `:1`},
		{"missing.conf", `open() "` + p("nope.conf") + `" failed (2: No such file or directory) in ` + p("missing.conf") + `:3`},
		{"syntax.conf", `unexpected "}" in ` + p("bad.conf") + `:3`},
	} {
		_, err := ParseFile(p(c.file), ParseOptions{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\ngot  %v\nwant %s", c.file, err, c.want)
		}
	}
	_, err := ParseFile(p("absent.conf"), ParseOptions{})
	if err == nil || err.Error() != `open() "`+p("absent.conf")+`" failed (2: No such file or directory)` {
		t.Errorf("main file missing: %v", err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\\b`: `a\b`, `\"`: `"`, `x\`: `x\`, `\q`: `\q`, `\n`: "\n"} {
		if got := unescape([]byte(in)); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
	if !reflect.DeepEqual(unescape([]byte("plain")), "plain") {
		t.Error("plain")
	}
}

// FuzzParse: any input parses or fails with an *Error, and whatever parses
// converts or fails with an *Error or a *RefusedError (with the warnings
// and no YAML); never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a b;", "http { server { listen 80; } }", `a "b\"c" 'd';`, "a ${b}{ }", "}", "a \\", "#x\na;",
		"http { upstream u { server 1.2.3.4 weight=2; } server { listen 80 default_server; server_name .a.b; location ~* x { proxy_pass http://u; health_check match=m; } } match m { status 200; } }",
		"http { log_format f '$status'; server { access_log x f; proxy_set_header A $b; location = / { stub_status; } } }"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := Parse("f.conf", []byte(s))
		var pe *Error
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("%q: %T %v", s, err, err)
		}
		if err != nil {
			return
		}
		res, err := Convert(ds, Options{})
		var re *RefusedError
		if errors.As(err, &re) {
			if res == nil || res.YAML != nil || len(re.Refused) == 0 {
				t.Fatalf("convert %q: refused without the warnings, or with YAML", s)
			}
			return
		}
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("convert %q: %T %v", s, err, err)
		}
	})
}
