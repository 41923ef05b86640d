package proxy_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	bench "spillway/bench/upstreamsim"
)

// realIPYAML has one server per realip setup, each answering with the
// addresses it sees (return), and a proxied location whose allow/deny and
// error log see the real client.
const realIPYAML = `
error_log: {path: stderr, level: info}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [xff]
      set_real_ip_from: [127.0.0.0/8, 10.0.0.0/8]
      real_ip_header: X-Forwarded-For
      real_ip_recursive: on
      locations:
        - {path: /, return: "200 $remote_addr|$remote_port|$realip_remote_addr|$proxy_protocol_addr\n"}
        - path: /guarded/
          proxy_pass: http://{U0}
          access: [deny 203.0.113.0/24, allow all]
    - listen: ["127.0.0.1:0"]
      server_name: [xrealip]
      set_real_ip_from: [127.0.0.1]
      locations:
        - {path: /, return: "200 $remote_addr|$remote_port\n"}
    - listen: ["127.0.0.1:0"]
      server_name: [untrusted]
      set_real_ip_from: [192.0.2.0/24]
      real_ip_header: X-Forwarded-For
      locations:
        - {path: /, return: "200 $remote_addr\n"}
`

// The realip module as nginx 1.22 answered the same requests (measured:
// recursive X-Forwarded-For skips trusted addresses, takes the last one
// when all are, stops at a bad one; X-Real-IP takes the last element with
// its port; an untrusted connection keeps its own address), and allow/deny
// and the error log's "client:" see the real client.
func TestRealIP(t *testing.T) {
	u := upstream(t, bench.OK())
	r := newRig(t, "error", realIPYAML, u.Addr())
	for _, c := range []struct {
		host, path, header, want string
	}{
		{"xff", "/", "X-Forwarded-For: 203.0.113.7, 10.1.1.1", "203.0.113.7||127.0.0.1|"},
		{"xff", "/", "X-Forwarded-For: 203.0.113.7:99, 10.1.1.1", "203.0.113.7|99|127.0.0.1|"},
		{"xff", "/", "X-Forwarded-For: junk, 10.1.1.1", "10.1.1.1||127.0.0.1|"},
		{"xff", "/", "X-Forwarded-For: 10.2.2.2, 10.1.1.1", "10.2.2.2||127.0.0.1|"},
		{"xff", "/", "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 10.1.1.1", "2.2.2.2||127.0.0.1|"},
		{"xrealip", "/", "X-Real-IP: 198.51.100.9", "198.51.100.9|"},
		{"xrealip", "/", "X-Real-IP: 198.51.100.9, 198.51.100.10", "198.51.100.10|"},
		{"xrealip", "/", "X-Real-IP: [2001:db8::1]:80", "2001:db8::1|80"},
		{"untrusted", "/", "X-Forwarded-For: 203.0.113.7", "127.0.0.1"},
	} {
		body := string(rawExchange(t, r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: "+c.host+"\r\n"+c.header+"\r\nConnection: close\r\n\r\n"))
		_, got, _ := strings.Cut(body, "\r\n\r\n")
		if got != c.want+"\n" {
			t.Errorf("%s %s: %q, want %q", c.host, c.header, got, c.want+"\n")
		}
	}
	resp := string(rawExchange(t, r.addr, "GET /guarded/x HTTP/1.1\r\nHost: xff\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n"))
	if !strings.HasPrefix(resp, "HTTP/1.1 403") {
		t.Errorf("deny 203.0.113.0/24 behind a trusted proxy: %q", resp)
	}
	if l := r.log(); !strings.Contains(l, `[error] 4242#4242: *10 access forbidden by rule, client: 203.0.113.7, server: xff, request: "GET /guarded/x HTTP/1.1", host: "xff"`) {
		t.Errorf("error log:\n%s", l)
	}
}

// "listen ... proxy_protocol": v1 and v2 headers fill $proxy_protocol_addr
// and, with real_ip_header proxy_protocol, the client address; a
// connection without a valid header gets nginx's "broken header" line and
// is closed without an answer.
func TestProxyProtocol(t *testing.T) {
	r := newRig(t, "error", `
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 proxy_protocol"]
      server_name: [pp]
      locations:
        - {path: /, return: "200 $remote_addr|$proxy_protocol_addr|$proxy_protocol_port\n"}
        - {path: /server, return: "200 $proxy_protocol_server_addr|$proxy_protocol_server_port|$proxy_protocol_tlv_authority|$proxy_protocol_tlv_0x2|$proxy_protocol_tlv_ssl_cn\n"}
    - listen: ["127.0.0.1:0 proxy_protocol"]
      server_name: [ppreal]
      set_real_ip_from: [127.0.0.1]
      real_ip_header: proxy_protocol
      locations:
        - {path: /, return: "200 $remote_addr|$remote_port|$realip_remote_addr\n"}
`)
	v2 := func(src string) string {
		h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP(src), Port: 4444}, &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 80})
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v2TLV := func(tlvs ...proxyproto.TLV) string {
		h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4444}, &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 8443})
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ssl := proxyproto.TLV{Type: proxyproto.PP2_TYPE_SSL, Value: append([]byte{1, 0, 0, 0, 0}, 0x22, 0, 11)}
	ssl.Value = append(ssl.Value, "example.com"...)
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	for _, c := range []struct {
		server string
		head   string
		want   string
	}{
		{"pp/server", "PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n", "192.0.2.2|80|||"},
		{"pp/server", "PROXY UNKNOWN\r\n", "||||"},
		{"pp/server", v2TLV(proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("www.example.com")}, ssl),
			"192.0.2.2|8443|www.example.com|www.example.com|example.com"},
		{"pp", "PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n", "127.0.0.1|192.0.2.1|5555"},
		{"pp", "PROXY UNKNOWN\r\n", "127.0.0.1||"},
		{"pp", v2("2001:db8::7"), "127.0.0.1|2001:db8::7|4444"},
		{"ppreal", "PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n", "192.0.2.1|5555|127.0.0.1"},
		{"ppreal", v2("198.51.100.3"), "198.51.100.3|4444|127.0.0.1"},
	} {
		host, path, _ := strings.Cut(c.server, "/")
		body := string(rawExchange(t, r.addr, c.head+strings.Replace(strings.Replace(req, "Host: x", "Host: "+host, 1), "GET /", "GET /"+path, 1)))
		if _, got, _ := strings.Cut(body, "\r\n\r\n"); got != c.want+"\n" {
			t.Errorf("%q: %q, want %q", c.head, body, c.want+"\n")
		}
	}
	if got := rawExchange(t, r.addr, "GET / HTTP/1.0\r\n\r\n"); len(got) != 0 {
		t.Errorf("no PROXY header: answered %q, want a close", got)
	}
	// nginx writes the CR and LF raw; spillway's log keeps each entry on
	// one line (README, Differences)
	want := `[error] 4242#4242: *9 broken header: "GET / HTTP/1.0\x0d\x0a\x0d\x0a" while reading PROXY protocol, client: 127.0.0.1, server: PROXY`
	if l := r.log(); !strings.Contains(l, want) {
		t.Errorf("error log:\n%q\nwant a line with\n%q", l, want)
	}
}

// "listen ... ssl proxy_protocol": the PROXY header comes before the TLS
// handshake (HAProxy's send-proxy in front of a TLS server), also when the
// ClientHello arrives in the same packet as the header.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cert, key := ca.leaf(t, "a.test").files(t, dir, "a")
	r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl proxy_protocol"]
      server_name: [a.test]
      ssl_certificate: %s
      ssl_certificate_key: %s
      set_real_ip_from: [127.0.0.1]
      real_ip_header: proxy_protocol
      locations:
        - {path: /, return: "200 $remote_addr|$proxy_protocol_addr|$scheme\n"}
`, cert, key))
	raw, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The header and the ClientHello in one write: tls.Client writes the
	// hello through this conn, which puts the header in front of it.
	c := tls.Client(&prefixConn{Conn: raw, prefix: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 5555 443\r\n")},
		&tls.Config{ServerName: "a.test", RootCAs: ca.pool()})
	code, body := roundTrip(t, c, "/")
	if code != 200 || body != "192.0.2.1|192.0.2.1|https\n" {
		t.Errorf("GET /: %d %q", code, body)
	}
	if l := r.elog.String(); l != "" {
		t.Errorf("error log:\n%s", l)
	}
}

// prefixConn writes prefix in front of the first Write.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Write(b []byte) (int, error) {
	if p.prefix != nil {
		buf := append(p.prefix, b...)
		p.prefix = nil
		if _, err := p.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return p.Conn.Write(b)
}
