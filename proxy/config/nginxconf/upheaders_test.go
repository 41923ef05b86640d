package nginxconf

import (
	"strings"
	"testing"

	"spillway/proxy/config"
)

// proxy_cookie_flags converts level by level and loads back: a name with
// variables, a "~" regex (caseless), flags with variables, "off" in a
// nested location; nginx 1.22's errors (measured with nginx -t) are errors.
func TestConvertProxyCookieFlags(t *testing.T) {
	res, err := convertText(t, `http {
  server { listen 80;
    location / {
      proxy_pass http://127.0.0.1:9000;
      proxy_cookie_flags a secure httponly samesite=none;
      proxy_cookie_flags ~BAR $arg_f;
      location /off/ { proxy_pass http://127.0.0.1:9000; proxy_cookie_flags off; }
    }
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	root := cfg.Servers[0].Locations[0]
	got := root.UpstreamHeaders.CookieFlags
	if len(got) != 2 || got[0].Cookie != "a" || got[0].Regex != nil || strings.Join(got[0].Flags, " ") != "secure httponly samesite=none" ||
		got[1].Regex == nil || !got[1].Regex.MatchString("foobarbaz") || strings.Join(got[1].Flags, " ") != "$arg_f" {
		t.Errorf("/ proxy_cookie_flags %+v\n%s", got, res.YAML)
	}
	if off := root.Locations[0].UpstreamHeaders.CookieFlags; len(off) != 0 {
		t.Errorf("/off/ proxy_cookie_flags %+v", off)
	}

	for in, want := range map[string]string{
		"proxy_cookie_flags a;":                                   `invalid parameter "a"`,
		"proxy_cookie_flags a secure httponly nosamesite secure;": `invalid number of arguments in "proxy_cookie_flags" directive`,
		"proxy_cookie_flags off; proxy_cookie_flags a secure;":    `"proxy_cookie_flags" directive is duplicate`,
		"proxy_cookie_flags a secure; proxy_cookie_flags off;":    `"proxy_cookie_flags" directive is duplicate`,
		"proxy_cookie_flags $nosuch secure;":                      `unknown "nosuch" variable`,
		"proxy_cookie_flags a $nosuch;":                           `unknown "nosuch" variable`,
	} {
		_, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; "+in+" }"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}

// proxy_method converts as written, variables too; an unknown variable
// and a second one in a level are nginx's errors.
func TestConvertProxyMethod(t *testing.T) {
	res, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; proxy_method $arg_m; }"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	if m := cfg.Servers[0].Locations[0].ProxyMethod; m != "$arg_m" {
		t.Errorf("proxy_method %q\n%s", m, res.YAML)
	}
	for in, want := range map[string]string{
		"proxy_method $nosuch;":                `unknown "nosuch" variable`,
		"proxy_method POST; proxy_method PUT;": `"proxy_method" directive is duplicate`,
	} {
		_, err := convertText(t, conf("listen 80;\nlocation / { proxy_pass http://127.0.0.1:9000; "+in+" }"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}
