package config

import (
	"strings"
	"testing"
)

func TestStaticLocations(t *testing.T) {
	const tmpl = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      root: /srv
      locations:
LOCS
`
	load := func(locs string) (*Config, error) {
		return LoadBytes("proxy.yaml", []byte(strings.Replace(tmpl, "LOCS", locs, 1)))
	}
	cfg, err := load(`        - {path: /, index: "a.html b.html", try_files: "$uri $uri/ @app", types: {HTML: text/html}}
        - {path: "@app", proxy_pass: "http://127.0.0.1:9"}
        - {path: /p/, try_files: "$uri =404", proxy_pass: "http://127.0.0.1:9"}
        - {path: /i/, etag: off, log_not_found: off, default_type: application/octet-stream}`)
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Servers[0].Locations
	st := ls[0].Static
	if st == nil || st.Handler || strings.Join(st.Index, ",") != "a.html,b.html" || len(st.TryFiles) != 3 || st.Types["html"] != "text/html" ||
		st.DefaultType != "text/plain" || !st.ETag || !st.LogNotFound || ls[0].Root != "/srv" {
		t.Errorf("location /: %+v", st)
	}
	if ls[1].Match != MatchNamed || ls[1].Static != nil {
		t.Errorf("@app: match %v, static %+v", ls[1].Match, ls[1].Static)
	}
	if ls[2].Static == nil || !ls[2].Static.Handler {
		t.Errorf("/p/: try_files before proxy_pass: %+v", ls[2].Static)
	}
	if st := ls[3].Static; st == nil || st.ETag || st.LogNotFound || st.DefaultType != "application/octet-stream" || st.Types["gif"] != "image/gif" {
		t.Errorf("/i/: %+v", st)
	}
	for _, c := range []struct{ locs, want string }{
		{`        - {path: /, try_files: "$uri @nope"}`, `could not find named location "@nope"`},
		{`        - {path: /, try_files: "$uri"}`, `invalid number of arguments in "try_files" directive`},
		{`        - {path: /, alias: /x/, proxy_pass: "http://127.0.0.1:9"}`, `"alias" cannot be used in a location that proxies`},
		{`        - {path: "@app", proxy_pass: "http://127.0.0.1:9/x"}`, `cannot have URI part`},
	} {
		if _, err := load(c.locs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.locs, err, c.want)
		}
	}
}
