package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Inside TLS too, a head whose lines end in a bare LF is answered (nginx
// does), and so is a second one on the kept-alive connection.
func TestBareLFOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	crt, key := ca.leaf(t, "a.test").files(t, dir, "a")
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
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, crt, key), plainOrigin(t, "A"))
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "a.test", RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // a bound, not a synchronisation
	br := bufio.NewReader(c)
	for _, path := range []string{"/lf", "/again"} {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\nHost: a.test\n\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a bare-LF head for %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "A "+path || resp.Close {
			t.Errorf("got %d %q (close %v), want 200 %q and the connection kept", resp.StatusCode, body, resp.Close, "A "+path)
		}
	}
}
