package nginxconf

import (
	"strings"
	"testing"

	"spillway/proxy/config"
)

// A location inside a location converts to the enclosing one's locations
// key, and what the converted file loads is the same tree.
func TestConvertNestedLocations(t *testing.T) {
	res, err := convertText(t, conf(`listen 127.0.0.1:8080;
root /srv/www;
location / {
  proxy_pass http://127.0.0.1:9000;
  location = /sw.js { try_files $uri =404; }
  location ~ ^/(assets|packs)/ { add_header Cache-Control public; try_files $uri =404; }
  location /sub/ { return 200 sub; location ~ \.txt$ { return 200 txt; } }
}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("x.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	top := cfg.Servers[0].Locations
	if len(top) != 1 || len(top[0].Locations) != 3 {
		t.Fatalf("want one location with three nested ones:\n%s", res.YAML)
	}
	var got []string
	for _, l := range cfg.Servers[0].AllLocations() {
		got = append(got, l.Path)
	}
	if want := `/,/sw.js,^/(assets|packs)/,/sub/,\.txt$`; strings.Join(got, ",") != want {
		t.Errorf("locations %s, want %s", strings.Join(got, ","), want)
	}
	if sw := top[0].Locations[0]; sw.ProxyPass.Host != "" || sw.Static == nil || sw.Root != "/srv/www" {
		t.Errorf("nested = /sw.js: proxy_pass %q (nginx does not inherit it), static %v, root %q", sw.ProxyPass.Host, sw.Static, sw.Root)
	}
}

// nginx -t's errors for a nesting ngx_http_core_location refuses.
func TestConvertNestedLocationErrors(t *testing.T) {
	for in, want := range map[string]string{
		`location = /a { location /a/b { return 200; } }`:                  `location "/a/b" cannot be inside the exact location "/a"`,
		`location @n { location /b { return 200; } }`:                      `location "/b" cannot be inside the named location "@n"`,
		`location /a { location @n { return 200; } }`:                      `named location "@n" can be on the server level only`,
		`location /a { location /b { return 200; } }`:                      `location "/b" is outside location "/a"`,
		`location ~ \.php$ { location /b { return 200; } }`:                `location "/b" is outside location "\.php$"`,
		`location /a { if ($x) { location /a/b { } } }`:                    `"location" directive is not allowed here`,
		`location /a { return 204; location = /a/b { return 200; } }`:      "",
		`location ~ \.php$ { return 204; location ~ ^/x { return 200; } }`: "",
	} {
		_, err := convertText(t, conf("listen 80;\n"+in))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), want+" in x.conf:")):
			t.Errorf("%s: got %v, want %s", in, err, want)
		}
	}
}
