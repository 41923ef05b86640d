package proxy_test

import (
	"testing"
)

// $limit_req_status and $limit_conn_status as nginx 1.22 sets them
// (nginx-tests' limit_req_dry_run.t, limit_conn_dry_run.t): PASSED,
// DELAYED, REJECTED and the dry-run DELAYED_DRY_RUN and REJECTED_DRY_RUN;
// not found (no header) where no limit applies or the key is empty.
func TestLimitStatusVariables(t *testing.T) {
	arrived, release := make(chan struct{}, 2), make(chan struct{})
	a := holdingUpstream(t, "a", arrived, release)
	r := newRig(t, "error", `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  access_log: off
  limit_req_zone: ["$binary_remote_addr zone=one:1m rate=1r/m", "$http_x_key zone=key:1m rate=1r/m"]
  limit_conn_zone: ["$binary_remote_addr zone=c:1m"]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      add_header: ["X-Req $limit_req_status always", "X-Conn $limit_conn_status always"]
      locations:
        - {path: /delay, proxy_pass: "http://{U0}", limit_req: zone=one burst=2, limit_req_dry_run: on}
        - {path: /reject, proxy_pass: "http://{U0}", limit_req: zone=one, limit_req_dry_run: on}
        - {path: /rejectoff, proxy_pass: "http://{U0}", limit_req: zone=one}
        - {path: /key, proxy_pass: "http://{U0}", limit_req: zone=key}
        - {path: /conn, proxy_pass: "http://{U0}", limit_conn: c 1}
        - {path: /conndry, proxy_pass: "http://{U0}", limit_conn: c 1, limit_conn_dry_run: on}
        - {path: /, proxy_pass: "http://{U0}"}
`, a)
	check := func(path string, status int, req, conn string) {
		t.Helper()
		resp, _ := r.doH("GET", path, nil, nil)
		if resp.StatusCode != status || resp.Header.Get("X-Req") != req || resp.Header.Get("X-Conn") != conn {
			t.Errorf("GET %s: %d X-Req %q X-Conn %q, want %d %q %q", path, resp.StatusCode,
				resp.Header.Get("X-Req"), resp.Header.Get("X-Conn"), status, req, conn)
		}
	}
	check("/delay", 200, "PASSED", "")
	check("/delay", 200, "DELAYED_DRY_RUN", "")
	check("/reject", 200, "REJECTED_DRY_RUN", "")
	check("/rejectoff", 503, "REJECTED", "")
	check("/key", 200, "", "") // no X-Key: an empty key, not limited
	check("/x", 200, "", "")
	held := make(chan string, 1)
	go func() {
		resp, _ := r.doH("GET", "/conn/hold", nil, nil)
		held <- resp.Status + " " + resp.Header.Get("X-Conn")
	}()
	select {
	case <-arrived: // the held request has the zone's one connection
	case got := <-held:
		t.Fatalf("the request to hold was answered: %s", got)
	}
	check("/conn", 503, "", "REJECTED")
	check("/conndry", 200, "", "REJECTED_DRY_RUN")
	close(release)
	if got := <-held; got != "200 OK PASSED" {
		t.Errorf("held request: %q, want 200 OK PASSED", got)
	}
}
