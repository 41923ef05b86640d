package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"
)

// A recycled exchange keeps nothing of the request before it: on one
// kept-alive connection, a request that sets what the next one leaves
// unset (the realip module's address, a set variable, $limit_rate, an
// upstream's status, a request body, a Referer) is followed by one that
// is answered by a return, and that one's access-log line shows none of
// the first's values. Five pairs, so that the second request of some pair
// gets the first's exchange back from the pool (the race detector's pool
// drops some). An unset variable logs "" (nginx: the empty value, and a
// warning in the error log).
func TestKeptAliveRequestsLogNoStaleValues(t *testing.T) {
	u := upstream(t, bench.OK())
	dir := t.TempDir()
	yaml := strings.NewReplacer("{TMP}", dir, "{U0}", u.Addr()).Replace(`
error_log: {TMP}/error.log
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      set_real_ip_from: [127.0.0.1]
      real_ip_header: X-Forwarded-For
      access_log: {path: {TMP}/a.log, format: '$request|$remote_addr|$realip_remote_addr|$v|$limit_rate|$upstream_status|$request_body|$http_referer|$connection_requests'}
      locations:
        - path: /set/
          rewrite: [{set: $v one}, {set: $limit_rate 100k}]
          proxy_pass: http://{U0}
        - {path: /ret, return: "204"}
`)
	p := startErrorLogProxy(t, dir, yaml)
	nc, err := net.Dial("tcp", p.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	send := func(req string, status int) {
		t.Helper()
		if _, err := io.WriteString(nc, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%q: status %d, want %d", req, resp.StatusCode, status)
		}
	}
	var want []string
	for i := 0; i < 5; i++ {
		n := 2*i + 1
		send("POST /set/x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.7\r\nReferer: http://r/\r\nContent-Length: 3\r\n\r\nabc", 200)
		// Each line is written once its answer went out: waited for, for the order.
		readAccessLog(t, filepath.Join(dir, "a.log"), n)
		send("GET /ret HTTP/1.1\r\nHost: localhost\r\n\r\n", 204)
		readAccessLog(t, filepath.Join(dir, "a.log"), n+1)
		want = append(want,
			fmt.Sprintf("POST /set/x HTTP/1.1|203.0.113.7|127.0.0.1|one|102400|200|abc|http://r/|%d", n),
			fmt.Sprintf("GET /ret HTTP/1.1|127.0.0.1|127.0.0.1||0|-|-|-|%d", n+1))
	}
	got := readAccessLog(t, filepath.Join(dir, "a.log"), len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
