package nginxconf

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/vars"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run %s -update rewrites it)\n--- got\n%s", path, t.Name(), got)
	}
}

func warningLines(ws []Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

// The realistic nginx.conf converts to the proxy.yaml in testdata, which
// config.Load accepts (TestConvertedRoutesLikeNginx runs it), and its
// warnings name the file and line of each directive, in included files too.
func TestConvertRealistic(t *testing.T) {
	res, err := ConvertFile("testdata/realistic/nginx.conf", Options{OwnPID: true})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/realistic/proxy.yaml", string(res.YAML))
	golden(t, "testdata/realistic/warnings.txt", warningLines(res.Warnings))
	for _, want := range []string{
		`testdata/realistic/nginx.conf:13: ignored directive "events" in main: `,
	} {
		if !strings.Contains(warningLines(res.Warnings), want) {
			t.Errorf("no warning %q", want)
		}
	}
	if n := res.Unsupported(); n != 1 { // sub_filter_once; gzip, add_header and expires convert
		t.Errorf("Unsupported() = %d, want 1", n)
	}
	if _, err := config.LoadBytes("proxy.yaml", res.YAML); err != nil {
		t.Errorf("config.LoadBytes: %v", err)
	}
	again, _ := ConvertFile("testdata/realistic/nginx.conf", Options{OwnPID: true})
	if string(again.YAML) != string(res.YAML) {
		t.Error("two conversions differ")
	}
}

// conf is a one-server configuration with body inside the server block,
// which starts on line 3 (body's first line is line 4).
func conf(body string) string {
	return "\nhttp {\n  server {\n" + body + "\n  }\n}\n"
}

// Each directive spillway implements converts to its key with nginx's
// value; what it does not implement is reported with file and line.
func TestConvertCases(t *testing.T) {
	type tc struct {
		name  string
		in    string
		yaml  []string // fragments of the output
		not   []string // must not be in the output
		warns []string // exactly these warnings, without "x.conf:"
		// refused: the file is refused with exactly these lines of
		// *RefusedError (and there is no output)
		refused []string
	}
	for _, c := range []tc{
		{
			name: "proxy_http_version 2 (nginx 1.29)",
			in:   conf("listen 80; location / { proxy_pass http://127.0.0.1:9000; proxy_http_version 2; }"),
			yaml: []string{"proxy_http_version: 2\n"},
		},
		{
			name: "location modifiers",
			in: conf(`listen 8080;
location = /a { proxy_pass http://127.0.0.1:9000; }
location ^~ /b/ { proxy_pass http://127.0.0.1:9000; }
location ~ ^/c/(x|y)$ { proxy_pass http://127.0.0.1:9000; }
location ~* \.PNG$ { proxy_pass http://127.0.0.1:9000; }
location =/d { proxy_pass http://127.0.0.1:9000; }
location ~*\.gif$ { proxy_pass http://127.0.0.1:9000; }
location /e { proxy_pass http://127.0.0.1:9000; }`),
			yaml: []string{"path: = /a", "path: ^~ /b/", "path: ~ ^/c/(x|y)$", `path: ~* \.PNG$`, "path: = /d", `path: ~* \.gif$`, "path: /e"},
		},
		{
			name: "uwsgi over TLS is refused, not dropped",
			in:   conf(`listen 8080; root /srv/app; location / { uwsgi_pass suwsgi://127.0.0.1:9000; }`),
			warns: []string{
				`4: "uwsgi_pass suwsgi://127.0.0.1:9000" in location is not enforced by spillway (it speaks uwsgi without TLS: the location's requests would not reach the application)`,
			},
			refused: []string{
				`"uwsgi_pass suwsgi://127.0.0.1:9000" in location is not enforced by spillway (it speaks uwsgi without TLS: the location's requests would not reach the application) in x.conf:4`,
			},
		},
		{
			name: "locations that cannot be converted",
			in: conf(`listen 8080;
location / { proxy_pass http://127.0.0.1:9000; }
location @fallback { proxy_pass http://127.0.0.1:9000; }
location ~ ^/(?!api) { proxy_pass http://127.0.0.1:9000; }
location /static/ { }
location /n/ { location /n/x { proxy_pass http://127.0.0.1:9000; } proxy_pass http://127.0.0.1:9000; } # nested: converts`),
			warns: []string{
				"7: location \"~ ^/(?!api)\" cannot be converted: its regex is not valid in Go's RE2 syntax (error parsing regexp: invalid or unsupported Perl syntax: `(?!`), so its requests would reach another location",
				`8: location "/static/" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location`,
			},
			refused: []string{
				"location \"~ ^/(?!api)\" cannot be converted: its regex is not valid in Go's RE2 syntax (error parsing regexp: invalid or unsupported Perl syntax: `(?!`), so its requests would reach another location in x.conf:7",
				`location "/static/" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in x.conf:8`,
			},
		},
		{
			name: "proxy_pass to a host gets nginx's default port, to an upstream not",
			in: `http {
  upstream backend { server 10.0.0.1; server 10.0.0.2:8080 weight=3 max_fails=2 fail_timeout=30s; server 10.0.0.3 backup; server 10.0.0.4 down; }
  server { listen 80;
    location / { proxy_pass http://Backend; }
    location /h/ { proxy_pass http://example.com/x/; }
    location /s/ { proxy_pass https://example.com; }
  }
}`,
			yaml: []string{"proxy_pass: http://Backend\n", "proxy_pass: http://example.com:80/x/", "proxy_pass: https://example.com:443\n",
				"{address: 10.0.0.1}", "{address: '10.0.0.2:8080', weight: 3, max_fails: 2, fail_timeout: 30s}",
				"{address: 10.0.0.3, backup: on}", "{address: 10.0.0.4, down: on}"},
		},
		{
			name: "upstream directives and parameters",
			in: `http {
  upstream u {
    least_conn;
    server 10.0.0.1:80 max_conns=10 slow_start=30s;
    server unix:/run/app.sock;
    keepalive 16;
    keepalive_requests 100;
    keepalive_timeout 30s;
    keepalive_time 1h;
    ip_hash;
    keepalive_timeout_learn off;
  }
  server { listen 80; location / { proxy_pass http://u; } }
}`,
			// ip_hash after least_conn: nginx warns "load balancing method
			// redefined" and keeps the last.
			yaml: []string{"ip_hash: on", "keepalive: 16", "keepalive_requests: 100", "keepalive_timeout: 30s", "keepalive_timeout_learn: off", "{address: 'unix:/run/app.sock'}",
				"{address: '10.0.0.1:80', max_conns: 10}"},
			not: []string{"least_conn"},
			warns: []string{
				`4: unsupported parameter "slow_start=30s" of "server" in upstream`,
				`9: unsupported directive "keepalive_time" in upstream`,
			},
		},
		{
			name: "uwsgi",
			in: `http {
  upstream django { server unix:/run/uwsgi/app.sock; }
  server { listen 80;
    location / { include uwsgi_params; uwsgi_pass django; uwsgi_read_timeout 300s; uwsgi_buffers 16 8k; uwsgi_modifier1 30; }
    location /b { uwsgi_pass uwsgi://127.0.0.1:3031; uwsgi_param SCRIPT_NAME /b; uwsgi_pass_request_body off;
      uwsgi_hide_header X-Powered-By; uwsgi_pass_header Server; uwsgi_ignore_headers X-Accel-Buffering; uwsgi_intercept_errors on; }
  }
}`,
			yaml: []string{"uwsgi_pass: django", "uwsgi_read_timeout: 300s", "uwsgi_buffers: 16 8k", "uwsgi_modifier1: 30",
				"uwsgi_pass: 127.0.0.1:3031", "- SCRIPT_NAME /b\n", "uwsgi_pass_request_body: off",
				"uwsgi_hide_header: [X-Powered-By]", "uwsgi_pass_header: [Server]", "uwsgi_ignore_headers: [X-Accel-Buffering]", "uwsgi_intercept_errors: on",
				// Debian's uwsgi_params, as shipped, since there is no file next to x.conf
				"- QUERY_STRING $query_string\n", "- HTTPS $https if_not_empty\n", "- HTTP_HOST $host\n"},
		},
		{
			name: "balancing methods",
			in: `http {
  upstream h { hash $request_uri; server 10.0.0.1 weight=2 max_fails=3; server 10.0.0.2 down; }
  upstream c { hash "$arg_id$remote_addr" consistent; server 10.0.0.1; }
  upstream i { least_conn; ip_hash; server 10.0.0.1; }
  upstream r { random two least_conn; server 10.0.0.1; }
  upstream r1 { random; server 10.0.0.1; }
  upstream b { server 10.0.0.1; server 10.0.0.9 backup; hash $uri; }
  upstream x { hash $nosuchvar; server 10.0.0.1; }
  server { listen 80; location / { proxy_pass http://h; } location /c { proxy_pass http://c; } location /i { proxy_pass http://i; }
    location /r { proxy_pass http://r; } location /r1 { proxy_pass http://r1; } location /b { proxy_pass http://b; } location /x { proxy_pass http://x; } }
}`,
			yaml: []string{"hash: $request_uri\n", "hash: $arg_id$remote_addr consistent", "ip_hash: on", "random: two least_conn", "random: on",
				"{address: 10.0.0.1, weight: 2, max_fails: 3}", "{address: 10.0.0.2, down: on}"},
			not: []string{"least_conn: on", "10.0.0.9", "nosuchvar"},
			warns: []string{
				`7: unsupported parameter "backup" of "server" in upstream before "hash": the backup server 10.0.0.9 is dropped`,
				`8: unsupported directive "hash" in upstream: spillway has no "$nosuchvar" variable for the key, the group balances round-robin`,
			},
		},
		{
			name: "listen and server_name",
			in: `http {
  server { listen 8080; server_name a.example;
    location / { proxy_pass http://127.0.0.1:9000; } }
  server { listen 127.0.0.1:8080 default_server reuseport; listen [::1]:8080 http2; listen unix:/tmp/s; listen 8443 quic;
    server_name .example.org *.example.net www.example.* ~^(?<n>.+)\.example\.com$ "";
    location / { proxy_pass http://127.0.0.1:9000; } }
  server { server_name c.example; location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			yaml: []string{
				"listen: ['127.0.0.1:8080 default_server', '[::1]:8080 http2']",
				"server_name: [.example.org, '*.example.net', www.example.*, '~^(?<n>.+)\\.example\\.com$', \"\"]",
				"listen: ['*:80'] # nginx's default (*:8000 when nginx does not run as root); server at x.conf:7",
			},
			warns: []string{
				`4: unsupported parameter "reuseport" of "listen" in server`,
				`4: unsupported listen address "unix:/tmp/s" in server: spillway listens on TCP only`,
				`4: unsupported parameter "quic" of "listen" in server: spillway serves HTTP/3 only beside a "listen 8443 ssl" of the same server, so 8443 is not converted`,
			},
		},
		{
			name: "http3: listen quic beside listen ssl, and the http3_* and quic_* directives",
			in: `http {
  http3_max_concurrent_streams 64; quic_gso on;
  server { listen 443 ssl; listen 443 quic reuseport; ssl_certificate a.pem; ssl_certificate_key a.key;
    http3_stream_buffer_size 128k; quic_retry on; ssl_early_data on;
    add_header Alt-Svc 'h3=":443"; ma=86400';
    location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			yaml: []string{
				"http3_max_concurrent_streams: 64",
				"quic_gso: on",
				"listen: [443 ssl, 443 quic reuseport]",
				"http3_stream_buffer_size: 128k",
				"quic_retry: on",
				"ssl_early_data: on",
			},
		},
		{
			name: "http2: the listen parameter, nginx 1.25's http2 on, and the http2_* directives",
			in: `http {
  http2_max_concurrent_streams 64; http2_recv_buffer_size 512k;
  server { listen 443 ssl http2; ssl_certificate a.pem; ssl_certificate_key a.key;
    http2_chunk_size 16k; http2_body_preread_size 128k; http2_idle_timeout 1m;
    location / { proxy_pass http://127.0.0.1:9000; } }
  server { listen 8080; http2 on; location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			yaml: []string{
				"http2_max_concurrent_streams: 64",
				"http2_recv_buffer_size: 512k",
				"listen: [443 ssl http2]",
				"http2_chunk_size: 16k",
				"http2_body_preread_size: 128k",
				"http2_idle_timeout: 1m",
				"http2: on",
			},
		},
		{
			name: "default_server on a server that is not the first on its address",
			in: `http {
  server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }
  server { listen *:80 default_server; server_name b; location / { proxy_pass http://127.0.0.1:9000; } }
  server { listen 81 default; location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			yaml: []string{"listen: ['*:80 default_server']", "listen: [81 default_server]"},
		},
		{
			name: "inheritable directives at every level",
			in: `http {
  proxy_buffering off; proxy_buffer_size 8k; proxy_buffers 4 32k; proxy_busy_buffers_size 64k;
  proxy_max_temp_file_size 0; proxy_temp_file_write_size 64k; proxy_request_buffering OFF;
  client_max_body_size 0; client_body_buffer_size 128k; client_body_timeout 10s; send_timeout 1m;
  client_header_timeout 5s; client_header_buffer_size 2k; large_client_header_buffers 8 16k;
  keepalive_timeout 30s 25s; keepalive_requests 50;
  proxy_next_upstream_timeout 5s; proxy_next_upstream_tries 3; proxy_http_version 1.0;
  proxy_connect_timeout 500ms; proxy_send_timeout 2s; proxy_read_timeout 1h;
  server { listen 80;
    proxy_set_header X-A a; proxy_set_header X-A b;
    location / { proxy_pass http://127.0.0.1:9000; keepalive_timeout 5s; proxy_set_header Host $host; proxy_set_header Connection ""; }
  }
}`,
			yaml: []string{"proxy_buffering: off", "proxy_buffer_size: 8k", "proxy_buffers: 4 32k", "proxy_busy_buffers_size: 64k",
				"proxy_max_temp_file_size: 0", "proxy_temp_file_write_size: 64k", "proxy_request_buffering: off",
				"client_max_body_size: 0", "client_body_buffer_size: 128k", "client_body_timeout: 10s", "send_timeout: 1m",
				"client_header_timeout: 5s", "client_header_buffer_size: 2k", "large_client_header_buffers: 8 16k",
				"keepalive_timeout: 30s", "keepalive_requests: 50", "proxy_next_upstream_timeout: 5s",
				"proxy_next_upstream_tries: 3", `proxy_http_version: "1.0"`, "proxy_connect_timeout: 500ms",
				"proxy_send_timeout: 2s", "proxy_read_timeout: 1h",
				"proxy_set_header:\n        - {X-A: a}\n        - {X-A: b}",
				"proxy_set_header:\n            Host: $host\n            Connection: \"\"",
			},
			warns: []string{
				`6: unsupported parameter "25s" of "keepalive_timeout" in http: spillway sends no "Keep-Alive: timeout=" header`,
				`11: unsupported directive "keepalive_timeout" in location: spillway's client keepalive is set per server`,
			},
		},
		{
			name: "upstream response headers",
			in: `http {
  proxy_cookie_domain off;
  proxy_cookie_domain a.example b.example;
  proxy_hide_header X-Secret;
  proxy_hide_header X-Debug;
  proxy_ignore_headers X-Accel-Buffering Expires;
  server {
    listen 80;
    proxy_pass_header Server;
    proxy_pass_header Date;
    location / {
      proxy_pass http://127.0.0.1:9000/app/;
      proxy_redirect default;
      proxy_redirect ~^http://old/(.*)$ /new/$1;
      proxy_redirect "http://x/ y/" /;
      proxy_cookie_path /app/ /;
    }
    location /off/ { proxy_pass http://127.0.0.1:9000; proxy_redirect off; proxy_redirect default; }
    location ~ \.php$ { fastcgi_pass 127.0.0.1:9001; fastcgi_hide_header X-Powered-By; fastcgi_ignore_headers x-accel-buffering; }
  }
}`,
			yaml: []string{"proxy_cookie_domain: off\n", "proxy_hide_header: [X-Secret, X-Debug]", "proxy_ignore_headers: [X-Accel-Buffering, Expires]",
				"proxy_pass_header: [Server]", "proxy_redirect:\n            - default\n            - ~^http://old/(.*)$ /new/$1\n            - ['http://x/ y/', /]\n",
				"proxy_cookie_path:\n            - /app/ /\n", "proxy_redirect: off\n", "fastcgi_hide_header: [X-Powered-By]", "fastcgi_ignore_headers: [x-accel-buffering]"},
			warns: []string{
				`10: unsupported "proxy_pass_header Date" in server: spillway always sends its own Date header`,
			},
		},
		{
			name: "servers with resolve and service= (nginx 1.27.3), with zone and the upstream's resolver",
			in: `http {
  upstream app {
    zone app 64k;
    resolver 127.0.0.53 valid=5s;
    resolver_timeout 2s;
    server app.internal:8080 resolve max_fails=0;
    server app.internal service=http resolve;
  }
  server { listen 80; location / { proxy_pass http://app; } }
}`,
			yaml: []string{"zone: [app, 64k]", "resolver: [127.0.0.53, valid=5s]", "resolver_timeout: 2s",
				"{address: 'app.internal:8080', resolve: on, max_fails: 0}", "{address: app.internal, service: http, resolve: on}"},
		},
		{
			name: "proxy_pass, fastcgi_pass, uwsgi_pass and grpc_pass with variables, and the resolver",
			in: `http {
  resolver 127.0.0.53 [::1]:5353 valid=30s ipv6=off;
  resolver_timeout 5s;
  upstream app { server 127.0.0.1:9000; }
  server {
    listen 80;
    location /a/ { set $up app; proxy_pass http://$up; }
    location ~ ^/b/(.*)$ { proxy_pass http://127.0.0.1:$arg_port/$1$is_args$args; }
    location /c/ { proxy_pass $scheme://app; resolver 10.0.0.2; }
    location /d/ { fastcgi_pass $arg_fpm; }
    location /e/ { uwsgi_pass uwsgi://$arg_u; }
    location /f/ { grpc_pass grpcs://$host:50051; }
  }
}`,
			yaml: []string{"resolver: [127.0.0.53, '[::1]:5353', valid=30s, ipv6=off]", "resolver_timeout: 5s",
				"proxy_pass: http://$up", "proxy_pass: http://127.0.0.1:$arg_port/$1$is_args$args", "proxy_pass: $scheme://app",
				"resolver: [10.0.0.2]", "fastcgi_pass: $arg_fpm", "uwsgi_pass: uwsgi://$arg_u", "grpc_pass: grpcs://$host:50051"},
		},
		{
			name: "real client address",
			in: `http {
  set_real_ip_from 10.0.0.0/8;
  set_real_ip_from unix:;
  set_real_ip_from lb.example.com;
  real_ip_header X-Forwarded-For;
  real_ip_recursive on;
  server {
    listen 80 proxy_protocol;
    listen 443 ssl proxy_protocol;
    ssl_certificate /c.pem; ssl_certificate_key /k.pem;
    location / { proxy_pass http://127.0.0.1:9000; real_ip_header proxy_protocol; }
  }
}`,
			yaml: []string{"set_real_ip_from: [10.0.0.0/8, 'unix:', lb.example.com]", "real_ip_header: X-Forwarded-For", "real_ip_recursive: on",
				"listen: [80 proxy_protocol, 443 ssl proxy_protocol]", "real_ip_header: proxy_protocol"},
		},
		{
			name: "error_log in http, server and location",
			in: `http {
  error_log logs/http.log info;
  server {
    listen 80;
    error_log logs/server.log warn;
    error_log syslog:server=10.0.0.1 debug;
    location / { proxy_pass http://127.0.0.1:9000; error_log /var/log/loc.log; }
    location /b/ { proxy_pass http://127.0.0.1:9000; error_log stderr debug; error_log logs/b.log notice; }
  }
}`,
			yaml: []string{"error_log: {path: /p/logs/http.log, level: info}", "error_log: {path: /p/logs/server.log, level: warn}",
				"error_log: {path: /var/log/loc.log}",
				"error_log:\n            - {path: stderr, level: debug}\n            - {path: /p/logs/b.log, level: notice}\n"},
			warns: []string{`6: unsupported error log "syslog:server=10.0.0.1" in server: spillway writes to a file or stderr`},
		},
		{
			name: "logs, pid and paths with a prefix",
			in: `error_log logs/error.log warn;
error_log syslog:server=10.0.0.1;
error_log logs/notice.log notice;
pid run/nginx.pid;
http {
  log_format short '$remote_addr "$request" '
                   '$status';
  log_format bad '$nonsense_variable';
  log_format js escape=json '{"s":"$status"}';
  access_log logs/access.log short buffer=32k;
  access_log /var/log/second.log;
  proxy_temp_path cache/proxy 1 2;
  client_body_temp_path /abs/client;
  server { listen 80; access_log off; location / { proxy_pass http://127.0.0.1:9000; access_log logs/loc.log; } }
  server { listen 81; access_log logs/b.log bad; location / { proxy_pass http://127.0.0.1:9000; } }
  server { listen 82; access_log logs/c.log js if=$loggable; location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			yaml: []string{"error_log:\n  - {path: /p/logs/error.log, level: warn}\n  - {path: /p/logs/notice.log, level: notice}\n", "pid: /p/run/spillway.pid",
				"access_log:\n    - path: /p/logs/access.log\n      format: $remote_addr \"$request\" $status\n      buffer: 32k\n    - path: /var/log/second.log\n      format: combined\n",
				"proxy_temp_path: /p/cache/proxy", "client_body_temp_path: /abs/client", "access_log: off",
				"path: /p/logs/c.log\n        format: '{\"s\":\"$status\"}'\n        escape: json\n        if: $loggable\n",
				"path: /p/logs/loc.log\n"},
			warns: []string{
				`2: unsupported error log "syslog:server=10.0.0.1" in main: spillway writes to a file or stderr`,
				`4: ignored directive "pid" in main: spillway does not take nginx's pid file, it writes /p/run/spillway.pid`,
				`12: ignored parameters "1 2" of "proxy_temp_path" in http: spillway's temp files are unlinked at once, there is no tree of them to spread`,
				`15: unsupported log_format "bad" in server: unknown "nonsense_variable" variable; access_log not converted`,
			},
		},
		{
			name: "stub_status, health_check and match",
			in: `http {
  match ok { status 200-299 204; header Content-Type = text/html; }
  match unused { status 200; }
  upstream app { server 10.0.0.1:80; }
  server { listen 80;
    location / { proxy_pass http://app; health_check interval=2s fails=3 passes=2 uri=/healthz match=ok mandatory; }
    location /b/ { proxy_pass http://app; health_check; }
    location /c/ { proxy_pass http://10.0.0.9:80; health_check; }
    location /status { stub_status on; }
  }
}`,
			yaml: []string{"    app: # upstream at x.conf:4\n      health_check:\n        interval: 2s\n        fails: 3\n        passes: 2\n        uri: /healthz\n        status: 200-299 204\n      servers:",
				"stub_status: on"},
			warns: []string{
				`2: unsupported directive "header" in match: spillway's health checks test the status only`,
				`3: ignored directive "match" in http: no health_check uses "unused"`,
				`6: unsupported parameter "mandatory" of "health_check" in location`,
				`7: unsupported directive "health_check" in location: upstream "app" is already checked as x.conf:6 says (spillway runs one check per group)`,
				`8: unsupported directive "health_check" in location: spillway checks upstream groups, and this location's proxy_pass names none`,
			},
		},
		{
			name: "TLS",
			in: `http {
  ssl_protocols SSLv3 TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 1h;
  server { listen 443 ssl; listen 80;
    ssl_certificate certs/ecdsa.pem; ssl_certificate_key certs/ecdsa.key;
    ssl_certificate /etc/ssl/rsa.pem; ssl_certificate_key /etc/ssl/rsa.key;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
    location / { proxy_pass https://10.0.0.1; proxy_ssl_verify on; proxy_ssl_trusted_certificate ca.pem;
      proxy_ssl_name internal.example; proxy_ssl_server_name on; proxy_ssl_session_reuse off; }
  }
}`,
			yaml: []string{"ssl_protocols: TLSv1.2 TLSv1.3", "ssl_session_cache: shared:SSL:10m", "ssl_session_timeout: 1h", "listen: [443 ssl, 80]",
				"ssl_certificate: [/conf/certs/ecdsa.pem, /etc/ssl/rsa.pem]", "ssl_certificate_key: [/conf/certs/ecdsa.key, /etc/ssl/rsa.key]",
				"ssl_ciphers: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", "proxy_pass: https://10.0.0.1:443",
				"proxy_ssl_verify: on", "proxy_ssl_trusted_certificate: /conf/ca.pem", "proxy_ssl_name: internal.example",
				"proxy_ssl_server_name: on", "proxy_ssl_session_reuse: off"},
			warns: []string{
				`2: unsupported parameter "SSLv3" of "ssl_protocols" in http: Go's TLS has no SSLv3`,
			},
		},
		{
			name: "client certificates and OCSP stapling",
			in: `http {
  resolver 127.0.0.53 valid=300s;
  resolver_timeout 5s;
  server { listen 443 ssl; ssl_certificate c.pem; ssl_certificate_key c.key;
    ssl_verify_client optional_no_ca; ssl_client_certificate ca.pem; ssl_trusted_certificate /etc/ssl/chain.pem;
    ssl_verify_depth 2; ssl_crl crl.pem;
    ssl_stapling on; ssl_stapling_verify on; ssl_stapling_file ocsp.der; ssl_stapling_responder http://ocsp.example/;
    location / { proxy_pass http://10.0.0.1; } }
}`,
			yaml: []string{"ssl_verify_client: optional_no_ca", "ssl_client_certificate: /conf/ca.pem", "ssl_trusted_certificate: /etc/ssl/chain.pem",
				"ssl_verify_depth: 2", "ssl_crl: /conf/crl.pem", "ssl_stapling: on", "ssl_stapling_verify: on", "ssl_stapling_file: /conf/ocsp.der",
				"ssl_stapling_responder: http://ocsp.example/", "resolver: [127.0.0.53, valid=300s]", "resolver_timeout: 5s"},
		},
		{
			name: "unix sockets",
			in: `http {
  upstream puma { server unix:/srv/app/tmp/puma.sock fail_timeout=0; }
  server { listen 80;
    location / { proxy_pass http://puma; }
    location /api/ { proxy_pass http://unix:/run/api.sock:/v1/; }
    location /raw/ { proxy_pass http://unix:/run/raw.sock; }
    location ~ \.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }
  }
}`,
			yaml: []string{"- {address: 'unix:/srv/app/tmp/puma.sock', fail_timeout: 0}", "proxy_pass: http://unix:/run/api.sock:/v1/",
				"proxy_pass: http://unix:/run/raw.sock\n", "fastcgi_pass: unix:/run/php/php8.2-fpm.sock"},
		},
		{
			name: "TLS as people write it",
			in: `http {
  ssl_ciphers 'EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH';
  ssl_ecdh_curve X25519:X448:secp384r1;
  ssl_buffer_size 4k;
  ssl_prefer_server_ciphers on;
  ssl_dhparam /etc/ssl/dhparam.pem;
  server { listen 443 ssl; ssl_certificate c.pem; ssl_certificate_key c.key;
    ssl_ciphers 'ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:!KRB5-DES-CBC3-SHA';
    location / { proxy_pass http://10.0.0.1; } }
}`,
			yaml: []string{"ssl_ciphers: EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH", "ssl_ecdh_curve: X25519:X448:secp384r1",
				"ssl_ciphers: ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:!KRB5-DES-CBC3-SHA"},
			warns: []string{
				`2: ignored ciphers of "ssl_ciphers" in http: Go's TLS does not implement DHE-DSS-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:DHE-DSS-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-CCM8:ECDHE-ECDSA-AES256-CCM:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-CCM8:DHE-RSA-AES256-CCM:DHE-RSA-AES256-SHA256:DHE-DSS-AES256-SHA256:DHE-RSA-AES256-SHA:DHE-DSS-AES256-SHA`,
				`3: ignored curves of "ssl_ecdh_curve" in http: Go's TLS does not implement X448`,
				`4: ignored directive "ssl_buffer_size" in http: Go's TLS sizes its records itself: small at first, then full 16k records once a response flows, which is what nginx's setting trades between`,
				`5: ignored directive "ssl_prefer_server_ciphers" in http: Go's TLS server orders the cipher suites itself`,
				`6: ignored directive "ssl_dhparam" in http: Go offers no DHE cipher suites, so there are no DH parameters to load`,
				`8: ignored ciphers of "ssl_ciphers" in server: Go's TLS does not implement DHE-RSA-AES128-GCM-SHA256`,
			},
		},
		{
			name: "FastCGI",
			in: `http {
  upstream php { server 127.0.0.1:9000; }
  fastcgi_read_timeout 30s;
  server { listen 80; root /srv/www;
    location ~ \.php$ {
      fastcgi_split_path_info ^(.+\.php)(/.*)$;
      fastcgi_pass php;
      fastcgi_index index.php;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param HTTPS $https if_not_empty;
      fastcgi_keep_conn on; fastcgi_buffers 16 16k; fastcgi_buffer_size 32k;
      fastcgi_next_upstream error timeout; fastcgi_next_upstream_tries 2;
      fastcgi_temp_path /tmp/fcgi; lingering_close always; lingering_time 10s; lingering_timeout 2s;
      fastcgi_intercept_errors on;
    }
  }
}`,
			yaml: []string{"fastcgi_read_timeout: 30s", "fastcgi_params: none", "root: /srv/www", "fastcgi_pass: php",
				`fastcgi_split_path_info: ^(.+\.php)(/.*)$`, "fastcgi_index: index.php",
				"fastcgi_param:\n            - SCRIPT_FILENAME $document_root$fastcgi_script_name\n            - HTTPS $https if_not_empty",
				"fastcgi_keep_conn: on", "fastcgi_buffers: 16 16k", "fastcgi_buffer_size: 32k", "fastcgi_next_upstream: error timeout",
				"fastcgi_next_upstream_tries: 2", "fastcgi_temp_path: /tmp/fcgi", "lingering_close: always", "lingering_time: 10s", "lingering_timeout: 2s",
				"fastcgi_intercept_errors: on"},
		},
		{
			name: "main context and blocks spillway has no use for",
			in: `user www-data; worker_processes 4; worker_rlimit_nofile 65535; pcre_jit on; daemon off;
load_module modules/ngx_stream_module.so;
events { worker_connections 4096; use epoll; }
stream { server { listen 53 udp; proxy_pass 10.0.0.1:53; } }
http {
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }
}`,
			warns: []string{
				`1: ignored directive "user" in main: spillway runs as the user that starts it`,
				`1: ignored directive "worker_processes" in main: spillway is one process; Go schedules its goroutines on every CPU`,
				`1: ignored directive "worker_rlimit_nofile" in main: Go raises the soft open-files limit to the hard limit at start`,
				`1: ignored directive "pcre_jit" in main: regexes are Go's RE2`,
				`1: ignored directive "daemon" in main: spillway runs in the foreground, like daemon off`,
				`2: ignored directive "load_module" in main: a module's directives are reported one by one`,
				`3: ignored directive "events" in main: Go's runtime runs the event loop (epoll) and has no worker_connections limit`,
				`4: unsupported directive "stream" in main: spillway proxies HTTP only`,
			},
		},
		{
			name: "gzip_static, gunzip, charset, autoindex formats",
			in: conf(`listen 8080;
gzip_static always; gunzip on; gunzip_buffers 16 8k; add_trailer X-T "$uri" always;
charset utf-8; source_charset UTF-8; override_charset on; charset_types text/css application/json;
location /f/ { root /srv; autoindex on; autoindex_format JSONP; autoindex_exact_size off; autoindex_localtime on; }
location /v/ { root /srv; charset $arg_cs; charset_map koi8-r utf-8 { } }`),
			yaml: []string{"gzip_static: always", "gunzip: on", "gunzip_buffers: 16 8k", "charset: utf-8", "source_charset: UTF-8",
				"override_charset: on", "charset_types: [text/css, application/json]", "autoindex_format: jsonp", "autoindex_exact_size: off",
				"autoindex_localtime: on", "add_trailer:\n", "- X-T $uri always", "charset: $arg_cs"},
			not: []string{"charset_map"},
			warns: []string{
				`8: unsupported directive "charset_map" in location`,
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Parse("x.conf", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(ds, Options{Prefix: "/p", ConfPrefix: "/conf", OwnPID: true})
			var refused *RefusedError
			switch {
			case c.refused != nil && !errors.As(err, &refused):
				t.Fatalf("not refused: %v", err)
			case c.refused != nil:
				if got := err.Error(); got != strings.Join(c.refused, "\n") {
					t.Errorf("refused:\n%s\nwant:\n%s", got, strings.Join(c.refused, "\n"))
				}
				if res == nil || res.YAML != nil {
					t.Fatalf("a refused file gives the warnings and no YAML: %+v", res)
				}
			case err != nil:
				t.Fatal(err)
			}
			y := string(res.YAML)
			for _, f := range c.yaml {
				if !strings.Contains(y, f) {
					t.Errorf("output lacks %q", f)
				}
			}
			body := y
			if i := strings.Index(y, "\n\n"); i >= 0 {
				body = y[i:] // without the header comment, which lists what was dropped
			}
			for _, f := range c.not {
				if strings.Contains(body, f) {
					t.Errorf("output has %q", f)
				}
			}
			var got []string
			for _, w := range res.Warnings {
				got = append(got, strings.TrimPrefix(w.String(), "x.conf:"))
			}
			if strings.Join(got, "\n") != strings.Join(c.warns, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.warns, "\n"))
			}
			if t.Failed() {
				t.Logf("output:\n%s", y)
			}
		})
	}
}

// What nginx -t refuses is an error here too, in nginx's words, with the
// file and line.
func TestConvertErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_buffers 4 4k; proxy_buffers 8 4k; }"), `"proxy_buffers" directive is duplicate in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_read_timeout 5x; }"), `"proxy_read_timeout" directive invalid value in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_buffering maybe; }"), `invalid value "maybe" in "proxy_buffering" directive, it must be "on" or "off" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_buffers 4; }"), `invalid number of arguments in "proxy_buffers" directive in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_next_upstream error http_418; }"), `invalid value "http_418" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass ftp://a; }"), `invalid URL prefix in "ftp://a" in x.conf:4`},
		{conf("listen 80; location ~ ^/x { proxy_pass http://a:1/y; }"), `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in x.conf:4`},
		{conf("listen 80; location ! /x { proxy_pass http://a:1; }"), `invalid location modifier "!" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; if ($arg_x) { error_log x.log; } }"), `"error_log" directive is not allowed here in x.conf:4`},
		{conf("listen 80; error_log x.log loud; location / { proxy_pass http://a:1; }"), `invalid log level "loud" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_http_version 2.0; }"), `invalid value "2.0" in x.conf:4`},
		{"http {\n upstream u { server 10.0.0.1 weight=0; }\n}", `invalid parameter "weight=0" in x.conf:2`},
		// nginx 1.22's own messages (nginx -t), for the balancing methods
		{"http {\n upstream u { hash $uri; server 10.0.0.1; server 10.0.0.2 backup; }\n}", `balancing method does not support parameter "backup" in x.conf:2`},
		{"http {\n upstream u { ip_hash; server 10.0.0.2 backup; }\n}", `balancing method does not support parameter "backup" in x.conf:2`},
		{"http {\n upstream u { random two; server 10.0.0.2 backup; }\n}", `balancing method does not support parameter "backup" in x.conf:2`},
		{"http {\n upstream u { random least_conn; server 10.0.0.1; }\n}", `invalid parameter "least_conn" in x.conf:2`},
		{"http {\n upstream u { random two foo; server 10.0.0.1; }\n}", `invalid parameter "foo" in x.conf:2`},
		{"http {\n upstream u { hash $uri foo; server 10.0.0.1; }\n}", `invalid parameter "foo" in x.conf:2`},
		{"http {\n upstream u { hash; server 10.0.0.1; }\n}", `invalid number of arguments in "hash" directive in x.conf:2`},
		// newer nginx's and NGINX Plus's balancing, which nginx 1.22 refuses:
		// ignoring them would silently change which server gets a request
		{"http {\n upstream u { zone z 1m; server example.net resolve=on; }\n}", `invalid parameter "resolve=on" in x.conf:2`},
		{"http {\n upstream u { zone z 1m; server example.net service resolve; }\n}", `invalid parameter "service" in x.conf:2`},
		{"http {\n upstream u { server 10.0.0.1 route=; }\n}", `invalid parameter "route=" in x.conf:2`},
		{"http {\n upstream u { server 10.0.0.1 drain=on; }\n}", `invalid parameter "drain=on" in x.conf:2`},
		{"http {\n upstream u { server 10.0.0.1; sticky balance; }\n}", `unknown directive "sticky" in x.conf:2`},
		{"http {\n upstream u { least_time; server 10.0.0.1; }\n}", `invalid number of arguments in "least_time" directive in x.conf:2`},
		{conf("listen 80; proxy_redirect default; location / { proxy_pass http://a:1; }"), `"proxy_redirect default" should be placed after the "proxy_pass" directive in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_redirect nonsense; }"), `invalid parameter "nonsense" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_redirect http://a/ /$nosuch/; }"), `unknown "nosuch" variable in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; proxy_ignore_headers X-Nothing; }"), `invalid value "X-Nothing" in x.conf:4`},
		{"http {\n upstream u { }\n server { listen 80; location / { proxy_pass http://u; } } }", `no servers are inside upstream in x.conf:2`},
		{"http {\n log_format combined '$status';\n}", `duplicate "log_format" name "combined" in x.conf:2`},
		{conf("listen 80; access_log a.log nosuch; location / { proxy_pass http://a:1; }"), `unknown log format "nosuch" in x.conf:4`},
		{"error_log e.log loud;\nhttp { }", `invalid log level "loud" in x.conf:1`},
		{"http { }\nhttp { }", `"http" directive is duplicate in x.conf:2`},
		{"events { }", `no "http" block: nothing to convert in x.conf:1`},
		{"http {\n}", `no server block could be converted (every server needs a listen address spillway serves and a location that proxies) in x.conf:1`},
		{conf("listen 80; location / { proxy_pass http://a:1 { } }"), `directive "proxy_pass" is not terminated by ";" in x.conf:4`},
		{conf("listen 80; location /;"), `directive "location" has no opening "{" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://unix:; }"), `no path in the unix domain socket in upstream "unix:" in x.conf:4`},
		{conf("listen 80; location ~ ^/x { proxy_pass http://unix:/run/a.sock:/y; }"), `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in x.conf:4`},
		{conf("listen 80; ssl_ciphers NOSUCH:!ALL; location / { proxy_pass http://a:1; }"), `SSL_CTX_set_cipher_list("NOSUCH:!ALL") failed (SSL: error:0A0000B9:SSL routines::no cipher match) in x.conf:4`},
		{conf("listen 80; ssl_ciphers EDH+AESGCM; location / { proxy_pass http://a:1; }"), `"ssl_ciphers" "EDH+AESGCM" selects no cipher suite Go's TLS implements (it selects DHE-DSS-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:DHE-DSS-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256) in x.conf:4`},
		{conf("listen 80; ssl_ecdh_curve secp999; location / { proxy_pass http://a:1; }"), `SSL_CTX_set1_curves_list("secp999") failed (SSL: unknown group "secp999") in x.conf:4`},
	} {
		ds, err := Parse("x.conf", []byte(c.in))
		if err == nil {
			_, err = Convert(ds, Options{})
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("%q:\ngot  %v\nwant %s", c.in, err, c.want)
		}
	}
}

// Every proxy.yaml key that is an nginx directive (docs/config.md's table,
// where the key is its own nginx directive) converts in every context the
// table allows it: a key added to spillway without a converter fails here.
func TestEveryDocumentedDirectiveConverts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		f := strings.Fields(cells[4])
		if len(f) == 0 || strings.Trim(f[0], "`") != key {
			continue // spillway's own key, a sub-key, or a parameter
		}
		for _, where := range strings.Split(cells[2], ",") {
			ctx := strings.TrimSpace(where)
			if ctx == "upstream server" || ctx == "health_check" || ctx == "metrics" {
				continue // parameters of a directive, or spillway's own block
			}
			switch {
			case ctx == "top":
				ctx = "main"
			case key == "health_check":
				ctx = "location" // nginx Plus writes it in the location that proxies to the group
			}
			if ctx == "main" && key == "http" || ctx == "http" && key == "map" {
				continue // the blocks conv.http reads (map: maps.go)
			}
			n++
			if ctx == "limit_except" { // converted by limitExcept with the location's handlers
				if !limitExceptDirectives[key] || handlers["location"][key] == nil {
					t.Errorf("%s in %s is documented in docs/config.md but not converted", key, ctx)
				}
				continue
			}
			if handlers[ctx][key] == nil {
				t.Errorf("%s in %s is documented in docs/config.md but not converted", key, ctx)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d directives found in docs/config.md: has the table changed?", n)
	}
}

// Every variable the converter lets through in proxy_set_header is one
// spillway's proxy knows (proxy/vars.go), and one it drops is not.
func TestHeaderVariablesKnownToProxy(t *testing.T) {
	check := func(value string) error {
		y := "http:\n  servers:\n    - listen: [\"127.0.0.1:0\"]\n      locations:\n        - path: /\n          proxy_pass: http://127.0.0.1:9\n" +
			"          proxy_set_header: {X-Test: '" + value + "'}\n"
		cfg, err := config.LoadBytes("x.yaml", []byte(y))
		if err == nil {
			err = proxy.Validate(cfg)
		}
		return err
	}
	c := &conv{}
	for _, v := range vars.Names() {
		v = strings.ReplaceAll(v, "NAME", "x_custom")
		if err := check("a $" + v + " ${" + v + "}b"); err != nil || c.unknownVariable("$"+v) != "" {
			t.Errorf("$%s: %v %q", v, err, c.unknownVariable("$"+v))
		}
	}
	if c.unknownVariable("$connection_upgrade") == "" || check("$connection_upgrade") == nil {
		t.Error("$connection_upgrade should be unknown to both without a map")
	}
}

// docs/convert.md names every directive the converter handles or ignores.
func TestDocsListEveryConvertedDirective(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "convert.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	documented := func(n string) bool {
		switch {
		case strings.Contains(doc, "`"+n+"`"), strings.Contains(doc, "`"+n+" "):
			return true
		case strings.Contains(n, "_hash_"):
			return strings.Contains(doc, "`*_hash_max_size`")
		case strings.HasPrefix(n, "open_file_cache"):
			return strings.Contains(doc, "`open_file_cache*`")
		}
		return false
	}
	for ctx, m := range handlers {
		for n := range m {
			if !documented(n) {
				t.Errorf("docs/convert.md does not name %s (converted in %s)", n, ctx)
			}
		}
	}
	for n := range ignored {
		if !documented(n) {
			t.Errorf("docs/convert.md does not name %s (ignored)", n)
		}
	}
}

// map converts to http.map, in file order, and its variable is then known
// to proxy_set_header and log_format; a map spillway cannot compile is
// reported and left out.
func TestConvertMap(t *testing.T) {
	in := `http {
  log_format up '$remote_addr $connection_upgrade $site';
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  map $http_host $site {
    hostnames;
    volatile;
    default      main;
    *.example.com wild;
    ~^(?<n>api)\.  $1;
  }
  server { listen 80; access_log logs/a.log up;
    location / { proxy_pass http://127.0.0.1:9000; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; }
  }
}`
	ds, err := Parse("x.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := string(res.YAML)
	for _, want := range []string{
		"map:\n    # map at x.conf:3\n    - map: $http_upgrade $connection_upgrade\n      default: upgrade\n      values:\n        - [\"\", close]",
		"- map: $http_host $site\n      default: main\n      hostnames: on\n      volatile: on\n      values:\n        - ['*.example.com', wild]\n        - ['~^(?<n>api)\\.', $1]",
		"Connection: $connection_upgrade",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("missing %q in:\n%s", want, y)
		}
	}
	cfg, err := config.LoadBytes("converted.yaml", res.YAML)
	if err != nil {
		t.Fatalf("the converted file does not load: %v\n%s", err, y)
	}
	if len(cfg.Maps) != 2 || cfg.Maps[1].Entries[1].Value != "$1" {
		t.Errorf("maps: %+v", cfg.Maps)
	}
}

// An include inside a map is read in its place, as nginx's map does.
func TestConvertMapInclude(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts.map"), []byte("a.test one;\nb.test two;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	in := `http { map $host $name { default none; include hosts.map; c.test three; }
  server { listen 80; location / { proxy_pass http://127.0.0.1:9000; proxy_set_header X-Name $name; } } }`
	if err := os.WriteFile(conf, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ConvertFile(conf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("converted.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	want := []vars.MapEntry{{Key: "a.test", Value: "one"}, {Key: "b.test", Value: "two"}, {Key: "c.test", Value: "three"}}
	if len(cfg.Maps) != 1 || cfg.Maps[0].Default != "none" || fmt.Sprint(cfg.Maps[0].Entries) != fmt.Sprint(want) {
		t.Errorf("maps: %+v", cfg.Maps)
	}
	if res.Unsupported() != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
}

// A file of server blocks (Debian's sites-available/default, a conf.d
// file) converts as if inside http { }, upstreams and maps included; a
// file with a main-context directive is a main file and needs its http.
func TestConvertServerBlockFile(t *testing.T) {
	ds, err := Parse("default", []byte(`upstream app { server 127.0.0.1:9000; }
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server {
	listen 80 default_server;
	location / { proxy_pass http://app; proxy_set_header Connection $connection_upgrade; }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http:\n  map:", "  upstreams:\n    app:", "  servers:\n    - listen: [80 default_server]"} {
		if !strings.Contains(string(res.YAML), want) {
			t.Errorf("output lacks %q:\n%s", want, res.YAML)
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	ds, _ = Parse("main.conf", []byte("pid x.pid;\nserver { listen 80; location / { proxy_pass http://127.0.0.1:9; } }\n"))
	if _, err := Convert(ds, Options{}); err == nil || !strings.Contains(err.Error(), `no "http" block`) {
		t.Errorf("a main file without http: %v", err)
	}
}

// An nginx error does not hide the rest: Convert goes on, returns every
// warning with the first error, as nginx's one [emerg] line.
func TestConvertListsWarningsWithError(t *testing.T) {
	ds, err := Parse("x.conf", []byte(`http {
	sub_filter_once on;
	server { listen 80; proxy_read_timeout x; proxy_send_timeout y; location / { proxy_pass http://127.0.0.1:9; ssi on; } }
	upstream u { }
	charset_map koi8-r utf-8 { }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(ds, Options{})
	if err == nil || err.Error() != `"proxy_read_timeout" directive invalid value in x.conf:3` {
		t.Errorf("error %v, want the first one", err)
	}
	if res == nil || res.YAML != nil {
		t.Fatalf("result %+v, want the warnings and no YAML", res)
	}
	got := warningLines(res.Warnings)
	want := "x.conf:2: unsupported directive \"sub_filter_once\" in http\nx.conf:3: unsupported directive \"ssi\" in location\n"
	if got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// charset_map converts to http.charset_map, nginx's own koi-utf included
// in place, and the result loads with the recoding it defines.
func TestConvertCharsetMap(t *testing.T) {
	koi, err := os.ReadFile("/etc/nginx/koi-utf")
	if err != nil {
		koi = []byte("charset_map koi8-r utf-8 { C1 D0B0; }\n") // nginx's file: its first lines are of this form
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "koi-utf"), koi, 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Parse(filepath.Join(dir, "nginx.conf"), []byte(`http {
	include koi-utf;
	charset_map B A { 58 59; 5a 5B; }
	server { listen 127.0.0.1:8080; root /srv; location /k/ { charset utf-8; source_charset koi8-r; } location /b/ { charset A; source_charset B; } }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %s", warningLines(res.Warnings))
	}
	y := string(res.YAML)
	for _, want := range []string{"charset_map: koi8-r utf-8", "- C1 D0B0", "charset_map: B A", "- 58 59", "- 5a 5B"} {
		if !strings.Contains(y, want) {
			t.Errorf("no %q in\n%s", want, y)
		}
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	set := cfg.Servers[0].Charset.Set
	rc := set.Recoder(set.Index("koi8-r"), set.Index("utf-8"))
	if rc == nil || string(rc.Bytes([]byte{'a', 0xC1})) != "a\u0430" {
		t.Errorf("koi8-r to utf-8: %v", rc)
	}

	for _, c := range []struct{ in, want string }{
		{`charset_map B A { 58; }`, `invalid parameters number in x.conf:1`},
		{`charset_map B { }`, `invalid number of arguments in "charset_map" directive in x.conf:1`},
		{`charset_map B A;`, `directive "charset_map" has no opening "{" in x.conf:1`},
		{`charset $nope;`, `unknown "nope" variable in x.conf:1`},
	} {
		ds, err := Parse("x.conf", []byte("http { "+c.in+" server { listen 80; location / { proxy_pass http://127.0.0.1:9; } } }\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Convert(ds, Options{}); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %s", c.in, err, c.want)
		}
	}
}
