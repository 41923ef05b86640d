package config

import (
	"slices"
	"strings"
	"testing"
)

// server_name takes nginx's names: exact ones and wildcards lower-cased,
// a regex as written (its case and escapes matter), "" in a list (the
// name of requests without Host); a regex RE2 cannot run is an error, and
// its named captures are variables.
func TestServerNames(t *testing.T) {
	text := strings.Replace(base, "      locations:\n", "      server_name: [WWW.Example.COM, '*.Example.ORG', 'mail.*', '~^(?<Sub>[A-Z]+)\\.example\\.net$', \"\"]\n      locations:\n", 1)
	c, err := load(t, text)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"www.example.com", "*.example.org", "mail.*", `~^(?<Sub>[A-Z]+)\.example\.net$`, ""}
	if got := c.Servers[0].ServerName; !slices.Equal(got, want) {
		t.Errorf("ServerName %q, want %q", got, want)
	}
	if !slices.Contains(c.Captures, "sub") {
		t.Errorf("Captures %q lack the regex name's", c.Captures)
	}
	c, err = load(t, strings.Replace(base, "      locations:\n", "      server_name: \"\"\n      locations:\n", 1))
	if err != nil || !slices.Equal(c.Servers[0].ServerName, []string{""}) {
		t.Errorf("server_name \"\": %q, %v", c.Servers[0].ServerName, err)
	}
	_, err = load(t, strings.Replace(base, "      locations:\n", "      server_name: ['~(?<=a)b']\n      locations:\n", 1))
	wantError(t, err, "http.servers[0].server_name", 7, `server_name "~(?<=a)b"`)
}

// ConfPrefix is the file's directory, or Paths.ConfPrefix (nginx's conf
// prefix, for a converted nginx.conf), absolute; a user file named with
// variables is checked like every value with variables.
func TestConfPrefixAndUserFileVariables(t *testing.T) {
	c, err := LoadBytesPaths("/etc/spillway/proxy.yaml", []byte(withLocation("auth_basic: x", "auth_basic_user_file: $arg_f")), Paths{Prefix: "/srv"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConfPrefix != "/etc/spillway" || c.Servers[0].Locations[0].AuthBasic.UserFile != "$arg_f" {
		t.Errorf("ConfPrefix %q, user file %q", c.ConfPrefix, c.Servers[0].Locations[0].AuthBasic.UserFile)
	}
	c, err = LoadBytesPaths("/srv/nginx.conf (converted)", []byte(base), Paths{ConfPrefix: "/etc/nginx"})
	if err != nil || c.ConfPrefix != "/etc/nginx" {
		t.Errorf("ConfPrefix %q, %v", c.ConfPrefix, err)
	}
	_, err = load(t, withLocation("auth_basic: x", "auth_basic_user_file: /etc/$nosuch"))
	wantError(t, err, loc0+".auth_basic_user_file", 11, `auth_basic_user_file: `)
}
