package proxy_test

// FastCGI against a real php-fpm (proxy/internal/phpfpm): the same pipeline
// as proxy_pass, FastCGI on the wire. Each test starts its own php-fpm pool
// on a 127.0.0.1 port and stops it through its process handle; without a
// php-fpm binary they skip (fail with SPILLWAY_REQUIRE_PHPFPM=1).

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/phpfpm"
	"spillway/proxy/internal/testutil"
)

// phpScripts are the scripts every pool serves.
var phpScripts = map[string]string{
	"hello.php": `<?php header('Content-Type: text/plain'); header('X-Script: hello');
echo "hello from php-fpm ", $_SERVER['REQUEST_METHOD'], " ", $_SERVER['SCRIPT_NAME'], " ", $_SERVER['QUERY_STRING'], " ", $_SERVER['HTTP_X_TEST'] ?? '-';`,
	// A 2 MiB base64 "image": 1.5 MiB of bytes 0..255 repeated.
	"image.php": `<?php header('Content-Type: text/plain'); $s = ''; for ($i = 0; $i < 256; $i++) { $s .= chr($i); }
echo base64_encode(str_repeat($s, 6144));`,
	"slow.php":       `<?php sleep(10); echo "too late";`,
	"post.php":       `<?php $b = file_get_contents('php://input'); echo strlen($b), " ", md5($b), " ", $_SERVER['CONTENT_LENGTH'];`,
	"stderr.php":     `<?php error_log("something went wrong"); echo "ok";`,
	"status.php":     `<?php header('Status: 404 Not Found'); echo "missing";`,
	"redirect.php":   `<?php header('Location: /elsewhere');`,
	"instance.php":   `<?php if (getenv('INSTANCE') === 'a' && ($_GET['slow'] ?? '') === '1') { sleep(10); } echo getenv('INSTANCE');`,
	"info/index.php": `<?php echo $_SERVER['SCRIPT_NAME'], "|", $_SERVER['PATH_INFO'] ?? '', "|", $_SERVER['SCRIPT_FILENAME'];`,
}

// phpImage is what image.php prints.
func phpImage() string {
	s := make([]byte, 256)
	for i := range s {
		s[i] = byte(i)
	}
	return base64.StdEncoding.EncodeToString(bytes.Repeat(s, 6144))
}

func startPHP(t *testing.T, pool ...string) *phpfpm.Server {
	t.Helper()
	return phpfpm.Start(t, phpfpm.Options{Scripts: phpScripts, Pool: pool})
}

// fcgiYAML is a proxy with one fastcgi_pass location for *.php.
func fcgiYAML(root, pass string, extra ...string) string {
	return `
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_body_temp_path: {TMP}/client
  upstreams:
    php:
      keepalive: 4
      servers: [` + pass + `]
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - path: "~ \\.php"
          fastcgi_pass: php
          root: ` + root + `
          fastcgi_temp_path: {TMP}/fastcgi
          fastcgi_read_timeout: 20s
          fastcgi_split_path_info: '^(.+\.php)(/.*)$'
          fastcgi_index: index.php
          fastcgi_param: ["PATH_INFO $fastcgi_path_info"]
` + strings.Join(extra, "\n") + "\n"
}

// fcgiRig is newRig with the temp directories made (as "spillway serve"
// does) and the error log shown when the test fails.
func fcgiRig(t *testing.T, yamlText string) *rig {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"fastcgi", "client"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := newRig(t, "info", strings.ReplaceAll(yamlText, "{TMP}", dir))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("error log:\n%s", r.elog.String())
		}
	})
	return r
}

func server(addr string, more ...string) string {
	return "{address: " + addr + strings.Join(more, "") + "}"
}

func (r *rig) doH(method, path string, body []byte, h map[string]string) (*http.Response, []byte) {
	r.t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+r.addr+path, rd)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: body: %v", method, path, err)
	}
	return resp, b
}

// logHas fails unless the error log has a line containing every part.
func logHas(t *testing.T, log string, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no error-log line with %q in:\n%s", parts, log)
}

func TestFastCGIHello(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr)))
	resp, body := r.doH("GET", "/hello.php?a=1&b=2", nil, map[string]string{"X-Test": "yes"})
	if resp.StatusCode != 200 || string(body) != "hello from php-fpm GET /hello.php a=1&b=2 yes" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Script") != "hello" || resp.Header.Get("Content-Type") != "text/plain;charset=UTF-8" && resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("headers %v", resp.Header)
	}
	// Status: and Location: as nginx reads them.
	if resp, body := r.doH("GET", "/status.php", nil, nil); resp.StatusCode != 404 || string(body) != "missing" {
		t.Errorf("status.php: %d %q", resp.StatusCode, body)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + r.addr + "/redirect.php")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("redirect.php: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// HEAD: the head only, and the connection stays usable.
	if resp, body := r.doH("HEAD", "/hello.php", nil, nil); resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
	// fastcgi_split_path_info and fastcgi_index.
	if _, body := r.doH("GET", "/info/index.php/extra/path", nil, nil); string(body) != "/info/index.php|/extra/path|"+filepath.Join(php.Root, "info/index.php") {
		t.Errorf("split_path_info: %q", body)
	}
	if strings.Contains(r.elog.String(), "[error]") {
		t.Errorf("errors logged:\n%s", r.elog.String())
	}
}

func TestFastCGIKeepConn(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr), "          fastcgi_keep_conn: on"))
	for i := range 5 {
		if resp, body := r.doH("GET", "/hello.php?n="+fmt.Sprint(i), nil, nil); resp.StatusCode != 200 || !strings.HasSuffix(string(body), fmt.Sprintf("n=%d -", i)) {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if resp, body := r.doH("GET", "/image.php", nil, nil); resp.StatusCode != 200 || len(body) != 2<<20 {
			t.Fatalf("image: %d %d", resp.StatusCode, len(body))
		}
	}
	if _, _, _, reused := r.p.StaleStats(); reused < 8 {
		t.Errorf("FastCGI connections reused %d times, want at least 8 of 10 requests", reused)
	}
}

// TestFastCGIBigResponseSpills: a 2 MiB base64 answer with fastcgi_buffers
// 4 4k, chunked (php sends no Content-Length). A client that keeps up gets
// it without a temp file; a client that stops reading makes spillway spill
// it to fastcgi_temp_path (nginx's warn line, once) and release php-fpm,
// and still gets every byte.
func TestFastCGIBigResponseSpills(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr),
		"          fastcgi_buffers: 4 4k", "          fastcgi_buffer_size: 4k"))
	resp, body := r.doH("GET", "/image.php", nil, nil)
	if resp.StatusCode != 200 || string(body) != phpImage() || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("fast client: %d, %d bytes, %v", resp.StatusCode, len(body), resp.TransferEncoding)
	}
	if strings.Contains(r.elog.String(), "temporary file") {
		t.Errorf("a client that keeps up made spillway spill:\n%s", r.elog.String())
	}

	c := btDialSlow(t, r.addr)
	if _, err := io.WriteString(c, "GET /image.php HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, r, "an upstream response is buffered to a temporary file")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body) != phpImage() {
		t.Fatalf("slow client: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	log := r.elog.String()
	logHas(t, log, "[warn]", "an upstream response is buffered to a temporary file ", "/fastcgi/",
		" while reading upstream, client: 127.0.0.1, server: localhost, request: \"GET /image.php HTTP/1.1\", upstream: \"fastcgi://"+php.Addr+"\"")
	if strings.Count(log, "buffered to a temporary file") != 1 {
		t.Errorf("want one temp-file line:\n%s", log)
	}
}

// waitLog polls the error log (observable state, not a timing) until it
// has a line with want.
func waitLog(t *testing.T, r *rig, want string) {
	t.Helper()
	testutil.Eventually(t, strconv.Quote(want)+" in the error log", 20*time.Second,
		func() bool { return strings.Contains(r.elog.String(), want) })
}

func TestFastCGITerminatedScript(t *testing.T) {
	php := startPHP(t, "request_terminate_timeout = 1s")
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr)))
	resp, body := r.doH("GET", "/slow.php", nil, nil)
	if resp.StatusCode != 502 || !strings.Contains(string(body), "502 Bad Gateway") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	log := r.elog.String()
	// php-fpm's master kills the worker; the kernel closes its socket.
	if !strings.Contains(log, "recv() failed (104: Connection reset by peer) while reading response header from upstream") &&
		!strings.Contains(log, "upstream prematurely closed connection while reading response header from upstream") {
		t.Errorf("no nginx line for the killed script:\n%s", log)
	}
	logHas(t, log, "[error]", `request: "GET /slow.php HTTP/1.1", upstream: "fastcgi://`+php.Addr+`", host: "`)
	t.Logf("php-fpm said: %q", php.Log())
	t.Logf("spillway said:\n%s", log)
}

func TestFastCGIPostStdin(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr), "          client_body_buffer_size: 8k"))
	for _, n := range []int{0, 1, 100, 70000, 900000} {
		b := bytes.Repeat([]byte("spillway!"), n/9+1)[:n]
		resp, body := r.doH("POST", "/post.php", b, map[string]string{"Content-Type": "application/octet-stream"})
		want := fmt.Sprintf("%d %x %d", n, md5.Sum(b), n)
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("POST %d bytes: %d %q, want %q", n, resp.StatusCode, body, want)
		}
	}
}

func TestFastCGIStderrLogged(t *testing.T) {
	php := startPHP(t)
	r := fcgiRig(t, fcgiYAML(php.Root, server(php.Addr)))
	if resp, body := r.doH("GET", "/stderr.php", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	logHas(t, r.elog.String(), `[error] 4242#4242: *`, ` FastCGI sent in stderr: "PHP message: something went wrong" while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET /stderr.php HTTP/1.1", upstream: "fastcgi://`+php.Addr+`", host: "`)
}

// TestFastCGIRetryRules: two php-fpm instances, b a backup of a. With a
// stopped, GET and POST both go on to b (nothing was sent: connect
// failures are retried for every method). With a killing a script, a GET
// is retried on b and a POST is not, once sent (nginx's rule).
func TestFastCGIRetryRules(t *testing.T) {
	a := startPHP(t, "request_terminate_timeout = 1s", "env[INSTANCE] = a")
	b := phpfpm.Start(t, phpfpm.Options{Root: a.Root, Pool: []string{"env[INSTANCE] = b"}})
	r := fcgiRig(t, fcgiYAML(a.Root, server(a.Addr, ", max_fails: 0")+", "+server(b.Addr, ", backup: true")))

	if _, body := r.doH("GET", "/instance.php?slow=1", nil, nil); string(body) != "b" {
		t.Errorf("GET after a killed script: %q, want b's answer", body)
	}
	resp, _ := r.doH("POST", "/instance.php?slow=1", []byte("x=1"), nil)
	if resp.StatusCode != 502 {
		t.Errorf("POST after a killed script: %d, want 502 (not retried once sent)", resp.StatusCode)
	}
	logHas(t, r.elog.String(), "not retried: non-idempotent request already sent", `upstream: "fastcgi://`+a.Addr+`"`)

	a.Stop()
	for _, m := range []string{"GET", "POST"} {
		if resp, body := r.doH(m, "/instance.php", []byte("x=1"), nil); resp.StatusCode != 200 || string(body) != "b" {
			t.Errorf("%s with a stopped: %d %q, want b's answer", m, resp.StatusCode, body)
		}
	}
	logHas(t, r.elog.String(), "connect() failed (111: Connection refused) while connecting to upstream", `upstream: "fastcgi://`+a.Addr+`"`)
	if testing.Verbose() {
		os.Stderr.WriteString(r.elog.String())
	}
}

// BenchmarkFastCGIHello measures hello.php through spillway (proxy and
// client in this process, php-fpm outside): go test -run X -bench FastCGI ./proxy/
func BenchmarkFastCGIHello(b *testing.B) {
	php := phpfpm.Start(b, phpfpm.Options{Scripts: phpScripts, Children: 8})
	yaml := strings.ReplaceAll(fcgiYAML(php.Root, server(php.Addr)), "{TMP}", b.TempDir())
	yaml = strings.Replace(yaml, "level: info", "level: error", 1)
	cfg, err := config.LoadBytes("bench.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(io.Discard, errorlog.Error, errorlog.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	url := "http://" + p.Addrs()[0] + "/hello.php"
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
