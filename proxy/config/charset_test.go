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
		c.Set.Index("koi8-r") < 0 || c.Set.Index("UTF-8") < 0 || c.Set.Index("koi8-u") >= 0 || len(c.Types) != 6 {
		t.Errorf("/c/: gzip %+v, charset %+v", g, c)
	}
	if c, st := ls[3].Charset, ls[3].Static; c.Charset != "koi8-r" || st.AutoindexFormat != "html" || !st.AutoindexExactSize || st.AutoindexLocaltime {
		t.Errorf("/d/ inherits: charset %+v, static %+v", c, st)
	}

	for _, c := range []struct{ locs, want string }{
		{`        - {path: /, charset: utf-8, source_charset: koi8-r}`, `no "charset_map" between the charsets "koi8-r" and "utf-8"`},
		{`        - {path: /, gzip_static: sometimes}`, `invalid value "sometimes", it must be "on", "off" or "always"`},
		{`        - {path: /, autoindex_format: yaml}`, `invalid value "yaml" in "autoindex_format" directive`},
		{`        - {path: /, charset: $cs}`, `unknown "cs" variable`},
		{`        - {path: /, charset: ""}`, `"charset" must name a charset`},
		{`        - {path: /, add_trailer: ["X-Ok 1", "Set-Cookie a=b"]}`, `add_trailer "Set-Cookie": spillway's HTTP library does not send this header as a trailer`},
	} {
		_, err := load(c.locs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.locs, err, c.want)
		}
	}
}

// charset_map loads into the configuration's charsets (maps to utf-8 too),
// so that a source_charset other than charset loads when a map links them
// in either direction; what nginx -t refuses in a map is refused at its
// entry.
func TestCharsetMap(t *testing.T) {
	const tmpl = `
http:
  charset_map:
    - charset_map: B A
      values: ["58 59", [5A, 5B]]
    - charset_map: koi8-r utf-8
      values: ["C1 D0B0"]
MAPS
  servers:
    - listen: ["127.0.0.1:0"]
      root: /srv
      locations:
        - {path: /ab/, charset: A, source_charset: B}
        - {path: /ba/, charset: b, source_charset: a}
        - {path: /ku/, charset: UTF-8, source_charset: KOI8-R}
        - {path: /uk/, charset: koi8-r, source_charset: utf-8}
`
	load := func(maps string) (*Config, error) {
		return LoadBytes("proxy.yaml", []byte(strings.Replace(tmpl, "MAPS", maps, 1)))
	}
	cfg, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Servers[0].Locations
	set := ls[0].Charset.Set
	if set == nil || set != ls[3].Charset.Set || set != cfg.Servers[0].Charset.Set {
		t.Fatalf("the levels do not share one set: %p %p", set, ls[3].Charset.Set)
	}
	for _, c := range []struct{ src, dst, in, want string }{
		{"B", "A", "XZx", "Y[x"},
		{"a", "b", "Y[X", "XZX"},
		{"koi8-r", "utf-8", "a\xc1\xc2", "a\u0430?"},
		{"utf-8", "KOI8-R", "\u0430\u0431", "\xc1&#1073;"},
	} {
		rc := set.Recoder(set.Index(c.src), set.Index(c.dst))
		if rc == nil {
			t.Errorf("%s > %s: no recoder", c.src, c.dst)
			continue
		}
		if got := string(rc.Bytes([]byte(c.in))); got != c.want {
			t.Errorf("%s > %s: %q, want %q", c.src, c.dst, got, c.want)
		}
	}
	for _, c := range []struct{ maps, key, want string }{
		{`    - {charset_map: A b}`, "http.charset_map[2]", `duplicate "charset_map" between "A" and "b"`},
		{`    - {charset_map: x X}`, "http.charset_map[2]", `"charset_map" between the same charsets "x" and "X"`},
		{`    - {charset_map: x y, values: ["100 1"]}`, "http.charset_map[2].values[0]", `invalid value "100"`},
		{`    - {charset_map: x y, values: ["10 zz"]}`, "http.charset_map[2].values[0]", `invalid value "zz"`},
		{`    - {charset_map: x utf-8, values: ["10 F0908080"]}`, "http.charset_map[2].values[0]", `invalid value "F0908080"`},
		{`    - {charset_map: x utf-8, values: ["10 C0"]}`, "http.charset_map[2].values[0]", `invalid value "C0"`},
		{`    - {charset_map: x y, values: ["10"]}`, "", `invalid number of the map parameters`},
		{`    - {charset_map: x}`, "", `want "SRC DST"`},
		{`    - {charset_map: utf-8 y}`, "http.charset_map[2]", `"charset_map" from "utf-8" is not supported`},
	} {
		_, err := load(c.maps)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v, want %q at %s", c.maps, err, c.want, c.key)
		}
	}
	_, err = LoadBytes("proxy.yaml", []byte(strings.Replace(tmpl, "MAPS", "", 1)+"        - {path: /c/, charset: A, source_charset: koi8-r}\n"))
	if err == nil || !strings.Contains(err.Error(), `no "charset_map" between the charsets "koi8-r" and "A"`) {
		t.Errorf("koi8-r to A: %v", err)
	}
}
