package proxy_test

// uwsgi_pass: against a uwsgi server written here from the protocol (what
// goes on the wire, byte for byte) and against a real uWSGI with a Python
// application (skipped without uwsgi, unless SPILLWAY_REQUIRE_UWSGI=1).

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bench "spillway/bench/upstreamsim"

	"spillway/proxy/internal/testutil"
)

// uwsgiPacket is one request as a uwsgi server reads it.
type uwsgiPacket struct {
	mod1, mod2 byte
	vars       [][2]string
	body       []byte
}

func (p uwsgiPacket) get(name string) (string, bool) {
	for _, kv := range p.vars {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// readUwsgiPacket parses the uwsgi packet header, the vars block and the
// body (CONTENT_LENGTH bytes) from the uwsgi protocol's specification.
func readUwsgiPacket(r *bufio.Reader) (uwsgiPacket, error) {
	var p uwsgiPacket
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return p, err
	}
	p.mod1, p.mod2 = h[0], h[3]
	block := make([]byte, binary.LittleEndian.Uint16(h[1:3]))
	if _, err := io.ReadFull(r, block); err != nil {
		return p, err
	}
	for len(block) > 0 {
		var kv [2]string
		for i := range kv {
			if len(block) < 2 {
				return p, fmt.Errorf("truncated vars")
			}
			n := int(binary.LittleEndian.Uint16(block))
			if len(block) < 2+n {
				return p, fmt.Errorf("truncated var")
			}
			kv[i], block = string(block[2:2+n]), block[2+n:]
		}
		p.vars = append(p.vars, kv)
	}
	if cl, _ := p.get("CONTENT_LENGTH"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return p, err
		}
		p.body = make([]byte, n)
		if _, err := io.ReadFull(r, p.body); err != nil {
			return p, err
		}
	}
	return p, nil
}

// fakeUwsgi is a uwsgi server on 127.0.0.1 that hands every packet to
// answer and writes back what it returns, then closes the connection.
type fakeUwsgi struct {
	addr    string
	accepts atomic.Int64
	mu      sync.Mutex
	got     []uwsgiPacket
}

func startFakeUwsgi(t *testing.T, answer func(uwsgiPacket) string) *fakeUwsgi {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUwsgi{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepts.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				p, err := readUwsgiPacket(bufio.NewReader(c))
				if err != nil {
					return
				}
				f.mu.Lock()
				f.got = append(f.got, p)
				f.mu.Unlock()
				_, _ = io.WriteString(c, answer(p))
			}()
		}
	}()
	return f
}

func (f *fakeUwsgi) last(t *testing.T) uwsgiPacket {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		t.Fatal("the uwsgi server got no packet")
	}
	return f.got[len(f.got)-1]
}

func uwsgiYAML(pass string, extra ...string) string {
	return `
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      keepalive: 4
      servers: [` + pass + `]
  servers:
    - listen: 127.0.0.1:0
      server_name: [localhost]
      locations:
        - path: /
          uwsgi_pass: app
          uwsgi_temp_path: {TMP}/uwsgi
          uwsgi_read_timeout: 20s
          uwsgi_param: ["QUERY_STRING $query_string", "REQUEST_METHOD $request_method", "CONTENT_LENGTH $content_length",
            "REQUEST_URI $request_uri", "PATH_INFO $document_uri", "HTTPS $https if_not_empty", "HTTP_HOST $host", "SERVER_NAME $server_name"]
` + strings.Join(extra, "\n") + "\n"
}

func uwsgiRig(t *testing.T, yamlText string) *rig {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"uwsgi", "client"} {
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

// The packet as nginx builds it: modifier1 0, the vars' size, modifier2 0;
// the uwsgi_param values in order (if_not_empty left out when empty), then
// the client's headers as HTTP_* except those a uwsgi_param sets; the body
// after the packet. The answer is HTTP, relayed; the connection is never
// reused even with keepalive.
func TestUwsgiPacket(t *testing.T) {
	f := startFakeUwsgi(t, func(p uwsgiPacket) string {
		return "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-App: fake\r\nContent-Length: " +
			strconv.Itoa(len(p.body)+4) + "\r\n\r\nbody" + string(p.body)
	})
	r := uwsgiRig(t, uwsgiYAML(server(f.addr)))
	resp, body := r.doH("POST", "/a/b?x=1&y=2", []byte("hello uwsgi"), map[string]string{"X-Test": "yes"})
	if resp.StatusCode != 201 || string(body) != "bodyhello uwsgi" || resp.Header.Get("X-App") != "fake" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	p := f.last(t)
	if p.mod1 != 0 || p.mod2 != 0 {
		t.Errorf("modifiers %d %d, want 0 0", p.mod1, p.mod2)
	}
	var names []string
	for _, kv := range p.vars {
		names = append(names, kv[0])
	}
	// HTTPS is empty on plain HTTP: left out. HTTP_HOST is the param's, once.
	want := "QUERY_STRING REQUEST_METHOD CONTENT_LENGTH REQUEST_URI PATH_INFO HTTP_HOST SERVER_NAME HTTP_X_TEST HTTP_CONTENT_LENGTH HTTP_USER_AGENT HTTP_ACCEPT_ENCODING HTTP_CONNECTION"
	if got := strings.Join(names, " "); !sameWords(got, want) || !strings.HasPrefix(got, "QUERY_STRING REQUEST_METHOD CONTENT_LENGTH REQUEST_URI PATH_INFO HTTP_HOST SERVER_NAME ") {
		t.Errorf("vars %s\nwant %s (params first, in order)", got, want)
	}
	for k, v := range map[string]string{"QUERY_STRING": "x=1&y=2", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "11",
		"REQUEST_URI": "/a/b?x=1&y=2", "PATH_INFO": "/a/b", "HTTP_HOST": "127.0.0.1", "HTTP_X_TEST": "yes"} {
		if got, _ := p.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if string(p.body) != "hello uwsgi" {
		t.Errorf("body %q", p.body)
	}
	for i := range 2 {
		if resp, _ := r.doH("GET", "/", nil, nil); resp.StatusCode != 201 {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		// no body: $content_length is empty, as in nginx
		if cl, ok := f.last(t).get("CONTENT_LENGTH"); !ok || cl != "" {
			t.Errorf("GET %d: CONTENT_LENGTH %q (%v), want empty", i, cl, ok)
		}
	}
	if n := f.accepts.Load(); n != 3 {
		t.Errorf("%d connections for 3 requests: a uwsgi connection is never reused (nginx)", n)
	}
}

func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	if len(x) != len(y) {
		return false
	}
	seen := map[string]int{}
	for _, w := range x {
		seen[w]++
	}
	for _, w := range y {
		seen[w]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// uwsgi_modifier1/2 set the header's bytes; uwsgi_pass_request_headers off
// sends only the params; a vars block over 64k (here a 66000-byte param on
// /big) is nginx's [alert] and 500, and nothing reaches the server.
func TestUwsgiModifiersAndLimits(t *testing.T) {
	f := startFakeUwsgi(t, func(uwsgiPacket) string { return "HTTP/1.0 200 OK\r\n\r\nuntil close" })
	r := uwsgiRig(t, uwsgiYAML(server(f.addr), "          uwsgi_modifier1: 5", "          uwsgi_modifier2: 9", "          uwsgi_pass_request_headers: off",
		"        - path: /big",
		"          uwsgi_pass: app",
		"          uwsgi_param: [\"BIG "+strings.Repeat("b", 66000)+"\"]"))
	resp, body := r.doH("GET", "/", nil, map[string]string{"X-Test": "yes"})
	if resp.StatusCode != 200 || string(body) != "until close" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	p := f.last(t)
	if p.mod1 != 5 || p.mod2 != 9 {
		t.Errorf("modifiers %d %d, want 5 9", p.mod1, p.mod2)
	}
	if _, ok := p.get("HTTP_X_TEST"); ok {
		t.Errorf("uwsgi_pass_request_headers off sent the client's headers: %v", p.vars)
	}
	before := f.accepts.Load()
	resp, _ = r.doH("GET", "/big", nil, nil)
	if resp.StatusCode != 500 {
		t.Errorf("a 66000-byte param: %d, want 500", resp.StatusCode)
	}
	if f.accepts.Load() != before {
		t.Errorf("the too big packet reached the server")
	}
	logHas(t, r.elog.String(), "[alert]", "uwsgi request is too big: ")
}

// uwsgiBin finds uWSGI with its python3 plugin, or skips.
const uwsgiApp = `import hashlib
def application(env, start_response):
    body = env['wsgi.input'].read()
    path = env.get('PATH_INFO', '')
    if path == '/missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no such thing']
    if path == '/big':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [bytes(range(256)) * 4096]
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Method', env['REQUEST_METHOD'])])
    out = '%s %s %s %d %s %s' % (env['REQUEST_METHOD'], path, env.get('QUERY_STRING', ''), len(body),
        hashlib.md5(body).hexdigest(), env.get('HTTP_X_TEST', '-'))
    return [out.encode()]
`

// A real uWSGI application behind uwsgi_pass: the method, path, query,
// body and headers reach it; its status and headers come back; a large
// answer is relayed whole; a server that refuses is retried on the next
// one, logged with nginx's uwsgi:// upstream.
func TestUwsgiRealServer(t *testing.T) {
	sock := "unix:" + testutil.StartUwsgi(t, uwsgiApp)
	refused := bench.RefusedAddr(t)
	r := uwsgiRig(t, uwsgiYAML(server(refused)+", "+server("'"+sock+"'")))
	for range 2 { // round-robin: one of them meets the refused server first
		resp, body := r.doH("POST", "/echo?a=1", []byte("payload"), map[string]string{"X-Test": "yes"})
		want := fmt.Sprintf("POST /echo a=1 7 %x yes", md5.Sum([]byte("payload")))
		if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("X-Method") != "POST" {
			t.Fatalf("%d %q %v, want %q", resp.StatusCode, body, resp.Header, want)
		}
	}
	logHas(t, r.elog.String(), "connect() failed (111: Connection refused) while connecting to upstream", `upstream: "uwsgi://`+refused+`"`)
	if resp, body := r.doH("GET", "/missing", nil, nil); resp.StatusCode != 404 || string(body) != "no such thing" {
		t.Errorf("/missing: %d %q", resp.StatusCode, body)
	}
	resp, body := r.doH("GET", "/big", nil, nil)
	if resp.StatusCode != 200 || len(body) != 256*4096 || body[257] != 1 {
		t.Errorf("/big: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// uwsgi_hide_header, uwsgi_pass_header and uwsgi_intercept_errors act on
// a uwsgi_pass location as the proxy_ ones on proxy_pass (the proxy_ ones
// do not apply to it, as in nginx): the answer's X-Secret is hidden, its
// Server passed, and its 404 replaced by error_page's.
func TestUwsgiUpstreamHeadersAndInterceptErrors(t *testing.T) {
	answer := func(p uwsgiPacket) string {
		status := "200 OK"
		if path, _ := p.get("PATH_INFO"); path == "/missing" {
			status = "404 Not Found"
		}
		return "HTTP/1.0 " + status + "\r\nContent-Type: text/plain\r\nX-Secret: s\r\nServer: app\r\n\r\napp says " + status
	}
	page := `        - path: "@page"
          return: "200 the page"`
	for _, c := range []struct {
		name, extra    string
		secret, server string
		missingBody    string
	}{
		{"uwsgi_ directives", "          uwsgi_hide_header: [X-Secret]\n          uwsgi_pass_header: [Server]\n          uwsgi_intercept_errors: on\n          error_page: 404 @page\n" + page,
			"", "app", "the page"},
		{"proxy_ directives", "          proxy_hide_header: [X-Secret]\n          proxy_pass_header: [Server]\n          proxy_intercept_errors: on\n          error_page: 404 @page\n" + page,
			"s", "spillway", "app says 404 Not Found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startFakeUwsgi(t, answer)
			r := uwsgiRig(t, uwsgiYAML(server(f.addr), c.extra))
			resp, body := r.doH("GET", "/ok", nil, nil)
			if resp.StatusCode != 200 || string(body) != "app says 200 OK" {
				t.Fatalf("/ok: %d %q", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Secret"); got != c.secret {
				t.Errorf("X-Secret %q, want %q", got, c.secret)
			}
			if got := resp.Header.Get("Server"); got != c.server {
				t.Errorf("Server %q, want %q", got, c.server)
			}
			resp, body = r.doH("GET", "/missing", nil, nil)
			if resp.StatusCode != 404 || string(body) != c.missingBody {
				t.Errorf("/missing: %d %q, want 404 %q", resp.StatusCode, body, c.missingBody)
			}
		})
	}
}
