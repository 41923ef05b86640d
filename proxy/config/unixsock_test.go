package config

import (
	"strings"
	"testing"
)

// Unix-domain socket upstreams: as an upstream server, in proxy_pass
// (nginx's http://unix:/path:/uri) and in fastcgi_pass.
func TestUnixSocketUpstreams(t *testing.T) {
	c := mustLoad(t, `http:
  upstreams:
    app:
      servers: [{address: "unix:/run/app.sock", max_fails: 2}]
  servers:
    - listen: ["127.0.0.1:8080"]
      locations:
        - path: /
          proxy_pass: http://app
        - path: /api/
          proxy_pass: "http://unix:/run/api.sock:/v1/"
        - path: /raw/
          proxy_pass: "http://unix:/run/raw.sock"
        - path: "~ \\.php$"
          fastcgi_pass: "unix:/run/php/php8.2-fpm.sock"
`)
	if got := c.Upstreams["app"].Servers[0].Address; got != "unix:/run/app.sock" {
		t.Errorf("upstream server address %q", got)
	}
	ls := c.Servers[0].Locations
	if pp := ls[1].ProxyPass; pp.Host != "unix:/run/api.sock" || pp.URI != "/v1/" || !pp.HasURI || pp.Upstream != "" {
		t.Errorf("proxy_pass http://unix:/run/api.sock:/v1/ = %+v", pp)
	}
	if pp := ls[2].ProxyPass; pp.Host != "unix:/run/raw.sock" || pp.HasURI {
		t.Errorf("proxy_pass http://unix:/run/raw.sock = %+v", pp)
	}
	if pp := ls[3].ProxyPass; pp.Host != "unix:/run/php/php8.2-fpm.sock" || pp.Scheme != "fastcgi" {
		t.Errorf("fastcgi_pass unix:/run/php/php8.2-fpm.sock = %+v", pp)
	}
	for _, bad := range []string{
		strings.Replace(base, "address: 127.0.0.1:9001", `address: "unix:"`, 1),
		strings.Replace(base, "proxy_pass: http://app", `proxy_pass: "http://unix:"`, 1),
		strings.Replace(base, "proxy_pass: http://app", `proxy_pass: "http://unix:/`+strings.Repeat("x", 120)+`.sock"`, 1),
	} {
		if _, err := load(t, bad); err == nil || !strings.Contains(err.Error(), "unix domain socket") {
			t.Errorf("no unix socket error: %v\n%s", err, bad)
		}
	}
}
