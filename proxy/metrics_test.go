package proxy_test

import (
	"bufio"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench"
)

// scrape reads /metrics and returns each sample by its series
// ("name{labels}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want Prometheus text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sumOf adds up the samples of one name (the part before any label) whose
// labels contain every one of want (`kind="reset"`).
func sumOf(m map[string]float64, name string, want ...string) float64 {
	sum := 0.0
	for k, v := range m {
		n, labels, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(labels, w)
		}
		if ok {
			sum += v
		}
	}
	return sum
}

const metricsYAML = `
metrics: {listen: "127.0.0.1:0"}
http:
  proxy_temp_path: {PROXYTMP}
  client_body_temp_path: {CLIENTTMP}
  proxy_next_upstream: error timeout
  upstreams:
    app:
      servers: [{address: "{U0}", max_fails: 0}, {address: "{U1}", max_fails: 0}]
    bad:
      servers: [{address: "{U0}"}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://app, proxy_buffers: 4 4k}
        - {path: /post, proxy_pass: http://bad}
        - {path: /status, stub_status: on}
`

// After a scripted fault scenario the counters hold the exact numbers: the
// resets the resetting origin produced, the retries they caused, the POST
// that was not retried, the response that spilled, and stub_status's
// connection and request counts.
func TestMetricsCountAFaultScenario(t *testing.T) {
	rst := upstream(t, bench.Reset())
	ok := upstream(t, bench.OK())
	d := newBTDirs(t)
	yaml := strings.NewReplacer("{PROXYTMP}", d.proxy, "{CLIENTTMP}", d.client).Replace(metricsYAML)
	r := newRig(t, "error", yaml, rst.Addr(), ok.Addr())
	maddr := r.p.MetricsAddr()
	if maddr == "" {
		t.Fatal("no metrics listener")
	}

	const gets = 10
	for i := range gets {
		if status, body := r.do("GET", "/size/100", nil); status != 200 || len(body) != 100 {
			t.Fatalf("GET %d: %d, %d bytes", i, status, len(body))
		}
	}
	resets := rst.Total()
	if resets == 0 || ok.Total() != gets {
		t.Fatalf("scenario: the resetting origin saw %d requests, the good one %d", resets, ok.Total())
	}
	if status, _ := r.do("POST", "/post", []byte("once")); status != 502 {
		t.Fatalf("POST: %d, want 502", status)
	}
	if rst.Total() != resets+1 {
		t.Fatalf("the POST reached the resetting origin %d times, want once", rst.Total()-resets)
	}

	// A slow client and a 16 MiB response through proxy_buffers 4 4k:
	// spilled to a temp file, once.
	c := btDialSlow(t, r.addr)
	resp, br := btGet(t, c, "/size/16m")
	btEventually(t, "the response to spill", 10*time.Second, func() bool { return r.p.BufferStats().FilesCreated == 1 })
	n, err := io.Copy(io.Discard, io.LimitReader(br, resp.ContentLength))
	if err != nil || n != 16<<20 {
		t.Fatalf("slow client read %d bytes (%v)", n, err)
	}
	_ = c.Close()

	// The last request finishes (access log, counters) just after its last
	// byte is written.
	var m map[string]float64
	btEventually(t, "the slow request to finish", 10*time.Second, func() bool {
		m = scrape(t, maddr)
		return m[`spillway_requests_total{status="200"}`] == gets+1
	})
	requests := gets + 1 + 1
	resets = rst.Total() - 1 // the GETs' resets, the 16 MiB one's included
	appRst := `upstream="app",server="` + rst.Addr() + `"`
	appOK := `upstream="app",server="` + ok.Addr() + `"`
	badRst := `upstream="bad",server="` + rst.Addr() + `"`
	want := map[string]float64{
		`spillway_requests_total{status="200"}`:                                                                       gets + 1,
		`spillway_requests_total{status="502"}`:                                                                       1,
		`spillway_upstream_attempts_total{` + appRst + `}`:                                                            float64(resets),
		`spillway_upstream_attempts_total{` + appOK + `}`:                                                             float64(gets + 1),
		`spillway_upstream_attempts_total{` + badRst + `}`:                                                            1,
		`spillway_upstream_failures_total{` + appRst + `,kind="reset",phase="reading response header from upstream"}`: float64(resets),
		`spillway_upstream_failures_total{` + badRst + `,kind="reset",phase="reading response header from upstream"}`: 1,
		`spillway_upstream_retries_total{` + appRst + `,reason="next upstream"}`:                                      float64(resets),
		`spillway_upstream_not_retried_total{` + badRst + `,reason="non-idempotent request already sent"}`:            1,
		`spillway_upstream_header_duration_seconds_count{` + appOK + `}`:                                              float64(gets + 1),
		`spillway_upstream_header_duration_seconds_count{` + appRst + `}`:                                             0,
		`spillway_buffer_temp_files_total`:                                                                            1,
		`spillway_buffer_spilled_bytes_total`:                                                                         float64(r.p.BufferStats().BytesSpilled),
		`spillway_buffer_temp_file_errors_total`:                                                                      0,
		`spillway_upstream_server_up{upstream="app",server="` + rst.Addr() + `"}`:                                     1, // max_fails 0: never down
		`spillway_upstream_server_up{upstream="bad",server="` + rst.Addr() + `"}`:                                     1, // a single server is never down
		`spillway_upstream_connections_total{source="new"}`:                                                           float64(requests + resets),
		`spillway_upstream_connections_total{source="keepalive"}`:                                                     0,
		`spillway_connections_accepted_total`:                                                                         float64(requests),
		`spillway_request_duration_seconds_count`:                                                                     float64(requests),
		`spillway_buffer_bytes_in_use`:                                                                                0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if m[`spillway_buffer_spilled_bytes_total`] == 0 {
		t.Errorf("no spilled bytes counted")
	}
	for k := range m {
		if strings.HasPrefix(k, "spillway_upstream_failures_total") && !strings.Contains(k, `kind="reset"`) {
			t.Errorf("unexpected failure series %s", k)
		}
	}

	// stub_status: nginx's page; this request is the one being written.
	status, body := r.do("GET", "/status", nil)
	re := regexp.MustCompile(`^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$`)
	g := re.FindStringSubmatch(string(body))
	if status != 200 || g == nil {
		t.Fatalf("stub_status: %d %q", status, body)
	}
	wantStub := []string{"1", strconv.Itoa(requests + 1), strconv.Itoa(requests + 1), strconv.Itoa(requests + 1), "0", "1", "0"}
	if strings.Join(g[1:], " ") != strings.Join(wantStub, " ") {
		t.Errorf("stub_status numbers %v, want %v:\n%s", g[1:], wantStub, body)
	}
}

// An answer whose status proxy_next_upstream lists goes through the one
// retry decision: passed on, or kept with the reason, and both reach the
// error log's decision line and the retry metrics as a failure's would.
func TestStatusDecisionsLoggedAndCounted(t *testing.T) {
	bad := upstream(t, bench.Status(502))
	alsoBad := upstream(t, bench.Status(502))
	d := newBTDirs(t)
	yaml := strings.NewReplacer("{PROXYTMP}", d.proxy, "{CLIENTTMP}", d.client, "error timeout", "error timeout http_502").Replace(metricsYAML)
	r := newRig(t, "info", yaml, bad.Addr(), alsoBad.Addr())
	// GET: the first server's 502 is passed on, the second's is the last
	// server's answer and relayed.
	if status, _ := r.do("GET", "/size/10", nil); status != 502 {
		t.Fatalf("GET: %d, want the upstreams' 502", status)
	}
	// POST: the answer is kept, the request was sent (nginx).
	if status, _ := r.do("POST", "/post", []byte("once")); status != 502 {
		t.Fatalf("POST: %d, want 502", status)
	}
	log := r.log()
	for _, want := range []string{
		`[info] 4242#4242: *1 retrying: next upstream (upstream sent 502) while reading response header from upstream`,
		`[info] 4242#4242: *1 not retried: tries exhausted (upstream sent 502) while reading response header from upstream`,
		`not retried: non-idempotent request already sent (upstream sent 502) while reading response header from upstream, client: 127.0.0.1, server: , request: "POST /post HTTP/1.1", upstream: "http://U0/post"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the error log:\n%s", want, log)
		}
	}
	m := scrape(t, r.p.MetricsAddr())
	app0 := `upstream="app",server="` + bad.Addr() + `"`
	app1 := `upstream="app",server="` + alsoBad.Addr() + `"`
	post := `upstream="bad",server="` + bad.Addr() + `"`
	// Which server the GET met first is round-robin's choice: one of them
	// retried, the other kept, and the POST's server kept for its reason.
	retried := sumOf(m, "spillway_upstream_retries_total", `reason="next upstream"`)
	kept := m[`spillway_upstream_not_retried_total{`+app0+`,reason="tries exhausted"}`] + m[`spillway_upstream_not_retried_total{`+app1+`,reason="tries exhausted"}`]
	if retried != 1 || kept != 1 {
		t.Errorf("GET: %v retried and %v kept, want 1 and 1", retried, kept)
	}
	if n := m[`spillway_upstream_not_retried_total{`+post+`,reason="non-idempotent request already sent"}`]; n != 1 {
		t.Errorf("POST: not_retried{non-idempotent request already sent} = %v, want 1", n)
	}
}
