package config

import (
	"slices"
	"testing"
)

// limit_except's block becomes a Location of its own: the location's
// directives as nginx merges them in (proxy_pass with its URI part, access
// rules unless the block has its own), never its rewrite directives,
// try_files or stub_status; GET brings HEAD, method names are nginx's in
// any case.
func TestLimitExceptResolves(t *testing.T) {
	c, err := load(t, withLocation(
		"access: [allow 10.0.0.0/8, deny all]",
		"return: 200 ok",
		"root: /srv/www",
		"limit_except: {methods: [get, Post], auth_basic: staff, auth_basic_user_file: /etc/htpasswd}",
	))
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Servers[0].Locations[0]
	le := loc.LimitExcept
	if le == nil {
		t.Fatal("no LimitExcept")
	}
	if want := []string{"GET", "POST", "HEAD"}; !slices.Equal(le.Methods, want) {
		t.Errorf("Methods %q, want %q", le.Methods, want)
	}
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": false, "get": false, "FOO": false} {
		if le.Allows([]byte(m)) != want {
			t.Errorf("Allows(%s) = %v, want %v", m, !want, want)
		}
	}
	in := le.Location
	if in.ProxyPass.Upstream != "app" || in.Path != "/" {
		t.Errorf("proxy_pass %+v, path %q: want the location's", in.ProxyPass, in.Path)
	}
	if len(in.Script) != 0 {
		t.Errorf("the block has the location's script %+v", in.Script)
	}
	if len(in.Access.Rules) != 2 || !in.AuthBasic.Enabled() || in.AuthBasic.UserFile != "/etc/htpasswd" {
		t.Errorf("access %+v, auth_basic %+v: want the location's rules and the block's auth_basic", in.Access, in.AuthBasic)
	}
	if got := loc.IfLocations(); len(got) != 1 || got[0] != in {
		t.Errorf("IfLocations does not list the block's location")
	}

	c, err = load(t, withLocation("limit_except: {methods: GET, access: deny all, proxy_pass: http://127.0.0.1:9002}"))
	if err != nil {
		t.Fatal(err)
	}
	in = c.Servers[0].Locations[0].LimitExcept.Location
	if in.ProxyPass.Host != "127.0.0.1:9002" || !in.Access.DeniesAll() {
		t.Errorf("the block's own proxy_pass and access: %+v %+v", in.ProxyPass, in.Access)
	}
}

// What nginx -t refuses in limit_except is refused, and so is a block
// whose methods would reach no content in spillway.
func TestLimitExceptErrors(t *testing.T) {
	key := loc0 + ".limit_except"
	_, err := load(t, withLocation("limit_except: {methods: GET FETCH, access: deny all}"))
	wantError(t, err, key+".methods", 10, `invalid method "FETCH"`)
	_, err = load(t, withLocation("limit_except: {access: deny all}"))
	wantError(t, err, key+".methods", 10, `invalid number of arguments in "limit_except" directive`)
	_, err = load(t, withLocation("limit_except: {methods: GET, root: /srv}"))
	wantError(t, err, key+".root", 10, `"root" directive is not allowed here`)
	_, err = load(t, withLocation("limit_except: {methods: GET, proxy_pass: http://app/x}"))
	wantError(t, err, key+".proxy_pass", 10, `"proxy_pass" cannot have URI part`)
	text := base[:len(base)-len("          proxy_pass: http://app\n")] + "          return: 200 ok\n          limit_except: {methods: GET, access: allow all}\n"
	_, err = load(t, text)
	wantError(t, err, key, 10, `the methods limit_except does not list would reach no content in spillway`)
	if _, err := load(t, base[:len(base)-len("          proxy_pass: http://app\n")]+"          return: 200 ok\n          limit_except: {methods: GET, access: deny all}\n"); err != nil {
		t.Errorf("a block that denies every client needs no content: %v", err)
	}
}
