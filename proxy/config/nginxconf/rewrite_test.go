package nginxconf

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// A redirect server and locations that only answer convert (nothing
// refused or dropped) into what the loader reads as the same returns; a
// regex location's return may use its captures.
func TestConvertReturn(t *testing.T) {
	in := "http {\n" +
		" server { listen 80; server_name old.example; return 301 https://$host$request_uri; }\n" +
		" server { listen 8080;\n" +
		"  location = /health { return 200 \"ok\"; }\n" +
		"  location = /gone { return 410; }\n" +
		"  location ~ ^/old/(.*)$ { return 301 /new/$1; }\n" +
		"  location = /away { return https://example.com$uri; }\n" +
		"  location / { proxy_pass http://127.0.0.1:9000; }\n" +
		" }\n}\n"
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	if got, want := scriptText(cfg.Servers[0].Script), "return 301 https://$host$request_uri"; got != want {
		t.Errorf("server script %q, want %q", got, want)
	}
	var got []string
	for _, l := range cfg.Servers[1].Locations {
		got = append(got, strings.TrimSpace(l.Path+" "+scriptText(l.Script)))
	}
	want := []string{"/health return 200 ok", "/gone return 410", "^/old/(.*)$ return 301 /new/$1", "/away return 302 https://example.com$uri", "/"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("locations %q, want %q", got, want)
	}
}

// nginx -t's errors for return, and its contexts: not in http.
func TestConvertReturnErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { return abc; }"), `invalid return code "abc" in x.conf:4`},
		{conf("listen 80; location / { return /x; }"), `invalid return code "/x" in x.conf:4`},
		{conf("listen 80; location / { return 1000; }"), `invalid return code "1000" in x.conf:4`},
		{conf("listen 80; location / { return 301 /a /b; }"), `invalid number of arguments in "return" directive in x.conf:4`},
		{"http {\n return 403;\n server { listen 80; location / { proxy_pass http://127.0.0.1:9; } }\n}\n", `"return" directive is not allowed here in x.conf:2`},
		{"http {\n rewrite ^ /x permanent;\n server { listen 80; location / { proxy_pass http://127.0.0.1:9; } }\n}\n", `"rewrite" directive is not allowed here in x.conf:2`},
	} {
		_, err := convertText(t, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
}

// Rewrites convert in order, redirecting and internal ones; one that
// redirects every URI makes a server that needs no location; a rewrite
// after a return is ignored, and so is what follows a break.
func TestConvertRewrite(t *testing.T) {
	in := "http {\n" +
		" server { listen 80; server_name old.example; rewrite ^ https://$host$request_uri? permanent; }\n" +
		" server { listen 8080; rewrite_log on;\n" +
		"  location /old/ { rewrite ^/old/(.*)$ /new/$1 permanent; rewrite ^/x https://x.example redirect; proxy_pass http://127.0.0.1:9000; }\n" +
		"  location /int/ { rewrite ^/int/(.*)$ /app/$1 last; }\n" +
		"  location = /r { return 403; rewrite ^ /x permanent; }\n" +
		"  location /b/ { rewrite ^/b/x$ /y permanent; break; return 403; proxy_pass http://127.0.0.1:9000; }\n" +
		"  location / { proxy_pass http://127.0.0.1:9000; }\n" +
		" }\n}\n"
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	want := "x.conf:6: ignored directive \"rewrite\" in location: an earlier return answers every request\n" +
		"x.conf:7: ignored directive \"return\" in location: an earlier break stops the rewrite directives\n"
	if got := warningLines(res.Warnings); got != want {
		t.Errorf("warnings:\n%s\nwant\n%s", got, want)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	locs := cfg.Servers[1].Locations
	for _, c := range []struct {
		sc   []config.Stmt
		want string
	}{
		{cfg.Servers[0].Script, "rewrite ^ https://$host$request_uri? 301"},
		{locs[0].Script, "rewrite ^/old/(.*)$ /new/$1 301; rewrite ^/x https://x.example 302"},
		{locs[1].Script, "rewrite ^/int/(.*)$ /app/$1 last"},
		{locs[3].Script, "rewrite ^/b/x$ /y 301"},
	} {
		if got := scriptText(c.sc); got != c.want {
			t.Errorf("script %q, want %q", got, c.want)
		}
	}
	if !locs[0].RewriteLog {
		t.Errorf("rewrite_log not inherited")
	}
}

// if and set convert into the rewrite list in nginx's order: an if
// block's rewrite-module directives into its own list, its other
// directives (if in location) as its location keys; set's variables are
// known everywhere.
func TestConvertIfSet(t *testing.T) {
	in := "http {\n" +
		" server { listen 8080; root /srv;\n" +
		"  if (-f $document_root/maintenance.html) { rewrite ^(.*)$ /maintenance.html last; break; }\n" +
		"  location / {\n" +
		"   set $tag \"a b\";\n" +
		"   if ($http_user_agent ~* \"^(curl|Go )\" ) { return 403; }\n" +
		"   if ( $request_method = OPTIONS ) { add_header X-Opt 1; return 204; }\n" +
		"   if (!-f $request_filename) { proxy_pass http://127.0.0.1:9000; break; }\n" +
		"   if ($arg_x) { set $tag x; }\n" +
		"   proxy_set_header X-Tag $tag;\n" +
		"  }\n" +
		" }\n}\n"
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	s := cfg.Servers[0]
	if got, want := scriptText(s.Script), "if (-f $document_root/maintenance.html) {rewrite ^(.*)$ /maintenance.html last; break}"; got != want {
		t.Errorf("server script %q, want %q", got, want)
	}
	l := s.Locations[0]
	// every if of a location is a location of its own, as in nginx
	want := "set $tag a b; if ($http_user_agent ~* ^(curl|Go )) +loc {return 403}; if ($request_method = OPTIONS) +loc {return 204}; " +
		"if (!-f $request_filename) +loc {break}; if ($arg_x) +loc {set $tag x}"
	if got := scriptText(l.Script); got != want {
		t.Errorf("location script\n%q, want\n%q\n%s", got, want, res.YAML)
	}
	opt := l.Script[2].If.Location
	if len(opt.Headers.Add) != 1 || opt.Headers.Add[0].Name != "X-Opt" || opt.ProxyPass.Host != "" {
		t.Errorf("if location: %+v %+v", opt.Headers, opt.ProxyPass)
	}
	if pp := l.Script[3].If.Location.ProxyPass; pp.Host != "127.0.0.1:9000" {
		t.Errorf("if location proxy_pass %+v", pp)
	}
	if got := cfg.SetVars; len(got) != 1 || got[0] != "tag" {
		t.Errorf("set variables %q", got)
	}
}

// What nginx -t refuses in if and set is an error; what spillway cannot
// enforce inside if refuses the file.
func TestConvertIfErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { if ($a { return 403; } }"), `invalid condition "($a" in x.conf:4`},
		{conf("listen 80; location / { if ($a == b) { return 403; } }"), `unexpected "==" in condition in x.conf:4`},
		{conf("listen 80; location / { if (a) { return 403; } }"), `invalid condition "a" in x.conf:4`},
		{conf("listen 80; if ($a) { proxy_pass http://127.0.0.1:9; } location / { proxy_pass http://127.0.0.1:9; }"), `"proxy_pass" directive is not allowed here in x.conf:4`},
		{conf("listen 80; location / { if ($a) { proxy_set_header A b; } proxy_pass http://127.0.0.1:9; }"), `"proxy_set_header" directive is not allowed here in x.conf:4`},
		{conf("listen 80; location / { set $uri x; proxy_pass http://127.0.0.1:9; }"), `the duplicate "uri" variable in x.conf:4`},
	} {
		_, err := convertText(t, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { if ($a) { ssi on; } proxy_pass http://127.0.0.1:9; }"), "inside \"if\""},
		{conf("listen 80; location / { if ($http_x ~ \"^(?!a)\") { return 403; } proxy_pass http://127.0.0.1:9; }"), "is not enforced by spillway"},
		{conf("listen 80; location / { if ($nosuch) { return 403; } proxy_pass http://127.0.0.1:9; }"), `unknown "nosuch" variable`},
	} {
		_, err := convertText(t, c.in)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a refusal with %q", c.in, err, c.want)
		}
	}
}

// scriptText renders a script compactly for comparisons.
func scriptText(sc []config.Stmt) string {
	var out []string
	for _, st := range sc {
		switch st.Kind {
		case config.StmtRewrite:
			r := st.Rewrite
			tail := map[config.RewriteFlag]string{config.FlagNone: "", config.FlagLast: " last", config.FlagBreak: " break"}[r.Flag]
			if r.Code != 0 {
				tail = " " + strconv.Itoa(r.Code)
			}
			q := ""
			if !r.AddArgs {
				q = "?"
			}
			out = append(out, "rewrite "+r.Source+" "+r.Replacement+q+tail)
		case config.StmtReturn:
			out = append(out, strings.TrimSpace("return "+strconv.Itoa(st.Return.Code)+" "+st.Return.Text))
		case config.StmtSet:
			out = append(out, "set $"+st.Set.Var+" "+st.Set.Value)
		case config.StmtBreak:
			out = append(out, "break")
		case config.StmtIf:
			loc := ""
			if st.If.Location != nil {
				loc = " +loc"
			}
			out = append(out, "if ("+st.If.Cond.Source+")"+loc+" {"+scriptText(st.If.Body)+"}")
		}
	}
	return strings.Join(out, "; ")
}

// Empty values and values with spaces at an end survive the conversion
// of set and of an if condition.
func TestConvertSetIfValues(t *testing.T) {
	in := conf(`listen 80; location / { set $a ""; set $b " x "; if ($http_x != "") { return 200 "x"; } if ($http_y = " y") { return 201; } proxy_pass http://127.0.0.1:9; }`)
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	sc := cfg.Servers[0].Locations[0].Script
	if sc[0].Set.Value != "" || sc[1].Set.Value != " x " || sc[2].If.Cond.Right != "" || sc[2].If.Cond.Op != "!=" || sc[3].If.Cond.Right != " y" {
		t.Errorf("script %q\n%s", scriptText(sc), res.YAML)
	}
}
