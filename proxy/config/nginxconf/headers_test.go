package nginxconf

import (
	"strings"
	"testing"

	"spillway/proxy/config"
)

// add_header and expires convert level by level and load back as written:
// "always", an empty value, a value ending in the word always, a variable
// spillway lacks (dropped, the level still replacing the inherited list),
// and every expires form; nginx's argument errors are errors.
func TestConvertAddHeaderExpires(t *testing.T) {
	res, err := convertText(t, `http {
  add_header X-Http on;
  expires max;
  server { listen 80;
    add_header X-Frame-Options SAMEORIGIN always;
    location / { proxy_pass http://127.0.0.1:9000; }
    location /a/ { proxy_pass http://127.0.0.1:9000; add_header X-E ""; add_header X-W "say always" always; expires modified -1h; }
    location /b/ { proxy_pass http://127.0.0.1:9000; add_header X-U $nosuch; expires @15h30m; }
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if w := warningLines(res.Warnings); w != "x.conf:8: unsupported add_header \"X-U\" in location: spillway has no \"$nosuch\" variable, so the header is not added\n" {
		t.Errorf("warnings:\n%s", w)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	s := cfg.Servers[0]
	if got := s.Headers.Add; len(got) != 1 || got[0] != (config.AddHeader{Name: "X-Frame-Options", Value: "SAMEORIGIN", Always: true}) {
		t.Errorf("server add_header %+v", got)
	}
	if s.Locations[0].Headers.Expires.Kind != config.ExpiresMax || len(s.Locations[0].Headers.Add) != 1 {
		t.Errorf("/ headers %+v", s.Locations[0].Headers)
	}
	a := s.Locations[1].Headers
	if len(a.Add) != 2 || a.Add[0] != (config.AddHeader{Name: "X-E"}) || a.Add[1] != (config.AddHeader{Name: "X-W", Value: "say always", Always: true}) ||
		a.Expires != (config.Expires{Kind: config.ExpiresModified, Time: -3600e9}) {
		t.Errorf("/a/ headers %+v", a)
	}
	b := s.Locations[2].Headers
	if len(b.Add) != 0 || b.Expires != (config.Expires{Kind: config.ExpiresDaily, Time: 15*3600e9 + 30*60e9}) {
		t.Errorf("/b/ headers %+v", b)
	}

	for in, want := range map[string]string{
		"add_header X;":           `invalid number of arguments in "add_header" directive`,
		"add_header X y never;":   `invalid parameter "never"`,
		"expires soon;":           `invalid value "soon"`,
		"expires modified @1h;":   `invalid value "modified @1h"`,
		"expires 1h; expires 2h;": `"expires" directive is duplicate`,
	} {
		_, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; "+in+" }"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}

// expires with variables (nginx's expires_value) converts as written and
// loads into Value, "modified" kept in Kind; an unknown variable is nginx's
// error, as is a proxy.yaml one.
func TestConvertExpiresVariables(t *testing.T) {
	res, err := convertText(t, conf(`listen 80;
    location /a/ { proxy_pass http://127.0.0.1:9000; expires $arg_e; }
    location /b/ { proxy_pass http://127.0.0.1:9000; expires modified $arg_e; }`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	locs := cfg.Servers[0].Locations
	if e := locs[0].Headers.Expires; e != (config.Expires{Kind: config.ExpiresAccess, Value: "$arg_e"}) {
		t.Errorf("/a/ expires %+v", e)
	}
	if e := locs[1].Headers.Expires; e != (config.Expires{Kind: config.ExpiresModified, Value: "$arg_e"}) {
		t.Errorf("/b/ expires %+v", e)
	}
	if _, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; expires $nosuch; }")); err == nil ||
		!strings.Contains(err.Error(), `unknown "nosuch" variable`) {
		t.Errorf("expires $nosuch: err %v", err)
	}
	_, err = config.LoadBytes("proxy.yaml", []byte(`
http:
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - {path: /, proxy_pass: "http://127.0.0.1:9000", expires: $nosuch}
`))
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("proxy.yaml expires $nosuch: err %v", err)
	}
}
