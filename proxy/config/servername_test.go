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
