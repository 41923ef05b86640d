package proxy_test

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	bench "spillway/bench/upstreamsim"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/internal/testcert"
)

// passOrigin answers every request with its target and Host header. The
// test stops it.
func passOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "uri=%s host=%s", r.RequestURI, r.Host)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// dnsServer is a tiny authoritative DNS server on 127.0.0.1 (UDP): names
// in a answer with their A records, "fail.test." with SERVFAIL, others with
// NXDOMAIN. It counts the questions per name. The test stops it.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	asks map[string]int
}

func startDNS(t *testing.T, a map[string][]string) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{addr: pc.LocalAddr().String(), asks: map[string]int{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			name := q.Question[0].Name
			d.mu.Lock()
			d.asks[name]++
			d.mu.Unlock()
			switch {
			case name == "fail.test.":
				m.Rcode = dns.RcodeServerFailure
			case name == "alias.test.": // a CNAME alone: the resolver asks for its target
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: "app.test."})
			case a[name] == nil:
				m.Rcode = dns.RcodeNameError
			case q.Question[0].Qtype == dns.TypeA:
				for _, ip := range a[name] {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(ip)})
				}
			}
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *dnsServer) asked(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asks[name]
}

// proxy_pass with variables, as nginx 1.22: an upstream block by name, an
// address, the URI part as evaluated, $proxy_host as Host, and nginx's
// 500 and 502 with their error lines.
func TestPassVariables(t *testing.T) {
	origin := passOrigin(t)
	_, port, _ := net.SplitHostPort(origin)
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    app: {servers: [{address: "{U0}"}]}
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /u/
          proxy_pass: http://$arg_up
        - path: /p/
          rewrite: [{set: $port `+port+`}]
          proxy_pass: http://127.0.0.1:$port/x$uri
        - path: /q/
          rewrite: [{set: $port `+port+`}]
          proxy_pass: http://127.0.0.1:$port/only?a=$arg_a
        - path: "~ ^/re/(.*)$"
          proxy_pass: http://app/captured/$1
        - path: /s/
          proxy_pass: $arg_s://app
`, origin)
	for _, tc := range []struct{ path, want string }{
		{"/u/x?up=app", "uri=/u/x?up=app host=app"},                        // the upstream block, no URI part: $request_uri
		{"/u/x?up=APP", "uri=/u/x?up=APP host=APP"},                        // named in any case
		{"/u/x?up=" + origin, "uri=/u/x?up=" + origin + " host=" + origin}, // an address
		{"/p/a%41b?k=v", "uri=/x/p/aAb host=127.0.0.1:" + port},            // as evaluated: decoded $uri, no $args
		{"/q/z?a=1&b=2", "uri=/only?a=1 host=127.0.0.1:" + port},
		{"/re/y/z", "uri=/captured/y/z host=app"},
		{"/s/?s=http", "uri=/s/?s=http host=app"},
	} {
		code, body := r.do("GET", tc.path, nil)
		if code != 200 || string(body) != tc.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	for _, tc := range []struct {
		path string
		code int
		line string
	}{
		{"/s/?s=ftp", 500, `[error] 4242#4242: *N invalid URL prefix in "ftp://app", client: 127.0.0.1, server: , request: "GET /s/?s=ftp HTTP/1.1", host: "PROXY"`},
		{"/u/?up=nosuch.test", 502, `[error] 4242#4242: *N no resolver defined to resolve nosuch.test, client: 127.0.0.1, server: , request: "GET /u/?up=nosuch.test HTTP/1.1", host: "PROXY"`},
		{"/u/?up=h:0", 500, `[error] 4242#4242: *N invalid port in upstream "h:0", client: 127.0.0.1, server: , request: "GET /u/?up=h:0 HTTP/1.1", host: "PROXY"`},
		{"/u/?up=", 500, `[error] 4242#4242: *N invalid URL prefix in "http://", client: 127.0.0.1, server: , request: "GET /u/?up= HTTP/1.1", host: "PROXY"`},
		{"/u/?up=unix:", 500, `[error] 4242#4242: *N no path in the unix domain socket in upstream "unix:", client: 127.0.0.1, server: , request: "GET /u/?up=unix: HTTP/1.1", host: "PROXY"`},
	} {
		if code, _ := r.do("GET", tc.path, nil); code != tc.code {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.code)
		}
		if !strings.Contains(connless(r.log()), tc.line) {
			t.Errorf("GET %s: the error log lacks\n%s\n%s", tc.path, tc.line, r.log())
		}
	}
}

// A name that is neither an upstream nor an address goes to the
// location's resolver: its A records, kept for their TTL, and nginx's 502
// lines for a name it does not know and a server that fails.
func TestPassVariablesResolver(t *testing.T) {
	origin := passOrigin(t)
	_, port, _ := net.SplitHostPort(origin)
	d := startDNS(t, map[string][]string{"app.test.": {"127.0.0.1"}})
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  resolver: ["`+d.addr+`", ipv6=off]
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          proxy_pass: http://$arg_h:`+port+`
`)
	for i := 0; i < 3; i++ {
		code, body := r.do("GET", "/x?h=app.test", nil)
		if want := "uri=/x?h=app.test host=app.test:" + port; code != 200 || string(body) != want {
			t.Fatalf("GET /x?h=app.test: %d %q, want 200 %q", code, body, want)
		}
	}
	code, body := r.do("GET", "/y?h=alias.test", nil)
	if want := "uri=/y?h=alias.test host=alias.test:" + port; code != 200 || string(body) != want {
		t.Errorf("GET /y?h=alias.test (a CNAME to app.test): %d %q, want 200 %q", code, body, want)
	}
	if n := d.asked("app.test."); n != 2 {
		t.Errorf("the DNS server was asked %d times for app.test, want 2: once for 3 requests (the answer is kept for its TTL), once as alias.test's CNAME target", n)
	}
	for _, tc := range []struct{ host, line string }{
		{"gone.test", `[error] 4242#4242: *N gone.test could not be resolved (3: Host not found), client: 127.0.0.1, server: , request: "GET /?h=gone.test HTTP/1.1", host: "PROXY"`},
		{"fail.test", `[error] 4242#4242: *N fail.test could not be resolved (2: Server failure), client: 127.0.0.1, server: , request: "GET /?h=fail.test HTTP/1.1", host: "PROXY"`},
	} {
		if code, _ := r.do("GET", "/?h="+tc.host, nil); code != 502 {
			t.Errorf("GET /?h=%s: %d, want 502", tc.host, code)
		}
		if !strings.Contains(connless(r.log()), tc.line) {
			t.Errorf("the error log lacks\n%s\n%s", tc.line, r.log())
		}
	}
}

// A resolver whose port refuses the query: nginx's recv() line, then the
// request's 502 when resolver_timeout passes.
func TestPassVariablesResolverRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close() // nothing listens there now: the query is refused (ICMP port unreachable)
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  resolver: ["`+dead+`"]
  resolver_timeout: 1s
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          proxy_pass: http://$arg_h
`)
	if code, _ := r.do("GET", "/?h=app.test", nil); code != 502 {
		t.Errorf("GET: %d, want 502", code)
	}
	log := connless(r.log())
	for _, line := range []string{
		"[error] 4242#4242: recv() failed (111: Connection refused) while resolving, resolver: " + dead + "\n",
		`[error] 4242#4242: *N app.test could not be resolved (110: Operation timed out), client: 127.0.0.1, server: , request: "GET /?h=app.test HTTP/1.1", host: "PROXY"`,
	} {
		if !strings.Contains(log, line) {
			t.Errorf("the error log lacks\n%s\n%s", line, log)
		}
	}
}

var reConn = regexp.MustCompile(`: \*\d+ `)

// connless writes every connection number of log as *N.
func connless(log string) string { return reConn.ReplaceAllString(log, ": *N ") }

// An auth_request whose location has a proxy_pass with variables is
// refused at load: spillway's subrequests do not evaluate it.
func TestPassVariablesAuthRequestRefused(t *testing.T) {
	cfg, err := config.LoadBytes("proxy.yaml", []byte(`
error_log: {path: stderr}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - {path: /, proxy_pass: "http://127.0.0.1:9", auth_request: /auth}
        - {path: /auth, proxy_pass: "http://$arg_h", internal: on}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = proxy.New(cfg, proxy.Options{})
	if want := `location "/auth" has proxy_pass with variables`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("proxy.New: %v, want an error with %q", err, want)
	}
}

// fastcgi_pass and uwsgi_pass with variables: an address as evaluated
// (uwsgi's with its uwsgi:// prefix), and nginx's 500 for a host without a
// port, which these schemes have no default for.
func TestPassVariablesFastCGIUwsgi(t *testing.T) {
	fcgi := fakeFastCGI(t, bytes.Join([][]byte{stdout("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfcgi"), stdout(""), endRequest()}, nil))
	uw := startFakeUwsgi(t, func(uwsgiPacket) string { return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nuwsgi" })
	r := uwsgiRig(t, `
error_log: {path: stderr, level: info}
http:
  access_log: off
  client_body_temp_path: {TMP}/client
  servers:
    - listen: 127.0.0.1:0
      locations:
        - path: /f/
          fastcgi_pass: $arg_a
          fastcgi_temp_path: {TMP}/client
        - path: /u/
          uwsgi_pass: uwsgi://$arg_a
          uwsgi_temp_path: {TMP}/uwsgi
`)
	for _, tc := range []struct{ path, want string }{{"/f/x?a=" + fcgi, "fcgi"}, {"/u/x?a=" + uw.addr, "uwsgi"}} {
		if code, body := r.do("GET", tc.path, nil); code != 200 || string(body) != tc.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
		}
	}
	if code, _ := r.do("GET", "/f/x?a=php", nil); code != 500 {
		t.Errorf("GET /f/x?a=php: %d, want 500", code)
	}
	if line := `[error] 4242#4242: *N no port in upstream "php", client: 127.0.0.1`; !strings.Contains(connless(r.log()), line) {
		t.Errorf("the error log lacks\n%s\n%s", line, r.log())
	}
}

// https:// with variables: the certificate is checked against the
// evaluated host, proxy_ssl_name's default ($proxy_host without its port).
func TestPassVariablesHTTPSName(t *testing.T) {
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(time.Hour)
	root, rootKey := testcert.Make(t, "root", nil, nil, true, nb, na)
	leaf, key := testcert.Make(t, "app.test", root, rootKey, false, nb, na)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "tls ok") }))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDNS(t, map[string][]string{"app.test.": {"127.0.0.1"}, "other.test.": {"127.0.0.1"}})
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  resolver: ["`+d.addr+`", ipv6=off]
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          proxy_pass: https://$arg_h:`+port+`
          proxy_ssl_verify: on
          proxy_ssl_trusted_certificate: `+caFile+`
`)
	if code, body := r.do("GET", "/?h=app.test", nil); code != 200 || string(body) != "tls ok" {
		t.Errorf("GET /?h=app.test: %d %q, want 200 (the certificate is app.test's)\n%s", code, body, r.log())
	}
	if code, _ := r.do("GET", "/?h=other.test", nil); code != 502 {
		t.Errorf("GET /?h=other.test: %d, want 502 (the certificate is not other.test's)", code)
	}
}

// Requests through a proxy_pass with variables are counted per server like
// the others: a server the resolver answered under the name resolved, an
// address under the address, a failure by its kind, and a configured
// upstream's server in its one series.
func TestPassVariablesMetrics(t *testing.T) {
	origin := passOrigin(t)
	_, port, _ := net.SplitHostPort(origin)
	refused := bench.RefusedAddr(t)
	d := startDNS(t, map[string][]string{"app.test.": {"127.0.0.1"}})
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
metrics: {listen: "127.0.0.1:0"}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  resolver: ["`+d.addr+`", ipv6=off]
  upstreams:
    app: {servers: [{address: "{U0}"}]}
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - path: /
          proxy_pass: http://$arg_h
`, origin)
	for _, tc := range []struct {
		h    string
		code int
	}{{"app.test:" + port, 200}, {"app.test:" + port, 200}, {origin, 200}, {refused, 502}, {"app", 200}} {
		if code, _ := r.do("GET", "/x?h="+tc.h, nil); code != tc.code {
			t.Fatalf("GET /x?h=%s: %d, want %d", tc.h, code, tc.code)
		}
	}
	m := scrape(t, r.p.MetricsAddr())
	for series, want := range map[string]float64{
		`spillway_upstream_attempts_total{upstream="app.test",server="` + origin + `"}`:         2,
		`spillway_upstream_attempts_total{upstream="` + origin + `",server="` + origin + `"}`:   1,
		`spillway_upstream_attempts_total{upstream="` + refused + `",server="` + refused + `"}`: 1,
		`spillway_upstream_attempts_total{upstream="app",server="` + origin + `"}`:              1,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	if n := sumOf(m, "spillway_upstream_failures_total", `upstream="`+refused+`"`, `kind="refused"`); n != 1 {
		t.Errorf("failures of %s: %v, want 1 (refused)", refused, n)
	}
	if n := sumOf(m, "spillway_upstream_header_duration_seconds_count", `upstream="app.test"`); n != 2 {
		t.Errorf("header times of app.test: %v, want 2", n)
	}
}
