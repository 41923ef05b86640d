package proxy_test

// End-to-end checks of the retry rules (proxy_next_upstream and its _tries
// and _timeout caps), nginx's passive health (max_fails / fail_timeout, the
// order of the "temporarily disabled" warning, "no live upstreams") and the
// stale keepalive race, against real bench upstreams on 127.0.0.1. The
// expected behaviour is nginx 1.22.1's retries and passive health as measured
// against a real nginx. Every test
// waits on observable state, never on a sleep; the only sleeps are the soak's
// request spacing, which is its workload.

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

var soakFlag = flag.Bool("soak", false, "run TestStaleKeepaliveSoak with 10000 requests per variant (also SPILLWAY_SOAK=1)")

// rulesYAML is one upstream group "app" of n servers ({U0}...), each with
// the extra server keys in server (e.g. "max_fails: 2"), a 150ms
// proxy_read_timeout and the access log of twoServersTmpl; httpLines go into
// the http block (e.g. "proxy_next_upstream: error timeout non_idempotent").
// It is meant for newAccessRig.
func rulesYAML(n int, server string, httpLines ...string) string {
	var b strings.Builder
	b.WriteString(`
error_log: {path: stderr, level: error}
http:
  proxy_connect_timeout: 1s
  proxy_read_timeout: 150ms
  proxy_buffering: {BUFFERING}
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
`)
	for _, l := range httpLines {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("  upstreams:\n    app:\n      servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "        - {address: {U%d}", i)
		if server != "" {
			b.WriteString(", " + server)
		}
		b.WriteString("}\n")
	}
	b.WriteString(`  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log:
        path: {ALOG}
        format: '$status $body_bytes_sent "$upstream_addr" "$upstream_status" "$upstream_response_time" $request_time'
      locations:
        - path: /
          proxy_pass: http://app
`)
	return b.String()
}

// failure is one way for the first server to fail an attempt.
type failure struct {
	name    string
	start   func(t *testing.T) (addr string, u *upstreamsim.Upstream) // u is nil for refused
	msg     string                                                    // nginx's message, errno included
	phase   string                                                    // nginx's "while ..."
	status  string                                                    // the attempt in $upstream_status
	timeout bool                                                      // [warn] before [error] (nginx)
}

var failures = []failure{
	{"rst", func(t *testing.T) (string, *upstreamsim.Upstream) {
		u := upstream(t, upstreamsim.Reset())
		return u.Addr(), u
	},
		"recv() failed (104: Connection reset by peer)", "reading response header from upstream", "502", false},
	{"fin", func(t *testing.T) (string, *upstreamsim.Upstream) {
		u := upstream(t, upstreamsim.CloseBeforeHeader())
		return u.Addr(), u
	}, "upstream prematurely closed connection", "reading response header from upstream", "502", false},
	{"refused", func(t *testing.T) (string, *upstreamsim.Upstream) {
		a := upstreamsim.RefusedAddr(t)
		return a, nil
	}, "connect() failed (111: Connection refused)", "connecting to upstream", "502", false},
	{"timeout", func(t *testing.T) (string, *upstreamsim.Upstream) {
		u := upstream(t, upstreamsim.SlowHeader(5*time.Second))
		return u.Addr(), u
	}, "upstream timed out (110: Connection timed out)", "reading response header from upstream", "504", true},
}

// failLines is nginx's error log for one failed attempt that disables the
// peer: "[error] ..." then "[warn] ... temporarily disabled", the other way
// round for a timeout. disabled false gives the error line alone.
func failLines(conn int, method, uri, peer string, f failure, disabled bool) []string {
	fields := fmt.Sprintf(`client: 127.0.0.1, server: localhost, request: "%s %s HTTP/1.1", upstream: "http://%s%s", host: "PROXY"`, method, uri, peer, uri)
	errl := fmt.Sprintf(`[error] 4242#4242: *%d %s while %s, %s`, conn, f.msg, f.phase, fields)
	if !disabled {
		return []string{errl}
	}
	warn := fmt.Sprintf(`[warn] 4242#4242: *%d upstream server temporarily disabled while %s, %s`, conn, f.phase, fields)
	if f.timeout {
		return []string{warn, errl}
	}
	return []string{errl, warn}
}

var reUpstreamVars = regexp.MustCompile(`^(\d{3}) \d+ "([^"]*)" "([^"]*)" `)

// accessUpstreams stops the proxy and returns the access log's line for the
// one request made: status, $upstream_addr and $upstream_status.
func accessUpstreams(t *testing.T, r *accessRig) (status, addrs, statuses string) {
	t.Helper()
	lines := r.accessLog()
	if len(lines) != 1 {
		t.Fatalf("access log has %d lines, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	m := reUpstreamVars.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("access log line %q does not match the format", lines[0])
	}
	return m[1], m[2], m[3]
}

// 1. nginx retries GET, HEAD, PUT, DELETE and OPTIONS on the next server
// after a reset, a premature close, a refused connect or a read timeout
// (proxy_next_upstream's default "error timeout"): the client gets the second
// server's 200, each server saw the request once (a refused server none),
// the access log lists both attempts ("U0, U1" / "502, 200", "504, 200" for
// a timeout) and the error log has the failed attempt's line and its
// "temporarily disabled" warning (max_fails=1), in nginx's order.
func TestRetryIdempotentMethods(t *testing.T) {
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"} {
		for _, f := range failures {
			t.Run(method+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				addr, bad := f.start(t)
				good := upstream(t, upstreamsim.OK())
				r := newAccessRig(t, "warn", rulesYAML(2, ""), true, addr, good.Addr())
				var body []byte
				if method == "PUT" {
					body = []byte("hello")
				}
				status, got := r.do(method, "/size/100", body)
				wantLen := 100
				if method == "HEAD" {
					wantLen = 0
				}
				if status != 200 || len(got) != wantLen {
					t.Fatalf("client got %d with %d body bytes, want 200 with %d (nginx retries %s after %s)", status, len(got), wantLen, method, f.name)
				}
				if bad != nil {
					if n := bad.Hits(method, "/size/100"); n != 1 || bad.Total() != 1 {
						t.Errorf("first server saw %d %s (total %d), want exactly 1", n, method, bad.Total())
					}
				}
				if n := good.Hits(method, "/size/100"); n != 1 || good.Total() != 1 {
					t.Errorf("second server saw %d %s (total %d), want exactly 1", n, method, good.Total())
				}
				st, addrs, statuses := accessUpstreams(t, r)
				if st != "200" || addrs != "U0, U1" || statuses != f.status+", 200" {
					t.Errorf("access log: %s %q %q, want (nginx) 200 \"U0, U1\" \"%s, 200\"", st, addrs, statuses, f.status)
				}
				wantLog(t, r.rig, failLines(1, method, "/size/100", "U0", f, true)...)
			})
		}
	}
}

// 2. POST, PATCH and LOCK are not passed to the next server once the request
// was sent (reset, close, timeout): the client gets the first server's
// 502/504, the first server saw the request exactly once and the second not
// at all. A refused connect sent nothing, so they are retried. With
// "proxy_next_upstream: error timeout non_idempotent" a POST is retried.
// The failure counts against max_fails in every case (nginx: error and
// timeout are always counted, even when not retried).
func TestRetryNonIdempotentMethods(t *testing.T) {
	for _, method := range []string{"POST", "PATCH", "LOCK"} {
		for _, f := range failures {
			t.Run(method+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				addr, bad := f.start(t)
				good := upstream(t, upstreamsim.OK())
				r := newAccessRig(t, "warn", rulesYAML(2, ""), true, addr, good.Addr())
				status, got := r.do(method, "/echo", []byte("hello"))
				st, addrs, statuses := "", "", ""
				if f.name == "refused" {
					// Nothing was sent: retried for every method.
					if status != 200 || string(got) != "hello" {
						t.Fatalf("client got %d %q, want 200 echoing the body from the second server", status, got)
					}
					if n := good.Hits(method, "/echo"); n != 1 {
						t.Errorf("second server saw %d %s, want 1", n, method)
					}
					st, addrs, statuses = accessUpstreams(t, r)
					if st != "200" || addrs != "U0, U1" || statuses != "502, 200" {
						t.Errorf("access log: %s %q %q, want (nginx) 200 \"U0, U1\" \"502, 200\"", st, addrs, statuses)
					}
				} else {
					want := 502
					if f.timeout {
						want = 504
					}
					if status != want {
						t.Fatalf("client got %d %q, want %d from the first server (nginx: %s not retried once sent)", status, got, want, method)
					}
					if n := bad.Hits(method, "/echo"); n != 1 || bad.Total() != 1 {
						t.Errorf("first server saw %d %s (total %d), want exactly 1", n, method, bad.Total())
					}
					if n := good.Total(); n != 0 {
						t.Errorf("second server saw %d requests, want 0: a %s that may have been acted on was sent twice", n, method)
					}
					st, addrs, statuses = accessUpstreams(t, r)
					if st != fmt.Sprint(want) || addrs != "U0" || statuses != f.status {
						t.Errorf("access log: %s %q %q, want (nginx) %d \"U0\" %q", st, addrs, statuses, want, f.status)
					}
				}
				wantLog(t, r.rig, failLines(1, method, "/echo", "U0", f, true)...)
			})
		}
	}
	for _, f := range failures {
		if f.name == "refused" {
			continue
		}
		t.Run("POST non_idempotent/"+f.name, func(t *testing.T) {
			t.Parallel()
			addr, bad := f.start(t)
			good := upstream(t, upstreamsim.OK())
			r := newAccessRig(t, "warn", rulesYAML(2, "", "proxy_next_upstream: error timeout non_idempotent"), true, addr, good.Addr())
			status, got := r.do("POST", "/echo", []byte("hello"))
			if status != 200 || string(got) != "hello" {
				t.Fatalf("client got %d %q, want 200 echoing the body (non_idempotent retries POST)", status, got)
			}
			if a, b := bad.Hits("POST", "/echo"), good.Hits("POST", "/echo"); a != 1 || b != 1 {
				t.Errorf("servers saw %d and %d POSTs, want 1 and 1", a, b)
			}
			if bodies := good.Bodies("POST", "/echo"); len(bodies) != 1 || string(bodies[0]) != "hello" {
				t.Errorf("second server read bodies %q, want the replayed \"hello\"", bodies)
			}
			st, addrs, statuses := accessUpstreams(t, r)
			if st != "200" || addrs != "U0, U1" || statuses != f.status+", 200" {
				t.Errorf("access log: %s %q %q, want (nginx) 200 \"U0, U1\" \"%s, 200\"", st, addrs, statuses, f.status)
			}
			wantLog(t, r.rig, failLines(1, "POST", "/echo", "U0", f, true)...)
		})
	}
}

// 3a. proxy_next_upstream_tries caps the attempts: three servers that all
// reset, tries N gives exactly N attempts (0, and any N above the number of
// servers, mean every server once), then the last attempt's 502.
func TestNextUpstreamTries(t *testing.T) {
	for _, c := range []struct{ tries, want int }{{1, 1}, {2, 2}, {0, 3}, {5, 3}} {
		t.Run(fmt.Sprint("tries=", c.tries), func(t *testing.T) {
			t.Parallel()
			us := []*upstreamsim.Upstream{upstream(t, upstreamsim.Reset()), upstream(t, upstreamsim.Reset()), upstream(t, upstreamsim.Reset())}
			r := newAccessRig(t, "warn", rulesYAML(3, "", fmt.Sprint("proxy_next_upstream_tries: ", c.tries)), true,
				us[0].Addr(), us[1].Addr(), us[2].Addr())
			if status, _ := r.do("GET", "/x", nil); status != 502 {
				t.Fatalf("client got %d, want 502", status)
			}
			total := 0
			for _, u := range us {
				if n := u.Total(); n > 1 {
					t.Errorf("a server saw %d attempts of one request, want at most 1 (a retry goes to a server not yet tried)", n)
				}
				total += u.Total()
			}
			if total != c.want {
				t.Errorf("%d attempts, want %d", total, c.want)
			}
			st, addrs, statuses := accessUpstreams(t, r)
			wantAddrs := strings.Join([]string{"U0", "U1", "U2"}[:c.want], ", ")
			wantStatuses := strings.TrimSuffix(strings.Repeat("502, ", c.want), ", ")
			if st != "502" || addrs != wantAddrs || statuses != wantStatuses {
				t.Errorf("access log: %s %q %q, want 502 %q %q", st, addrs, statuses, wantAddrs, wantStatuses)
			}
		})
	}
}

// 3b. proxy_next_upstream_timeout is checked between attempts, never
// inside one (nginx: 500ms with a 1s read timeout gives one attempt, 1500ms
// two). Here three servers never answer, proxy_read_timeout is 600ms: a cap
// of 300ms allows one attempt, 900ms two (the second runs to its own full
// read timeout although it ends past the cap), none (0) all three. Each cap
// is half a read timeout from the attempts' ends, so that timers fired late
// on a loaded machine (a first attempt of 265ms against a 250ms cap with
// 150ms) do not change the count.
func TestNextUpstreamTimeout(t *testing.T) {
	for _, c := range []struct {
		timeout string
		want    int
	}{{"300ms", 1}, {"900ms", 2}, {"0", 3}} {
		t.Run("timeout="+c.timeout, func(t *testing.T) {
			t.Parallel()
			var us []*upstreamsim.Upstream
			for range 3 {
				us = append(us, upstream(t, upstreamsim.SlowHeader(5*time.Second)))
			}
			const readTimeout = 600 * time.Millisecond
			conf := strings.Replace(rulesYAML(3, "", "proxy_next_upstream_timeout: "+c.timeout), "proxy_read_timeout: 150ms", "proxy_read_timeout: 600ms", 1)
			r := newAccessRig(t, "error", conf, true, us[0].Addr(), us[1].Addr(), us[2].Addr())
			start := time.Now()
			status, _ := r.do("GET", "/x", nil)
			took := time.Since(start)
			if status != 504 {
				t.Fatalf("client got %d, want 504", status)
			}
			total := 0
			for _, u := range us {
				total += u.Total()
			}
			if total != c.want {
				t.Errorf("%d attempts, want %d", total, c.want)
			}
			if min := time.Duration(c.want) * readTimeout; took < min {
				t.Errorf("request took %v, less than %d full read timeouts (%v): an attempt was cut short", took, c.want, min)
			}
			if n := strings.Count(r.log(), "upstream timed out (110: Connection timed out) while reading response header from upstream"); n != c.want {
				t.Errorf("%d \"upstream timed out\" lines, want one per attempt (%d):\n%s", n, c.want, r.log())
			}
			st, _, statuses := accessUpstreams(t, r)
			if want := strings.TrimSuffix(strings.Repeat("504, ", c.want), ", "); st != "504" || statuses != want {
				t.Errorf("access log: %s %q, want 504 %q", st, statuses, want)
			}
		})
	}
}

// 4a. max_fails=2: the failing server is skipped once it failed twice within
// fail_timeout (its hit count stops growing) and every request still gets
// the healthy server's 200. The warning is logged by the failure that
// reaches max_fails, not by the first one, after the error line for an
// error and before it for a timeout (nginx's order).
//
// With smooth round-robin over two equal servers, request 1 goes to U0
// (fails, retried on U1), request 2 to U1, request 3 to U0 again (second
// failure: disabled), requests 4.. to U1 only. Each client connection and
// each upstream connection takes an nginx *N: request 1 is *1 (upstream
// connections *2 and *3), request 2 *4 (*5), request 3 *6.
func TestPassiveHealthMaxFails(t *testing.T) {
	for _, f := range failures {
		if f.name == "refused" || f.name == "fin" {
			continue // rst stands for the errors
		}
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			addr, bad := f.start(t)
			good := upstream(t, upstreamsim.OK())
			r := newAccessRig(t, "warn", rulesYAML(2, "max_fails: 2, fail_timeout: 30s"), true, addr, good.Addr())
			const n = 8
			for i := range n {
				if status, _ := r.do("GET", "/x", nil); status != 200 {
					t.Fatalf("request %d: %d, want 200 (the healthy server answers)", i+1, status)
				}
				if i == 2 && bad.Total() != 2 {
					t.Fatalf("after 3 requests the failing server saw %d, want 2 (requests 1 and 3)", bad.Total())
				}
			}
			if got := bad.Total(); got != 2 {
				t.Errorf("failing server saw %d requests, want 2: after max_fails=2 failures it is skipped for fail_timeout", got)
			}
			if got := good.Total(); got != n {
				t.Errorf("healthy server saw %d requests, want %d", got, n)
			}
			want := failLines(1, "GET", "/x", "U0", f, false)
			want = append(want, failLines(6, "GET", "/x", "U0", f, true)...)
			wantLog(t, r.rig, want...)
		})
	}
}

// 4b. A single-server group is never disabled: every request tries the
// server again and gets its 502, no "temporarily disabled", never "no live
// upstreams" (nginx: health-single-reset-x3 logs *1 *3 *5).
func TestSingleServerNeverDisabledLive(t *testing.T) {
	bad := upstream(t, upstreamsim.Reset())
	r := newAccessRig(t, "warn", rulesYAML(1, "max_fails: 1, fail_timeout: 30s"), true, bad.Addr())
	var want []string
	for i := range 3 {
		if status, _ := r.do("GET", "/x", nil); status != 502 {
			t.Fatalf("request %d: %d, want 502", i+1, status)
		}
		if n := bad.Total(); n != i+1 {
			t.Fatalf("after %d requests the server saw %d, want %d (never disabled)", i+1, n, i+1)
		}
		want = append(want, failLines(1+2*i, "GET", "/x", "U0", failures[0], false)...)
	}
	wantLog(t, r.rig, want...)
}

// 4c. Every server down: the first request tries both (each failure logs
// its error and its warning) and gets 502; the next ones get nginx's "no
// live upstreams while connecting to upstream" with the group in the
// upstream field, a 502, and no connection to any server
// (health-bad_bad-reset-x3: *1, then *4 and *5).
func TestNoLiveUpstreams(t *testing.T) {
	u0, u1 := upstream(t, upstreamsim.Reset()), upstream(t, upstreamsim.Reset())
	r := newAccessRig(t, "warn", rulesYAML(2, ""), true, u0.Addr(), u1.Addr())
	for i := range 3 {
		status, body := r.do("GET", "/x", nil)
		if status != 502 || string(body) != nginxPage("502 Bad Gateway") {
			t.Fatalf("request %d: %d %q, want 502 with the error page", i+1, status, body)
		}
		// Its line is written once the answer went out, maybe after the
		// client read it: wait for it before the next request's.
		readAccessLog(t, r.alog, i+1)
	}
	if u0.Conns() != 1 || u1.Conns() != 1 {
		t.Errorf("servers got %d and %d connections, want 1 and 1 (no connect attempt when all are down)", u0.Conns(), u1.Conns())
	}
	noLive := func(conn int) string {
		return fmt.Sprintf(`[error] 4242#4242: *%d no live upstreams while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://app/x", host: "PROXY"`, conn)
	}
	want := failLines(1, "GET", "/x", "U0", failures[0], true)
	want = append(want, failLines(1, "GET", "/x", "U1", failures[0], true)...)
	want = append(want, noLive(4), noLive(5))
	wantLog(t, r.rig, want...)
	lines := r.accessLog()
	if len(lines) != 3 {
		t.Fatalf("access log has %d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{`502 \d+ "U0, U1" "502, 502" `, `502 \d+ "app" "502" `, `502 \d+ "app" "502" `} {
		if !regexp.MustCompile("^" + want).MatchString(lines[i]) {
			t.Errorf("access log line %d %q, want %s ($upstream_addr is the group for no live upstreams)", i+1, lines[i], want)
		}
	}
}

var reStaleKind = regexp.MustCompile(`\[error\] \d+#\d+: \*\d+ (.*?), client: `)

// 5. The stale keepalive race. The upstream closes keepalive connections
// that stayed idle for idle (RST like IIS, or FIN). The client sends
// idempotent requests (GET, HEAD, PUT with a body, DELETE) in waves: a wave
// is 1 to 6 requests sent at once on keepalive client connections, and the
// next wave follows idle±5ms after the last answer of the previous one. So
// the proxy keeps taking pooled connections whose idle time is right around
// the upstream's limit (a wave of k requests takes the k most recently used
// connections of the LIFO cache, each idle for about the gap; the others age
// past the limit): some are already closed (the probe must see the FIN or
// RST), some are closed between the probe and the write or while the
// request is in flight (the free fresh-connection retry must save them).
// No request may fail. The pause is the workload (the race needs requests
// arriving at that moment), not a synchronisation.
//
// 300 requests per variant normally; 10000 with -soak or SPILLWAY_SOAK=1:
//
//	go test -race -run Soak -soak -v ./proxy/
func TestStaleKeepaliveSoak(t *testing.T) {
	n := 300
	if *soakFlag || os.Getenv("SPILLWAY_SOAK") == "1" {
		n = 10000
	}
	const idle = 30 * time.Millisecond
	const maxWave = 6
	for _, c := range []struct {
		name string
		b    upstreamsim.Behavior
		seed uint64
	}{{"rst", upstreamsim.IdleRST(idle), 1}, {"fin", upstreamsim.IdleFIN(idle), 2}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := upstream(t, upstreamsim.OK(), c.b)
			r := newRig(t, "info", keepaliveTmpl, u.Addr())
			client := &http.Client{
				Transport: &http.Transport{MaxIdleConnsPerHost: maxWave, DisableCompression: true},
				Timeout:   5 * time.Second,
			}
			t.Cleanup(client.CloseIdleConnections)
			var (
				failed   atomic.Int64
				mu       sync.Mutex
				examples []string
			)
			fail := func(format string, a ...any) {
				if failed.Add(1) <= 5 {
					mu.Lock()
					examples = append(examples, fmt.Sprintf(format, a...))
					mu.Unlock()
				}
			}
			methods := []string{"GET", "HEAD", "PUT", "DELETE"}
			one := func(i, size int) {
				method := methods[i%len(methods)]
				var body io.Reader
				if method == "PUT" {
					body = strings.NewReader(strings.Repeat("p", 100))
				}
				req, _ := http.NewRequest(method, fmt.Sprintf("http://%s/size/%d", r.addr, size), body)
				resp, err := client.Do(req)
				if err != nil {
					fail("request %d %s: %v", i, method, err)
					return
				}
				got, rerr := io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				want := int64(size)
				if method == "HEAD" {
					want = 0
				}
				if resp.StatusCode != 200 || rerr != nil || got != want {
					fail("request %d %s: %d, %d of %d bytes (%v)", i, method, resp.StatusCode, got, want, rerr)
				}
			}
			rng := rand.New(rand.NewPCG(c.seed, 42))
			start := time.Now()
			waves := 0
			for i := 0; i < n; waves++ {
				k := maxWave // mostly full waves, sometimes fewer (down to one)
				if rng.IntN(4) == 0 {
					k = 1 + rng.IntN(maxWave)
				}
				k = min(k, n-i)
				var wg sync.WaitGroup
				for j := range k {
					size := 1 + rng.IntN(2000)
					wg.Add(1)
					go func() { defer wg.Done(); one(i+j, size) }()
				}
				wg.Wait()
				i += k
				// idle ± 5ms, the workload.
				time.Sleep(idle - 5*time.Millisecond + time.Duration(rng.IntN(10_000))*time.Microsecond)
			}
			took := time.Since(start)
			fin, rst, expired, reused := r.p.StaleStats()
			log := r.log()
			retries := strings.Count(log, "retrying: stale keepalive connection")
			notRetried := strings.Count(log, "not retried")
			errLines := strings.Count(log, "[error]")
			// What the saved attempts failed with: nginx's message and phase.
			kinds := map[string]int{}
			for _, m := range reStaleKind.FindAllStringSubmatch(log, -1) {
				kinds[m[1]]++
			}
			t.Logf("%s: %d requests in %d waves in %v, upstream idle %v: client errors %d; "+
				"probe found dead before reuse: fin=%d rst=%d (expired=%d); reused=%d; "+
				"free fresh-connection retries=%d (error lines %d %v, not retried %d); upstream connections %d, requests read %d",
				c.name, n, waves, took.Round(time.Millisecond), idle, failed.Load(),
				fin, rst, expired, reused, retries, errLines, kinds, notRetried, u.Conns(), u.Total())
			if failed.Load() != 0 {
				t.Errorf("%d client-visible errors for idempotent requests, want 0; first ones:\n%s\nerror log (first 4k):\n%.4000s",
					failed.Load(), strings.Join(examples, "\n"), log)
			}
			if notRetried != 0 || strings.Contains(log, "no live upstreams") {
				t.Errorf("a stale connection failure was not retried:\n%.4000s", log)
			}
			if errLines != retries {
				t.Errorf("%d [error] lines but %d stale retries: every failed attempt must be a stale connection saved by the free retry:\n%.4000s", errLines, retries, log)
			}
			// Short waves leave connections idle past the limit: the probe
			// must have found some, and classified them right.
			if c.name == "rst" && (rst == 0 || fin != 0) || c.name == "fin" && (fin == 0 || rst != 0) {
				t.Errorf("probe before reuse found fin=%d rst=%d, want only %s and at least one", fin, rst, c.name)
			}
			if u.Total() < n {
				t.Errorf("upstream read %d requests, fewer than the %d answered with 200", u.Total(), n)
			}
		})
	}
}

// 3c. A server marked down does not count towards the tries: with U1 down,
// U0's 404 that proxy_next_upstream http_404 passes on ends the request
// with that 404 once U0 is tried (nginx, proxy_next_upstream.t's "all tried
// with down"), not with "no live upstreams" and a 502.
func TestNextUpstreamDownNotTried(t *testing.T) {
	notFound := upstream(t, upstreamsim.Status(404))
	spare := upstream(t, upstreamsim.OK())
	conf := strings.Replace(rulesYAML(2, "", "proxy_next_upstream: http_404"), "{address: {U1}}", "{address: {U1}, down: true}", 1)
	r := newAccessRig(t, "warn", conf, true, notFound.Addr(), spare.Addr())
	if status, _ := r.do("GET", "/x", nil); status != 404 {
		t.Errorf("client got %d, want the upstream's 404", status)
	}
	if n := spare.Total(); n != 0 {
		t.Errorf("the down server saw %d requests, want 0", n)
	}
	st, addrs, statuses := accessUpstreams(t, r)
	if st != "404" || addrs != "U0" || statuses != "404" {
		t.Errorf("access log: %s %q %q, want (nginx) 404 \"U0\" \"404\"", st, addrs, statuses)
	}
	wantLog(t, r.rig) // no "no live upstreams"
}
