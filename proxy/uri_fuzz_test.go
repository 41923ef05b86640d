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
	"time"

	"spillway/proxy/internal/nginxuri"
)

// Short CI run (the seeds alone run under plain `go test`):
//
//	go test -run='^$' -fuzz='^FuzzRequestTarget$' -fuzztime=20s -fuzzminimizetime=1s ./proxy

// fzTargetConf has one location of each kind nginx selects differently,
// each naming itself to the upstream. fzExchange half-closes after the
// request, which nginx (and spillway) take as a client abort once the
// upstream is awaited: proxy_ignore_client_abort keeps the exchange going,
// as in the other fuzz configurations.
const fzTargetConf = `
error_log: {path: stderr, level: info}
http:
  proxy_ignore_client_abort: on
  client_body_temp_path: {TMP}/client
  proxy_temp_path: {TMP}/proxy
  proxy_connect_timeout: 2s
  proxy_read_timeout: 5s
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /admin/
          proxy_pass: http://{U0}/ADMIN/
          proxy_set_header: {X-Loc: admin}
        - path: "= /exact"
          proxy_pass: http://{U0}/E
          proxy_set_header: {X-Loc: exact}
        - path: "~ ^/re/"
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: regex}
        - path: /
          proxy_pass: http://{U0}
          proxy_set_header: {X-Loc: root}
`

// fzTargetRegex is fzTargetConf's regex location.
var fzTargetRegex = regexp.MustCompile(`^/re/`)

// fzRedirect is fzWantTarget's location for nginx's 301 (auto_redirect):
// nothing is sent upstream.
const fzRedirect = "301"

// fzWantTarget is what nginx does with target in front of fzTargetConf,
// computed from the nginxuri port and nginx's documented rules, not from
// spillway's routing: the location it selects (exact, then the longest
// prefix, then the first regex, else that prefix) and the request target
// it sends upstream, or nginx's 301 (auto_redirect) for "/admin"
// (proxy_pass with a URI part: the part plus $uri
// without the location's prefix, re-escaped if the client used a
// %-escape, plus ?$args; without one: the client's target). ok is false
// when nginx answers 400.
func fzWantTarget(target []byte) (loc, sent string, ok bool) {
	u, err := nginxuri.Parse(nil, target, true)
	if err != nil {
		return "", "", false
	}
	path := string(u.Path)
	withURI := func(part, rest string) string {
		s := part + rest
		if u.Quoted {
			s = part + string(nginxuri.AppendEscaped(nil, []byte(rest)))
		}
		if len(u.Args) > 0 {
			s += "?" + string(u.Args)
		}
		return s
	}
	switch {
	case path == "/admin":
		// auto_redirect: a 301 to "/admin/", before any regex.
		return fzRedirect, "", true
	case path == "/exact":
		return "exact", withURI("/E", ""), true
	case fzTargetRegex.MatchString(path):
		return "regex", string(target), true
	case strings.HasPrefix(path, "/admin/"):
		return "admin", withURI("/ADMIN/", path[len("/admin/"):]), true
	}
	return "root", string(target), true
}

// fzEchoOrigin answers every request with its location (X-Loc) and the
// request target exactly as they arrived: "loc\ntarget".
type fzEchoOrigin struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newFzEchoOrigin(tb testing.TB) *fzEchoOrigin {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o := &fzEchoOrigin{ln: ln}
	acceptEach(ln, &o.wg, o.serve)
	tb.Cleanup(func() { _ = ln.Close(); o.wg.Wait() })
	return o
}

func (o *fzEchoOrigin) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // a bound, not a synchronisation
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	line = strings.TrimSuffix(line, "\r\n")
	loc := "?"
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(h, "X-Loc: "); ok {
			loc = strings.TrimSuffix(v, "\r\n")
		}
	}
	// "GET <target> HTTP/1.x": the target is everything between.
	target := strings.TrimPrefix(line, "GET ")
	if i := strings.LastIndex(target, " HTTP/"); i >= 0 {
		target = target[:i]
	}
	body := loc + "\n" + target
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
}

// FuzzRequestTarget sends a GET with an arbitrary request target to a
// proxy in front of fzTargetConf and checks, against the nginxuri port of
// nginx's normalisation, that the location chosen and the target sent
// upstream are what nginx would choose and send, or that the request got
// nginx's 400 and never reached the upstream; and whatever happened, that
// no NUL and no path climbing above "/" left spillway (what was sent
// normalises without error).
func FuzzRequestTarget(f *testing.F) {
	for _, s := range []string{
		"/", "/admin/x?y=1", "//admin/x", "/public/../admin/x/y?q=1", "/adm%69n/x",
		"/admin/%7E/a%20b", "/admin/x%3Fy?z", "/admin/%2F", "/x/../exact?a", "/ex%61ct",
		"//re/a", "/a/%2e%2e/re/b", "/a/./b", "/%7Euser/", "/..", "/../admin/x",
		"/public/../../../etc/passwd", "/%2e%2e/admin/x", "/a%00b", "/uploads/x.jpg%00.php",
		"/a/%zz", "/a/%", "/admin/%252e%252e/x", "/admin/..%2f..%2fx", "/u/x#frag?q", "/a?b#c",
		"/admin/\x01", "/admin/\xc3\xbc%C3%BC", "/admin", "//adm%69n?x",
		// fasthttp reads these as scheme-relative URLs with a bad host
		// and refused them before the handler (client.MaskTarget).
		"//:://", "//[x://", "//a@b^://c", "//a:b:c://admin/x?q=1", "//admin://x",
	} {
		f.Add(s)
	}
	o := newFzEchoOrigin(f)
	p := fzProxy(f, fzTargetConf, o.ln.Addr().String())
	addr := p.Addrs()[0]
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		if strings.ContainsAny(target, " \r\n") || len(target) > 1024 {
			t.Skip("not one request target (FuzzRequestHead sends those)")
		}
		got := fzExchange(t, addr, []byte("GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
		status, body := fzTargetResponse(t, got)
		loc, sent, ok := fzWantTarget([]byte(target))
		if loc == fzRedirect {
			if status != 301 {
				t.Fatalf("%q: status %d, body %q; nginx: 301 to /admin/", target, status, body)
			}
			return
		}
		if body != "" {
			gotLoc, gotSent, _ := strings.Cut(body, "\n")
			if strings.Contains(gotSent, "\x00") {
				t.Fatalf("%q: a NUL left spillway: %q", target, gotSent)
			}
			if _, err := nginxuri.Parse(nil, []byte(gotSent), true); err != nil {
				t.Fatalf("%q: spillway sent %q upstream, which nginx refuses (a path above / or a NUL)", target, gotSent)
			}
			if !ok {
				t.Fatalf("%q: nginx answers 400; spillway sent %q upstream from %s", target, gotSent, gotLoc)
			}
			if status != 200 || gotLoc != loc || gotSent != sent {
				t.Fatalf("%q: status %d, location %s, sent %q; nginx: location %s, sent %q", target, status, gotLoc, gotSent, loc, sent)
			}
			return
		}
		if ok || status != 400 {
			t.Fatalf("%q: status %d, nothing reached the upstream; nginx: location %s, sent %q (ok %v)", target, status, loc, sent, ok)
		}
	})
}

// fzTargetResponse parses the one response in got: its status and, for a
// 200 from the echo origin, its body.
func fzTargetResponse(t *testing.T, got []byte) (int, string) {
	t.Helper()
	head, body, found := bytes.Cut(got, []byte("\r\n\r\n"))
	m := fzStatusLine.FindSubmatch(head)
	if !found || m == nil {
		t.Fatalf("no response: %q", got)
	}
	status, _ := strconv.Atoi(string(m[1]))
	if status != 200 {
		return status, ""
	}
	return status, string(body)
}
