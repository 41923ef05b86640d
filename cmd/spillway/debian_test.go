package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// debianEtc builds Debian's /etc/nginx under dir/etc/nginx from the
// package's own files (testdata/nginx-corpus/etc-nginx and debian-nginx.conf,
// copied from Debian's nginx 1.22.1 package; SOURCES.md there), with a
// proxying site in sites-available/app enabled by a symlink in
// sites-enabled/, as an admin does it, and sites-enabled/default (port 80)
// removed. Absolute paths move under dir: /etc/nginx/, /var/log/nginx/ and
// /run/. It returns the nginx.conf path.
func debianEtc(t *testing.T, dir, listen, origin string) string {
	t.Helper()
	etc := filepath.Join(dir, "etc", "nginx")
	fix := strings.NewReplacer("/etc/nginx/", etc+"/", "/var/log/nginx/", dir+"/log/", "/run/", dir+"/run/")
	src := "../../testdata/nginx-corpus/etc-nginx"
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(etc, rel), 0o755)
		}
		if rel == filepath.Join("sites-enabled", "default") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(etc, rel), []byte(fix.Replace(string(b))), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../testdata/nginx-corpus/debian-nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(etc, "nginx.conf")
	for _, d := range []string{"sites-available", "modules-enabled", "conf.d", "../../log", "../../run"} {
		if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	site := fmt.Sprintf(`server {
	listen %s;
	server_name app.example;

	location / {
		proxy_pass http://%s;
		include proxy_params;
	}
}
`, listen, origin)
	if err := os.WriteFile(filepath.Join(etc, "sites-available", "app"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sites-available/app", filepath.Join(etc, "sites-enabled", "app")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fix.Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// Debian's stock nginx.conf (conf.d/*.conf, sites-enabled/*, mime.types,
// proxy_params) with a proxying site in sites-enabled/ converts, checks and
// serves, as nginx -c /etc/nginx/nginx.conf would; the site's file taken
// on its own converts as if inside http { }; the proxy.yaml convert writes
// names spillway's own pid file, never nginx's, while serve -c stands in
// for nginx and takes the file's.
func TestDebianLayout(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		seen.Set("Host", r.Host)
		mu.Unlock()
		io.WriteString(w, "app "+r.URL.Path)
	}))
	defer origin.Close()
	dir := t.TempDir()
	listen := "127.0.0.1:" + freePort(t)
	conf := debianEtc(t, dir, listen, strings.TrimPrefix(origin.URL, "http://"))
	nginxPID, ownPID := filepath.Join(dir, "run", "nginx.pid"), filepath.Join(dir, "run", "spillway.pid")

	out, errOut, err := runMain("convert", conf)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "unsupported") || strings.Contains(errOut, "[emerg]") {
		t.Errorf("convert reports what does not convert:\n%s", errOut)
	}
	if !strings.Contains(errOut, conf+`:8: ignored directive "pid" in main: spillway does not take nginx's pid file, it writes `+ownPID) {
		t.Errorf("convert does not say where the pid file goes:\n%s", errOut)
	}
	for _, want := range []string{"pid: " + ownPID, "X-Real-IP: $remote_addr", "X-Forwarded-For: $proxy_add_x_forwarded_for", "path: " + dir + "/log/access.log"} {
		if !strings.Contains(out, want) {
			t.Errorf("converted configuration has no %q:\n%s", want, out)
		}
	}
	if _, errOut, err := runMain("check", "-c", conf); err != nil {
		t.Errorf("check -c %s: %v\n%s", conf, err, errOut)
	}

	// The site's file on its own: taken as if inside http { }, its
	// "include proxy_params" found in /etc/nginx as nginx finds it.
	site := filepath.Join(dir, "etc", "nginx", "sites-available", "app")
	out, errOut, err = runMain("convert", site)
	if err != nil || errOut != "" || !strings.Contains(out, "X-Forwarded-Proto: $scheme") || strings.Contains(out, "pid:") {
		t.Errorf("convert %s: %v\nstderr:\n%s\nstdout:\n%s", site, err, errOut, out)
	}
	if _, errOut, err := runMain("check", "-c", site); err != nil {
		t.Errorf("check -c %s: %v\n%s", site, err, errOut)
	}

	srv := startChild(t, spillwayCmd(t, "serve", "-c", conf))
	waitFor(t, func() bool { _, err := os.Stat(nginxPID); return err == nil }, "pid file %s (stderr: %s)", nginxPID, srv.stderr)
	req, _ := http.NewRequest("GET", "http://"+listen+"/hello", nil)
	req.Host = "app.example"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // QUIT then waits for no idle connection
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "app /hello" {
		t.Errorf("GET /hello: %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	for k, v := range map[string]string{"Host": "app.example", "X-Real-Ip": "127.0.0.1", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"} {
		if seen.Get(k) != v {
			t.Errorf("origin got %s: %q, want %q (proxy_params)", k, seen.Get(k), v)
		}
	}
	mu.Unlock()
	if _, err := os.Stat(ownPID); !os.IsNotExist(err) {
		t.Errorf("serve -c wrote %s, not the file's pid (%v)", ownPID, err)
	}
	_ = srv.cmd.Process.Signal(syscall.SIGQUIT)
	if err := srv.wait(); err != nil {
		t.Errorf("after QUIT: %v\n%s", err, srv.stderr)
	}
	// access_log /var/log/nginx/access.log, combined, written by the time
	// the process has exited.
	if log := readFile(filepath.Join(dir, "log", "access.log")); !strings.Contains(log, `"GET /hello HTTP/1.1" 200 10 "-" "Go-http-client/1.1"`) {
		t.Errorf("access log:\n%s", log)
	}
}

// convert lists everything it does not convert, also what comes after the
// error it stops with, and then nginx's one [emerg] line.
func TestConvertListsAllBeforeEmerg(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(`http {
    sub_filter_once on;
    server {
        listen 127.0.0.1:8080;
        proxy_connect_timeout 5x;
        location / { proxy_pass http://127.0.0.1:9; ssi on; }
    }
    sub_filter_types text/css;
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runMain("convert", conf)
	want := conf + `:2: unsupported directive "sub_filter_once" in http` + "\n" +
		conf + `:6: unsupported directive "ssi" in location` + "\n" +
		conf + `:8: unsupported directive "sub_filter_types" in http` + "\n" +
		`spillway: [emerg] "proxy_connect_timeout" directive invalid value in ` + conf + ":5\n"
	if err == nil || errOut != want {
		t.Errorf("convert: %v\n%s\nwant:\n%s", err, errOut, want)
	}
}
