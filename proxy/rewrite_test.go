package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rewriteEcho answers every request with "METHOD URI|X-Tag header".
func rewriteEcho(t *testing.T) string {
	t.Helper()
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.RequestURI+"|"+r.Header.Get("X-Tag"))
	}))
	t.Cleanup(o.Close)
	return strings.TrimPrefix(o.URL, "http://")
}

const rewriteConf = `
http:
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: {ALOG}, format: '"$request" $status "$uri" "$args" "$request_uri"'}
      rewrite:
        - ^/srv/(.*)$ /app/$1 last
        - set: $from_server yes
        - if: -f {ROOT}$uri
          rewrite: [{return: "200 file $uri"}]
        - if: -d {ROOT}$uri
          rewrite: [{return: "200 dir"}]
      locations:
        - path: /app/
          proxy_set_header: {X-Tag: "$from_server/$tag"}
          proxy_pass: http://{U0}
        - path: /up/
          proxy_pass: http://{U0}/base/
          rewrite:
            - ^/up/brk/(.*)$ /up/x/$1 break
            - ^/up/keep/(.*)$ /up/y/$1
            - set: $never "only here"
        - path: /last/
          rewrite:
            - ^/last/(.*)$ /app/$1?from=last last
            - {return: "500 unreachable"}
        - path: /noflag/
          rewrite:
            - ^/noflag/(.*)$ /app/$1?
            - set: $tag noflag
        - path: /loop/
          rewrite: ["^/loop/(.*)$ /loop/$1"]
        - path: /cond/
          rewrite:
            - set: $tag ""
            - if: $arg_a
              rewrite: [{set: $tag a-set}]
            - if: $http_x_kind = "beta test"
              rewrite: [{return: "200 beta"}]
            - if: $http_user_agent ~* ^(curl|wget)/([0-9]+)
              rewrite: [{return: "200 agent $1 v$2"}]
            - if: $arg_b !~ ^[0-9]+$
              rewrite: [{return: "400 bad b"}]
            - {return: "200 tag=[$tag] uninit=[$never]"}
        - path: /iflocation/
          proxy_pass: http://{U0}
          rewrite:
            - if: $request_method = POST
              proxy_set_header: {X-Tag: posted}
        - path: /args/
          rewrite:
            - set: $args "k=v&$args"
          proxy_pass: http://{U0}
        - path: /
          proxy_pass: http://{U0}
`

// The rewrite module runs like nginx 1.22: rewrite's flags, the search
// again after last and after a rewrite without flag, break keeping the
// location (and dropping proxy_pass's URI part), the 10-cycle limit, if
// with variables, = and != , regexes and their captures, file tests on a
// real directory, set, uninitialized variables, if in location.
func TestRewriteModule(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	alog := filepath.Join(t.TempDir(), "access.log")
	conf := strings.NewReplacer("{ALOG}", alog, "{ROOT}", root).Replace(rewriteConf)
	r := newRig(t, "info", conf, rewriteEcho(t))
	for _, c := range []struct {
		method, target string
		hdr            map[string]string
		status         int
		body           string
	}{
		{"GET", "/srv/a?q=1", nil, 200, "GET /app/a?q=1|/"}, // last stops the server's script: no set
		{"GET", "/f.txt", nil, 200, "file /f.txt"},
		{"GET", "/sub", nil, 200, "dir"},
		{"GET", "/up/brk/z?q=1", nil, 200, "GET /up/x/z?q=1|"},
		{"GET", "/up/keep/z", nil, 200, "GET /base/y/z|"},
		{"GET", "/last/b?q=2", nil, 200, "GET /app/b?from=last&q=2|yes/"},
		{"GET", "/noflag/c?q=3", nil, 200, "GET /app/c|yes/noflag"},
		{"GET", "/loop/d", nil, 500, ""},
		{"GET", "/cond/?b=1", nil, 200, "tag=[] uninit=[]"},
		{"GET", "/cond/?a=1&b=1", nil, 200, "tag=[a-set] uninit=[]"},
		{"GET", "/cond/?a=0&b=1", nil, 200, "tag=[] uninit=[]"},
		{"GET", "/cond/?b=1", map[string]string{"X-Kind": "beta test"}, 200, "beta"},
		{"GET", "/cond/?b=1", map[string]string{"User-Agent": "Curl/8.1"}, 200, "agent Curl v8"},
		{"GET", "/cond/?b=x", nil, 400, "bad b"},
		{"POST", "/iflocation/p", nil, 200, "POST /iflocation/p|posted"},
		{"GET", "/iflocation/p", nil, 200, "GET /iflocation/p|"},
		{"GET", "/args/?a=1", nil, 200, "GET /args/?k=v&a=1|"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+r.addr+c.target, nil)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		if c.hdr["User-Agent"] == "" {
			req.Header.Set("User-Agent", "test")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || (c.body != "" && string(b) != c.body) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.target, res.StatusCode, b, c.status, c.body)
		}
	}
	elog := r.log()
	for _, want := range []string{
		`[error] 4242#4242: *1 rewrite or internal redirection cycle while processing "/loop/d", client: 127.0.0.1, server: , request: "GET /loop/d HTTP/1.1", host: "PROXY"`,
		`[warn] 4242#4242: *1 using uninitialized "from_server" variable, client: 127.0.0.1, server: , request: "GET /srv/a?q=1 HTTP/1.1"`,
		`[warn] 4242#4242: *7 using uninitialized "never" variable, client: 127.0.0.1, server: , request: "GET /cond/?b=1 HTTP/1.1"`,
	} {
		if !strings.Contains(elog, want) {
			t.Errorf("error log lacks %q:\n%s", want, elog)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	alogText, _ := os.ReadFile(alog)
	if want := `"GET /last/b?q=2 HTTP/1.1" 200 "/app/b" "from=last&q=2" "/last/b?q=2"`; !strings.Contains(string(alogText), want) {
		t.Errorf("access log lacks %s:\n%s", want, alogText)
	}
	if strings.Count(elog, `"never" variable`) != 3 {
		t.Errorf("want one warning per request that reads $never:\n%s", elog)
	}
}

// A set variable reads the same in every value that takes variables:
// proxy_set_header, add_header, the access log, return.
func TestSetEverywhere(t *testing.T) {
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "info", strings.ReplaceAll(`
http:
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: {ALOG}, format: '$status [$v]'}
      locations:
        - path: /
          rewrite: [{set: $v "hello $arg_n"}]
          add_header: ["X-V $v"]
          proxy_set_header: {X-Tag: "$v"}
          proxy_pass: http://{U0}
`, "{ALOG}", alog), rewriteEcho(t))
	res, err := http.Get("http://" + r.addr + "/p?n=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "GET /p?n=1|hello 1" || res.Header.Get("X-V") != "hello 1" {
		t.Errorf("body %q, X-V %q", b, res.Header.Get("X-V"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := r.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got, _ := os.ReadFile(alog); string(got) != "200 [hello 1]\n" {
		t.Errorf("access log %q", got)
	}
	if strings.Contains(r.log(), "uninitialized") {
		t.Errorf("a set variable was read before set:\n%s", r.log())
	}
}

// BenchmarkRewriteScript is BenchmarkProxy's 1k GET with a rewrite-module
// script on the way (set, an if with a regex, an internal rewrite with
// last that searches the locations again), next to the same GET without:
// the script's cost per request.
func BenchmarkRewriteScript(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) })
	p := startBenchProxy(b, `
error_log: {path: stderr, level: error}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $proxy_host, Connection: ""}
  upstreams:
    origin:
      keepalive: 64
      servers: [{address: `+originAddr+`}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /plain/
          proxy_pass: http://origin
        - path: /old/
          rewrite:
            - set: $v x
            - if: $http_user_agent ~* ^(curl|wget)
              rewrite: [{return: 403}]
            - ^/old/(.*)$ /plain/$1 last
`)
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
	for _, r := range []struct{ name, path string }{{"plain", "/plain/a"}, {"script", "/old/a"}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(1 << 10)
			benchGets(b, c, "http://"+p.Addrs()[0]+r.path, nil, 1<<10)
		})
	}
}
