package proxy_test

import (
	"strings"
	"testing"

	"spillway/bench"
)

// A server block without server_name logs nginx's "server: , request:"
// (the field with the empty name), as nginx 1.22 does for
// `server { listen 127.0.0.1:18477; location / { proxy_pass http://127.0.0.1:1; } }`.
func TestNoServerNameLogsEmptyServer(t *testing.T) {
	refused, err := bench.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "error", `
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations: [{path: /, proxy_pass: "http://{U0}"}]
`, refused)
	if status, _ := r.do("GET", "/x", nil); status != 502 {
		t.Fatalf("status %d, want 502", status)
	}
	want := `[error] 4242#4242: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "PROXY"`
	if !strings.Contains(r.log(), want) {
		t.Errorf("want the line\n%s\nin\n%s", want, r.log())
	}
}
