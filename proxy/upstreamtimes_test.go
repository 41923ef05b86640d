package proxy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// $upstream_connect_time, $upstream_header_time, $upstream_response_time
// and $proxy_port as nginx 1.22 has them (nginx-tests' proxy.t): a refused
// connect has no connect or header time, an attempt whose head came has
// both; the answered attempt's response time is "-" in add_header (nginx
// sets it when the upstream is finalized) and known in the access log; a
// reused connection's connect time is 0.000; $proxy_port is proxy_pass's
// port, the scheme's for an upstream block.
func TestUpstreamTimesLikeNginx(t *testing.T) {
	refused, release, err := testutil.RefusedPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	u := upstream(t, bench.OK())
	alog := filepath.Join(t.TempDir(), "access.log")
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    u:
      servers: [{address: `+refused+`}, {address: {U0}, backup: true}]
    k:
      servers: [{address: {U0}}]
      keepalive: 4
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: `+alog+`, format: "$upstream_connect_time|$upstream_header_time|$upstream_response_time"}
      add_header: ["X-C $upstream_connect_time", "X-H $upstream_header_time", "X-R $upstream_response_time", "X-P $proxy_port"]
      locations:
        - {path: /u/, proxy_pass: http://u}
        - path: /k/
          proxy_pass: http://k
          proxy_http_version: "1.1"
          proxy_set_header: {Connection: ""}
        - {path: /lit/, proxy_pass: "http://{U0}"}
`, u.Addr())
	sec := `\d+\.\d{3}`
	for i, c := range []struct{ path, conn, header, resp, port string }{
		{"/u/a", `-, ` + sec, `-, ` + sec, sec + `, -`, "80"},
		{"/k/a", sec, sec, "-", "80"},
		{"/k/b", `0\.000`, sec, "-", "80"}, // the cached connection
		{"/lit/a", sec, sec, "-", u.Addr()[strings.LastIndexByte(u.Addr(), ':')+1:]},
	} {
		resp, _ := r.doH("GET", c.path, nil, map[string]string{"Connection": "keep-alive"})
		// Its line is written once the answer went out, maybe after the
		// client read it: wait for it before the next request's.
		readAccessLog(t, alog, i+1)
		for h, re := range map[string]string{"X-C": c.conn, "X-H": c.header, "X-R": c.resp, "X-P": regexp.QuoteMeta(c.port)} {
			if got := resp.Header.Get(h); !regexp.MustCompile("^" + re + "$").MatchString(got) {
				t.Errorf("GET %s: %s %q, want %s", c.path, h, got, re)
			}
		}
	}
	var lines []string
	testutil.Eventually(t, "four access-log lines", 5*time.Second, func() bool {
		b, _ := os.ReadFile(alog)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 4
	})
	want := []string{`-, ` + sec + `\|-, ` + sec + `\|` + sec + `, ` + sec, sec + `\|` + sec + `\|` + sec,
		`0\.000\|` + sec + `\|` + sec, sec + `\|` + sec + `\|` + sec}
	for i, l := range lines {
		if !regexp.MustCompile("^" + want[i] + "$").MatchString(l) {
			t.Errorf("access log line %d %q, want %s", i+1, l, want[i])
		}
	}
}
