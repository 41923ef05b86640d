package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy"
	"spillway/proxy/config"
)

// headService is an origin on 127.0.0.1 that records each request head
// and answers as the head's X-Want header says: a status (200 with
// "X-User: alice" and a body, 401 with two WWW-Authenticate headers),
// "empty" (204 without a body); it keeps its connections open, "reset" (an RST after the
// head: SetLinger(0)) or "hang" (no answer until the proxy closes). An
// application (app) ignores X-Want, reads the body by its Content-Length
// (recorded after the head) and answers 200 "ok"; force, when set,
// replaces every X-Want.
type headService struct {
	app   bool
	force string
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	heads []string
	conns int
}

func startHeadService(t *testing.T, app bool) *headService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &headService{ln: ln, app: app}
	acceptEach(ln, &s.wg, s.serve)
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *headService) addr() string { return s.ln.Addr().String() }

func (s *headService) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		want, cl := "", 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(l)
			if l == "\r\n" {
				break
			}
			k, v, _ := strings.Cut(l, ":")
			switch strings.ToLower(k) {
			case "x-want":
				want = strings.TrimSpace(v)
			case "content-length":
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		rec := head.String()
		s.mu.Lock()
		if s.app {
			want = ""
		} else if s.force != "" {
			want = s.force
		}
		s.mu.Unlock()
		if s.app && cl > 0 { // the main request's body (the auth service never reads one)
			body := make([]byte, cl)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			rec += string(body)
		}
		s.mu.Lock()
		s.heads = append(s.heads, rec)
		s.mu.Unlock()
		var resp string
		switch want {
		case "":
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
		case "reset":
			_ = c.(*net.TCPConn).SetLinger(0)
			return
		case "hang":
			_, _ = io.Copy(io.Discard, br) // until the proxy gives up and closes
			return
		case "empty":
			resp = "HTTP/1.1 204 No Content\r\nX-User: alice\r\n\r\n"
		case "401":
			resp = "HTTP/1.1 401 No\r\nWWW-Authenticate: Bearer realm=\"x\"\r\nWWW-Authenticate: Basic realm=\"y\"\r\nX-User: alice\r\nContent-Length: 6\r\n\r\nsecret"
		default:
			resp = "HTTP/1.1 " + want + " X\r\nX-User: alice\r\nSet-Cookie: s=1\r\nContent-Length: 16\r\n\r\nauth body secret"
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
	}
}

// got returns the heads recorded so far and forgets them.
func (s *headService) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.heads
	s.heads = nil
	return h
}

func (s *headService) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// authRequestTmpl: / is behind auth_request /auth (an internal location
// written as oauth2-proxy's and Authelia's guides write it) with
// auth_request_set; /auth2/ asks /check, which passes the client's
// Content-Length and has a short read timeout; /any/ denies everyone
// unless the subrequest allows under satisfy any; /all/ denies under
// satisfy all; /ka/ asks a keepalive group. {U0} is the application, {U1}
// and {U2} the auth servers.
const authRequestTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    auth:
      servers: [{address: {U1}}, {address: {U2}}]
    authka:
      keepalive: 4
      servers: [{address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$status ua=$upstream_addr us=$upstream_status user=$user st=$ast'}
      locations:
        - path: /
          proxy_pass: http://{U0}
          auth_request: /auth
          auth_request_set: ["$user $upstream_http_x_user", "$ast $upstream_status"]
          proxy_set_header: {X-User: $user}
          add_header: ["X-U $user"]
        - path: = /auth
          internal: on
          proxy_pass: http://{U1}
          proxy_pass_request_body: off
          proxy_set_header: {Content-Length: "", X-Original-URI: $request_uri, X-Original-Method: $request_method, X-Uri: $uri}
        - path: /auth2/
          proxy_pass: http://{U0}
          auth_request: /check
        - path: = /check
          internal: on
          proxy_pass: http://{U1}/verify
          proxy_read_timeout: 300ms
        - path: /retry/
          proxy_pass: http://{U0}
          auth_request: /authg
        - path: = /authg
          internal: on
          proxy_pass: http://auth
        - path: /any/
          proxy_pass: http://{U0}
          satisfy: any
          access: [deny all]
          auth_request: /auth
        - path: /all/
          proxy_pass: http://{U0}
          access: [deny all]
          auth_request: /auth
        - path: /ka/
          proxy_pass: http://{U0}
          auth_request: /authka
        - path: = /authka
          internal: on
          proxy_pass: http://authka
          proxy_http_version: "1.1"
          proxy_set_header: {Connection: ""}
`

var reConnN = regexp.MustCompile(`\*\d+ `)

// auth_request as nginx 1.22 answers it (measured with the same
// configuration, docs/config.md): the auth service's 2xx lets the
// request through with auth_request_set's $user in proxy_set_header and
// add_header; 401 is answered with its first WWW-Authenticate, 403 as
// is, any other status and a reset or timed-out auth upstream with 500
// and nginx's lines; auth_request_set is evaluated whatever the status;
// the access log has the main request only, whose $upstream_* never list
// the subrequest's; the subrequest's body never reaches the client.
func TestAuthRequestLikeNginx(t *testing.T) {
	app, auth, other := startHeadService(t, true), startHeadService(t, false), startHeadService(t, false)
	r := newAccessRig(t, "error", authRequestTmpl, true, app.addr(), auth.addr(), other.addr())
	type tc struct {
		want      string
		status    int
		challenge string
		lines     []string // nginx's error lines, *N for the connection number
		alog      string
	}
	const fields = `, client: 127.0.0.1, server: localhost, request: "GET /p?q=1 HTTP/1.1", `
	cases := []tc{
		{want: "200", status: 200, alog: "200 ua=U0 us=200 user=alice st=200"},
		{want: "empty", status: 200, alog: "200 ua=U0 us=200 user=alice st=204"},
		{want: "401", status: 401, challenge: `Bearer realm="x"`, alog: "401 ua=- us=- user=alice st=401"},
		{want: "403", status: 403, alog: "403 ua=- us=- user=alice st=403"},
		{want: "500", status: 500, alog: "500 ua=- us=- user=alice st=500",
			lines: []string{`[error] 4242#4242: *N auth request unexpected status: 500 while sending to client` + fields + `host: "localhost"`}},
		{want: "302", status: 500, alog: "500 ua=- us=- user=alice st=302",
			lines: []string{`[error] 4242#4242: *N auth request unexpected status: 302 while sending to client` + fields + `host: "localhost"`}},
		{want: "404", status: 500, alog: "500 ua=- us=- user=alice st=404",
			lines: []string{`[error] 4242#4242: *N auth request unexpected status: 404 while sending to client` + fields + `host: "localhost"`}},
		{want: "reset", status: 500, alog: "500 ua=- us=- user= st=502", lines: []string{
			`[error] 4242#4242: *N recv() failed (104: Connection reset by peer) while reading response header from upstream` + fields + `subrequest: "/auth", upstream: "http://U1/auth", host: "localhost"`,
			`[error] 4242#4242: *N auth request unexpected status: 502 while sending to client` + fields + `host: "localhost"`}},
	}
	var alog []string
	seen := 0
	for i, c := range cases {
		req := "GET /p?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Want: " + c.want + "\r\n\r\n"
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, req)
		cc.Close()
		alog = append(alog, c.alog)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.want, resp.StatusCode, c.status)
		}
		if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, "|") != c.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.want, got, c.challenge)
		}
		if strings.Contains(string(body), "secret") {
			t.Errorf("%s: the subrequest's body reached the client: %q", c.want, body)
		}
		if c.status == 200 && (string(body) != "ok\n" || resp.Header.Get("X-U") != "alice") {
			t.Errorf("%s: body %q, X-U %q; want the application's and add_header's $user", c.want, body, resp.Header.Get("X-U"))
		}
		if c.status == 500 && !resp.Close {
			t.Errorf("%s: 500 kept the connection; nginx closes it", c.want)
		}
		heads := auth.got()
		if len(heads) != 1 || !strings.HasPrefix(heads[0], "GET /auth HTTP/1.0\r\nX-Original-URI: /p?q=1\r\n") {
			t.Errorf("%s: the auth service got %q, want one GET /auth with X-Original-URI", c.want, heads)
		}
		appHeads := app.got()
		switch {
		case c.status == 200 && (len(appHeads) != 1 || !strings.Contains(appHeads[0], "\r\nX-User: alice\r\n")):
			t.Errorf("%s: the application got %q, want one request with X-User: alice", c.want, appHeads)
		case c.status != 200 && len(appHeads) != 0:
			t.Errorf("%s: the application got %q, want nothing", c.want, appHeads)
		}
		all := r.log()
		gotLog := reConnN.ReplaceAllString(all[seen:], "*N ")
		seen = len(all)
		var want string
		for _, l := range c.lines {
			want += "YYYY/MM/DD HH:MM:SS " + l + "\n"
		}
		if gotLog != want {
			t.Errorf("%s: error log\n%s\nwant (nginx)\n%s", c.want, gotLog, want)
		}
		// Its line is written once the answer went out, maybe after the
		// client read it: wait for it before the next request's.
		readAccessLog(t, r.alog, i+1)
	}
	if got := r.accessLog(); strings.Join(got, "\n") != strings.Join(alog, "\n") {
		t.Errorf("access log\n%s\nwant (nginx)\n%s", strings.Join(got, "\n"), strings.Join(alog, "\n"))
	}
}

// The subrequest as nginx makes it: a GET whatever the client's method,
// the client's headers, never its body, but its Content-Length unless
// proxy_set_header removes it; the main request then gets its body. A
// client asking for the internal location gets 404 and the auth service
// nothing; a timed-out auth upstream is 504 to the subrequest and 500
// with nginx's two lines to the client.
func TestAuthRequestSubrequestHead(t *testing.T) {
	app, auth, other := startHeadService(t, true), startHeadService(t, false), startHeadService(t, false)
	r := newAccessRig(t, "error", authRequestTmpl, true, app.addr(), auth.addr(), other.addr())

	resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nX-Want: 200\r\nX_Under: 1\r\nConnection: close\r\n\r\nhello=world")
	cc.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if h := auth.got(); len(h) != 1 || !strings.HasPrefix(h[0], "GET /auth HTTP/1.0\r\nX-Original-URI: /p\r\nX-Original-Method: POST\r\nX-Uri: /auth\r\n") ||
		strings.Contains(h[0], "Content-Length") || strings.Contains(h[0], "hello") || strings.Contains(h[0], "X_Under") {
		// nginx (measured): $request_method is the client's, $uri the subrequest's
		t.Errorf("POST: the auth service got %q, want a GET without Content-Length, body or the header nginx ignores, with the client's method and the subrequest's $uri", h)
	}
	if h := app.got(); len(h) != 1 || !strings.HasPrefix(h[0], "POST /p HTTP/1.0\r\n") || !strings.HasSuffix(h[0], "\r\n\r\nhello=world") {
		t.Errorf("POST: the application got %q, want the POST and its body", h)
	}

	resp, _, cc, _ = rawFrom(t, "127.0.0.1", r.addr, "POST /auth2/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nX-Want: 200\r\nConnection: close\r\n\r\nhello=world")
	cc.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /auth2/: %d", resp.StatusCode)
	}
	if h := auth.got(); len(h) != 1 || !strings.HasPrefix(h[0], "GET /verify HTTP/1.0\r\n") || !strings.Contains(h[0], "\r\nContent-Length: 11\r\n") || strings.Contains(h[0], "hello") {
		t.Errorf("POST /auth2/: the auth service got %q, want a GET /verify with the client's Content-Length and no body", h)
	}
	app.got()

	hc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(hc, "HEAD /p HTTP/1.1\r\nHost: localhost\r\nX-Want: 200\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(hc).ReadString('\n')
	hc.Close()
	if h := auth.got(); !strings.HasPrefix(line, "HTTP/1.1 200 ") || len(h) != 1 || !strings.HasPrefix(h[0], "GET /auth ") {
		t.Errorf("HEAD: %q, the auth service got %q, want 200 and a GET", line, h)
	}
	app.got()

	resp, _, cc, _ = rawFrom(t, "127.0.0.1", r.addr, "GET /auth HTTP/1.1\r\nHost: localhost\r\nX-Want: 200\r\nConnection: close\r\n\r\n")
	cc.Close()
	if h := auth.got(); resp.StatusCode != 404 || len(h) != 0 {
		t.Errorf("GET /auth: %d, the auth service got %q; want 404 and nothing", resp.StatusCode, h)
	}

	resp, _, cc, _ = rawFrom(t, "127.0.0.1", r.addr, "GET /auth2/t HTTP/1.1\r\nHost: localhost\r\nX-Want: hang\r\nConnection: close\r\n\r\n")
	cc.Close()
	if resp.StatusCode != 500 {
		t.Errorf("timed-out auth upstream: %d, want 500", resp.StatusCode)
	}
	const fields = `, client: 127.0.0.1, server: localhost, request: "GET /auth2/t HTTP/1.1", `
	want := "YYYY/MM/DD HH:MM:SS [error] 4242#4242: *N upstream timed out (110: Connection timed out) while reading response header from upstream" + fields + `subrequest: "/check", upstream: "http://U1/verify", host: "localhost"` + "\n" +
		"YYYY/MM/DD HH:MM:SS [error] 4242#4242: *N auth request unexpected status: 504 while sending to client" + fields + `host: "localhost"` + "\n"
	if got := reConnN.ReplaceAllString(r.log(), "*N "); got != want {
		t.Errorf("error log\n%s\nwant (nginx)\n%s", got, want)
	}
	if h := app.got(); len(h) != 0 {
		t.Errorf("the application got %q after refusals", h)
	}
}

// The subrequest retries as its location says (proxy_next_upstream's
// default error: a reset auth server, then the next one, which allows);
// satisfy any lets a request access denies through on the subrequest's
// 2xx, satisfy all refuses it before any subrequest; the keepalive cache
// keeps the auth connection when the answer has no body; auth_request_set
// survives an Expect: 100-continue check.
func TestAuthRequestRetrySatisfyKeepalive(t *testing.T) {
	app, bad, good := startHeadService(t, true), startHeadService(t, false), startHeadService(t, false)
	r := newAccessRig(t, "error", authRequestTmpl, true, app.addr(), bad.addr(), good.addr())
	get := func(path, want string) int {
		t.Helper()
		resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\nX-Want: "+want+"\r\nConnection: close\r\n\r\n")
		cc.Close()
		return resp.StatusCode
	}
	bad.force = "reset" // before any request: U1, "auth"'s first server, picked first
	if st := get("/retry/x", "200"); st != 200 {
		t.Errorf("first auth server resets, the next allows: %d, want 200", st)
	}
	if nb, ng := len(bad.got()), len(good.got()); nb != 1 || ng != 1 {
		t.Errorf("auth servers hit %d and %d times, want once each (a retry on error)", nb, ng)
	}
	bad.mu.Lock()
	bad.force = ""
	bad.mu.Unlock()

	if st := get("/any/x", "200"); st != 200 {
		t.Errorf("satisfy any, deny all, subrequest 200: %d, want 200", st)
	}
	if st := get("/any/x", "403"); st != 403 {
		t.Errorf("satisfy any, deny all, subrequest 403: %d, want 403", st)
	}
	bad.got()
	if st := get("/all/x", "200"); st != 403 {
		t.Errorf("satisfy all, deny all: %d, want 403", st)
	}
	if h := bad.got(); len(h) != 0 {
		t.Errorf("satisfy all, deny all: the auth service got %q; want no subrequest", h)
	}
	app.got()

	before := bad.connections()
	for i := 0; i < 3; i++ {
		if st := get("/ka/x", "empty"); st != 200 {
			t.Fatalf("keepalive auth: %d", st)
		}
	}
	if n := bad.connections() - before; n != 1 {
		t.Errorf("three bodiless auth answers took %d connections, want 1 (kept alive)", n)
	}
	before = bad.connections()
	for i := 0; i < 2; i++ {
		if st := get("/ka/x", "200"); st != 200 {
			t.Fatalf("keepalive auth with a body: %d", st)
		}
	}
	// The first reuses the idle connection and closes it with its unread
	// body: the second needs a new one.
	if n := bad.connections() - before; n != 1 {
		t.Errorf("two auth answers with bodies took %d new connections, want 1 (nginx reads no subrequest body: the connection is closed)", n)
	}
	app.got()
	bad.got()

	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "POST /p HTTP/1.1\r\nHost: localhost\r\nX-Want: 200\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "HTTP/1.1 100 ") {
		t.Fatalf("Expect: %q %v, want 100 Continue", l, err)
	}
	for l, _ := br.ReadString('\n'); l != "\r\n" && l != ""; l, _ = br.ReadString('\n') {
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "HTTP/1.1 200 ") {
		t.Fatalf("Expect: then %q %v, want 200", l, err)
	}
	if h := app.got(); len(h) != 1 || !strings.Contains(h[0], "\r\nX-User: alice\r\n") {
		t.Errorf("Expect: the application got %q, want X-User: alice from the check before 100 Continue", h)
	}
	if h := bad.got(); len(h) != 1 {
		t.Errorf("Expect: %d subrequests, want 1", len(h))
	}
}

// spillway's subrequest proxies, or takes the status of its location's
// return: an auth_request whose URI reaches no location, or one that
// rewrites, returns 444 or serves files, refuses the configuration at
// load (where nginx would answer each request 500, or run that location).
func TestAuthRequestTarget(t *testing.T) {
	for _, c := range []struct{ target, msg string }{
		{"        - path: /other/\n          proxy_pass: http://127.0.0.1:9\n", `auth_request /auth: no location matches it`},
		{"        - path: = /auth\n          return: 444\n", `auth_request /auth: location "/auth" has rewrite (or return 444)`},
		{"        - path: = /auth\n          rewrite: [\"^ /x redirect\"]\n", `auth_request /auth: location "/auth" has rewrite (or return 444)`},
		{"        - path: = /auth\n          root: /srv\n", `auth_request /auth: location "/auth" neither proxy_passes nor returns`},
		{"        - path: = /auth\n          return: 204\n", ""},
		{"        - path: = /auth\n          proxy_pass: http://127.0.0.1:9\n          return: 204\n", ""},
	} {
		text := "http:\n  servers:\n    - listen: [\"127.0.0.1:0\"]\n      locations:\n" +
			"        - path: = /\n          proxy_pass: http://127.0.0.1:9\n          auth_request: /auth\n" + c.target
		cfg, err := config.LoadBytes("proxy.yaml", []byte(text))
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		err = proxy.Validate(cfg)
		if c.msg == "" && err != nil || c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%q: got %v, want %q", c.target, err, c.msg)
		}
	}
}

// BenchmarkAuthRequest is BenchmarkProxy's 1k GET behind auth_request: a
// subrequest per request to the same keepalive origin, whose /auth answers
// 204 with X-User (kept alive, as nginx keeps it), and auth_request_set's
// $user sent on. "plain" is the same without auth_request, for the cost
// of the subrequest alone.
func BenchmarkAuthRequest(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	originAddr := benchOrigin(b, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/auth" {
			ctx.Response.Header.Set("X-User", "alice")
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return
		}
		ctx.SetBody(body)
	})
	p := startBenchProxy(b, `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: `+b.TempDir()+`
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
        - path: /
          proxy_pass: http://origin
          auth_request: /auth
          auth_request_set: ["$user $upstream_http_x_user"]
          proxy_set_header: {Host: $proxy_host, Connection: "", X-User: $user}
        - path: = /auth
          internal: on
          proxy_pass: http://origin
          proxy_pass_request_body: off
          proxy_set_header: {Host: $proxy_host, Connection: "", Content-Length: "", X-Original-URI: $request_uri}
`)
	c := &fasthttp.HostClient{Addr: p.Addrs()[0], MaxConns: 64, StreamResponseBody: true}
	for _, path := range []string{"/plain/x", "/x"} {
		name := "auth"
		if path == "/plain/x" {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			benchGets(b, c, "http://"+p.Addrs()[0]+path, nil, 1<<10)
		})
	}
}

// A return target answers the subrequest with its status (nginx-tests'
// auth_request.t shape): 204 lets the request through, 401 is the answer
// without a challenge, 302 is 500 with nginx's line, which has no "while
// sending to client" (no upstream ran); auth_request_set of
// $upstream_status is set, and empty.
func TestAuthRequestReturnTarget(t *testing.T) {
	app := startHeadService(t, true)
	r := newAccessRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$status ast=$ast'}
      auth_request_set: ["$ast $upstream_status"]
      locations:
        - {path: /ok/, proxy_pass: "http://{U0}", auth_request: /a204}
        - {path: /no/, proxy_pass: "http://{U0}", auth_request: /a401}
        - {path: /odd/, proxy_pass: "http://{U0}", auth_request: /a302}
        - {path: = /a204, internal: on, return: 204}
        - {path: = /a401, internal: on, return: "401 no"}
        - {path: = /a302, internal: on, return: "302 /login"}
`, true, app.addr())
	for i, c := range []struct {
		path   string
		status int
	}{{"/ok/x", 200}, {"/no/x", 401}, {"/odd/x", 500}} {
		resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		cc.Close()
		readAccessLog(t, r.alog, i+1) // written once the answer went out: in order
		if resp.StatusCode != c.status || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %q, want %d without a challenge", c.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.status)
		}
	}
	if h := app.got(); len(h) != 1 || !strings.HasPrefix(h[0], "GET /ok/x ") {
		t.Errorf("the application got %q, want /ok/x only", h)
	}
	want := `YYYY/MM/DD HH:MM:SS [error] 4242#4242: *N auth request unexpected status: 302, client: 127.0.0.1, server: localhost, request: "GET /odd/x HTTP/1.1", host: "localhost"` + "\n"
	if got := reConnN.ReplaceAllString(r.log(), "*N "); got != want {
		t.Errorf("error log\n%s\nwant (nginx)\n%s", got, want)
	}
	if got := strings.Join(r.accessLog(), "\n"); got != "200 ast=\n401 ast=\n500 ast=" {
		t.Errorf("access log\n%s\nwant $ast set and empty", got)
	}
}
