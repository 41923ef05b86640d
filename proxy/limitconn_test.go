package proxy_test

import (
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

const connTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  limit_conn_zone: [$binary_remote_addr zone=addr:1m, $http_x_key zone=bykey:1m]
  upstreams:
    slow:
      servers: [{address: {U0}}]
    fast:
      servers: [{address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      limit_conn: addr 1
      locations:
        - {path: /slow/, proxy_pass: http://slow, proxy_read_timeout: 1s}
        - {path: /one/, proxy_pass: http://fast}
        - {path: /dry/, proxy_pass: http://fast, limit_conn_dry_run: on}
        - {path: /st/, proxy_pass: http://fast, limit_conn_status: 429, limit_conn_log_level: warn}
        - {path: /key/, proxy_pass: http://fast, limit_conn: bykey 1}
`

var reLimitingConns = regexp.MustCompile(`^\[(\w+)\] 4242#4242: \*\d+ (limiting connections.*), client: 127\.0\.0\.1, server: localhost, request: "GET (\S+) HTTP/1\.1", host: "localhost"$`)

// limit_conn as nginx counts it: while a client has a request in flight
// (held by a slow upstream), its next one over the zone's limit is refused
// (503, or limit_conn_status with its page) with "limiting connections by
// zone" at limit_conn_log_level, never reaching the upstream; dry run only
// logs; an empty key is not counted; the count is given back when the
// request ends.
func TestLimitConnLikeNginx(t *testing.T) {
	slow := upstream(t, upstreamsim.SlowHeader(time.Minute))
	fast := upstream(t, upstreamsim.OK())
	r := newRig(t, "info", withTempDirs(t, connTmpl), slow.Addr(), fast.Addr())

	held, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := io.WriteString(held, "GET /slow/a HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the slow request at its upstream", 10*time.Second, func() bool { return slow.Hits("GET", "/slow/a") == 1 })

	status := func(path string, hdr ...string) int {
		req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		for _, h := range hdr {
			req += h + "\r\n"
		}
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, req+"\r\n")
		cc.Close()
		if resp.StatusCode == 503 && string(body) != nginxPage("503 Service Temporarily Unavailable") ||
			resp.StatusCode == 429 && string(body) != nginxPage("429 Too Many Requests") {
			t.Errorf("%s: body %q", path, body)
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/one/a", nil, 503},
		{"/dry/a", nil, 200},
		{"/st/a", nil, 429},
		{"/key/a", nil, 200},                  // an empty key is not counted
		{"/key/a", []string{"X-Key: k"}, 200}, // its own zone and key
	} {
		if got := status(c.path, c.hdr...); got != c.want {
			t.Errorf("%s while /slow/ is in flight: %d, want %d", c.path, got, c.want)
		}
	}
	if n := fast.Hits("GET", "/one/a") + fast.Hits("GET", "/st/a"); n != 0 {
		t.Errorf("refused requests reached the upstream: %d", n)
	}
	var got []string
	for _, l := range strings.Split(r.log(), "\n") {
		if m := reLimitingConns.FindStringSubmatch(strings.TrimPrefix(l, "YYYY/MM/DD HH:MM:SS ")); m != nil {
			got = append(got, m[1]+" "+m[2]+" "+m[3])
		}
	}
	want := `error limiting connections by zone "addr" /one/a|error limiting connections, dry run, by zone "addr" /dry/a|warn limiting connections by zone "addr" /st/a`
	if strings.Join(got, "|") != want {
		t.Errorf("lines:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	// The slow request ends (its 1s read timeout): its count is given back.
	held.Close()
	testutil.Eventually(t, "the count given back", 10*time.Second, func() bool { return status("/key/b", "X-Key: k2") == 200 && status("/one/b") == 200 })
}
