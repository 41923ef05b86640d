package nginxconf

import (
	"strings"
	"testing"

	"spillway/proxy/config"
)

// limit_except converts into the location's limit_except key, which
// config loads (the block's allow/deny, auth_basic, proxy_pass without a
// URI part, access_log); nginx -t's errors are its errors, and a block
// whose methods would reach no content in spillway is refused.
func TestConvertLimitExcept(t *testing.T) {
	in := conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000/x/;\nlimit_except GET post {\nallow 10.0.0.0/8; deny all;\nproxy_pass http://127.0.0.1:9001;\n}\n}\n" +
		"location /empty/ { root /srv; limit_except GET {\n# nothing\n}\n}")
	res, err := convertText(t, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"limit_except:\n            methods: [GET, POST, HEAD] # limit_except at x.conf:6\n            access:\n              - allow 10.0.0.0/8\n              - deny all\n            proxy_pass: http://127.0.0.1:9001\n",
		"limit_except:\n            methods: [GET, HEAD] # limit_except at x.conf:11\n",
	} {
		if !strings.Contains(string(res.YAML), want) {
			t.Errorf("YAML has no\n%s\n%s", want, res.YAML)
		}
	}
	if w := warningLines(res.Warnings); w != "" {
		t.Errorf("warnings: %s", w)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if le := cfg.Servers[0].Locations[0].LimitExcept; le == nil || le.Location.ProxyPass.Host != "127.0.0.1:9001" {
		t.Errorf("loaded limit_except %+v", le)
	}

	for _, c := range []struct{ block, want string }{
		{"limit_except FETCH { deny all; }", `invalid method "FETCH" in x.conf:6`},
		{"limit_except { deny all; }", `invalid number of arguments in "limit_except" directive in x.conf:6`},
		{"limit_except GET { root /srv; }", `"root" directive is not allowed here in x.conf:6`},
		{"limit_except GET { return 403; }", `"return" directive is not allowed here in x.conf:6`},
		{"limit_except GET { proxy_pass http://127.0.0.1:9001/y; }", `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in x.conf:6`},
		{"limit_except GET { deny all; }\nlimit_except POST { deny all; }", `"limit_except" directive is duplicate in x.conf:7`},
		{"limit_except GET;", `directive "limit_except" has no opening "{" in x.conf:6`},
		{"if ($arg_a) { limit_except GET { deny all; } }", `"limit_except" directive is not allowed here in x.conf:6`},
	} {
		_, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000;\n"+c.block+"\n}"))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %s", c.block, err, c.want)
		}
	}

	// The location's return is not the block's: without content or a deny
	// for everyone, the methods not listed would be answered otherwise.
	res, err = convertText(t, conf("listen 80;\nlocation /r { return 200 ok;\nlimit_except GET { allow 10.0.0.0/8; }\n}"))
	want := `"limit_except" in location "/r" cannot be converted: the methods it does not list would reach no content in spillway (nginx serves them files from its default root, not the location's return, stub_status or try_files)`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want+" in x.conf:6" {
		t.Errorf("refused %q, want %q", got, want)
	}
	if _, err := convertText(t, conf("listen 80;\nlocation /r { return 200 ok;\nlimit_except GET { deny all; }\n}")); err != nil {
		t.Errorf("a block that denies everyone: %v", err)
	}
	res, err = convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000;\nlimit_except GET { perl Guard::handler; }\n}"))
	if got := refusedLines(t, res, err); len(got) != 1 || !strings.Contains(got[0], `"perl" in "limit_except" in location is not enforced by spillway`) {
		t.Errorf("perl in limit_except: %q", got)
	}
}
