package nginxconf

import (
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
	if got, want := cfg.Servers[0].Return, (config.Return{Code: 301, Text: "https://$host$request_uri", HasText: true}); got != want {
		t.Errorf("server return %+v, want %+v", got, want)
	}
	var got []string
	for _, l := range cfg.Servers[1].Locations {
		r := l.Return
		got = append(got, strings.TrimSpace(l.Path+" "+map[bool]string{true: "", false: "?"}[r.Code != 0]+" "+r.Text))
	}
	want := []string{"/health  ok", "/gone", "^/old/(.*)$  /new/$1", "/away  https://example.com$uri", "/ ?"}
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

// Redirecting rewrites convert in order; one that takes every URI makes
// a server that needs no location; an internal rewrite stays unsupported,
// as before, and a rewrite after a return is ignored.
func TestConvertRewrite(t *testing.T) {
	in := "http {\n" +
		" server { listen 80; server_name old.example; rewrite ^ https://$host$request_uri? permanent; }\n" +
		" server { listen 8080; rewrite_log on;\n" +
		"  location /old/ { rewrite ^/old/(.*)$ /new/$1 permanent; rewrite ^/x https://x.example redirect; proxy_pass http://127.0.0.1:9000; }\n" +
		"  location /int/ { rewrite ^/int/(.*)$ /app/$1 last; proxy_pass http://127.0.0.1:9000; }\n" +
		"  location = /r { return 403; rewrite ^ /x permanent; }\n" +
		"  location /b/ { rewrite ^/b/x$ /y permanent; break; return 403; proxy_pass http://127.0.0.1:9000; }\n" +
		"  location / { proxy_pass http://127.0.0.1:9000; }\n" +
		" }\n}\n"
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	want := "x.conf:5: unsupported rewrite in location: rewrite \"^/int/(.*)$\" \"/app/$1\": only redirects are supported (flag redirect or permanent, or a replacement starting with http://, https:// or $scheme)\n" +
		"x.conf:6: ignored directive \"rewrite\" in location: an earlier return answers every request\n" +
		"x.conf:7: ignored directive \"return\" in location: an earlier break stops the rewrite directives\n"
	if got := warningLines(res.Warnings); got != want {
		t.Errorf("warnings:\n%s\nwant\n%s", got, want)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	if rw := cfg.Servers[0].Rewrite; len(rw) != 1 || rw[0].Code != 301 || rw[0].Replacement != "https://$host$request_uri" || rw[0].AddArgs {
		t.Errorf("server rewrite %+v", rw)
	}
	old := cfg.Servers[1].Locations[0]
	if len(old.Rewrite) != 2 || old.Rewrite[0].Source != "^/old/(.*)$" || old.Rewrite[1].Code != 302 || !old.RewriteLog {
		t.Errorf("location rewrites %+v, rewrite_log %v", old.Rewrite, old.RewriteLog)
	}
	if n := len(cfg.Servers[1].Locations[1].Rewrite); n != 0 {
		t.Errorf("an internal rewrite converted: %d", n)
	}
	if b := cfg.Servers[1].Locations[3]; len(b.Rewrite) != 1 || b.Return.Code != 0 {
		t.Errorf("location /b/: rewrites %+v, return %+v; want the rewrite before break only", b.Rewrite, b.Return)
	}
}
