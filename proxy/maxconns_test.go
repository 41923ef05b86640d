package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// holdingUpstream answers "NAME" to every request; a request to .../hold waits
// until release is closed, after telling arrived.
func holdingUpstream(t *testing.T, name string, arrived chan<- struct{}, release <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/hold") {
			arrived <- struct{}{}
			<-release
		}
		fmt.Fprint(w, name)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// max_conns as nginx (nginx-tests' upstream_max_conns.t): a server with
// max_conns attempts in flight is skipped, the next server or a backup
// takes the request, and with none left the answer is 502 and "no live
// upstreams"; the count drops once the held attempt ends.
func TestMaxConns(t *testing.T) {
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	a := holdingUpstream(t, "a", arrived, release)
	b := holdingUpstream(t, "b", arrived, release)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  access_log: off
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    with_backup:
      servers: [{address: {U0}, max_conns: 1}, {address: {U1}, backup: true}]
    alone:
      servers: [{address: {U0}, max_conns: 1}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      locations:
        - {path: /b/, proxy_pass: http://with_backup/}
        - {path: /l/, proxy_pass: http://alone/}
`, a, b)
	held := make(chan int, 2)
	hold := func(path string) {
		go func() {
			code, _ := r.do("GET", path, nil)
			held <- code
		}()
		<-arrived // the group's a has one attempt in flight: its limit
	}
	hold("/b/hold")
	if code, body := r.do("GET", "/b/x", nil); code != 200 || string(body) != "b" {
		t.Errorf("with a at max_conns: %d %q, want the backup's 200 b", code, body)
	}
	// Each group counts its own attempts, as nginx's peers do.
	if code, body := r.do("GET", "/l/x", nil); code != 200 || string(body) != "a" {
		t.Errorf("the other group: %d %q, want a's 200", code, body)
	}
	hold("/l/hold")
	if code, _ := r.do("GET", "/l/x", nil); code != 502 {
		t.Errorf("a lone server at max_conns: %d, want 502", code)
	}
	if l := r.elog.String(); !strings.Contains(l, "no live upstreams while connecting to upstream") {
		t.Errorf("error log %q, want no live upstreams", l)
	}
	close(release)
	for range 2 {
		if code := <-held; code != 200 {
			t.Errorf("held request: %d", code)
		}
	}
	// The held attempt's count ends when its connection closes, which
	// may come just after its client had the answer.
	testutil.Eventually(t, "a's 200 once the held attempt ended", 5*time.Second, func() bool {
		code, body := r.do("GET", "/l/x", nil)
		return code == 200 && string(body) == "a"
	})
}
