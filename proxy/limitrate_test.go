package proxy_test

// limit_rate, limit_rate_after, $limit_rate, X-Accel-Limit-Rate and
// proxy_limit_rate, on real sockets on 127.0.0.1.
//
// Timing on a loaded 2-core machine only ever makes a transfer slower, so
// every check here is one that load cannot break: a throttled answer took
// at least most of the time its rate needs (never an upper bound), and at
// every read the client had no more bytes than nginx's arithmetic allows
// by then, rate × (seconds since the request was sent + 1) + after (the
// proxy's clock starts after the client's, so its allowance is never
// larger). The waits on what the proxy frees are testutil.Eventually.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// rateOrigin serves /big?n=N: N bytes with a Content-Length (chunked
// with chunked=1), and the
// query's xal as X-Accel-Limit-Rate; it counts the answers it finished
// and the ones whose client (the proxy) went away.
type rateOrigin struct {
	addr           string
	finished, gone atomic.Int32
}

func newRateOrigin(t *testing.T) *rateOrigin {
	t.Helper()
	o := &rateOrigin{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if xal := r.URL.Query().Get("xal"); xal != "" {
			w.Header().Set("X-Accel-Limit-Rate", xal)
		}
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		if _, err := w.Write(bytes.Repeat([]byte("x"), n)); err != nil {
			o.gone.Add(1)
			return
		}
		o.finished.Add(1)
	}))
	t.Cleanup(s.Close)
	o.addr = s.Listener.Addr().String()
	return o
}

const limitRateConf = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  proxy_buffers: 4 8k
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$request_uri $status $limit_rate $upstream_response_time'}
      locations:
        - path: /files/
          root: {ROOT}
          limit_rate: 100k
        - path: /after/
          alias: {ROOT}/files/
          limit_rate: 100k
          limit_rate_after: 200k
        - path: /var/
          alias: {ROOT}/files/
          limit_rate: $arg_l
          limit_rate_after: $arg_a
        - path: /proxied/
          proxy_pass: http://{U0}/
        - path: /set/
          proxy_pass: http://{U0}/
          rewrite: [{set: "$limit_rate 100k"}]
        - path: /ignored/
          proxy_pass: http://{U0}/
          proxy_ignore_headers: X-Accel-Limit-Rate
        - path: /uplimit/
          proxy_pass: http://{U0}/
          proxy_limit_rate: 100k
        - path: /slow/
          proxy_pass: http://{U0}/
          limit_rate: 10k
        - path: /slowfile/
          alias: {ROOT}/files/
          limit_rate: 10k
        - path: /setvar/
          proxy_pass: http://{U0}/
          rewrite: [{set: "$limit_rate $arg_l"}]
        - path: /pvar/
          proxy_pass: http://{U0}/
          limit_rate: $arg_l
`

// limitRateRig starts the proxy of limitRateConf in front of a
// rateOrigin, with files/400k (400 KiB) and files/4m under its root.
func limitRateRig(t *testing.T) (*accessRig, *rateOrigin) {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int{"400k": 400 << 10, "4m": 4 << 20} {
		if err := os.WriteFile(filepath.Join(root, "files", name), bytes.Repeat([]byte("f"), n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := newRateOrigin(t)
	return newAccessRig(t, "info", strings.ReplaceAll(limitRateConf, "{ROOT}", root), true, o.addr), o
}

// rateGet sends a GET for path on c (Connection: close) and reads the
// answer to its end, failing the test when, at any read, more bytes (head
// included, as nginx counts) had come than rate and after allow by then.
// It returns the body and how long the answer took from the request.
func rateGet(t *testing.T, c net.Conn, path string, rate, after int64) ([]byte, time.Duration) {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // a bound, not a synchronisation
	start := time.Now()
	proto := "HTTP/1.1"
	if strings.Contains(path, "http10=1") {
		proto = "HTTP/1.0" // an unframed body for a chunked upstream answer
	}
	if _, err := fmt.Fprintf(c, "GET %s %s\r\nHost: localhost\r\nConnection: close\r\n\r\n", path, proto); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if rate > 0 {
			if allowed := float64(rate)*(time.Since(start).Seconds()+1) + float64(after); float64(got.Len()) > allowed {
				t.Fatalf("%s: %d bytes after %v, more than limit_rate %d (after %d) allows: %.0f", path, got.Len(), time.Since(start), rate, after, allowed)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v after %d bytes", path, err, got.Len())
		}
	}
	took := time.Since(start)
	resp, err := http.ReadResponse(bufio.NewReader(&got), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d, %v", path, resp.StatusCode, err)
	}
	return body, took
}

// atLeast fails the test when a transfer took less than min.
func atLeast(t *testing.T, what string, took, min time.Duration) {
	t.Helper()
	if took < min {
		t.Errorf("%s took %v, want at least %v", what, took, min)
	} else {
		t.Logf("%s took %v", what, took)
	}
}

// 400 KiB at limit_rate 100k is 3 s of transfer (nginx sends the first
// second's worth at once): a static file, a file behind variables
// (limit_rate $arg_l), an upstream's answer whose X-Accel-Limit-Rate says
// 102400, one that set $limit_rate 100k (also unframed, to an HTTP/1.0
// client, from a hijack). None may finish in under 2 s,
// none may run ahead of the rate at any moment, each gets its whole body,
// and $limit_rate logs the rate each had. limit_rate_after 200k leaves 1 s
// of it; an X-Accel-Limit-Rate that proxy_ignore_headers names, and
// limit_rate_after past the body, limit nothing.
func TestLimitRate(t *testing.T) {
	r, _ := limitRateRig(t)
	const size = 400 << 10
	cases := []struct {
		path        string
		rate, after int64
		min         time.Duration
	}{
		{"/files/400k", 100 << 10, 0, 2 * time.Second},
		{"/var/400k?l=100k", 100 << 10, 0, 2 * time.Second},
		{"/proxied/big?n=409600&xal=102400", 102400, 0, 2 * time.Second},
		{"/set/big?n=409600", 100 << 10, 0, 2 * time.Second},
		{"/set/big?n=409600&chunked=1&http10=1", 100 << 10, 0, 2 * time.Second},
		{"/after/400k", 100 << 10, 200 << 10, 500 * time.Millisecond},
		{"/var/400k?l=100k&a=1m", 0, 0, 0},
		{"/ignored/big?n=409600&xal=1", 0, 0, 0}, // at 1 byte/s it would never end
		{"/var/400k", 0, 0, 0},
	}
	t.Run("group", func(t *testing.T) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.path, "/", "_"), func(t *testing.T) {
				t.Parallel()
				body, took := rateGet(t, btDial(t, r.addr), c.path, c.rate, c.after)
				if len(body) != size {
					t.Errorf("%s: %d body bytes, want %d", c.path, len(body), size)
				}
				atLeast(t, c.path, took, c.min)
			})
		}
	})
	lines := r.accessLog()
	want := map[string]string{
		"/files/400k":                          "200 102400",
		"/var/400k?l=100k":                     "200 102400",
		"/proxied/big?n=409600&xal=102400":     "200 102400",
		"/set/big?n=409600":                    "200 102400",
		"/set/big?n=409600&chunked=1&http10=1": "200 102400",
		"/after/400k":                          "200 102400",
		"/var/400k?l=100k&a=1m":                "200 102400",
		"/ignored/big?n=409600&xal=1":          "200 0",
		"/var/400k":                            "200 0",
	}
	for _, l := range lines {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		if w, ok := want[f[0]]; !ok || strings.Join(f[1:3], " ") != w {
			t.Errorf("access log %q: want %q", l, f[0]+" "+w)
		}
		delete(want, f[0])
	}
	if len(want) > 0 {
		t.Errorf("no access-log line for %v", want)
	}
	// "limit_rate $arg_l" with no l: nginx's ngx_http_complex_value_size
	// logs the empty value as an invalid size, and limits nothing.
	if log := r.log(); !strings.Contains(log, `[error] 4242#4242: *`) || !strings.Contains(log, ` invalid size "" while sending response to client, client: 127.0.0.1, server: localhost, request: "GET /var/400k HTTP/1.1", host: "localhost"`) {
		t.Errorf("error log:\n%s\nwant nginx's invalid size line", log)
	}
}

// proxy_limit_rate 100k reads a 400 KiB buffered answer from the
// upstream in no less than 2 s ($upstream_response_time), while the
// client, which has no limit_rate, gets it all.
func TestProxyLimitRate(t *testing.T) {
	r, o := limitRateRig(t)
	body, took := rateGet(t, btDial(t, r.addr), "/uplimit/big?n=409600", 0, 0)
	if len(body) != 409600 {
		t.Errorf("%d body bytes, want 409600", len(body))
	}
	atLeast(t, "the answer", took, 2*time.Second)
	lines := r.accessLog()
	f := strings.Fields(lines[0])
	if len(f) != 4 || f[0] != "/uplimit/big?n=409600" || f[1] != "200" {
		t.Fatalf("access log %q", lines)
	}
	if rt, err := strconv.ParseFloat(f[3], 64); err != nil || rt < 2 {
		t.Errorf("$upstream_response_time %s, want at least 2 s of reading at proxy_limit_rate", f[3])
	}
	if o.finished.Load() != 1 {
		t.Errorf("the origin finished %d answers, want 1", o.finished.Load())
	}
}

// A client that resets its connection while its answer is throttled
// frees everything: the spool's memory and temp file (a 4 MiB upstream
// answer at limit_rate 10k spills), the upstream connection, the
// goroutines; a throttled static file too. Each request is logged once.
func TestLimitRateClientLeaves(t *testing.T) {
	r, _ := limitRateRig(t)
	baseG := runtime.NumGoroutine()
	for _, path := range []string{"/slow/big?n=4194304", "/slowfile/4m"} {
		c := btDial(t, r.addr)
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 4096)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_ = c.SetLinger(0)
		_ = c.Close() // an RST while the proxy waits to send more
	}
	testutil.Eventually(t, "the throttled answers' buffers and temp files to be freed", 20*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.ChunksInUse == 0 && st.FilesOpen == 0
	})
	if st := r.p.BufferStats(); st.FilesCreated == 0 {
		t.Errorf("the proxied answer never spilled (%+v): the test does not test its temp file", st)
	}
	testutil.Eventually(t, "the goroutines back", 20*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+2 })
	lines := r.accessLog()
	slices.Sort(lines)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "/slow/big?n=4194304 200 10240 ") || !strings.HasPrefix(lines[1], "/slowfile/4m 200 10240 ") {
		t.Errorf("access log %q, want one line per request", lines)
	}
}

// A value that is not a size limits nothing, with nginx's lines (measured
// on nginx 1.22.1): set's at once, without an action; limit_rate's as the
// answer starts, "while sending to client" with the upstream.
func TestLimitRateInvalidValues(t *testing.T) {
	r, _ := limitRateRig(t)
	for _, path := range []string{"/setvar/big?n=1000&l=abc", "/pvar/big?n=1000&l=1q", "/setvar/big?n=1000&l=1k"} {
		if body, _ := rateGet(t, btDial(t, r.addr), path, 0, 0); len(body) != 1000 {
			t.Errorf("%s: %d body bytes", path, len(body))
		}
	}
	lines := r.accessLog()
	slices.Sort(lines)
	if want := []string{"/pvar/big?n=1000&l=1q 200 0 ", "/setvar/big?n=1000&l=1k 200 1024 ", "/setvar/big?n=1000&l=abc 200 0 "}; len(lines) != 3 ||
		!strings.HasPrefix(lines[0], want[0]) || !strings.HasPrefix(lines[1], want[1]) || !strings.HasPrefix(lines[2], want[2]) {
		t.Errorf("access log %q, want %q", lines, want)
	}
	log := r.log()
	for _, want := range []string{
		` invalid $limit_rate "abc", client: 127.0.0.1, server: localhost, request: "GET /setvar/big?n=1000&l=abc HTTP/1.1", host: "localhost"`,
		` invalid size "1q" while sending to client, client: 127.0.0.1, server: localhost, request: "GET /pvar/big?n=1000&l=1q HTTP/1.1", upstream: "http://U0/big?n=1000&l=1q", host: "localhost"`,
	} {
		if !strings.Contains(log, "[error] 4242#4242: *") || !strings.Contains(log, want) {
			t.Errorf("error log:\n%s\nwant a line with %s", log, want)
		}
	}
}
