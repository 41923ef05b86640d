package nginxconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// include mime.types reads the file next to the nginx.conf when there is
// one, and spillway's copy of nginx 1.22's otherwise; either way the table
// lands in the level's types, which load as served files' Content-Types.
func TestIncludeMimeTypes(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "nginx.conf")
	body := "events { }\nhttp {\n    include mime.types;\n    server { listen 8080; location / { root /srv; } }\n}\n"
	if err := os.WriteFile(main, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ConvertFile(main, Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := string(res.YAML)
	for _, want := range []string{"woff2: font/woff2", "html: text/html", "docx: application/vnd.openxmlformats-officedocument.wordprocessingml.document"} {
		if !strings.Contains(y, want) {
			t.Errorf("no %q in the converted types", want)
		}
	}
	c, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Servers[0].Locations[0].Static.Types, config.NginxMimeTypes(); len(got) != len(want) || got["svgz"] != "image/svg+xml" || got["jpg"] != "image/jpeg" {
		t.Errorf("loaded types: %d entries (svgz %q), want nginx's %d", len(got), got["svgz"], len(want))
	}

	// A mime.types of its own wins over spillway's.
	if err := os.WriteFile(filepath.Join(dir, "mime.types"), []byte("types { text/x-own own; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = ConvertFile(main, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if y := string(res.YAML); !strings.Contains(y, "own: text/x-own") || strings.Contains(y, "woff2") {
		t.Errorf("the file next to nginx.conf was not the one read:\n%s", y)
	}
}
