package difftest

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"spillway/proxy/config"

	"spillway/proxy/internal/testutil"
)

// uwsgiEnvApp answers with the CGI vars it got (upper-case names, sorted),
// its body's length and the body: what a uwsgi_pass sends, as the
// application sees it.
const uwsgiEnvApp = `def application(env, start_response):
    body = env['wsgi.input'].read()
    skip = ('SERVER_PORT', 'REMOTE_PORT', 'DOCUMENT_ROOT')
    lines = ['%s=%s' % (k, v) for k, v in sorted(env.items()) if k.isupper() and k not in skip]
    status = '404 Not Found' if env.get('PATH_INFO', '').endswith('/missing') else '200 OK'
    start_response(status, [('Content-Type', 'text/plain'), ('X-App', 'env')])
    return [('\n'.join(lines) + '\nbody %d ' % len(body)).encode() + body]
`

// TestUwsgiDifferential sends the same requests through nginx and spillway
// to one real uWSGI application, both with Debian's uwsgi_params, and
// compares what the application saw (every var but the ports and
// $document_root, which differ by side) and what the client got back;
// under /h/, uwsgi_hide_header and uwsgi_intercept_errors change the
// answer.
func TestUwsgiDifferential(t *testing.T) {
	bin := nginxBin(t)
	sock := testutil.StartUwsgi(t, uwsgiEnvApp) // stopped by its handle
	var locDirs []Directive
	sc := bufio.NewScanner(strings.NewReader(config.UwsgiParams))
	for sc.Scan() {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(sc.Text()), ";"))
		if len(f) >= 3 && f[0] == "uwsgi_param" {
			locDirs = append(locDirs, Directive{Name: "uwsgi_param", Value: strings.Join(f[1:], " ")})
		}
	}
	locDirs = append(locDirs, Directive{Name: "uwsgi_pass", Value: "unix:" + sock})
	hDirs := append(slices.Clip(locDirs), dirs("uwsgi_hide_header", "X-App", "uwsgi_intercept_errors", "on", "error_page", "404 /e404")...)
	s := &Scenario{Name: "uwsgi", Servers: []Server{{}}, Locations: []Location{{Path: "/u/", Directives: locDirs},
		{Path: "/h/", Directives: hDirs}, {Path: "= /e404", Directives: dirs("return", `404 "intercepted"`)}}}
	addrs := []string{indexServer(t, 0)}
	type req struct {
		method, path, body string
		header             map[string]string
	}
	reqs := []req{
		{"GET", "/u/a/b?x=1&y=%20z", "", map[string]string{"X-Test": "yes", "X-Under_Score": "dropped?"}},
		{"POST", "/u/form", "a=1&b=2", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"PUT", "/u/upload", strings.Repeat("0123456789", 10000), nil},
		{"GET", "/u/missing", "", nil},
		{"HEAD", "/u/head", "", nil},
		{"GET", "/h/a", "", nil},
		{"GET", "/h/missing", "", nil},
	}
	dir := t.TempDir()
	got := map[string][]string{}
	for _, sd := range []side{nginxSide{bin: bin}, spillwaySide{}} {
		d := filepath.Join(dir, sd.name())
		subs := []string{"", "client", "proxy"}
		if sd.name() == "spillway" {
			subs = append(subs, "uwsgi") // nginx's side makes its own
		}
		for _, sub := range subs {
			if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		r, err := sd.start(s, d, addrs, t.Cleanup)
		if err != nil {
			t.Fatalf("%s: %v", sd.name(), err)
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
		for _, q := range reqs {
			hr, _ := http.NewRequest(q.method, "http://"+r.addr()+q.path, strings.NewReader(q.body))
			if q.body == "" {
				hr.Body = nil
			}
			hr.Host = "app.example"
			for k, v := range q.header {
				hr.Header.Set(k, v)
			}
			resp, err := client.Do(hr)
			if err != nil {
				_ = r.stop()
				t.Fatalf("%s %s %s: %v\n%s\n%s", sd.name(), q.method, q.path, err, r.config(), r.log())
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			got[sd.name()] = append(got[sd.name()], resp.Status+" "+resp.Header.Get("Content-Type")+" X-App: "+resp.Header.Get("X-App")+"\n"+string(bytes.ReplaceAll(b, []byte(strings.Repeat("0123456789", 10)), []byte("<100>"))))
		}
		if err := r.stop(); err != nil {
			t.Errorf("%s: %v", sd.name(), err)
		}
		if t.Failed() || os.Getenv("DIFFTEST_VERBOSE") != "" {
			t.Logf("%s's error log:\n%s", sd.name(), r.log())
		}
	}
	for i, q := range reqs {
		if ng, sp := got["nginx"][i], got["spillway"][i]; ng != sp {
			nl, sl := strings.Split(ng, "\n"), strings.Split(sp, "\n")
			for j := 0; j < max(len(nl), len(sl)); j++ {
				var a, b string
				if j < len(nl) {
					a = nl[j]
				}
				if j < len(sl) {
					b = sl[j]
				}
				if a != b {
					t.Errorf("%s %s, line %d: nginx %q, spillway %q", q.method, q.path, j, clip(a), clip(b))
				}
			}
		}
	}
}
