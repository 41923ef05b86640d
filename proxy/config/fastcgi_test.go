package config

import (
	"strings"
	"testing"
	"time"
)

func TestFastCGIResolvesIntoUpstream(t *testing.T) {
	c, err := LoadBytes("proxy.yaml", []byte(`
http:
  fastcgi_buffers: 4 8k
  proxy_buffers: 16 4k
  lingering_close: always
  upstreams:
    php: {keepalive: 2, servers: [{address: 127.0.0.1:9000}]}
  servers:
    - listen: 127.0.0.1:8080
      locations:
        - path: "~ \\.php$"
          fastcgi_pass: php
          root: /srv/www
          fastcgi_keep_conn: on
          fastcgi_read_timeout: 5s
          fastcgi_next_upstream: error timeout http_500
          fastcgi_param: ["SCRIPT_FILENAME /x$fastcgi_script_name", "PATH_INFO $fastcgi_path_info", "HTTPS on if_not_empty"]
          fastcgi_split_path_info: '^(.+\.php)(/.*)$'
          lingering_timeout: 2s
        - {path: /, proxy_pass: http://php}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Servers[0].Locations[0]
	if l.FastCGI == nil || l.ProxyPass != (ProxyPass{Scheme: "fastcgi", Host: "php", Upstream: "php"}) {
		t.Fatalf("fastcgi_pass: %+v %+v", l.ProxyPass, l.FastCGI)
	}
	if l.Upstream.Buffers != (Buffers{N: 4, Size: 8 << 10}) || l.Upstream.BusyBuffersSize != 16<<10 ||
		l.Upstream.ReadTimeout != 5*time.Second || l.Upstream.TempPath != c.Prefix+"/temp/fastcgi" ||
		l.Upstream.NextUpstream != NextError|NextTimeout|NextHTTP500 || len(l.ProxySetHeader) != 0 {
		t.Errorf("fastcgi_* not resolved into Upstream: %+v", l)
	}
	if !l.FastCGI.KeepConn || l.Root != "/srv/www" || l.FastCGI.SplitPathInfo == nil {
		t.Errorf("%+v", l.FastCGI)
	}
	want := DefaultFastCGIParams()
	want[0].Value = "/x$fastcgi_script_name"
	want[11] = FastCGIParam{Name: "HTTPS", Value: "on", IfNotEmpty: true}
	want = append(want, FastCGIParam{Name: "PATH_INFO", Value: "$fastcgi_path_info"})
	if len(l.FastCGI.Params) != len(want) {
		t.Fatalf("params %+v", l.FastCGI.Params)
	}
	for i := range want {
		if l.FastCGI.Params[i] != want[i] {
			t.Errorf("param %d = %+v, want %+v", i, l.FastCGI.Params[i], want[i])
		}
	}
	if l.Lingering != (Lingering{Close: LingerAlways, Time: 30 * time.Second, Timeout: 2 * time.Second}) {
		t.Errorf("lingering %+v", l.Lingering)
	}
	// proxy_pass locations keep the proxy_* values.
	if p := c.Servers[0].Locations[1]; p.FastCGI != nil || p.Upstream.Buffers != (Buffers{N: 16, Size: 4 << 10}) {
		t.Errorf("proxy location %+v", p)
	}
}

func TestFastCGIConfigErrors(t *testing.T) {
	for _, c := range []struct{ loc, want string }{
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, proxy_pass: http://127.0.0.1:80}`, `"fastcgi_pass" and "proxy_pass" cannot both be set in one location`},
		{`{path: /, fastcgi_pass: "fastcgi://127.0.0.1:9000"}`, `without a scheme`},
		{`{path: /, fastcgi_pass: nowhere}`, `host not found in upstream "nowhere"`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_split_path_info: "^(.+)$"}`, `must have 2 captures`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_buffers: 1 4k}`, `there must be at least 2 "fastcgi_buffers"`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_params: some}`, `invalid value "some" in "fastcgi_params"`},
		{`{path: /, proxy_pass: http://127.0.0.1:80, lingering_close: sometimes}`, `"lingering_close" directive, it must be "on", "off" or "always"`},
	} {
		_, err := LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: 127.0.0.1:8080\n      locations: ["+c.loc+"]\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.loc, err, c.want)
		}
	}
}
