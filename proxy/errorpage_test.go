package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// statusOrigin answers HTTP/1.1 with keep-alive: the status is the path's
// last segment when it is a number (/e/401), else 200; a 401 carries
// WWW-Authenticate. It records every request line and how each connection
// ended, so that a test sees what the proxy sent and whether it kept the
// connection.
type statusOrigin struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	lines []string // "METHOD target"
	conns int
	eofs  int // connections the proxy closed
}

func newStatusOrigin(t *testing.T) *statusOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &statusOrigin{ln: ln}
	acceptEach(ln, &o.wg, o.serve)
	t.Cleanup(func() { _ = ln.Close(); o.wg.Wait() })
	return o
}

func (o *statusOrigin) serve(c net.Conn) {
	defer c.Close()
	o.mu.Lock()
	o.conns++
	o.mu.Unlock()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err == io.EOF {
				o.mu.Lock()
				o.eofs++
				o.mu.Unlock()
			}
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		o.mu.Lock()
		o.lines = append(o.lines, req.Method+" "+req.RequestURI)
		o.mu.Unlock()
		code := 200
		if n, err := strconv.Atoi(req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]); err == nil {
			code = n
		}
		body := "origin " + req.Method + " " + req.RequestURI + "\n"
		head := "HTTP/1.1 " + strconv.Itoa(code) + " X\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nX-Origin: 1\r\n"
		if code == 401 {
			// Two, in another case than the canonical one: the first goes
			// with an error page, as in nginx 1.22.
			head += "www-authenticate: Basic realm=\"o\"\r\nWWW-Authenticate: Bearer\r\n"
		}
		if req.Method == "HEAD" {
			body = ""
		}
		if _, err := io.WriteString(c, head+"\r\n"+body); err != nil {
			return
		}
	}
}

func (o *statusOrigin) seen() (lines []string, conns, eofs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...), o.conns, o.eofs
}

const errpageConf = `
http:
  error_page: ["404 /pages/404.html", "502 /pages/50x.html", "400 /pages/50x.html"]
  upstreams:
    app:
      keepalive: 4
      servers: [{address: "{U0}"}]
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: {W}/access.log, format: '$status "$request" $body_bytes_sent $upstream_status'}
      locations:
        - path: /pages/
          root: {W}/www
          internal: on
        - path: /icpt/
          proxy_pass: http://app
          proxy_intercept_errors: on
          error_page: ["401 500 /pages/50x.html", "404 = @fallback"]
        - path: /relay/
          proxy_pass: http://app
        - path: /dead/
          proxy_pass: http://{DEAD}
        - path: /deadnamed/
          proxy_pass: http://{DEAD}
          error_page: "502 @fallback"
        - path: "@fallback"
          proxy_pass: http://app
        - path: /files/
          root: {W}/www
        - path: /small/
          proxy_pass: http://app
          client_max_body_size: 10
          error_page: "413 /pages/50x.html"
`

// errpageRig starts a proxy with errpageConf in front of a statusOrigin and
// a closed port.
func errpageRig(t *testing.T) (*rig, *statusOrigin, string) {
	t.Helper()
	o := newStatusOrigin(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close() // a port nothing listens on: connect() is refused
	tmp := t.TempDir()
	conf := strings.NewReplacer("{DEAD}", deadAddr, "{W}", tmp).Replace(errpageConf)
	for name, body := range map[string]string{"www/pages/404.html": "custom 404\n", "www/pages/50x.html": "fifty\n"} {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return newRig(t, "info", conf, o.ln.Addr().String()), o, tmp
}

// An intercepted upstream error is answered by its error page with the
// upstream's status (a 401 keeps its WWW-Authenticate), and the upstream
// connection it came on is closed, its body never read, as nginx does; an
// answer relayed as it is leaves its connection in the keepalive cache.
func TestInterceptErrorsClosesUpstreamConnection(t *testing.T) {
	r, o, _ := errpageRig(t)
	closed := 0
	for _, c := range []struct {
		path, body, auth string
		status           int
	}{
		{"/icpt/401", "fifty\n", `Basic realm="o"`, 401},
		{"/icpt/500", "fifty\n", "", 500},
		{"/relay/500", "origin GET /relay/500\n", "", 500},
		{"/icpt/200", "origin GET /icpt/200\n", "", 200},
		{"/icpt/503", "origin GET /icpt/503\n", "", 503}, // not listed: relayed
	} {
		res := rawDo(t, r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if res.resp.StatusCode != c.status || string(res.body) != c.body || res.resp.Header.Get("WWW-Authenticate") != c.auth {
			t.Errorf("%s: %d %q auth %q; want %d %q auth %q", c.path, res.resp.StatusCode, res.body,
				res.resp.Header.Get("WWW-Authenticate"), c.status, c.body, c.auth)
		}
		if n := len(res.resp.Header.Values("WWW-Authenticate")); c.auth != "" && n != 1 {
			t.Errorf("%s: %d WWW-Authenticate, want the first only", c.path, n)
		}
		if c.body == "fifty\n" && res.resp.Header.Get("X-Origin") != "" {
			t.Errorf("%s: the upstream's headers went out with the error page", c.path)
		}
		if c.body == "fifty\n" {
			// Closed at once, not left in the keepalive cache with its
			// body unread (where only the next request's probe would
			// find it).
			closed++
			testutil.Eventually(t, c.path+"'s upstream connection to close", 3*time.Second, func() bool {
				_, _, eofs := o.seen()
				return eofs == closed
			})
		}
	}
	// Two intercepted answers: two connections closed by the proxy; the
	// relayed ones went back to the cache and were reused.
	lines, conns, eofs := o.seen()
	if eofs != 2 || conns != 3 {
		t.Errorf("origin saw %d connections, %d closed by the proxy; want 3 and 2 (requests %q)", conns, eofs, lines)
	}
}

// "404 = @fallback" with intercept: the named location proxies the same
// request (method and URI kept) and its answer's own status goes out; a
// refused upstream's page through a named location keeps the 502 and the
// error line, and a URI error page turns a POST into a GET.
func TestErrorPageTargets(t *testing.T) {
	r, o, tmp := errpageRig(t)
	for _, c := range []struct {
		req, body string
		status    int
	}{
		{"POST /icpt/404?a=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", "origin POST /icpt/404?a=1\n", 404},
		{"GET /deadnamed/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "origin GET /deadnamed/x\n", 502},
		{"POST /dead/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", "fifty\n", 502},
		{"HEAD /dead/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "", 502},
		{"GET /files/nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "custom 404\n", 404},
		{"GET /pages/404.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "custom 404\n", 404}, // internal: 404, whose page it may serve
		// fasthttp refuses it before serve (no Host): the server's page still.
		{"GET /x HTTP/1.1\r\n\r\n", "fifty\n", 400},
		// Refused before "100 Continue": the page is the answer, no invitation.
		{"POST /small/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", "fifty\n", 413},
		{"POST /%00 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "fifty\n", 400},
	} {
		res := rawDo(t, r.addr, c.req)
		if res.resp.StatusCode != c.status || string(res.body) != c.body {
			t.Errorf("%q: %d %q; want %d %q", c.req, res.resp.StatusCode, res.body, c.status, c.body)
		}
		if res.resp.StatusCode == 404 && res.resp.Header.Get("Last-Modified") != "" {
			t.Errorf("%q: a 404 error page with Last-Modified", c.req)
		}
		if res.resp.StatusCode == 413 && !res.resp.Close {
			t.Errorf("%q: a 413 error page without Connection: close", c.req)
		}
	}
	// The 404 answer of @fallback is the upstream's own (404 = @fallback):
	// it went through the named location, not intercepted again.
	lines, _, _ := o.seen()
	if want := []string{"POST /icpt/404?a=1", "POST /icpt/404?a=1", "GET /deadnamed/x"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("origin requests %q, want %q", lines, want)
	}
	log := r.log()
	for _, want := range []string{
		`connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET /deadnamed/x HTTP/1.1"`,
		`connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "POST /dead/x HTTP/1.1"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("error log lacks %q:\n%s", want, log)
		}
	}
	testutil.Eventually(t, "the access log", 3*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(tmp, "access.log"))
		return strings.Count(string(b), "\n") >= 9
	})
	b, _ := os.ReadFile(filepath.Join(tmp, "access.log"))
	// $upstream_status: each run through an upstream, " : " between runs.
	for _, want := range []string{`404 "POST /icpt/404?a=1 HTTP/1.1" 26 404 : 404`, `502 "GET /deadnamed/x HTTP/1.1" 24 502 : 200`,
		`502 "POST /dead/x HTTP/1.1" 6 502`, `404 "GET /files/nope HTTP/1.1" 11 -`, `413 "POST /small/x HTTP/1.1" 6 -`, `400 "GET /x HTTP/1.1" 6 -`, `400 "POST /%00 HTTP/1.1" 6 -`} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("access log lacks %q:\n%s", want, b)
		}
	}
}

// fastcgi_intercept_errors is what a fastcgi_pass location intercepts by
// (proxy_intercept_errors does not apply to it, as in nginx): the
// FastCGI answer's Status picks the page.
func TestFastCGIInterceptErrors(t *testing.T) {
	reply := append(stdout("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nphp says no"), append(stdout(""), endRequest()...)...)
	page := `        - path: "@page"
          return: "200 the page"`
	for _, c := range []struct {
		name, extra, body string
	}{
		{"fastcgi_intercept_errors on", "          fastcgi_intercept_errors: on\n          error_page: 404 @page\n" + page, "the page"},
		{"proxy_intercept_errors on", "          proxy_intercept_errors: on\n          error_page: 404 @page\n" + page, "php says no"},
		{"off", "          error_page: 404 @page\n" + page, "php says no"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := fakeFastCGI(t, reply)
			r := fcgiRig(t, fcgiYAML("/srv", server(addr), c.extra))
			resp, body := r.doH("GET", "/a.php", nil, nil)
			if resp.StatusCode != 404 || string(body) != c.body {
				t.Errorf("%d %q, want 404 %q", resp.StatusCode, body, c.body)
			}
		})
	}
}

// "error_page 497 https://$host$request_uri", the usual answer to plain
// HTTP on an ssl address: nginx's 302 (497 answers as 400 without "=",
// which is no redirect), or "=301"'s, then close (measured).
func TestErrorPage497Redirect(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	for _, c := range []struct {
		page   string
		status int
	}{
		{"497 https://$host$request_uri", 302},
		{"497 =301 https://$host$request_uri", 301},
	} {
		r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: `+cf+`
  ssl_certificate_key: `+kf+`
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      error_page: "`+c.page+`"
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, plainOrigin(t, "A"))
		res := rawDo(t, r.addr, "GET /a?b=1 HTTP/1.1\r\nHost: example.test\r\n\r\n")
		if res.resp.StatusCode != c.status || res.resp.Header.Get("Location") != "https://example.test/a?b=1" || !res.resp.Close {
			t.Errorf("%s: %d Location %q close %v", c.page, res.resp.StatusCode, res.resp.Header.Get("Location"), res.resp.Close)
		}
		if want := `[info] 4242#4242: *1 client sent plain HTTP request to HTTPS port while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /a?b=1 HTTP/1.1", host: "example.test"`; !strings.Contains(r.log(), want) {
			t.Errorf("%s: error log lacks %q:\n%s", c.page, want, r.log())
		}
	}
}
