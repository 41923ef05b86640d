package proxy_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// proxy_ssl_verify_depth (default 1, as nginx): an upstream chain with more
// intermediate CAs than the depth is nginx's "(22:certificate chain too
// long)" and 502; within it, it is served.
func TestTLSUpstreamVerifyDepth(t *testing.T) {
	dir := t.TempDir()
	root := (*testCA)(nil).intermediate(t, "Root CA")
	int1 := root.intermediate(t, "Int 1")
	int2 := int1.intermediate(t, "Int 2")
	one := int1.leaf(t, "localhost").pair // leaf, int1: one intermediate
	one.Certificate = append(one.Certificate, int1.cert.Raw)
	two := int2.leaf(t, "localhost").pair // leaf, int2, int1: two
	two.Certificate = append(two.Certificate, int2.cert.Raw, int1.cert.Raw)
	o1, o2 := newTLSOrigin(t, "one", one), newTLSOrigin(t, "two", two)
	r := newRig(t, "error", fmt.Sprintf(`
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  proxy_ssl_verify: on
  proxy_ssl_trusted_certificate: %s
  proxy_ssl_name: localhost
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /one, proxy_pass: "https://{U0}"}
        - {path: /two, proxy_pass: "https://{U1}"}
        - {path: /two-depth2, proxy_pass: "https://{U1}", proxy_ssl_verify_depth: 2}
        - {path: /one-depth0, proxy_pass: "https://{U0}", proxy_ssl_verify_depth: 0}
`, writeFile(t, filepath.Join(dir, "root.pem"), root.pem)), o1.addr(), o2.addr())
	for _, c := range []struct {
		path   string
		status int
	}{{"/one", 200}, {"/two", 502}, {"/two-depth2", 200}, {"/one-depth0", 502}} {
		if status, _ := r.do("GET", c.path, nil); status != c.status {
			t.Errorf("%s: %d, want %d", c.path, status, c.status)
		}
	}
	if l := r.log(); strings.Count(l, "upstream SSL certificate verify error: (22:certificate chain too long) while SSL handshaking to upstream") != 2 {
		t.Errorf("error log:\n%s", l)
	}
}
