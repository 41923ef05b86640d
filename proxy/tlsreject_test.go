package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// ssl_reject_handshake on in the default server of an ssl address: a
// handshake without SNI, or with a name no server has, is refused with the
// unrecognized_name alert and nginx's info line; a name of another server
// gets that server's certificate. The rejecting server needs none.
func TestSSLRejectHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	vc, vk := ca.leaf(t, "virtual").files(t, dir, "v")
	r := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_reject_handshake: on
      locations: [{path: /, return: "200 default\n"}]
    - listen: ["127.0.0.1:0"]
      server_name: [virtual]
      ssl_certificate: %s
      ssl_certificate_key: %s
      locations: [{path: /, return: "200 virtual $ssl_server_name\n"}]
`, vc, vk))
	for _, sni := range []string{"", "other.test"} {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Errorf("SNI %q: handshake accepted, want unrecognized_name", sni)
		} else if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("SNI %q: %v, want the unrecognized_name alert", sni, err)
		}
	}
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "virtual", RootCAs: ca.pool()})
	if err != nil {
		t.Fatalf("SNI virtual: %v", err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: virtual\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "virtual virtual\n" {
		t.Errorf("SNI virtual: %d %q", resp.StatusCode, body)
	}
	want := "[info] 4242#4242: *1 handshake rejected while SSL handshaking, client: 127.0.0.1, server: PROXY"
	// the client has the alert before the line is written
	testutil.Eventually(t, "two handshake rejected lines like "+want, 10*time.Second, func() bool {
		l := r.log()
		return strings.Contains(l, want) && strings.Count(l, "handshake rejected") == 2
	})
}
