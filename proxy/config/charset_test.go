package config

import (
	"strings"
	"testing"
)

// gzip_static, gunzip, charset* and autoindex_* load with nginx's values
// and defaults; what nginx -t refuses is refused.
func TestStaticFilterDirectives(t *testing.T) {
	const tmpl = `
http:
  charset: koi8-r
  servers:
    - listen: ["127.0.0.1:0"]
      root: /srv
      locations:
LOCS
`
	load := func(locs string) (*Config, error) {
		return LoadBytes("proxy.yaml", []byte(strings.Replace(tmpl, "LOCS", locs, 1)))
	}
	cfg, err := load(`        - {path: /a/, gzip_static: on, gzip_vary: on, charset: utf-8, charset_types: "text/css", types: mime.types}
        - {path: /b/, gzip_static: always, gunzip: on, gunzip_buffers: 16 8k, charset: "off", autoindex: on, autoindex_format: jsonp, autoindex_exact_size: off, autoindex_localtime: on}
        - {path: /c/, gzip_static: true, charset: UTF-8, source_charset: utf-8, override_charset: on}
        - {path: /d/}`)
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Servers[0].Locations
	if g, c := ls[0].Gzip, ls[0].Charset; g.Static != GzipStaticOn || !g.Vary || g.On || c.Charset != "utf-8" || strings.Join(c.Types, " ") != "text/html text/css" ||
		ls[0].Static.Types["woff2"] != "font/woff2" {
		t.Errorf("/a/: gzip %+v, charset %+v, types %d", g, c, len(ls[0].Static.Types))
	}
	if g, c, st := ls[1].Gzip, ls[1].Charset, ls[1].Static; g.Static != GzipStaticAlways || !g.Gunzip || c.Charset != "" ||
		st.AutoindexFormat != "jsonp" || st.AutoindexExactSize || !st.AutoindexLocaltime {
		t.Errorf("/b/: gzip %+v, charset %+v, static %+v", g, c, st)
	}
	if g, c := ls[2].Gzip, ls[2].Charset; g.Static != GzipStaticOn || c.Charset != "UTF-8" || c.Source != "utf-8" || !c.Override ||
		!c.Known["koi8-r"] || !c.Known["utf-8"] || len(c.Types) != 6 {
		t.Errorf("/c/: gzip %+v, charset %+v", g, c)
	}
	if c, st := ls[3].Charset, ls[3].Static; c.Charset != "koi8-r" || st.AutoindexFormat != "html" || !st.AutoindexExactSize || st.AutoindexLocaltime {
		t.Errorf("/d/ inherits: charset %+v, static %+v", c, st)
	}

	for _, c := range []struct{ locs, want string }{
		{`        - {path: /, charset: utf-8, source_charset: koi8-r}`, `no "charset_map" between the charsets "koi8-r" and "utf-8"`},
		{`        - {path: /, gzip_static: sometimes}`, `invalid value "sometimes", it must be "on", "off" or "always"`},
		{`        - {path: /, autoindex_format: yaml}`, `invalid value "yaml" in "autoindex_format" directive`},
		{`        - {path: /, charset: $cs}`, `"charset" must name a charset`},
		{`        - {path: /, add_trailer: ["X-Ok 1", "Set-Cookie a=b"]}`, `add_trailer "Set-Cookie": spillway's HTTP library does not send this header as a trailer`},
	} {
		_, err := load(c.locs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.locs, err, c.want)
		}
	}
}
