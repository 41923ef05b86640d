package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"spillway/proxy/config/nginxconf"
	"spillway/proxy/internal/phpfpm"
)

// unixOrigin serves HTTP on a unix-domain socket in a temp dir: it answers
// with the request's URI and Host, and counts the connections it accepted.
// The test stops it.
func unixOrigin(t *testing.T) (path string, conns *atomic.Int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "uri=%s host=%s", r.RequestURI, r.Host)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return path, conns
}

func TestUnixSocketUpstream(t *testing.T) {
	path, conns := unixOrigin(t)
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app:
      keepalive: 4
      servers: [{address: "unix:`+path+`"}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - path: /
          proxy_pass: http://app
          proxy_http_version: "1.1"
          proxy_set_header: ["Connection \"\""]
        - path: /api/
          proxy_pass: "http://unix:`+path+`:/v1/"
`)
	for i := 0; i < 3; i++ {
		code, body := r.do("GET", "/x?a=1", nil)
		if code != 200 || string(body) != "uri=/x?a=1 host=app" {
			t.Fatalf("GET /x: %d %q", code, body)
		}
	}
	// The keepalive cache (and its liveness peek) works on unix sockets.
	if n := conns.Load(); n != 1 {
		t.Errorf("the origin accepted %d connections for 3 keepalive requests, want 1", n)
	}
	// proxy_pass http://unix:PATH:/v1/ replaces the prefix; $proxy_host is
	// "localhost", as nginx sends for a unix socket.
	code, body := r.do("GET", "/api/users", nil)
	if code != 200 || string(body) != "uri=/v1/users host=localhost" {
		t.Errorf("GET /api/users: %d %q", code, body)
	}
	if l := r.log(); strings.Contains(l, "[error]") || strings.Contains(l, "[crit]") {
		t.Errorf("error log:\n%s", l)
	}
}

// A missing socket and a socket nobody listens on fail as in nginx: 502,
// with ngx_event_connect_peer's lines ("connect() to unix:... failed", at
// crit for ENOENT and at error for ECONNREFUSED), the upstream written
// with ":" before the URI.
func TestUnixSocketConnectErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	refused := filepath.Join(dir, "refused.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: refused, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the socket file stays, with no listener: ECONNREFUSED
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - path: /missing/
          proxy_pass: "http://unix:`+missing+`"
        - path: /refused/
          proxy_pass: "http://unix:`+refused+`:/"
`)
	if code, _ := r.do("GET", "/missing/a", nil); code != 502 {
		t.Errorf("missing socket: %d, want 502", code)
	}
	if code, _ := r.do("GET", "/refused/b", nil); code != 502 {
		t.Errorf("refused socket: %d, want 502", code)
	}
	wantLog(t, r,
		`[crit] 4242#4242: *1 connect() to unix:`+missing+` failed (2: No such file or directory) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /missing/a HTTP/1.1", upstream: "http://unix:`+missing+`:/missing/a", host: "PROXY"`,
		`[error] 4242#4242: *2 connect() to unix:`+refused+` failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /refused/b HTTP/1.1", upstream: "http://unix:`+refused+`:/b", host: "PROXY"`)
}

// php-fpm on a unix socket behind Debian's stock fastcgi.conf, converted
// from an nginx.conf as written. (Debian's snippets/fastcgi-php.conf also
// needs "set $path_info" and try_files, which the rewrite and static-file
// work brings.)
func TestUnixSocketPHPFPMDebianFastcgiConf(t *testing.T) {
	php := phpfpm.Start(t, phpfpm.Options{Unix: true, Scripts: map[string]string{
		"hello.php": `<?php echo "hello from ", $_SERVER['SCRIPT_NAME'], " path_info=", $_SERVER['PATH_INFO'] ?? '';`,
	}})
	dir := t.TempDir()
	etc := "../testdata/nginx-corpus/etc-nginx"
	for _, f := range []string{"fastcgi.conf"} {
		b, err := os.ReadFile(filepath.Join(etc, f))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`events {}
http {
  server { listen 127.0.0.1:80; server_name localhost; root %s;
    location ~ [^/]\.php(/|$) {
      fastcgi_split_path_info ^(.+?\.php)(/.*)$;
      include fastcgi.conf;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass %s;
    }
  }
}
`, php.Root, php.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := nginxconf.ConvertFile(conf, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(res.YAML), "127.0.0.1:80", "127.0.0.1:0", 1)
	y = strings.Replace(y, "http:\n", "http:\n  access_log: off\n  fastcgi_temp_path: {TMP}\n  client_body_temp_path: {TMP}\n", 1)
	r := newRig(t, "error", y)
	code, body := r.do("GET", "/hello.php/a/b", nil)
	if code != 200 || string(body) != "hello from /hello.php path_info=/a/b" {
		t.Errorf("GET /hello.php/a/b: %d %q\n%s", code, body, y)
	}
	if l := r.log(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}

// debianPHP converts an nginx.conf whose one server has a PHP location
// (body: the location's directives) in front of php-fpm on a unix socket,
// with Debian's stock fastcgi.conf and snippets/fastcgi-php.conf (copied
// from Debian's nginx package into testdata/nginx-corpus/etc-nginx) beside
// it, and serves it; everything but ignored directives must convert.
func debianPHP(t *testing.T, location, body string) *rig {
	t.Helper()
	php := phpfpm.Start(t, phpfpm.Options{Unix: true, Scripts: map[string]string{
		"hello.php": `<?php echo "hello from ", $_SERVER['SCRIPT_NAME'], " path_info=", $_SERVER['PATH_INFO'] ?? '';`,
	}})
	dir := t.TempDir()
	etc := "../testdata/nginx-corpus/etc-nginx"
	for _, f := range []string{"fastcgi.conf", "snippets/fastcgi-php.conf"} {
		b, err := os.ReadFile(filepath.Join(etc, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`events {}
http {
  server { listen 127.0.0.1:80; server_name localhost; root %s;
    location %s {
      %s
      fastcgi_pass %s;
    }
  }
}
`, php.Root, location, body, php.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := nginxconf.ConvertFile(conf, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if w.Kind != nginxconf.Ignored {
			t.Fatalf("not converted: %v", w)
		}
	}
	y := strings.Replace(string(res.YAML), "127.0.0.1:80", "127.0.0.1:0", 1)
	y = strings.Replace(y, "http:\n", "http:\n  access_log: off\n  fastcgi_temp_path: {TMP}\n  client_body_temp_path: {TMP}\n", 1)
	return newRig(t, "error", y)
}

// Debian's sites-available/default with its PHP block enabled: the stock
// snippets/fastcgi-php.conf (fastcgi_split_path_info, try_files
// $fastcgi_script_name =404, set $path_info, fastcgi.conf) in front of
// php-fpm on its unix socket. The acceptance test.
func TestUnixSocketPHPFPMDebianSnippet(t *testing.T) {
	r := debianPHP(t, `~ \.php$`, `include snippets/fastcgi-php.conf;`)
	if code, body := r.do("GET", "/hello.php", nil); code != 200 || string(body) != "hello from /hello.php path_info=" {
		t.Errorf("GET /hello.php: %d %q", code, body)
	}
	// try_files $fastcgi_script_name =404: nginx answers a missing script
	// itself, php-fpm never sees it.
	if code, body := r.do("GET", "/missing.php", nil); code != 404 || string(body) != nginxPage("404 Not Found") {
		t.Errorf("GET /missing.php: %d %q", code, body)
	}
	if l := r.log(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}

// try_files with $fastcgi_script_name, the snippet's check that the script
// exists, without its "set": a found script becomes $uri, so
// $fastcgi_path_info is empty afterwards (nginx's ticket 321, which the
// snippet's "set $path_info" works around).
func TestTryFilesFastcgiScriptName(t *testing.T) {
	r := debianPHP(t, `~ [^/]\.php(/|$)`, `fastcgi_split_path_info ^(.+?\.php)(/.*)$;
      try_files $fastcgi_script_name =404;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_index index.php;
      include fastcgi.conf;`)
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/hello.php", 200, "hello from /hello.php path_info="},
		{"/hello.php/a/b", 200, "hello from /hello.php path_info="},
		{"/missing.php", 404, nginxPage("404 Not Found")},
		{"/missing.php/a", 404, nginxPage("404 Not Found")},
	} {
		if code, body := r.do("GET", c.path, nil); code != c.code || string(body) != c.body {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	if l := r.log(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}
