package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spillway check prints nginx -t's wording and names the key and its line.
func TestCheck(t *testing.T) {
	cases := []struct {
		file string
		ok   bool
		want []string
	}{
		{"good.yaml", true, []string{"good.yaml test is successful"}},
		{"unknown-key.yaml", false, []string{`unknown key "proxy_bufers"`, "unknown-key.yaml:13", "test failed"}},
		{"bad-size.yaml", false, []string{`"proxy_buffer_size" directive invalid value "8q"`, "bad-size.yaml:7"}},
		{"bad-duration.yaml", false, []string{`"proxy_read_timeout" directive invalid value "5x"`, "bad-duration.yaml:2"}},
		{"unknown-variable.yaml", false, []string{`log_format: unknown "request_lenght" variable (http.access_log)`, "unknown-variable.yaml:2",
			`proxy_set_header Connection: unknown "connection_upgrade" variable (http.servers[0].locations[0].proxy_set_header.Connection)`, "unknown-variable.yaml:8"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			// A copy: check opens the logs the file names, under its directory.
			file := filepath.Join(t.TempDir(), c.file)
			b, err := os.ReadFile("../../testdata/config/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			root.SetArgs([]string{"check", "-c", file})
			err = root.Execute()
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, output:\n%s", err, out.String())
			}
			if !c.ok && !errors.Is(err, errCheckFailed) {
				t.Fatalf("err = %v, want errCheckFailed (exit 1)", err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// The shipped proxy.yaml is valid.
func TestShippedConfig(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetErr(&out)
	root.SetArgs([]string{"check", "-c", "../../proxy.yaml"})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}
