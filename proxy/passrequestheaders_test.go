package proxy_test

import (
	"strings"
	"testing"
)

// proxy_pass_request_headers off sends none of the client's headers, only
// proxy_set_header's (nginx's Host and Connection by default) and the
// body's Content-Length, as nginx (nginx-tests' proxy_pass_request.t).
func TestProxyPassRequestHeadersOff(t *testing.T) {
	o := newRecordingOrigin(t)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      proxy_pass_request_headers: off
      locations:
        - {path: /off, proxy_pass: "http://{U0}", proxy_set_header: {X-Set: "1"}}
        - {path: /on, proxy_pass: "http://{U0}", proxy_pass_request_headers: on}
`, o.ln.Addr().String())
	for _, path := range []string{"/off", "/on"} {
		if code, _ := r.doH("POST", path, []byte("bar"), map[string]string{"X-Header": "foo"}); code.StatusCode != 200 {
			t.Fatalf("POST %s: %d", path, code.StatusCode)
		}
	}
	var off, on string
	for _, c := range o.received() {
		switch {
		case strings.HasPrefix(string(c), "POST /off "):
			off = string(c)
		case strings.HasPrefix(string(c), "POST /on "):
			on = string(c)
		}
	}
	if strings.Contains(off, "X-Header") || strings.Contains(off, "User-Agent") || !strings.Contains(off, "X-Set: 1\r\n") ||
		!strings.Contains(off, "Content-Length: 3\r\n") || !strings.HasSuffix(off, "\r\n\r\nbar") {
		t.Errorf("off: the upstream got\n%q", off)
	}
	if !strings.Contains(on, "X-Header: foo\r\n") {
		t.Errorf("on: the upstream got\n%q", on)
	}
}
