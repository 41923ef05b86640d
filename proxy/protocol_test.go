package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/internal/phpfpm"
	"spillway/proxy/internal/testutil"
)

// scriptOrigin is a raw upstream on 127.0.0.1: for every request head it
// reads it calls answer with the request line and the connection, and
// records the request lines per connection (with the X-Host and X-RU
// headers when a test sets them). answer returns false to stop
// serving that connection (which is then closed).
type scriptOrigin struct {
	ln     net.Listener
	answer func(line string, c net.Conn, br *bufio.Reader) bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  [][]string
	open   map[net.Conn]bool
	closed bool
}

func newScriptOrigin(t *testing.T, answer func(line string, c net.Conn, br *bufio.Reader) bool) *scriptOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &scriptOrigin{ln: ln, answer: answer, open: map[net.Conn]bool{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			if o.closed {
				o.mu.Unlock()
				_ = c.Close()
				return
			}
			i := len(o.conns)
			o.conns = append(o.conns, nil)
			o.open[c] = true
			o.mu.Unlock()
			o.wg.Add(1)
			go o.serve(c, i)
		}
	}()
	t.Cleanup(o.stop)
	return o
}

func (o *scriptOrigin) addr() string { return o.ln.Addr().String() }

func (o *scriptOrigin) serve(c net.Conn, i int) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.open, c)
		o.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		line := req.Method + " " + req.RequestURI
		rec := line
		if h := req.Header.Get("X-Host"); h != "" { // what $host and $request_uri became
			rec += " X-Host=" + h + " X-RU=" + req.Header.Get("X-RU")
		}
		o.mu.Lock()
		o.conns[i] = append(o.conns[i], rec)
		o.mu.Unlock()
		if !o.answer(line, c, br) {
			return
		}
	}
}

// stop closes the listener and every connection still open, and waits.
func (o *scriptOrigin) stop() {
	o.mu.Lock()
	o.closed = true
	for c := range o.open {
		_ = c.Close()
	}
	o.mu.Unlock()
	_ = o.ln.Close()
	o.wg.Wait()
}

// requests returns the request lines each connection received, in the
// order the connections were accepted.
func (o *scriptOrigin) requests() [][]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([][]string, len(o.conns))
	for i, c := range o.conns {
		out[i] = append([]string(nil), c...)
	}
	return out
}

// readAccessLog waits (eventually) until path holds n lines and returns them.
func readAccessLog(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	testutil.Eventually(t, "the access log", 5*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= n
	})
	return lines
}

const switchTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_read_timeout: 1s
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      keepalive: 8
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent'}
      locations:
        - path: /
          proxy_pass: http://app
`

// An upstream that answered 101 has switched protocols on that connection:
// it must never be reused. Before the fix the connection went back to the
// keepalive cache and the next client's request was written into the
// switched stream (the origin echoed it back: 502 for an innocent client).
// nginx 1.22 relays the 101 head with "Connection: upgrade" and the
// upstream's bytes until proxy_read_timeout, then closes.
func TestSwitchedUpstreamNeverReused(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		switch line {
		case "GET /switch": // switch, then echo what comes (nothing should)
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			_, _ = io.Copy(c, br)
			return false
		case "GET /switch-say": // switch, say something and close
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nswitched\n")
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	r := newAccessRig(t, "info", switchTmpl, false, o.addr())

	// Client 1: the upstream switches. The head arrives first...
	c1 := rawSend(t, r.addr, "GET /switch HTTP/1.1\r\nHost: localhost\r\n\r\n", 10*time.Second)
	br1 := bufio.NewReader(c1)
	head := rawHead(t, br1)
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 Switching Protocols\r\n")) {
		t.Fatalf("client 1 got %q", head)
	}
	for _, h := range []string{"\r\nUpgrade: echo", "\r\nConnection: upgrade"} {
		if !bytes.Contains(head, []byte(h)) {
			t.Errorf("101 head lacks %q: %q", h, head)
		}
	}

	// ...and while it is switched, client 2, unrelated, asks: it must get
	// a fresh upstream connection and its own 200.
	res := rawDo(t, r.addr, "GET /next HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if res.resp.StatusCode != 200 || string(res.body) != "ok" {
		t.Errorf("client 2: %d %q, want 200 \"ok\"", res.resp.StatusCode, res.body)
	}

	// Client 1 gets the end of the connection at proxy_read_timeout.
	body, err := io.ReadAll(br1)
	if err != nil || len(body) != 0 {
		t.Fatalf("client 1: %v after %q, want EOF", err, body)
	}

	// Clients 3 and 4: what the upstream sends after its 101 is relayed
	// as it is, up to the upstream's FIN; nothing is logged. The same for
	// a client whose connection closes after this response anyway
	// (HTTP/1.0), for which fasthttp would skip a hijack.
	for _, req := range []string{"GET /switch-say HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET /switch-say HTTP/1.0\r\n\r\n"} {
		c3 := rawSend(t, r.addr, req, 10*time.Second)
		got, err := io.ReadAll(c3)
		h, b, _ := bytes.Cut(got, []byte("\r\n\r\n"))
		if err != nil || string(b) != "switched\n" || bytes.Count(h, []byte("\r\nConnection: ")) != 1 {
			t.Errorf("%q: %v, got %q, want the 101 head (Connection: upgrade only) and \"switched\\n\"", req, err, got)
		}
	}
	reqs := o.requests()
	// The switched connections carried their one request each; /next
	// went over a connection of its own.
	if fmt.Sprint(reqs) != "[[GET /switch] [GET /next GET /switch-say] [GET /switch-say]]" {
		t.Fatalf("upstream connections saw %q, want [[GET /switch] [GET /next GET /switch-say] [GET /switch-say]]", reqs)
	}
	want := `[error] 4242#4242: *1 upstream timed out (110: Connection timed out) while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /switch HTTP/1.1", upstream: "http://U0/switch", host: "localhost"`
	if l := r.log(); !strings.Contains(l, want) || strings.Count(l, "[error]") != 1 {
		t.Errorf("error log: want only\n%s\ngot\n%s", want, l)
	}
	lines := readAccessLog(t, r.alog, 4)
	if strings.Join(lines, "\n") != `"GET /next HTTP/1.1" 200 2`+"\n"+`"GET /switch HTTP/1.1" 101 0`+"\n"+`"GET /switch-say HTTP/1.1" 101 9`+"\n"+`"GET /switch-say HTTP/1.0" 101 9` {
		t.Errorf("access log %q", lines)
	}
}

const methodsTmpl = `
error_log: {path: stderr, level: info}
http:
  access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent host=$host ru=$request_uri'}
  proxy_set_header: {X-Host: $host, X-RU: $request_uri}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - path: /
          proxy_pass: http://{U0}
    - listen: ["127.0.0.1:0"]
      server_name: [evil.com]
      locations:
        - path: /
          proxy_pass: http://{U1}
`

// What nginx 1.22 refuses in the request line or for its method never
// reaches an upstream: the status, the Connection: close, the info line
// and the access-log line are nginx's (measured with nginx 1.22.1), and
// $host never becomes a CONNECT target. An absolute-form target selects
// the server by its own host, which is $host; $request_uri and the URI
// sent upstream are its origin form.
func TestRefusedMethodsAndAbsoluteFormLikeNginx(t *testing.T) {
	answer := func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	}
	o0, o1 := newScriptOrigin(t, answer), newScriptOrigin(t, answer)
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "info", strings.ReplaceAll(methodsTmpl, "{ALOG}", alog), o0.addr(), o1.addr())
	// The pages are nginx's, with spillway's shorter footer: 153 bytes
	// where nginx's are 157.
	const line = ` while reading client request line, client: 127.0.0.1, server: localhost, request: `
	cases := []struct {
		req, status string
		log, access string
	}{
		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "400",
			`client sent invalid request` + line + `"CONNECT example.com:443 HTTP/1.1"`,
			`"CONNECT example.com:443 HTTP/1.1" 400 153 host=localhost ru=-`},
		{"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", "400",
			`client sent invalid request` + line + `"OPTIONS * HTTP/1.1"`,
			`"OPTIONS * HTTP/1.1" 400 153 host=localhost ru=-`},
		{"GET http://user@evil.com/ HTTP/1.1\r\nHost: localhost\r\n\r\n", "400",
			`client sent invalid request` + line + `"GET http://user@evil.com/ HTTP/1.1"`,
			`"GET http://user@evil.com/ HTTP/1.1" 400 153 host=localhost ru=-`},
		{"TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n", "405",
			`client sent TRACE method while reading client request headers, client: 127.0.0.1, server: localhost, request: "TRACE / HTTP/1.1", host: "localhost"`,
			`"TRACE / HTTP/1.1" 405 153 host=localhost ru=/`},
		{"CONNECT /x HTTP/1.1\r\nHost: localhost\r\n\r\n", "405",
			`client sent CONNECT method while reading client request headers, client: 127.0.0.1, server: localhost, request: "CONNECT /x HTTP/1.1", host: "localhost"`,
			`"CONNECT /x HTTP/1.1" 405 153 host=localhost ru=/x`},
		{"GET http://evil.com/a?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", "200", "",
			`"GET http://evil.com/a?q=1 HTTP/1.1" 200 2 host=evil.com ru=/a?q=1`},
		{"GET HTTP://Other.COM:8080/b HTTP/1.1\r\nHost: localhost\r\n\r\n", "200", "",
			`"GET HTTP://Other.COM:8080/b HTTP/1.1" 200 2 host=other.com ru=/b`},
	}
	var wantLog, wantAccess []string
	for i, c := range cases {
		res := rawDo(t, r.addr, c.req)
		if got := res.resp.Status[:3]; got != c.status {
			t.Errorf("%q: status %s, want %s", c.req, got, c.status)
		}
		if c.status != "200" && !res.resp.Close {
			t.Errorf("%q: the connection stays open; nginx closes it", c.req)
		}
		_ = res.conn.Close()
		if c.log != "" {
			wantLog = append(wantLog, fmt.Sprintf("*%d %s", i+1, c.log))
		}
		wantAccess = append(wantAccess, c.access)
		// Its line is written once the answer went out, maybe after the
		// client read it: wait for it before the next request's.
		readAccessLog(t, alog, len(wantAccess))
	}
	var gotLog []string
	for _, l := range strings.Split(r.log(), "\n") {
		if _, msg, ok := strings.Cut(l, "[info] 4242#4242: "); ok && !strings.Contains(msg, "closed keepalive connection") {
			gotLog = append(gotLog, msg)
		}
	}
	if strings.Join(gotLog, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("error log\n%s\nwant\n%s", strings.Join(gotLog, "\n"), strings.Join(wantLog, "\n"))
	}
	if got := readAccessLog(t, alog, len(wantAccess)); strings.Join(got, "\n") != strings.Join(wantAccess, "\n") {
		t.Errorf("access log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAccess, "\n"))
	}
	// Only the two absolute-form requests reached an upstream, each the
	// one its line's host selects, with the origin form and that $host.
	if got := fmt.Sprint(o0.requests()); got != "[[GET /b X-Host=other.com X-RU=/b]]" {
		t.Errorf("localhost's upstream got %s", got)
	}
	if got := fmt.Sprint(o1.requests()); got != "[[GET /a?q=1 X-Host=evil.com X-RU=/a?q=1]]" {
		t.Errorf("evil.com's upstream got %s", got)
	}
}

const http10Tmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_buffering: {BUF}
  access_log: {path: {ALOG}, format: '"$request" $status $body_bytes_sent'}
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - path: /
          proxy_pass: http://{U0}
`

// A body of unknown length (a chunked upstream) reaches an HTTP/1.0 client
// as nginx sends it: no Transfer-Encoding (an HTTP/1.0 client cannot read
// chunks), "Connection: close", the bytes, then the end of the connection.
// Before, spillway sent it chunked. An HTTP/1.1 client still gets chunks.
func TestChunkedUpstreamToHTTP10Client(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		return true
	})
	for _, buf := range []string{"on", "off"} {
		t.Run("proxy_buffering "+buf, func(t *testing.T) {
			alog := filepath.Join(t.TempDir(), "access.log")
			conf := strings.NewReplacer("{ALOG}", alog, "{BUF}", buf).Replace(http10Tmpl)
			r := newRig(t, "info", conf, o.addr())
			for _, req := range []string{"GET /a HTTP/1.0\r\n\r\n", "GET /b HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"} {
				c := rawSend(t, r.addr, req, 10*time.Second)
				got, err := io.ReadAll(c) // to the proxy's FIN
				_ = c.Close()
				head, body, _ := bytes.Cut(got, []byte("\r\n\r\n"))
				if err != nil || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 OK\r\n")) || string(body) != "hello world" {
					t.Fatalf("%q: %v, got %q", req, err, got)
				}
				h := strings.ToLower(string(head))
				if strings.Contains(h, "transfer-encoding") || strings.Contains(h, "content-length") || !strings.Contains(h, "\r\nconnection: close") {
					t.Errorf("%q: head %q, want no framing and Connection: close", req, head)
				}
			}
			c := rawSend(t, r.addr, "GET /c HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 10*time.Second)
			got, err := io.ReadAll(c) // to the proxy's FIN
			_ = c.Close()
			head, wire, _ := bytes.Cut(got, []byte("\r\n\r\n"))
			body, cerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(wire)))
			if err != nil || cerr != nil || string(body) != "hello world" || !strings.Contains(strings.ToLower(string(head)), "transfer-encoding: chunked") {
				t.Errorf("HTTP/1.1 client: %q (%v, %v), want chunked", got, err, cerr)
			}
			// The chunked answer's $body_bytes_sent counts its framing, as
			// nginx's c->sent does: the body's bytes on the wire.
			want := `"GET /a HTTP/1.0" 200 11` + "\n" + `"GET /b HTTP/1.0" 200 11` + "\n" + `"GET /c HTTP/1.1" 200 ` + strconv.Itoa(len(wire))
			if got := readAccessLog(t, alog, 3); strings.Join(got, "\n") != want {
				t.Errorf("access log\n%s\nwant\n%s", strings.Join(got, "\n"), want)
			}
			if strings.Contains(r.log(), "[error]") {
				t.Errorf("error log:\n%s", r.log())
			}
		})
	}
}

// An upstream head with bare-LF line ends is accepted as nginx accepts it
// (before, fasthttp's parser waited for a CRLF until the upstream closed),
// the body is framed by the same Content-Length, and the connection is
// reused for the next request. The framing rules hold in that form too: a
// head with both Content-Length and Transfer-Encoding is refused exactly as
// its CRLF twin is.
func TestBareLFUpstreamHead(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		switch line {
		case "GET /lf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\nContent-Length: 2\nX-A: 1\n\nok")
		case "GET /mixed":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\nX-A: 2\r\n\nyes")
		case "GET /smuggle-lf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\nContent-Length: 2\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n")
			return false
		case "GET /smuggle-crlf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
			return false
		}
		return true
	})
	r := newRig(t, "error", keepaliveTmpl, o.addr())
	for _, c := range []struct{ path, body, xa string }{{"/lf", "ok", "1"}, {"/mixed", "yes", "2"}, {"/lf", "ok", "1"}} {
		res := rawDo(t, r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.resp.StatusCode != 200 || string(res.body) != c.body || res.resp.Header.Get("X-A") != c.xa {
			t.Fatalf("%s: %d %q X-A=%q, want 200 %q X-A=%s", c.path, res.resp.StatusCode, res.body, res.resp.Header.Get("X-A"), c.body, c.xa)
		}
		_ = res.conn.Close()
	}
	if got := fmt.Sprint(o.requests()); got != "[[GET /lf GET /mixed GET /lf]]" {
		t.Errorf("upstream connections saw %s, want one connection for the three", got)
	}
	var logs []string
	for _, p := range []string{"/smuggle-lf", "/smuggle-crlf"} {
		before := len(r.log())
		res := rawDo(t, r.addr, "GET "+p+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.resp.StatusCode != 502 {
			t.Errorf("%s: %d %q, want 502", p, res.resp.StatusCode, res.body)
		}
		l := r.log()[before:]
		_, l, _ = strings.Cut(l, "[error] ")
		_, l, _ = strings.Cut(l, " ") // pid#tid
		_, l, _ = strings.Cut(l, " ") // *N
		l, _, _ = strings.Cut(l, ", client:")
		logs = append(logs, l)
	}
	if logs[0] != logs[1] || logs[0] == "" {
		t.Errorf("bare-LF and CRLF smuggling heads logged differently:\n%s\n%s", logs[0], logs[1])
	}
}

// FastCGI's HTTPS parameter is nginx's `$https if_not_empty` (the stock
// fastcgi params): "on" for a request on an ssl address, absent on a plain
// one. Before, $https was always empty and PHP never saw HTTPS.
func TestFastCGIHTTPSOnTLSListener(t *testing.T) {
	php := phpfpm.Start(t, phpfpm.Options{Scripts: map[string]string{
		"https.php": `<?php echo array_key_exists('HTTPS', $_SERVER) ? "HTTPS=" . $_SERVER['HTTPS'] : "no HTTPS";`,
	}})
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	crt, key := ca.leaf(t, "localhost").files(t, dir, "l")
	r := fcgiRig(t, fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_body_temp_path: {TMP}/client
  fastcgi_temp_path: {TMP}/fastcgi
  fastcgi_read_timeout: 20s
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations: [{path: "~ \\.php$", fastcgi_pass: "%[3]s", root: "%[4]s"}]
    - listen: ["127.0.0.2:0 ssl"]
      server_name: [localhost]
      ssl_certificate: %[1]s
      ssl_certificate_key: %[2]s
      locations: [{path: "~ \\.php$", fastcgi_pass: "%[3]s", root: "%[4]s"}]
`, crt, key, php.Addr, php.Root))
	var plain, secure string
	for _, a := range r.p.Addrs() {
		if strings.HasPrefix(a, "127.0.0.2:") {
			secure = a
		} else {
			plain = a
		}
	}
	res := rawDo(t, plain, "GET /https.php HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if res.resp.StatusCode != 200 || string(res.body) != "no HTTPS" {
		t.Errorf("plain: %d %q, want 200 \"no HTTPS\"", res.resp.StatusCode, res.body)
	}
	c, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "localhost", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if status, body := roundTrip(t, c, "/https.php"); status != 200 || body != "HTTPS=on" {
		t.Errorf("ssl: %d %q, want 200 \"HTTPS=on\"", status, body)
	}
}

// A reload retires the old configuration, whose idle keepalive connections
// nginx closes at once: a client that sends its next request just then
// loses it (the idle-close race of a reload storm). spillway keeps them for
// a grace and answers a request on one with "Connection: close", so the
// client reconnects between two requests, where nothing can race.
func TestReloadAnswersOnIdleOldConnection(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	dir := t.TempDir()
	yaml := strings.NewReplacer("{U0}", o.addr(), "{TMP}", dir).Replace(keepaliveTmpl)
	r := newRig(t, "error", yaml, o.addr())
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	ask := func() (*http.Response, error) {
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
		}
		return resp, err
	}
	if resp, err := ask(); err != nil || resp.Close {
		t.Fatalf("before the reload: %v, close %v", err, resp != nil && resp.Close)
	}
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// The new configuration serves new connections...
	if res := rawDo(t, r.addr, "GET /new HTTP/1.1\r\nHost: localhost\r\n\r\n"); res.resp.StatusCode != 200 {
		t.Fatalf("new connection after the reload: %d", res.resp.StatusCode)
	}
	// ...and the old, idle one still answers, telling the client to go.
	resp, err := ask()
	if err != nil {
		t.Fatalf("the next request on the idle connection of the old configuration: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("old connection: %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v, want the proxy's FIN", err)
	}
}

// A chunked body with broken framing is nginx's "upstream sent invalid
// chunked response" (measured with nginx 1.22.1, proxy_buffering on).
// Before, the line read "readv() failed": fasthttp's chunk errors (a value
// ErrBrokenChunk, unexported sentinels) were never recognised.
func TestBrokenChunkedBodyLogged(t *testing.T) {
	bodies := map[string]string{
		"/hex":  "5\r\nhello\r\nzz\r\n",
		"/crlf": "5\r\nhello\r\n0\r\r\n\r\n",
		"/ext":  "5_\r\nhello\r\n0\r\n\r\n",
	}
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+bodies[strings.TrimPrefix(line, "GET ")])
		return false
	})
	r := newRig(t, "error", keepaliveTmpl, o.addr())
	for _, p := range []string{"/hex", "/crlf", "/ext"} {
		before := len(r.log())
		c := rawSend(t, r.addr, "GET "+p+" HTTP/1.1\r\nHost: localhost\r\n\r\n", 10*time.Second)
		_, _ = io.ReadAll(c) // to the proxy's close
		_ = c.Close()
		var l string
		testutil.Eventually(t, "the error line", 5*time.Second, func() bool { l = r.log()[before:]; return strings.Contains(l, "[error]") })
		want := `upstream sent invalid chunked response while reading upstream, client: 127.0.0.1, server: localhost, request: "GET ` + p + ` HTTP/1.1", upstream: "http://U0` + p + `", host: "localhost"`
		if !strings.Contains(l, want) {
			t.Errorf("%s: error log\n%s\nwant the line\n%s", p, l, want)
		}
	}
}

// A chunked body whose lines end in a bare LF is taken as nginx takes it
// (before, fasthttp's reader refused it and the client got the head and a
// cut body); trailers are dropped, and the connection is reused after it,
// so exactly the body was read.
func TestBareLFChunkedBody(t *testing.T) {
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		switch line {
		case "GET /lf":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n6 ext\n world\n0\n\n")
		case "GET /trailer":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
		}
		return true
	})
	for _, buf := range []string{"on", "off"} {
		t.Run("proxy_buffering "+buf, func(t *testing.T) {
			before := len(o.requests())
			r := newRig(t, "error", strings.Replace(keepaliveTmpl, "  proxy_http_version", "  proxy_buffering: "+buf+"\n  proxy_http_version", 1), o.addr())
			for _, c := range []struct{ path, body string }{{"/lf", "hello world"}, {"/trailer", "hello"}, {"/lf", "hello world"}} {
				res := rawDo(t, r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
				_ = res.conn.Close()
				if res.resp.StatusCode != 200 || string(res.body) != c.body || res.bodyErr != nil {
					t.Fatalf("%s: %d %q %v, want 200 %q", c.path, res.resp.StatusCode, res.body, res.bodyErr, c.body)
				}
			}
			if got := o.requests()[before:]; fmt.Sprint(got) != "[[GET /lf GET /trailer GET /lf]]" {
				t.Errorf("upstream connections %s, want one for the three", got)
			}
			if l := r.log(); strings.Contains(l, "[error]") {
				t.Errorf("error log:\n%s", l)
			}
		})
	}
}

// A client that closes during a 101 relay ends it at once, as nginx's
// EPOLLRDHUP does: the info line, 499, and the upstream connection closed,
// long before proxy_read_timeout.
func TestSwitchedClientCloses(t *testing.T) {
	closed := make(chan struct{})
	o := newScriptOrigin(t, func(line string, c net.Conn, br *bufio.Reader) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(c, br) // until the proxy closes
		close(closed)
		return false
	})
	r := newAccessRig(t, "info", strings.NewReplacer("proxy_read_timeout: 1s", "proxy_read_timeout: 60s").Replace(switchTmpl), false, o.addr())
	c := rawSend(t, r.addr, "GET /switch HTTP/1.1\r\nHost: localhost\r\n\r\n", 10*time.Second)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	_ = c.Close()
	testutil.Eventually(t, "the upstream connection closed after the client left", 10*time.Second, func() bool {
		select {
		case <-closed:
			return true
		default:
			return false
		}
	})
	if got := readAccessLog(t, r.alog, 1); got[0] != `"GET /switch HTTP/1.1" 499 0` {
		t.Errorf("access log %q", got)
	}
	want := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /switch HTTP/1.1", upstream: "http://U0/switch", host: "localhost"`
	if !strings.Contains(r.log(), want) {
		t.Errorf("error log lacks\n%s\n%s", want, r.log())
	}
}
