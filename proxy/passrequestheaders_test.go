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

// Two User-Agent (or Content-Type) lines: nginx forwards both and its
// variables ($http_user_agent, $content_type) have the first; fasthttp
// keeps the last of such a pair, which the connection loop's head scan
// notes and undoes (client.HeadLF.FirstOfTwo). Measured with nginx 1.22.1;
// difftest's repeated-user-agent scenario compares the variables.
func TestRepeatedUserAgentFirstInVariables(t *testing.T) {
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
      locations:
        - path: /
          proxy_pass: "http://{U0}"
          proxy_set_header: {X-UA: $http_user_agent, X-CT: $content_type, Host: $host}
          add_header: ["X-UA $http_user_agent", "X-CT $content_type"]
`, o.ln.Addr().String())
	for _, c := range []struct{ name, lines, ua, ct string }{
		{"two of each", "User-Agent: first\r\nContent-Type: a/1\r\nuser-agent:  second \r\nCONTENT-TYPE: b/2\r\n", "first", "a/1"},
		{"one of each", "User-Agent: only\r\nContent-Type: a/1\r\n", "only", "a/1"},
		{"three, bare LFs", "User-Agent: 1\nUser-Agent: 2\nUser-Agent: 3\n", "1", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := rawDo(t, r.addr, "GET /"+strings.ReplaceAll(c.name, " ", "-")+" HTTP/1.1\r\nHost: localhost\r\n"+c.lines+"Connection: close\r\n\r\n")
			if res.resp.StatusCode != 200 || res.resp.Header.Get("X-UA") != c.ua || res.resp.Header.Get("X-CT") != c.ct {
				t.Errorf("status %d, X-UA %q, X-CT %q; want 200, %q, %q", res.resp.StatusCode, res.resp.Header.Get("X-UA"), res.resp.Header.Get("X-CT"), c.ua, c.ct)
			}
		})
	}
	var sent string
	for _, c := range o.received() {
		if strings.HasPrefix(string(c), "GET /two-of-each ") {
			sent = string(c)
		}
	}
	// Both lines of each go to the upstream, as sent, in order.
	if !strings.Contains(sent, "X-UA: first\r\nX-CT: a/1\r\n") ||
		!strings.Contains(sent, "User-Agent: first\r\nContent-Type: a/1\r\nuser-agent: second\r\nCONTENT-TYPE: b/2\r\n") {
		t.Errorf("the upstream got\n%q", sent)
	}
}
