package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Every module reads its own prefix's set, inherited from http, and
// nothing of the others': the values written for proxy_ at the location
// level do not reach a fastcgi_pass or uwsgi_pass location, and the other
// way round.
func TestModulesResolveTheirOwnPrefix(t *testing.T) {
	for _, c := range []struct{ module, pass string }{
		{"proxy", "proxy_pass: http://127.0.0.1:8081"},
		{"fastcgi", "fastcgi_pass: 127.0.0.1:9000"},
		{"uwsgi", "uwsgi_pass: 127.0.0.1:3031"},
	} {
		t.Run(c.module, func(t *testing.T) {
			var other []string
			for _, m := range upstreamModules {
				if m.name != c.module {
					other = append(other, "          "+m.name+"_read_timeout: 1s", "          "+m.name+"_intercept_errors: on",
						"          "+m.name+"_hide_header: [X-Other]")
				}
			}
			p := c.module + "_"
			cfg, err := LoadBytes("proxy.yaml", []byte(`
http:
  `+p+`read_timeout: 7s
  `+p+`buffers: 4 8k
  `+p+`next_upstream: error http_503
  `+p+`intercept_errors: on
  `+p+`hide_header: [X-Secret]
  `+p+`pass_header: [Server]
  `+p+`ignore_headers: [X-Accel-Buffering]
  servers:
    - listen: 127.0.0.1:8080
      locations:
        - path: /
          `+c.pass+`
`+strings.Join(other, "\n")+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			u, h := cfg.Servers[0].Locations[0].Upstream, cfg.Servers[0].Locations[0].UpstreamHeaders
			if u.Module != c.module || u.ReadTimeout != 7*time.Second || u.ConnectTimeout != 60*time.Second ||
				u.Buffers != (Buffers{N: 4, Size: 8 << 10}) || u.BusyBuffersSize != 16<<10 ||
				u.NextUpstream != NextError|NextHTTP503 || !u.InterceptErrors ||
				u.TempPath != cfg.Prefix+"/temp/"+c.module {
				t.Errorf("Upstream = %+v", u)
			}
			if !slices.Equal(h.Hide, []string{"X-Secret"}) || !slices.Equal(h.Pass, []string{"Server"}) || !h.IgnoreAccelBuffering {
				t.Errorf("UpstreamHeaders = %+v", h)
			}
		})
	}
}

// nginx -t's checks, two *_pass in one location, and the keys a module
// lacks, with each module's names.
func TestModuleErrors(t *testing.T) {
	for _, c := range []struct{ loc, want string }{
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, uwsgi_buffers: 1 4k}`, `there must be at least 2 "uwsgi_buffers"`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, uwsgi_busy_buffers_size: 64k}`,
			`"uwsgi_busy_buffers_size" must be less than the size of all "uwsgi_buffers" minus one buffer: uwsgi_busy_buffers_size 64k > (8-1) × 4k = 28k`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, uwsgi_ignore_headers: X-Nothing}`, `invalid value "X-Nothing"`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, uwsgi_pass_header: Date}`, `"Date" cannot be passed`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_temp_file_write_size: 1k}`,
			`"fastcgi_temp_file_write_size" must be equal to or greater than the maximum of the value of "fastcgi_buffer_size" and one of the "fastcgi_buffers"`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, fastcgi_pass: 127.0.0.1:9000}`, `"uwsgi_pass" and "fastcgi_pass" cannot both be set in one location`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, proxy_pass: http://127.0.0.1:80}`, `"uwsgi_pass" and "proxy_pass" cannot both be set in one location`},
		{`{path: /, uwsgi_pass: 127.0.0.1:3031, stub_status: on}`, `"stub_status" and "uwsgi_pass" cannot both be set in one location`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, stub_status: on}`, `"stub_status" and "fastcgi_pass" cannot both be set in one location`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_pass_request_headers: off}`, `unknown key "fastcgi_pass_request_headers"`},
		{`{path: /, fastcgi_pass: 127.0.0.1:9000, fastcgi_pass_request_body: off}`, `unknown key "fastcgi_pass_request_body"`},
	} {
		_, err := LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: 127.0.0.1:8080\n      locations: ["+c.loc+"]\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.loc, err, c.want)
		}
	}
}

// grpc has no *_buffers: its grpc_buffer_size (nginx's one buffer) is
// taken whatever its size, not checked against proxy_buffers' default
// (grpc.t's "grpc_buffer_size 65k").
func TestGrpcBufferSizeIsItsOneBuffer(t *testing.T) {
	cfg, err := LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: 127.0.0.1:8080\n      locations: [{path: /, grpc_pass: 127.0.0.1:8081, grpc_buffer_size: 65k}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Servers[0].Locations[0].Upstream; u.BufferSize != 65<<10 {
		t.Errorf("BufferSize = %d, want 65k", u.BufferSize)
	}
	_, err = LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: 127.0.0.1:8080\n      locations: [{path: /, grpc_pass: 127.0.0.1:8081, grpc_buffer_size: 0}]\n"))
	if err == nil || !strings.Contains(err.Error(), `"grpc_buffer_size" must be greater than 0`) {
		t.Errorf("grpc_buffer_size 0: err %v", err)
	}
}
