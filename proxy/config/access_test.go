package config

import (
	"net/netip"
	"strings"
	"testing"
)

// Access control spillway does not enforce has no key, and allow/deny are
// written as access: nginx's names (allow, deny, auth_jwt...)
// are refused like any unknown key, at every level, never silently
// accepted.
func TestAccessControlKeysAreRefused(t *testing.T) {
	for _, kv := range []string{
		"allow: 10.0.0.0/8", "deny: all", "auth_jwt: closed",
		"valid_referers: none", "secure_link: $arg_md5",
	} {
		key, _, _ := strings.Cut(kv, ":")
		msg := `unknown key "` + key + `"`
		t.Run(key, func(t *testing.T) {
			_, err := load(t, withLocation(kv))
			wantError(t, err, loc0+"."+key, 10, msg)
			_, err = load(t, strings.Replace(base, "      locations:\n", "      "+kv+"\n      locations:\n", 1))
			wantError(t, err, "http.servers[0]."+key, 7, msg)
			_, err = load(t, strings.Replace(base, "http:\n", "http:\n  "+kv+"\n", 1))
			wantError(t, err, "http."+key, 2, msg)
		})
	}
}

// access decodes from every form proxy.yaml and environment variables give
// it, keeps the file's order, and is inherited as one directive: a level
// that sets it replaces the inherited list, as nginx does with allow/deny.
func TestAccessDecodeAndInherit(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  access: \"allow 10.0.0.0/8; deny all\"\n", 1)
	text = strings.Replace(text, "      locations:\n        - path: /\n          proxy_pass: http://app\n",
		"      access: [deny 192.168.1.1, {allow: \"2001:db8::/32\"}, allow unix:]\n      locations:\n        - path: /\n          proxy_pass: http://app\n"+
			"        - path: /inherits\n          proxy_pass: http://app\n"+
			"        - path: /own\n          proxy_pass: http://app\n          access:\n            - deny 10.1.2.3/8\n            - allow all\n"+
			"        - path: /deny\n          access: [deny all]\n", 1)
	c := mustLoad(t, text)
	texts := func(a AccessRules) string {
		var s []string
		for _, r := range a.Rules {
			s = append(s, r.Text)
		}
		return strings.Join(s, "; ")
	}
	s := c.Servers[0]
	for _, w := range []struct{ got, want string }{
		{texts(s.Access), "deny 192.168.1.1; allow 2001:db8::/32; allow unix:"},
		{texts(s.Locations[0].Access), "deny 192.168.1.1; allow 2001:db8::/32; allow unix:"},
		{texts(s.Locations[2].Access), "deny 10.1.2.3/8; allow all"},
		{texts(s.Locations[3].Access), "deny all"},
		{s.Locations[2].Access.Rules[0].Net.String(), "10.0.0.0/8"}, // low bits cleared, as nginx
	} {
		if w.got != w.want {
			t.Errorf("got %q, want %q", w.got, w.want)
		}
	}
	if !s.Locations[3].Access.DeniesAll() || s.Locations[2].Access.DeniesAll() {
		t.Error("DeniesAll")
	}

	// A location without proxy_pass is accepted only when nobody gets in.
	bad := strings.Replace(base, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n        - path: /x\n          access: [allow 127.0.0.1, deny all]\n", 1)
	_, err := load(t, bad)
	wantError(t, err, "http.servers[0].locations[1]", 10, `location has no "proxy_pass"`)

	for _, c := range []struct{ value, msg string }{
		{"[allow 10.0.0.300]", `invalid parameter "10.0.0.300"`},
		{"[permit all]", `unknown access rule "permit"`},
		{"[allow]", `each entry is "allow ADDRESS" or "deny ADDRESS"`},
		{"[{allow: all, deny: all}]", "got 2 keys in one entry"},
		{"[allow fe80::1%eth0]", `invalid parameter "fe80::1%eth0"`},
		{"{allow: all}", "expected a list"},
	} {
		_, err := load(t, withLocation("access: "+c.value))
		wantError(t, err, loc0+".access", 10, c.msg)
	}
}

// Denies is ngx_http_access_handler: per address family, first match.
func TestAccessRulesDenies(t *testing.T) {
	rules := func(s ...string) AccessRules {
		var rs []AccessRule
		for _, e := range s {
			verb, arg, _ := strings.Cut(e, " ")
			r, err := ParseAccessRule(verb, arg)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return newAccessRules(rs)
	}
	for _, c := range []struct {
		rules []string
		addr  string
		deny  bool
	}{
		{[]string{"allow 10.0.0.0/8", "deny all"}, "10.1.2.3", false},
		{[]string{"allow 10.0.0.0/8", "deny all"}, "11.1.2.3", true},
		{[]string{"allow 10.0.0.0/8", "deny all"}, "::1", true},
		{[]string{"deny 10.0.0.1", "allow 10.0.0.0/8", "deny all"}, "10.0.0.1", true},
		{[]string{"deny 10.0.0.1", "allow 10.0.0.0/8", "deny all"}, "10.0.0.2", false},
		{[]string{"deny ::1"}, "127.0.0.1", false},                     // no IPv4 rule: allowed
		{[]string{"deny 127.0.0.1"}, "::1", false},                     // no IPv6 rule: allowed
		{[]string{"deny 10.0.0.0/8"}, "::ffff:10.1.1.1", true},         // mapped: IPv4 rules
		{[]string{"deny ::ffff:10.1.1.1"}, "::ffff:10.1.1.1", true},    // no IPv4 rules: IPv6 ones
		{[]string{"allow unix:", "deny 127.0.0.1"}, "127.0.0.1", true}, // unix: is no IPv4 rule
		{[]string{"deny 2001:db8::/32", "allow all"}, "2001:db8::5", true},
		{[]string{"deny 2001:db8::/32", "allow all"}, "2001:db9::5", false},
	} {
		a := rules(c.rules...)
		if got := a.Denies(netip.MustParseAddr(c.addr)); got != c.deny {
			t.Errorf("%v for %s: denies %v, want %v", c.rules, c.addr, got, c.deny)
		}
	}
	a := rules("allow unix:", "deny all")
	if a.DeniesUnix() {
		t.Error("allow unix: first: a unix client is allowed")
	}
	a = rules("allow 127.0.0.1", "deny all")
	if !a.DeniesUnix() {
		t.Error("deny all: a unix client is denied")
	}
}

// auth_basic and auth_basic_user_file are inherited each on its own, as
// in nginx: "off" turns an inherited realm off, a location may name
// another file and keep the realm; without a file nothing is asked.
func TestAuthBasicInherit(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  auth_basic: Members only\n  auth_basic_user_file: /etc/htpasswd\n", 1)
	text = strings.Replace(text, "          proxy_pass: http://app\n",
		"          proxy_pass: http://app\n"+
			"        - {path: /off, proxy_pass: http://app, auth_basic: \"off\"}\n"+
			"        - {path: /other, proxy_pass: http://app, auth_basic_user_file: /etc/other}\n", 1)
	c := mustLoad(t, text)
	l := c.Servers[0].Locations
	for i, want := range []AuthBasic{
		{Realm: "Members only", UserFile: "/etc/htpasswd", set: true},
		{Realm: "off", UserFile: "/etc/htpasswd", set: true},
		{Realm: "Members only", UserFile: "/etc/other", set: true},
	} {
		if l[i].AuthBasic != want {
			t.Errorf("location %d: %+v, want %+v", i, l[i].AuthBasic, want)
		}
	}
	if !l[0].AuthBasic.Enabled() || l[1].AuthBasic.Enabled() || !c.Servers[0].AuthBasic.Enabled() {
		t.Error("Enabled")
	}
	noFile := mustLoad(t, strings.Replace(base, "http:\n", "http:\n  auth_basic: x\n", 1))
	if noFile.Servers[0].Locations[0].AuthBasic.Enabled() {
		t.Error("auth_basic without a user file asks nothing in nginx")
	}
	_, err := load(t, withLocation(`auth_basic_user_file: " "`))
	wantError(t, err, loc0+".auth_basic_user_file", 10, `"auth_basic_user_file" must not be empty`)
}

// satisfy: all (default) or any, inherited; any other value is an error.
func TestSatisfy(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  satisfy: ANY\n", 1)
	text = strings.Replace(text, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n        - {path: /all, proxy_pass: http://app, satisfy: all}\n", 1)
	c := mustLoad(t, text)
	if l := c.Servers[0].Locations; !l[0].SatisfyAny || l[1].SatisfyAny || !c.Servers[0].SatisfyAny {
		t.Errorf("satisfy: %v %v", l[0].SatisfyAny, l[1].SatisfyAny)
	}
	_, err := load(t, withLocation("satisfy: some"))
	wantError(t, err, loc0+".satisfy", 10, `invalid value "some": want "all" or "any"`)
	// Under satisfy any a password could let a client in: a deny-all
	// location with auth_basic needs its proxy_pass.
	bad := strings.Replace(base, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n        - {path: /x, access: [deny all], satisfy: any, auth_basic: r, auth_basic_user_file: /f}\n", 1)
	_, err = load(t, bad)
	wantError(t, err, "http.servers[0].locations[1]", 10, `location has no "proxy_pass"`)
}
