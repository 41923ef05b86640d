package proxy_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/internal/testutil"
)

// requestLines returns the error-log lines of path that belong to a
// request, as "[level] URI" (the URI of their request field), in order.
func requestLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\S+ \S+ (\[\w+\]) .*, request: "\S+ (\S+)[^"]*"`)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m[1]+" "+m[2])
		}
	}
	return out
}

func startErrorLogProxy(t *testing.T, dir, yamlText string) *proxy.Proxy {
	t.Helper()
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

const errorLogsTmpl = `
error_log: {TMP}/main.log info
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  access_log: off
  error_log: {TMP}/http.log info
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      error_log: {TMP}/server.log info
      locations:
        - {path: /, proxy_pass: http://{U0}}
        - path: /loud/
          proxy_pass: http://{U0}
          error_log: [{TMP}/loud.log info, {TMP}/shared.log error]
          locations:
            - {path: /loud/deep/, proxy_pass: http://{U0}, error_log: {TMP}/deep.log error}
        - path: /quiet/
          proxy_pass: http://{U0}
          error_log: {TMP}/shared.log crit
        - {path: /tf/, root: {TMP}, try_files: $uri /loud/fallback}
    - listen: ["127.0.0.1:0"]
      server_name: [other]
      locations:
        - {path: /, proxy_pass: http://{U0}}
`

// error_log in http, server and location, as nginx: a request's lines go
// to its location's logs (a nested location's own too), each at its own level (one path named by two
// locations is one file with each location's level); try_files moves a
// request and its lines to the location it ends in; a request line
// refused before any server is chosen goes to the default server's log; a
// server without error_log inherits http's; the main log gets no request
// line; ReopenLogs reopens the locations' files.
func TestErrorLogsPerLevel(t *testing.T) {
	refused := bench.RefusedAddr(t)
	dir := t.TempDir()
	p := startErrorLogProxy(t, dir, strings.NewReplacer("{TMP}", dir, "{U0}", refused).Replace(errorLogsTmpl))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	addr := p.Addrs()[0]
	get := func(host, path string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Fatalf("%s: status %d, want 502", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/a", "/loud/x", "/quiet/x", "/tf/x", "/loud/deep/x"} {
		get("localhost", path)
	}
	get("other", "/other")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET /%00 HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := bufio.NewReader(nc).ReadString('\n'); err != nil || !strings.Contains(st, " 400 ") {
		t.Fatalf("status line %q, %v; want 400", st, err)
	}

	// connect() failed is [error]; spillway's retry decision after it is
	// [info] (one server: not retried).
	want := map[string][]string{
		"server.log": {"[error] /a", "[info] /a", "[info] /%00"},
		"loud.log":   {"[error] /loud/x", "[info] /loud/x", "[error] /tf/x", "[info] /tf/x"},
		"shared.log": {"[error] /loud/x", "[error] /tf/x"},
		"http.log":   {"[error] /other", "[info] /other"},
		"deep.log":   {"[error] /loud/deep/x"}, // a nested location's own, at error
		"main.log":   nil,
	}
	for name, w := range want {
		got := requestLines(t, filepath.Join(dir, name))
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}

	// USR1 after logrotate: a location's file is reopened too.
	loud := filepath.Join(dir, "loud.log")
	if err := os.Rename(loud, loud+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	get("localhost", "/loud/y")
	if got := requestLines(t, loud); strings.Join(got, " ") != "[error] /loud/y [info] /loud/y" {
		t.Errorf("reopened loud.log = %q, want the lines of /loud/y", got)
	}
}

// A reload that moves a location's error_log to another file: the next
// request's lines go to the new file, and a file no level names any more
// is closed (written no more).
func TestErrorLogsReload(t *testing.T) {
	refused := bench.RefusedAddr(t)
	dir := t.TempDir()
	tmpl := `
error_log: {TMP}/main.log
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  access_log: off
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - {path: /, proxy_pass: http://{U0}, error_log: {TMP}/{NAME}}
`
	yamlFor := func(name string) string {
		return strings.NewReplacer("{TMP}", dir, "{U0}", refused, "{NAME}", name).Replace(tmpl)
	}
	p := startErrorLogProxy(t, dir, yamlFor("first.log"))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(path string) {
		t.Helper()
		resp, err := c.Get("http://" + p.Addrs()[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	get("/before")
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlFor("second.log")))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	get("/after")
	if got := requestLines(t, filepath.Join(dir, "first.log")); strings.Join(got, " ") != "[error] /before" {
		t.Errorf("first.log = %q, want /before's line only", got)
	}
	if got := requestLines(t, filepath.Join(dir, "second.log")); strings.Join(got, " ") != "[error] /after" {
		t.Errorf("second.log = %q, want /after's line", got)
	}
	if got := requestLines(t, filepath.Join(dir, "main.log")); len(got) != 0 {
		t.Errorf("main.log has request lines: %q", got)
	}
}

// A location's error_log at debug gets nginx's one debug line of the
// find-config phase, "http cl:LENGTH max:LIMIT", written once the
// location's log is the request's; a log at info beside it does not.
func TestErrorLogLocationDebugLine(t *testing.T) {
	dir := t.TempDir()
	p := startErrorLogProxy(t, dir, strings.NewReplacer("{TMP}", dir).Replace(`
error_log: {TMP}/main.log debug
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  access_log: off
  servers:
    - listen: ["127.0.0.1:0"]
      error_log: {TMP}/server.log info
      locations:
        - {path: /, return: "200 ok"}
        - path: /d/
          return: "200 ok"
          client_max_body_size: 2k
          error_log: [{TMP}/d.log debug, {TMP}/d-info.log info]
`))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, r := range []struct{ path, body string }{{"/d/a", ""}, {"/d/b", "abc"}, {"/other", ""}} {
		var resp *http.Response
		var err error
		if r.body == "" {
			resp, err = c.Get("http://" + p.Addrs()[0] + r.path)
		} else {
			resp, err = c.Post("http://"+p.Addrs()[0]+r.path, "text/plain", strings.NewReader(r.body))
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	re := regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[debug\] \d+#\d+: \*\d+ (http cl:.*)$`)
	debugLines := func(name string) []string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				out = append(out, m[1])
			}
		}
		return out
	}
	if got, want := strings.Join(debugLines("d.log"), "|"), "http cl:-1 max:2048|http cl:3 max:2048"; got != want {
		t.Errorf("d.log debug lines = %q, want %q", got, want)
	}
	for _, name := range []string{"d-info.log", "server.log", "main.log"} {
		if got := debugLines(name); len(got) != 0 {
			t.Errorf("%s has request debug lines: %q", name, got)
		}
	}
}

// A failed TLS handshake is logged to the error_log of the server the
// client named (SNI), as nginx switches the connection's log there; one
// without a name, to the address's default server's.
func TestErrorLogTLSHandshakeBySNI(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "a.test", "b.test").files(t, dir, "l")
	p := startErrorLogProxy(t, dir, strings.NewReplacer("{TMP}", dir, "{CERT}", cf, "{KEY}", kf).Replace(`
error_log: {TMP}/main.log info
http:
  access_log: off
  ssl_certificate: {CERT}
  ssl_certificate_key: {KEY}
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [a.test]
      error_log: {TMP}/a.log info
      locations: [{path: /, return: "200 a"}]
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [b.test]
      error_log: {TMP}/b.log info
      locations: [{path: /, return: "200 b"}]
`))
	for _, name := range []string{"b.test", ""} {
		// The client does not trust the certificate: a bad_certificate
		// alert once the server (and its certificate) was chosen.
		// No name: Go's client sends no SNI for the IP address it dials.
		cfg := &tls.Config{ServerName: name, RootCAs: x509.NewCertPool()}
		conn, err := tls.Dial("tcp", p.Addrs()[0], cfg)
		if err == nil {
			_ = conn.Close()
			t.Fatalf("SNI %q: the handshake succeeded with an untrusted certificate", name)
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	handshake := "while SSL handshaking"
	testutil.Eventually(t, "both handshake lines", 5*time.Second, func() bool {
		return strings.Contains(read("b.log"), handshake) && strings.Contains(read("a.log"), handshake)
	})
	if n := strings.Count(read("b.log"), handshake); n != 1 {
		t.Errorf("b.log has %d handshake lines, want 1 (SNI b.test):\n%s", n, read("b.log"))
	}
	if n := strings.Count(read("a.log"), handshake); n != 1 {
		t.Errorf("a.log has %d handshake lines, want 1 (no SNI: the default server):\n%s", n, read("a.log"))
	}
	if strings.Contains(read("main.log"), handshake) {
		t.Errorf("main.log has a handshake line:\n%s", read("main.log"))
	}
}

// A request nginx refuses before its phases is logged to the error_log of
// the server it had chosen when it refused (measured, nginx 1.22): the
// default server's for the request line and for a header line before Host,
// the Host's server's for a header line after Host and for the checks of
// the whole head (TRACE, Content-Length with chunked).
func TestErrorLogClientCheckByHost(t *testing.T) {
	dir := t.TempDir()
	p := startErrorLogProxy(t, dir, strings.NewReplacer("{TMP}", dir).Replace(`
error_log: {TMP}/main.log info
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [dflt]
      error_log: {TMP}/dflt.log info
      locations: [{path: /, return: "200 d"}]
    - listen: ["127.0.0.1:0"]
      server_name: [b]
      error_log: {TMP}/b.log info
      locations: [{path: /, return: "200 b"}]
`))
	for _, raw := range []string{
		"get /method HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET /version HTTP/2.0\r\nHost: b\r\n\r\n",
		"GET /before HTTP/1.1\r\nBad Name: x\r\nHost: b\r\n\r\n",
		"GET /after HTTP/1.1\r\nHost: b\r\nBad Name: x\r\n\r\n",
		"TRACE /trace HTTP/1.1\r\nHost: b\r\n\r\n",
		"POST /both HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		nc, err := net.Dial("tcp", p.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		st, err := bufio.NewReader(nc).ReadString('\n')
		_ = nc.Close()
		if err != nil || !strings.Contains(st, " 400 ") && !strings.Contains(st, " 405 ") && !strings.Contains(st, " 505 ") {
			t.Fatalf("%q: status line %q, %v; want a refusal", raw, st, err)
		}
	}
	want := map[string][]string{
		"dflt.log": {"[info] /method", "[info] /version", "[info] /before"},
		"b.log":    {"[info] /after", "[info] /trace", "[info] /both"},
		"main.log": nil,
	}
	for name, w := range want {
		got := requestLines(t, filepath.Join(dir, name))
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}
