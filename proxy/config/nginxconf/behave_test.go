package nginxconf_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// The nginx.conf of testdata/realistic names these origin addresses and
// this listen address; the test puts its own in their place.
const (
	confApp1    = "127.0.0.1:19001"
	confApp2    = "127.0.0.1:19002"
	confBackup  = "127.0.0.1:19009"
	confStatic  = "127.0.0.1:19003"
	confListen  = "127.0.0.1:18080"
	realistic   = "testdata/realistic/nginx.conf"
	apiHost     = "api.example.com"
	wwwHost     = "www.example.com"
	wildOrgHost = "shop.example.org" // server_name .example.org
)

// convertRealistic converts testdata/realistic/nginx.conf, the way
// `spillway convert` does.
func convertRealistic(t *testing.T) *nginxconf.Result {
	t.Helper()
	res, err := nginxconf.ConvertFile(realistic, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// startConverted loads converted YAML with the origin addresses replaced
// and the file paths moved into a temp dir, checks it the way `spillway
// check` does (config.LoadBytes, then proxy.Validate), and runs it.
func startConverted(t *testing.T, yamlText []byte, addrs map[string]string) (*proxy.Proxy, *testutil.LogBuffer) {
	t.Helper()
	dir := t.TempDir()
	text := string(yamlText)
	for from, to := range addrs {
		text = strings.ReplaceAll(text, from, to)
	}
	text = strings.ReplaceAll(text, confListen, "127.0.0.1:0") // both servers share the one listener, as in nginx
	for _, p := range []string{"/var/log/nginx", "/var/cache/nginx", "/var/run"} {
		text = strings.ReplaceAll(text, p, dir)
	}
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(text))
	if err == nil {
		err = proxy.Validate(cfg)
	}
	if err != nil {
		t.Fatalf("the converted configuration does not pass the check: %v\n%s", err, text)
	}
	elog := &testutil.LogBuffer{}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(elog, config.LevelError, errorlog.Options{})})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if n := len(p.Addrs()); n != 1 {
		t.Fatalf("%d listeners, want 1 (two servers on one address)", n)
	}
	return p, elog
}

func origin(t *testing.T, bs ...upstreamsim.Behavior) *upstreamsim.Upstream {
	t.Helper()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", bs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

func refused(t *testing.T) string {
	t.Helper()
	a := upstreamsim.RefusedAddr(t)
	return a
}

// get sends one GET with a Host header on a new connection.
func get(t *testing.T, p *proxy.Proxy, host, path string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequest("GET", "http://"+p.Addrs()[0]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The converted realistic nginx.conf routes like nginx: by server_name
// (exact and ".example.org"), then by location (prefix, "=", "~*",
// stub_status), with proxy_pass's URI replacement, to the upstream group
// or literal address each location names.
func TestConvertedRoutesLikeNginx(t *testing.T) {
	app1, app2, static := origin(t), origin(t), origin(t)
	p, elog := startConverted(t, convertRealistic(t).YAML, map[string]string{
		confApp1: app1.Addr(), confApp2: app2.Addr(), confStatic: static.Addr(), confBackup: refused(t)})
	appHits := func(path string) int { return app1.Hits("GET", path) + app2.Hits("GET", path) }

	for _, c := range []struct {
		host, path string
		hits       func() int // the origin request the route must produce
		why        string
	}{
		{apiHost, "/v1/users", func() int { return appHits("/v1/users") }, "api: location / → upstream app"},
		{apiHost, "/healthz", func() int { return static.Hits("GET", "/status") }, "api: location = /healthz → literal address with URI /status"},
		{apiHost, "/healthz/deep", func() int { return appHits("/healthz/deep") }, "api: = matches only /healthz itself"},
		{apiHost, "/img/logo.PNG", func() int { return static.Hits("GET", "/img/logo.PNG") }, "api: location ~* \\.(png|jpg)$ (caseless) → upstream static"},
		{wwwHost, "/about", func() int { return appHits("/site/about") }, "www: proxy_pass http://app/site/ replaces the location prefix /"},
		{wwwHost, "/downloads/f.iso", func() int { return appHits("/downloads/f.iso") }, "www: location /downloads/ → app without URI change"},
		{wildOrgHost, "/x", func() int { return appHits("/site/x") }, "server_name .example.org matches subdomains"},
		{"example.org", "/y", func() int { return appHits("/site/y") }, "server_name .example.org matches example.org"},
	} {
		status, body := get(t, p, c.host, c.path)
		if status != 200 {
			t.Errorf("%s: GET %s%s = %d %q", c.why, c.host, c.path, status, body)
			continue
		}
		if n := c.hits(); n != 1 {
			t.Errorf("%s: GET %s%s reached the expected origin request %d times, want 1", c.why, c.host, c.path, n)
		}
	}
	if n := static.Hits("GET", "/img/logo.PNG") + appHits("/img/logo.PNG"); n != 1 {
		t.Errorf("the regex location's request went %d times to some origin", n)
	}

	status, body := get(t, p, apiHost, "/nginx_status")
	if status != 200 || !strings.HasPrefix(body, "Active connections: ") {
		t.Errorf("stub_status: %d %q", status, body)
	}
	if log := elog.String(); log != "" {
		t.Errorf("error log:\n%s", log)
	}
}

// proxy_next_upstream converts with its meaning. The api server's "error
// timeout http_502 http_503" retries a GET on the other server of the group
// both when the first one resets the connection (RST after the request
// head, SetLinger(0)) and when it answers 503; www's /downloads/ ("off")
// gives the client the failure instead: a 502 for the reset, the upstream's
// own 503.
func TestConvertedRetriesLikeNginx(t *testing.T) {
	for _, c := range []struct {
		name      string
		failing   upstreamsim.Behavior
		offStatus int    // what www's /downloads/ answers when it hits the failing server
		logLine   string // the error-log line of each failure, "" for none
	}{
		{"reset", upstreamsim.Reset(), 502, "recv() failed (104: Connection reset by peer) while reading response header from upstream"},
		{"503", upstreamsim.Status(503), 503, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			failing, healthy := origin(t, c.failing), origin(t)
			p, elog := startConverted(t, convertRealistic(t).YAML, map[string]string{
				confApp1: failing.Addr(), confApp2: healthy.Addr(), confStatic: refused(t), confBackup: refused(t)})

			// Round-robin with weights 1 and 2 sends one request in three to
			// the failing server first; with max_fails=3 it stays in the
			// group for all six requests.
			var failed int
			for i := range 3 {
				status, _ := get(t, p, wwwHost, "/downloads/f"+string(rune('a'+i)))
				switch status {
				case c.offStatus:
					failed++
				case 200:
				default:
					t.Errorf("www /downloads/ (proxy_next_upstream off): status %d", status)
				}
			}
			if failed != 1 || failing.Total() != 1 {
				t.Fatalf("proxy_next_upstream off: %d of 3 GETs got %d and the failing server saw %d requests; want 1 and 1",
					failed, c.offStatus, failing.Total())
			}

			for i := range 3 {
				path := "/orders/" + string(rune('a'+i))
				if status, body := get(t, p, apiHost, path); status != 200 {
					t.Fatalf("api GET %s (proxy_next_upstream error timeout http_502 http_503): %d %q, want 200 from the other server\n%s",
						path, status, body, elog.String())
				}
				if healthy.Hits("GET", path) != 1 {
					t.Fatalf("api GET %s: the healthy server saw it %d times", path, healthy.Hits("GET", path))
				}
			}
			if n := failing.Total(); n != 2 {
				t.Errorf("the failing server saw %d requests in all, want 2 (one from www, one retried from api)", n)
			}
			if c.logLine != "" {
				if n := strings.Count(elog.String(), c.logLine); n != 2 {
					t.Errorf("error log has %d %q lines, want 2:\n%s", n, c.logLine, elog.String())
				}
			}
		})
	}
}

// A request no location matches is answered as nginx does, with the
// server's own settings: the file from the root the server inherits (here
// from http), 404 for a file that is not there, and a regex location still
// wins over it. A server with no location at all is converted too (nginx's
// test suite has many). A server with its own "location /" keeps it.
func TestConvertedServerWithoutLocationServesRoot(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"www/t1": "one\n", "www/sub/t2.txt": "two\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := origin(t)
	conf := filepath.Join(dir, "nginx.conf")
	text := `events {}
http {
    access_log off;
    root ` + filepath.Join(dir, "www") + `;
    server {
        listen ` + confListen + `;
        server_name localhost;
        add_header X-URI $uri;
        location ~ \.txt$ { proxy_pass http://` + app.Addr() + `; }
    }
    server {
        listen ` + confListen + `;
        server_name other;
        location / { proxy_pass http://` + app.Addr() + `; }
    }
}
`
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := nginxconf.ConvertFile(conf, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(res.YAML), "path: /"); n != 2 {
		t.Errorf("%d locations \"/\" in the converted file, want 2 (the first server's for no match, the second's own):\n%s", n, res.YAML)
	}
	p, elog := startConverted(t, res.YAML, nil)
	for _, c := range []struct {
		host, path string
		status     int
		body       string
		hits       int // at the origin, for this path
	}{
		{"localhost", "/t1", 200, "one\n", 0},
		{"localhost", "/nope", 404, "", 0},
		{"localhost", "/sub/t2.txt", 200, "", 1}, // the regex location
		{"other", "/t1", 200, "", 1},
	} {
		status, body := get(t, p, c.host, c.path)
		if status != c.status || (c.body != "" && body != c.body) {
			t.Errorf("GET %s%s = %d %q, want %d %q", c.host, c.path, status, body, c.status, c.body)
		}
		if n := app.Hits("GET", c.path); n != c.hits {
			t.Errorf("GET %s%s reached the origin %d times, want %d", c.host, c.path, n, c.hits)
		}
	}
	if log := elog.String(); !strings.Contains(log, `open() "`+filepath.Join(dir, "www", "nope")+`" failed (2: No such file or directory)`) {
		t.Errorf("error log has no open() line for the missing file:\n%s", log)
	}
}
