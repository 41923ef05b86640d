package proxy_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/config"
)

const limitTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  limit_req_zone:
    - $binary_remote_addr zone=slow:1m rate=1r/m
    - $binary_remote_addr zone=burst:1m rate=1r/m
    - $binary_remote_addr zone=fast:1m rate=10r/s
    - $http_x_key zone=bykey:1m rate=1r/m
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /slow/, proxy_pass: http://app, limit_req: zone=slow}
        - {path: /burst/, proxy_pass: http://app, limit_req: zone=burst burst=2 nodelay}
        - {path: /delay/, proxy_pass: http://app, limit_req: zone=fast burst=5}
        - {path: /dry/, proxy_pass: http://app, limit_req: zone=slow, limit_req_dry_run: on}
        - {path: /status/, proxy_pass: http://app, limit_req: zone=slow, limit_req_status: 429, limit_req_log_level: warn}
        - {path: /denied/, proxy_pass: http://app, limit_req: zone=bykey, access: [deny all]}
        - {path: /key/, proxy_pass: http://app, limit_req: zone=bykey}
`

var (
	reLimiting = regexp.MustCompile(`^\[(\w+)\] 4242#4242: \*\d+ limiting requests(, dry run)?, excess: (\d+\.\d{3}) by zone "(\w+)", client: 127\.0\.0\.1, server: localhost, request: "GET (\S+) HTTP/1\.1", host: "localhost"$`)
	reDelaying = regexp.MustCompile(`^\[(\w+)\] 4242#4242: \*\d+ delaying request, excess: (\d+\.\d{3}), by zone "(\w+)", client: 127\.0\.0\.1, server: localhost, request: "GET (\S+) HTTP/1\.1", host: "localhost"$`)
)

// limit_req as nginx's leaky bucket: requests over the rate are refused
// beyond the burst (503, or limit_req_status with its page) with nginx's
// "limiting requests, excess: N by zone" line at limit_req_log_level, and
// never reach the upstream; nodelay lets the burst through, without it the
// burst is delayed by excess/rate (and "delaying request" logged one level
// lower); dry run only logs; the limit runs before allow/deny (nginx's
// preaccess phase), so a denied client is counted; a key is the value of
// its variables, an empty key is not limited.
func TestLimitReqLikeNginx(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	r := newRig(t, "info", withTempDirs(t, limitTmpl), u.Addr())
	get := func(path string, hdr ...string) (int, time.Duration) {
		t.Helper()
		req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		for _, h := range hdr {
			req += h + "\r\n"
		}
		start := time.Now()
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, req+"\r\n")
		cc.Close()
		if resp.StatusCode == 503 && string(body) != nginxPage("503 Service Temporarily Unavailable") {
			t.Errorf("%s: 503 body %q", path, body)
		}
		if resp.StatusCode == 429 && string(body) != nginxPage("429 Too Many Requests") {
			t.Errorf("%s: 429 body %q", path, body)
		}
		return resp.StatusCode, time.Since(start)
	}
	want := func(path string, statuses ...int) {
		t.Helper()
		for i, s := range statuses {
			if got, _ := get(path); got != s {
				t.Errorf("%s request %d: %d, want %d", path, i+1, got, s)
			}
		}
	}
	want("/slow/a", 200, 503, 503)
	want("/burst/a", 200, 200, 200, 503)
	want("/dry/a", 200, 200) // the zone "slow" is over its rate: logged only
	want("/status/a", 429)
	for _, c := range []struct {
		hdr  string
		want int
	}{{"X-Key: a", 200}, {"X-Key: b", 200}, {"X-Key: a", 503}, {"X-Other: 1", 200}, {"X-Other: 1", 200}} {
		if got, _ := get("/key/k", c.hdr); got != c.want {
			t.Errorf("/key/ with %s: %d, want %d", c.hdr, got, c.want)
		}
	}
	// preaccess before access: the first request is counted, then denied.
	if got, _ := get("/denied/d", "X-Key: d"); got != 403 {
		t.Errorf("/denied/ first: %d, want 403", got)
	}
	if got, _ := get("/denied/d", "X-Key: d"); got != 503 {
		t.Errorf("/denied/ second: %d, want 503 (limit_req runs before allow/deny)", got)
	}
	_, first := get("/delay/a")
	_, second := get("/delay/a")
	if u.Hits("GET", "/slow/a") != 1 || u.Hits("GET", "/burst/a") != 3 || u.Hits("GET", "/dry/a") != 2 || u.Hits("GET", "/delay/a") != 2 {
		t.Errorf("upstream hits: slow %d burst %d dry %d delay %d, want 1 3 2 2",
			u.Hits("GET", "/slow/a"), u.Hits("GET", "/burst/a"), u.Hits("GET", "/dry/a"), u.Hits("GET", "/delay/a"))
	}

	type line struct{ level, dry, excess, zone, path string }
	var limited, delayed []line
	for _, l := range strings.Split(strings.TrimSpace(r.log()), "\n") {
		l = strings.TrimPrefix(l, "YYYY/MM/DD HH:MM:SS ")
		if m := reLimiting.FindStringSubmatch(l); m != nil {
			limited = append(limited, line{m[1], m[2], m[3], m[4], m[5]})
		} else if m := reDelaying.FindStringSubmatch(l); m != nil {
			delayed = append(delayed, line{level: m[1], excess: m[2], zone: m[3], path: m[4]})
		} else if !strings.Contains(l, "access forbidden by rule") {
			t.Errorf("unexpected line %q", l)
		}
	}
	var got []string
	for _, l := range limited {
		got = append(got, l.level+" "+l.zone+" "+l.path+l.dry)
		// 1r/m drains 0.016 a second: the excess is one request, less what
		// drained since the first (the machine may be slow).
		if l.zone != "burst" && l.excess != "1.000" && !strings.HasPrefix(l.excess, "0.9") {
			t.Errorf("excess %s for %s", l.excess, l.path)
		}
	}
	wantLimited := "error slow /slow/a,error slow /slow/a,error burst /burst/a,error slow /dry/a, dry run,error slow /dry/a, dry run,warn slow /status/a,error bykey /key/k,error bykey /denied/d"
	if strings.Join(got, ",") != wantLimited {
		t.Errorf("limiting lines:\n%s\nwant\n%s", strings.Join(got, ","), wantLimited)
	}
	if len(limited) > 2 && !strings.HasPrefix(limited[2].excess, "2.9") && limited[2].excess != "3.000" {
		t.Errorf("burst's refusal: excess %s, want about 3", limited[2].excess)
	}
	// The second /delay/ request waited excess/rate (10r/s: excess × 100 ms).
	if len(delayed) != 1 || delayed[0].level != "warn" || delayed[0].zone != "fast" {
		t.Fatalf("delaying lines: %+v, want one at warn for zone fast", delayed)
	}
	ex, _ := strconv.ParseFloat(delayed[0].excess, 64)
	if wait := time.Duration(ex * float64(100*time.Millisecond)); second < wait || ex <= 0 {
		t.Errorf("the delayed request took %v (the first %v), want at least excess %s × 100ms = %v", second, first, delayed[0].excess, wait)
	}
}

// A reload keeps a zone's state when its name, size and key stay: the
// bucket filled before the reload still refuses after it; a zone whose
// size changed starts empty.
func TestLimitReqZoneSurvivesReload(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	tmpl := withTempDirs(t, limitTmpl)
	r := newRig(t, "error", tmpl, u.Addr())
	status := func() int {
		resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET /slow/r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		cc.Close()
		return resp.StatusCode
	}
	reload := func(text string) {
		t.Helper()
		text = strings.ReplaceAll(text, "{U0}", u.Addr())
		cfg, err := config.LoadBytes("proxy.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.p.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if s := status(); s != 200 {
		t.Fatalf("first: %d", s)
	}
	reload(tmpl)
	if s := status(); s != 503 {
		t.Errorf("after a reload with the same zone: %d, want 503", s)
	}
	reload(strings.Replace(tmpl, "zone=slow:1m", "zone=slow:2m", 1))
	if s := status(); s != 200 {
		t.Errorf("after a reload that resized the zone: %d, want 200 (a new zone)", s)
	}
}
