package nginxconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy"
	"spillway/proxy/config"
)

// convertText parses and converts one file named x.conf.
func convertText(t *testing.T, in string) (*Result, error) {
	t.Helper()
	ds, err := Parse("x.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return Convert(ds, Options{})
}

// refusedLines is the *RefusedError's lines, or fails the test when err is
// not one; a refused file gives its warnings and no YAML.
func refusedLines(t *testing.T, res *Result, err error) []string {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("not refused: err = %v", err)
	}
	if res == nil || res.YAML != nil {
		t.Fatalf("a refused file gives its warnings and no YAML: %+v", res)
	}
	var fromWarnings []string
	for _, w := range res.Warnings {
		if w.Kind == Refused {
			fromWarnings = append(fromWarnings, w.Msg+" in "+where(&Directive{File: w.File, Line: w.Line}))
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if strings.Join(fromWarnings, "\n") != err.Error() || len(re.Refused) != len(lines) {
		t.Errorf("the error's lines are not the Refused warnings:\n%s\nwarnings:\n%s", err, strings.Join(fromWarnings, "\n"))
	}
	return lines
}

// Every access-control directive spillway does not enforce refuses the file
// with nginx's emerg form (message in file:line), wherever it is written:
// dropping it would answer requests that nginx refuses.
func TestConvertRefusesAccessControl(t *testing.T) {
	cases := []struct{ directive, why string }{
		{`auth_jwt "api";`, "no token would be checked"},
		{"auth_jwt_key_file /etc/nginx/jwk.json;", "no token would be checked"},
		{"auth_jwt_key_request /jwks;", "no token would be checked"},
		{"auth_jwt_require $valid;", "no token would be checked"},
		{`auth_digest "realm";`, "no password would be asked"},
		{"auth_digest_user_file /etc/nginx/digest;", "no password would be asked"},
		{`auth_pam "realm";`, "no password would be asked"},
		{`auth_ldap "realm";`, "no password would be asked"},
		{"auth_gss on;", "no credentials would be asked"},
		{"valid_referers none blocked example.com;", "requests with any Referer would be allowed"},
		{"secure_link $arg_md5,$arg_expires;", "links would not be checked"},
		{`secure_link_md5 "$secure_link_expires$uri secret";`, "links would not be checked"},
		{"secure_link_secret s3cret;", "links would not be checked"},
		{"access_by_lua 'ngx.exit(403)';", "the Lua code that guards requests would not run"},
		{"access_by_lua_block { ngx.exit(403); }", "the Lua code that guards requests would not run"},
		{"access_by_lua_file /etc/nginx/guard.lua;", "the Lua code that guards requests would not run"},
		{"rewrite_by_lua 'ngx.exit(403)';", "the Lua code that guards requests would not run"},
		{"rewrite_by_lua_block { ngx.exit(403); }", "the Lua code that guards requests would not run"},
		{"rewrite_by_lua_file /etc/nginx/guard.lua;", "the Lua code that guards requests would not run"},
		{"js_access guard.check;", "the njs handler that guards requests would not run"},
		{"perl_access Guard::handler;", "the Perl handler that guards requests would not run"},
		{"modsecurity on;", "no request would be inspected"},
		{"modsecurity_rules 'SecRuleEngine On';", "no request would be inspected"},
		{"modsecurity_rules_file /etc/nginx/modsec.conf;", "no request would be inspected"},
		{"modsecurity_rules_remote key https://example.com/rules;", "no request would be inspected"},
		{"SecRulesEnabled;", "no request would be inspected"},
		{"testcookie on;", "no client would be challenged"},
		{"disable_symlinks on;", "symbolic links in the paths of served files would be followed"},
		{"ssl_ocsp leaf;", "client certificates would not be checked with OCSP, so a revoked one would be accepted"},
		{"uwsgi_ssl_crl crl.pem;", "upstream certificates would not be checked against the CRL, so a revoked one would be accepted"},
		{"uwsgi_ssl_verify_depth 2;", "upstream certificate chains would be accepted at any depth"},
		{"uwsgi_ssl_verify_depth 2;", "upstream certificate chains would be accepted at any depth"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		name := strings.FieldsFunc(c.directive, func(r rune) bool { return r == ' ' || r == ';' })[0]
		covered[name] = true
		for _, at := range []struct{ ctx, in string }{
			{"location", conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000;\n" + c.directive + "\n}")},
			{"server", conf("listen 80;\n" + c.directive + "\nlocation / { proxy_pass http://127.0.0.1:9000; }")},
			{"http", "http {\n" + c.directive + "\n server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n}\n"},
		} {
			res, err := convertText(t, at.in)
			line := map[string]string{"location": "6", "server": "5", "http": "2"}[at.ctx]
			want := `"` + name + `" directive in ` + at.ctx + " is not enforced by spillway (" + c.why + ") in x.conf:" + line
			got := refusedLines(t, res, err)
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s in %s:\ngot  %q\nwant %q", c.directive, at.ctx, got, want)
			}
		}
	}
	for name := range refusedWhy {
		if !covered[name] {
			t.Errorf("refused directive %q has no case here", name)
		}
	}
}

// "auth_basic off" and the like turn a guard off: with no guard enforced
// there is nothing to refuse.
func TestConvertGuardOffIsIgnored(t *testing.T) {
	for name, r := range refusedWhy {
		if !r.off {
			continue
		}
		res, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000;\n"+name+" off;\n}"))
		if err != nil {
			t.Errorf("%s off: %v", name, err)
			continue
		}
		want := `x.conf:6: ignored directive "` + name + ` off" in location: spillway enforces no ` + name + `, so there is nothing to turn off`
		if warningLines(res.Warnings) != want+"\n" {
			t.Errorf("%s off: warnings\n%s\nwant %s", name, warningLines(res.Warnings), want)
		}
	}
}

// A location or server that convert would drop refuses the file: its
// requests would fall into another location (a "location ~ /\.ht { deny
// all; }" would send /.htpasswd to "location /"), or another server. What
// nginx -t refuses inside a dropped block is still an error.
func TestConvertRefusesDroppedLocationsAndServers(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"location that lets some clients reach its files", conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation ~ /\\.ht { allow 10.0.0.1; deny all; }"), []string{
			`location "~ /\.ht" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:6`,
		}},
		{"static files", conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation /static/ { }"), []string{
			`location "/static/" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:6`,
		}},
		{"regex RE2 cannot compile, with what it guards", conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation ~ ^/(?!public) {\nauth_jwt closed;\nproxy_pass http://127.0.0.1:9000; }"), []string{
			"location \"~ ^/(?!public)\" cannot be converted: its regex is not valid in Go's RE2 syntax (error parsing regexp: invalid or unsupported Perl syntax: `(?!`), so its requests would reach another location in x.conf:6",
			`"auth_jwt" directive in location is not enforced by spillway (no token would be checked) in x.conf:7`,
		}},
		{"nested location, what it guards", conf("listen 80;\nlocation /admin/ { proxy_pass http://127.0.0.1:9000;\nlocation /admin/secret {\nauth_jwt closed; } }"), []string{
			`location "/admin/secret" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:6`,
			`"auth_jwt" directive in location is not enforced by spillway (no token would be checked) in x.conf:7`,
		}},
		{"named location that does nothing", conf("listen 80;\nlocation / { try_files $uri @app; }\nlocation @app { }"), []string{
			`location "@app" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:6`,
		}},
		{"server that only redirects, with a variable spillway lacks", "http {\n server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n server { listen 80; server_name old.example;\n return 301 https://new.example$ssl_early_data;\n }\n}\n", []string{
			`server cannot be converted: none of its locations proxies (proxy_pass, fastcgi_pass), answers stub_status or serves files, so its requests would reach another server in x.conf:3`,
			`"return" directive in server is not enforced by spillway (unknown "ssl_early_data" variable: requests would be answered otherwise) in x.conf:4`,
		}},
		{"server on a unix socket only", "http {\n server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n server { listen unix:/run/s.sock; location / { proxy_pass http://127.0.0.1:9000; } }\n}\n", []string{
			`server cannot be converted: none of its listen addresses can be served by spillway in x.conf:3`,
		}},
		{"every server refused", conf("listen 80;\nlocation /admin/ { auth_jwt closed; }"), []string{
			`server cannot be converted: none of its locations proxies (proxy_pass, fastcgi_pass), answers stub_status or serves files, so its requests would reach another server in x.conf:3`,
			`location "/admin/" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:5`,
			`"auth_jwt" directive in location is not enforced by spillway (no token would be checked) in x.conf:5`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := convertText(t, c.in)
			if got := refusedLines(t, res, err); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}

	// nginx -t's errors still come first, inside a dropped block too.
	_, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation @app { proxy_pass http://127.0.0.1:9000/x; }"))
	var e *Error
	if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location`) {
		t.Errorf("proxy_pass with a URI in a named location: %v", err)
	}
}

// A refusal does not hide the rest: every warning is listed in reading
// order, across included files, each naming its own file and line, and the
// error has one line per refusal.
func TestConvertRefusalListsEverything(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "nginx.conf")
	inc := filepath.Join(dir, "admin.conf")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(main, `events { }
http {
    ssi on;
    server {
        listen 8080;
        location / { proxy_pass http://127.0.0.1:9000; limit_rate 1k; }
        include admin.conf;
    }
}
`)
	write(inc, `location /admin/ {
    proxy_pass http://127.0.0.1:9000;
    auth_jwt closed;
    auth_jwt_key_file conf/key.jwk;
    sub_filter a b;
}
`)
	res, err := ConvertFile(main, Options{})
	got := refusedLines(t, res, err)
	want := []string{
		`"auth_jwt" directive in location is not enforced by spillway (no token would be checked) in ` + inc + `:3`,
		`"auth_jwt_key_file" directive in location is not enforced by spillway (no token would be checked) in ` + inc + `:4`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantWarnings := main + `:1: ignored directive "events" in main: Go's runtime runs the event loop (epoll) and has no worker_connections limit
` + main + `:3: unsupported directive "ssi" in http
` + inc + `:3: "auth_jwt" directive in location is not enforced by spillway (no token would be checked)
` + inc + `:4: "auth_jwt_key_file" directive in location is not enforced by spillway (no token would be checked)
` + inc + `:5: unsupported directive "sub_filter" in location
`
	if w := warningLines(res.Warnings); w != wantWarnings {
		t.Errorf("warnings:\n%s\nwant:\n%s", w, wantWarnings)
	}
}

// allow and deny convert, in file order, into each level's access list; a
// location whose list denies everyone converts without proxy_pass (nginx
// answers 403 there before any content handler); the result loads and
// passes spillway's check.
func TestConvertAccess(t *testing.T) {
	in := `http {
  deny 192.168.0.1;
  server { listen 8080;
    allow 10.0.0.0/8; allow 2001:db8::/32; allow unix:; deny all;
    location / { proxy_pass http://127.0.0.1:9000; }
    location /admin/ { proxy_pass http://127.0.0.1:9000; deny 10.0.0.1; allow 10.1.2.3/8; deny all; }
    location ~ /\.ht { deny all; }
    location /status { stub_status; allow 127.0.0.1; deny all; satisfy any; }
  }
  server { listen 8081; deny all; location /private/ { root /srv; } location / { proxy_pass http://127.0.0.1:9000; } }
}
`
	res, err := convertText(t, in)
	if err != nil {
		t.Fatal(err)
	}
	y := string(res.YAML)
	for _, f := range []string{
		"http:\n  access:\n    - deny 192.168.0.1\n",
		"      access:\n        - allow 10.0.0.0/8\n        - allow 2001:db8::/32\n        - 'allow unix:'\n        - deny all\n",
		"          access:\n            - deny 10.0.0.1\n            - allow 10.1.2.3/8\n            - deny all\n",
		"        - path: ~ /\\.ht # location at x.conf:7\n          access:\n            - deny all\n",
		"          stub_status: on\n          access:\n            - allow 127.0.0.1\n            - deny all\n          satisfy: any\n",
		"        - path: /private/ # location at x.conf:10\n", // the server's deny all reaches it
	} {
		if !strings.Contains(y, f) {
			t.Errorf("output lacks %q", f)
		}
	}
	want := `x.conf:6: ignored low address bits of 10.1.2.3/8 in location: they are meaningless, spillway uses 10.0.0.0/8 as nginx does
`
	if w := warningLines(res.Warnings); w != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", w, want)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err == nil {
		err = proxy.Validate(cfg)
	}
	if err != nil {
		t.Fatalf("the converted configuration does not pass the check: %v\n%s", err, y)
	}

	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { proxy_pass http://a:1; allow 10.0.0.300; }"), `invalid parameter "10.0.0.300" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; deny; }"), `invalid number of arguments in "deny" directive in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; satisfy some; }"), `invalid value "some" in "satisfy" directive, it must be "all" or "any" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; deny 10.0.0.1 10.0.0.2; }"), `invalid number of arguments in "deny" directive in x.conf:4`},
	} {
		_, err := convertText(t, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
}

// auth_basic and auth_basic_user_file convert (the file joined to the
// configuration's directory, as nginx reads it); a user file named with
// variables is refused, a variable in the realm is reported.
func TestConvertAuthBasic(t *testing.T) {
	ds, err := Parse("x.conf", []byte(`http {
  auth_basic "Members only";
  auth_basic_user_file htpasswd;
  server { listen 80;
    location / { proxy_pass http://127.0.0.1:9000; }
    location /open/ { proxy_pass http://127.0.0.1:9000; auth_basic off; }
    location /h/ { proxy_pass http://127.0.0.1:9000; auth_basic "Realm $host"; }
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(ds, Options{ConfPrefix: "/etc/nginx"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"auth_basic: Members only\n", "auth_basic_user_file: /etc/nginx/htpasswd\n", "auth_basic: off\n", "auth_basic: Realm $host\n"} {
		if !strings.Contains(string(res.YAML), f) {
			t.Errorf("output lacks %q:\n%s", f, res.YAML)
		}
	}
	if w := warningLines(res.Warnings); w != "x.conf:7: unsupported variable in \"auth_basic\" in location: the realm \"Realm $host\" is sent as written\n" {
		t.Errorf("warnings:\n%s", w)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatal(err)
	}
	locs := cfg.Servers[0].Locations
	if !locs[0].AuthBasic.Enabled() || locs[1].AuthBasic.Enabled() || locs[0].AuthBasic.Realm != "Members only" {
		t.Errorf("auth_basic: %+v %+v", locs[0].AuthBasic, locs[1].AuthBasic)
	}

	res, err = convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000;\nauth_basic x; auth_basic_user_file /etc/$nohost.htpasswd; }"))
	want := `"auth_basic_user_file" directive in location is not enforced by spillway (it does not know the variable "nohost": no password would be asked) in x.conf:6`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// limit_req_zone, limit_req, limit_conn_zone, limit_conn and their
// status, log level and dry run convert as lists of nginx's arguments; a
// zone keyed by a variable spillway does not know is refused; nginx's
// argument errors are errors.
func TestConvertLimits(t *testing.T) {
	res, err := convertText(t, `http {
  limit_req_zone $binary_remote_addr zone=one:10m rate=1r/s;
  limit_conn_zone $server_name zone=perserver:10m;
  limit_req zone=one burst=5;
  server { listen 80;
    limit_conn perserver 100;
    location /login { proxy_pass http://127.0.0.1:9000; limit_req zone=one burst=3 nodelay; limit_req_status 429; limit_req_log_level warn; limit_req_dry_run on;
      limit_conn perserver 10; limit_conn_status 429; limit_conn_log_level notice; limit_conn_dry_run off; }
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	y := string(res.YAML)
	for _, f := range []string{
		"limit_req_zone:\n    - $binary_remote_addr zone=one:10m rate=1r/s\n", "limit_conn_zone:\n    - $server_name zone=perserver:10m\n",
		"limit_req:\n    - zone=one burst=5\n", "limit_conn:\n        - perserver 100\n",
		"limit_req:\n            - zone=one burst=3 nodelay\n", "limit_req_status: 429", "limit_req_log_level: warn", "limit_req_dry_run: on",
		"limit_conn:\n            - perserver 10\n", "limit_conn_status: 429", "limit_conn_log_level: notice", "limit_conn_dry_run: off",
	} {
		if !strings.Contains(y, f) {
			t.Errorf("output lacks %q\n%s", f, y)
		}
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err == nil {
		err = proxy.Validate(cfg)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}

	res, err = convertText(t, "http {\n  limit_req_zone $geoip_country_code zone=one:10m rate=1r/s;\n  server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n}\n")
	want := `"limit_req_zone" directive in http is not enforced by spillway (it has no "$geoip_country_code" variable for the key: requests would not be limited) in x.conf:2`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
	res, err = convertText(t, "http {\n  limit_conn_zone $geoip_country_code zone=addr:10m;\n  server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n}\n")
	want = `"limit_conn_zone" directive in http is not enforced by spillway (it has no "$geoip_country_code" variable for the key: connections would not be limited) in x.conf:2`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, c := range []struct{ in, want string }{
		{"http {\n limit_req_zone $binary_remote_addr zone=one:10m rate=1r/h;\n}", `invalid rate "rate=1r/h" in x.conf:2`},
		{"http {\n limit_conn_zone $binary_remote_addr zone=one;\n}", `invalid zone size "zone=one" in x.conf:2`},
		{conf("listen 80; location / { proxy_pass http://a:1; limit_req burst=5; }"), `"limit_req" must have "zone" parameter in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; limit_conn addr x; }"), `invalid number of connections "x" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; limit_req_status 302; }"), `value must be between 400 and 599 in x.conf:4`},
	} {
		_, err := convertText(t, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
}

// internal converts, and an internal location needs no proxy_pass (nginx
// answers clients 404 there; spillway makes no internal redirects).
func TestConvertInternal(t *testing.T) {
	res, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation = /auth { internal; proxy_pass http://127.0.0.1:9001; }\nlocation /protected/ { internal; alias /srv/files/; }"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"- path: = /auth # location at x.conf:6\n          internal: on\n          proxy_pass:", "- path: /protected/ # location at x.conf:7\n          internal: on\n"} {
		if !strings.Contains(string(res.YAML), f) {
			t.Errorf("output lacks %q:\n%s", f, res.YAML)
		}
	}
	if _, err := config.LoadBytes("proxy.yaml", res.YAML); err != nil {
		t.Error(err)
	}
	if _, err := convertText(t, conf("listen 80; location / { proxy_pass http://a:1; internal x; }")); err == nil || err.Error() != `invalid number of arguments in "internal" directive in x.conf:4` {
		t.Errorf("internal x: %v", err)
	}
}

// A proxy_set_header whose value has a variable spillway does not know
// is refused, not dropped: nginx replaces the client's header of that name,
// so dropping it would let a client send the upstream its own (an
// Early-Data an application trusts to refuse replayable requests, say).
func TestConvertRefusesProxySetHeaderWithUnknownVariable(t *testing.T) {
	res, err := convertText(t, "http {\n  server { listen 80;\n    location / { proxy_pass http://127.0.0.1:9000; proxy_set_header Early-Data $ssl_early_data; }\n  }\n}\n")
	want := `"proxy_set_header" directive in location is not enforced by spillway (it has no "$ssl_early_data" variable: the client's own "Early-Data" header would reach the upstream) in x.conf:3`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A variable spillway knows converts.
	if _, err := convertText(t, "http {\n  server { listen 80;\n    location / { proxy_pass http://127.0.0.1:9000; proxy_set_header X-Real-IP $remote_addr; }\n  }\n}\n"); err != nil {
		t.Errorf("known variable: %v", err)
	}
	// A map that does not convert (a regex RE2 lacks) leaves its
	// variable unknown: the header that uses it is refused too.
	res, err = convertText(t, "http {\n  map $uri $lookahead { ~^/(?!x) no; }\n  server { listen 80;\n    location / { proxy_pass http://127.0.0.1:9000; proxy_set_header X-Look $lookahead; }\n  }\n}\n")
	want = `"proxy_set_header" directive in location is not enforced by spillway (it has no "$lookahead" variable: the client's own "X-Look" header would reach the upstream) in x.conf:4`
	if got := refusedLines(t, res, err); len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// auth_request, auth_request_set and proxy_pass_request_body convert
// (oauth2-proxy's guide's shape); auth_request_set's variables are known
// in every value, including those read before the directive (nginx adds
// them to the http block's variables); a value with a variable spillway
// lacks refuses the file; the result passes spillway's check, which
// routes the auth URI.
func TestConvertAuthRequest(t *testing.T) {
	in := `http {
  log_format who '$remote_addr $user';
  server { listen 8080; access_log /tmp/a.log who;
    location / { proxy_set_header X-User $user; add_header X-Email $email;
      auth_request /oauth2/auth;
      auth_request_set $user $upstream_http_x_auth_request_user;
      auth_request_set $email $upstream_http_x_auth_request_email;
      proxy_pass http://127.0.0.1:9000; }
    location = /oauth2/auth { internal; proxy_pass http://127.0.0.1:4180;
      proxy_set_header Content-Length ""; proxy_set_header X-Original-URI $request_uri; proxy_pass_request_body off; }
    location /public/ { auth_request off; proxy_pass http://127.0.0.1:9000; }
  }
}
`
	res, err := convertText(t, in)
	if err != nil {
		t.Fatal(err)
	}
	y := string(res.YAML)
	for _, f := range []string{
		"          auth_request: /oauth2/auth\n          auth_request_set:\n            - $user $upstream_http_x_auth_request_user\n            - $email $upstream_http_x_auth_request_email\n",
		"          proxy_pass_request_body: off\n",
		"          auth_request: off\n",
		"            X-User: $user\n",
	} {
		if !strings.Contains(y, f) {
			t.Errorf("output lacks %q\n%s", f, y)
		}
	}
	if w := warningLines(res.Warnings); w != "" {
		t.Errorf("warnings:\n%s", w)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err == nil {
		err = proxy.Validate(cfg)
	}
	if err != nil {
		t.Fatalf("the converted configuration does not pass the check: %v\n%s", err, y)
	}

	_, err = convertText(t, conf("listen 80; location / { proxy_pass http://a:1; auth_request /a; auth_request_set $u $upstream_trailer_x; }"))
	if err == nil || !strings.Contains(err.Error(), `"auth_request_set" directive in location is not enforced by spillway (it has no "$upstream_trailer_x" variable: "$u" would be empty)`) {
		t.Errorf("unknown variable: %v", err)
	}
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { proxy_pass http://a:1; auth_request; }"), `invalid number of arguments in "auth_request" directive in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; auth_request_set u x; }"), `invalid variable name "u" in x.conf:4`},
	} {
		if _, err := convertText(t, c.in); err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
}

// ssl_conf_command (and proxy_ssl_conf_command): Go's TLS runs no OpenSSL
// command, so one that may restrict protocols, ciphers, verification or
// the certificate refuses the file, and one that only tunes is ignored
// with a warning.
func TestConvertSSLConfCommand(t *testing.T) {
	for _, c := range []struct {
		directive string
		refused   bool
	}{
		{"ssl_conf_command MinProtocol TLSv1.3;", true},
		{"ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;", true},
		{"ssl_conf_command Certificate override.crt;", true},
		{"ssl_conf_command Options -TLSv1.2;", true},
		{"proxy_ssl_conf_command CipherString HIGH;", true},
		{"ssl_conf_command Options PrioritizeChaCha,-SessionTicket;", false},
		{"ssl_conf_command NumTickets 1;", false},
	} {
		res, err := convertText(t, conf("listen 80;\n"+c.directive+"\nlocation / { proxy_pass http://127.0.0.1:9000; }"))
		name := strings.Fields(c.directive)[0]
		if c.refused {
			got := refusedLines(t, res, err)
			if len(got) != 1 || !strings.Contains(got[0], `"`+name+`" directive in server is not enforced by spillway (Go's TLS has no OpenSSL configuration commands`) {
				t.Errorf("%s: %q", c.directive, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v, want a warning", c.directive, err)
			continue
		}
		if len(res.Warnings) != 1 || res.Warnings[0].Kind != Ignored || !strings.Contains(res.Warnings[0].Msg, "this one only tunes") {
			t.Errorf("%s: warnings %+v", c.directive, res.Warnings)
		}
	}
}
