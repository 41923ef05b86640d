package proxy_test

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"
)

// A proxy_pass host name with no upstream block of that name is nginx's
// implicit group of the addresses it resolves to when the configuration
// is loaded (nginx-tests' proxy_implicit.t): $upstream_addr names the
// address tried, not the name, and an address that refuses passes the
// request on to the next.
func TestProxyPassNameResolvedAtLoad(t *testing.T) {
	ips, err := net.LookupHost("localhost")
	if err != nil || len(ips) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	u := upstream(t, bench.OK())
	_, port, _ := net.SplitHostPort(u.Addr())
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
          proxy_pass: "http://localhost:`+port+`"
          add_header: ["X-Addr $upstream_addr always"]
`)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + r.addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := strings.Split(resp.Header.Get("X-Addr"), ", ")
	var want []string
	for _, ip := range ips {
		want = append(want, net.JoinHostPort(ip, port))
	}
	for _, a := range got {
		if !slices.Contains(want, a) {
			t.Errorf("$upstream_addr %q: want addresses among %v, not the name", resp.Header.Get("X-Addr"), want)
		}
	}
	if got[len(got)-1] != net.JoinHostPort("127.0.0.1", port) {
		t.Errorf("$upstream_addr %q: the last try is 127.0.0.1's, which answered", resp.Header.Get("X-Addr"))
	}
}
