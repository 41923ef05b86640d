package proxy_test

import (
	"strings"
	"testing"
)

// proxy_set_body as nginx (nginx-tests' proxy_set_body.t): the upstream
// gets the value, with variables, and its length as the one
// Content-Length, in place of the client's body, which is read and not
// sent.
func TestProxySetBody(t *testing.T) {
	addr, got := rawUpstream(t, false)
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
        - {path: /, proxy_pass: "http://{U0}", proxy_set_body: "b=$arg_b m=$request_method"}
`, addr)
	if code, body := r.do("POST", "/x?b=set", []byte("the client's own body")); code != 200 || string(body) != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	req := <-got
	head, body, _ := strings.Cut(req, "\r\n\r\n")
	if body != "b=set m=POST" {
		t.Errorf("upstream body %q, want proxy_set_body's %q", body, "b=set m=POST")
	}
	if n := strings.Count(strings.ToLower(head), "content-length:"); n != 1 || !strings.Contains(head, "\r\nContent-Length: 12") {
		t.Errorf("upstream head has %d Content-Length lines, want one of 12:\n%s", n, head)
	}
}
