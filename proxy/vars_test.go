package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// varsConf is one nginx.conf, served by real nginx and, converted, by
// spillway: the variables of proxy_set_header, map and log_format through a
// real upstream. LISTEN, UPSTREAM and LOG are filled in per side.
const varsConf = `
daemon off; master_process on; worker_processes 1; USERLINE
error_log ERRLOG info; pid PIDFILE;
events {}
http {
  access_log off;
  client_body_temp_path TMP/client; proxy_temp_path TMP/proxy;
  fastcgi_temp_path TMP/fastcgi; NGINXONLY
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  map $http_host $site {
    hostnames;
    default          main;
    exact.test       exact;
    *.wild.test      wild;
    ~^(api)\.        $1-regex;
  }
  map $site$uri $chained { ~^wild/(.*)$ "w:$1"; default none; }
  log_format vars '$remote_addr|$host|$http_host|$http_x_forwarded_for|$http_x_real_ip|$http_user_agent|'
                  '$cookie_session|$arg_b|$args|$is_args|$request_uri|$uri|$request_method|$server_protocol|'
                  '$scheme|$https|$connection_upgrade|$site|$chained|$request_length|$content_length|'
                  '$content_type|$status|$body_bytes_sent|$sent_http_x_up|$upstream_status|$connection_requests|'
                  '$nginx_version|$server_name|$request|$binary_remote_addr|$server_addr|$hostname|'
                  '$proxy_add_x_forwarded_for|$proxy_host|$upstream_addr|$query_string|$cookie_a|$arg_c|'
                  '$sent_http_content_type|$sent_http_content_length|$http_cookie|$document_uri|$upstream_http_x_up|$request_id';
  server {
    listen LISTEN;
    server_name vars.test;
    access_log LOG vars;
    location / {
      proxy_pass http://UPSTREAM;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Vars "$host|$http_x_real_ip|$site|$chained|$cookie_session|$arg_b|$is_args|$server_name|$request_length|$nginx_version";
      proxy_set_header X-Id $request_id;
    }
  }
}
`

// varsRequests are sent to both, one connection each, in order.
var varsRequests = []string{
	"GET /a?b=2&c=3 HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: t/1\r\nx-forwarded-for: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n" +
		"X-Real-IP: 10.9.9.9\r\nCookie: a=1; session=s3\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
	"POST /p/x HTTP/1.1\r\nHost: x.wild.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	"GET /e HTTP/1.1\r\nHost: EXACT.test.\r\n\r\n",
	"GET /n HTTP/1.0\r\n\r\n",
}

// TestVariablesLikeNginx sends the same requests through real nginx and
// through spillway running the converted file, and compares what the
// upstream received and the access-log lines, byte for byte except for
// the listen ports and $request_id, which must be 32 hex digits and the
// same in the header and the log.
func TestVariablesLikeNginx(t *testing.T) {
	bin := varsNginxBin(t)
	up := newEchoUpstream(t)

	dir := t.TempDir()
	spDir, ngDir := filepath.Join(dir, "sp"), filepath.Join(dir, "ng")
	for _, d := range []string{spDir, ngDir, filepath.Join(ngDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(side, listen string) string {
		only, user := "", ""
		if side == "ng" && os.Geteuid() == 0 {
			user = "user root;" // the default user, nobody, could not write under the test's directory
		}
		if side == "ng" {
			only = "uwsgi_temp_path " + filepath.Join(dir, side, "tmp", "uwsgi") + "; scgi_temp_path " + filepath.Join(dir, side, "tmp", "scgi") + ";"
		}
		r := strings.NewReplacer("USERLINE", user, "NGINXONLY", only, "LISTEN", listen, "UPSTREAM", up.addr, "LOG", filepath.Join(dir, side, "access.log"),
			"ERRLOG", filepath.Join(dir, side, "error.log"), "PIDFILE", filepath.Join(dir, side, "nginx.pid"),
			"TMP", filepath.Join(dir, side, "tmp"))
		return r.Replace(varsConf)
	}

	spAddr, stopSp := startConverted(t, conf("sp", "127.0.0.1:0"))
	spHeads := sendAll(t, spAddr, func() string { return "" }, filepath.Join(spDir, "access.log"))
	stopSp()

	ngAddr, ngLogs, stopNg := startNginx(t, bin, ngDir, func(listen string) string { return conf("ng", listen) })
	ngHeads := sendAll(t, ngAddr, ngLogs, filepath.Join(ngDir, "access.log"))
	stopNg()

	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	norm := func(s, addr string) string {
		_, port, _ := net.SplitHostPort(addr)
		return strings.ReplaceAll(s, ":"+port, ":PORT")
	}
	spLog, ngLog := readLines(t, filepath.Join(spDir, "access.log")), readLines(t, filepath.Join(ngDir, "access.log"))
	if len(spLog) != len(varsRequests) || len(ngLog) != len(varsRequests) {
		t.Fatalf("access log lines: spillway %d, nginx %d, want %d\nspillway:\n%s\nnginx:\n%s", len(spLog), len(ngLog),
			len(varsRequests), strings.Join(spLog, "\n"), strings.Join(ngLog, "\n"))
	}
	cutID := func(line string, h map[string][]string, side string, i int) string {
		j := strings.LastIndexByte(line, '|')
		if id := h["X-Id"]; len(id) != 1 || line[j+1:] != id[0] {
			t.Errorf("%s request %d: $request_id %q in the log, %q upstream: want the same", side, i, line[j+1:], id)
		}
		return line[:j]
	}
	for i := range varsRequests {
		spLog[i], ngLog[i] = cutID(spLog[i], spHeads[i], "spillway", i), cutID(ngLog[i], ngHeads[i], "nginx", i)
		if sp, ng := norm(spLog[i], spAddr), norm(ngLog[i], ngAddr); sp != ng {
			t.Errorf("request %d: access log\nspillway %s\nnginx    %s", i, sp, ng)
		}
		sp, ng := spHeads[i], ngHeads[i]
		for _, h := range []*map[string][]string{&sp, &ng} {
			id := (*h)["X-Id"]
			if len(id) != 1 || !hexID.MatchString(id[0]) {
				t.Errorf("request %d: X-Id %q: want 32 hex digits", i, id)
			}
			delete(*h, "X-Id")
		}
		if fmt.Sprint(sp) != fmt.Sprint(ng) {
			t.Errorf("request %d: upstream got\nspillway %v\nnginx    %v", i, sp, ng)
		}
	}
}

// startConverted converts an nginx.conf and serves it with spillway; stop
// closes it (and flushes its access logs).
func startConverted(t *testing.T, conf string) (addr string, stop func()) {
	t.Helper()
	ds, err := nginxconf.Parse("vars.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	res, err := nginxconf.Convert(ds, nginxconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if w.Kind == nginxconf.Unsupported {
			t.Errorf("convert: %s", w)
		}
	}
	cfg, err := config.LoadBytes("vars.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(io.Discard, config.LevelError, errorlog.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = p.Close() }) }
	t.Cleanup(stop)
	return p.Addrs()[0], stop
}

// startNginx runs nginx with -p dir on a socket this test opens (NGINX=3;
// hands it over), the file being conf(its address). logs returns nginx's
// output and error log; stop ends it with QUIT (its logs are complete
// then).
func startNginx(t *testing.T, bin, dir string, conf func(listen string) string) (addr string, logs func() string, stop func()) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	lf, err := ln.File()
	_ = ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf(addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath)
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Env = append(os.Environ(), "NGINX=3;")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logs = func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return stderr.String() + string(b)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Errorf("nginx did not stop on SIGQUIT: %s", stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	return addr, logs, stop
}

// sendAll sends varsRequests to addr, one connection each, and returns the
// headers the upstream received for each (from its echo). Each request's
// access-log line (in alog) is waited for before the next request: it is
// written once the answer went out, maybe after the client read it.
func sendAll(t *testing.T, addr string, logs func() string, alog string) []map[string][]string {
	t.Helper()
	var out []map[string][]string
	for i, raw := range varsRequests {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err := resp.Read(bufio.NewReader(c)); err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, logs())
		}
		_ = c.Close()
		if resp.StatusCode() != 200 {
			t.Fatalf("request %d: status %d\n%s", i, resp.StatusCode(), logs())
		}
		readAccessLog(t, alog, i+1)
		h := map[string][]string{}
		for _, line := range strings.Split(string(resp.Body()), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				h[k] = append(h[k], v)
			}
		}
		out = append(out, h)
	}
	return out
}

// echoUpstream answers every request with the request's headers (as
// received, one "Name: value" a line, sorted) and an X-Up header.
type echoUpstream struct{ addr string }

func newEchoUpstream(t *testing.T) *echoUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{DisableHeaderNamesNormalizing: true, Handler: func(ctx *fasthttp.RequestCtx) {
		var lines []string
		for k, v := range ctx.Request.Header.All() {
			if string(k) == "Content-Length" && string(v) == "0" {
				// Not compared: spillway sends "Content-Length: 0" for
				// some requests without a body (an HTTP/1.0 GET always),
				// nginx no Content-Length. Not a variable's doing.
				continue
			}
			lines = append(lines, string(k)+": "+string(v))
		}
		slices.Sort(lines)
		ctx.Response.Header.Set("X-Up", "yes")
		ctx.SetBodyString(strings.Join(lines, "\n") + "\n")
	}}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	return &echoUpstream{addr: ln.Addr().String()}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// varsNginxBin finds nginx, or skips (fails with SPILLWAY_REQUIRE_NGINX=1).
func varsNginxBin(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx is not installed (apt-get install -y nginx-light) and SPILLWAY_REQUIRE_NGINX=1")
	}
	t.Skip("nginx is not installed (apt-get install -y nginx-light); set SPILLWAY_REQUIRE_NGINX=1 to make this a failure")
	return ""
}

// $ssl_protocol, $ssl_cipher (OpenSSL's names), $ssl_server_name, $scheme
// and $https on a TLS front, through proxy_set_header to a real upstream.
func TestSSLVariables(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "a.test").files(t, dir, "a")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Ssl"))
	}))
	t.Cleanup(origin.Close)
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [a.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations:
        - path: /
          proxy_pass: "http://{U0}"
          proxy_set_header: {X-Ssl: "$ssl_protocol|$ssl_cipher|$ssl_server_name|$scheme|$https"}
`, cf, kf), origin.Listener.Addr().String())
	for _, c := range []struct {
		cfg  *tls.Config
		want string
	}{
		{&tls.Config{ServerName: "a.test", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
			"TLSv1.2|ECDHE-ECDSA-AES128-GCM-SHA256|a.test|https|on"},
		{&tls.Config{ServerName: "a.test", MinVersion: tls.VersionTLS13}, "TLSv1.3|TLS_AES_128_GCM_SHA256|a.test|https|on"},
	} {
		c.cfg.RootCAs = ca.pool()
		conn, err := tls.Dial("tcp", r.addr, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		status, body := roundTrip(t, conn, "/")
		_ = conn.Close()
		if status != 200 || body != c.want {
			t.Errorf("got %d %q, want %q", status, body, c.want)
		}
	}
}

// sslConf is sslVars's nginx.conf: a TLS front whose access log has the
// $ssl_ variables.
const sslConf = `
daemon off; master_process on; worker_processes 1; USERLINE
error_log ERRLOG info; pid PIDFILE;
events {}
http {
  access_log off;
  client_body_temp_path TMP/client; proxy_temp_path TMP/proxy; fastcgi_temp_path TMP/fastcgi; NGINXONLY
  log_format ssl '$ssl_protocol|$ssl_cipher|$ssl_server_name|$scheme|$https|$request';
  server {
    listen LISTEN ssl;
    server_name a.test;
    ssl_certificate CERT;
    ssl_certificate_key CKEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log LOG ssl;
    location / { proxy_pass http://UPSTREAM; }
  }
}
`

// TestSSLVariablesLikeNginx: $ssl_protocol, $ssl_cipher (OpenSSL's names),
// $ssl_server_name, $scheme and $https in the access log, for TLS 1.2 with
// each ECDHE suite both offer and TLS 1.3, through real nginx and spillway.
func TestSSLVariablesLikeNginx(t *testing.T) {
	bin := varsNginxBin(t)
	up := newEchoUpstream(t)
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cert, key := ca.leaf(t, "a.test").files(t, dir, "a")
	for _, d := range []string{"sp", "ng", "ng/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(side, listen string) string {
		only, user := "", ""
		if side == "ng" {
			only = "uwsgi_temp_path " + filepath.Join(dir, side, "tmp", "uwsgi") + "; scgi_temp_path " + filepath.Join(dir, side, "tmp", "scgi") + ";"
			if os.Geteuid() == 0 {
				user = "user root;"
			}
		}
		return strings.NewReplacer("USERLINE", user, "NGINXONLY", only, "LISTEN", listen, "UPSTREAM", up.addr,
			"ERRLOG", filepath.Join(dir, side, "error.log"), "PIDFILE", filepath.Join(dir, side, "nginx.pid"),
			"TMP", filepath.Join(dir, side, "tmp"), "LOG", filepath.Join(dir, side, "access.log"),
			"CERT", cert, "CKEY", key).Replace(sslConf)
	}
	clients := []*tls.Config{
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		{MinVersion: tls.VersionTLS13},
	}
	send := func(addr, side string) {
		for i, c := range clients {
			c.ServerName, c.RootCAs = "a.test", ca.pool()
			conn, err := tls.Dial("tcp", addr, c)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			status, _ := roundTrip(t, conn, fmt.Sprintf("/%d", i))
			_ = conn.Close()
			if status != 200 {
				t.Fatalf("client %d: status %d", i, status)
			}
			// A line is written once its answer went out: wait for it
			// before the next request, so the lines keep the requests' order.
			testutil.Eventually(t, "the access log line", 10*time.Second, func() bool {
				b, _ := os.ReadFile(filepath.Join(dir, side, "access.log"))
				return strings.Count(string(b), "\n") == i+1
			})
		}
	}
	spAddr, stopSp := startConverted(t, conf("sp", "127.0.0.1:0"))
	send(spAddr, "sp")
	stopSp()
	ngAddr, _, stopNg := startNginx(t, bin, filepath.Join(dir, "ng"), func(listen string) string { return conf("ng", listen) })
	send(ngAddr, "ng")
	stopNg()
	sp, ng := readLines(t, filepath.Join(dir, "sp", "access.log")), readLines(t, filepath.Join(dir, "ng", "access.log"))
	if strings.Join(sp, "\n") != strings.Join(ng, "\n") {
		t.Errorf("access log\nspillway:\n%s\nnginx:\n%s", strings.Join(sp, "\n"), strings.Join(ng, "\n"))
	}
	if len(sp) != len(clients) || !strings.HasPrefix(sp[0], "TLSv1.2|ECDHE-ECDSA-AES128-GCM-SHA256|a.test|https|on|") {
		t.Errorf("spillway's log: %q", sp)
	}
}
