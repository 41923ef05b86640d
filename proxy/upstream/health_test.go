package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/closewatch"
)

// The counting itself, without sockets: fails in a row mark down, passes
// in a row bring back, and a success or failure in between resets the run.
func TestHealthCheckCounting(t *testing.T) {
	g := NewGroup("app", &config.Upstream{Servers: []config.UpstreamServer{
		{Address: "a:1", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
		{Address: "b:1", Weight: 1, MaxFails: 1, FailTimeout: time.Second},
	}}, nil)
	buf := &bytes.Buffer{} // observe logs synchronously
	c := &checker{g: g, p: g.peers[1], hc: &config.HealthCheck{Fails: 3, Passes: 2},
		elog: errorlog.New(buf, errorlog.Warn, errorlog.Options{PID: 1})}
	bad := &checkError{msg: "connect() failed (111: Connection refused)"}
	steps := []struct {
		err     error
		healthy bool
	}{
		{bad, true}, {bad, true}, {nil, true}, // a success resets the failure run
		{bad, true}, {bad, true}, {bad, false}, // third in a row
		{bad, false}, {nil, false}, {bad, false}, // a failure resets the success run
		{nil, false}, {nil, true}, {nil, true},
	}
	for i, s := range steps {
		c.observe(s.err)
		if got := g.Healthy(c.p); got != s.healthy {
			t.Fatalf("step %d: healthy = %v, want %v", i, got, s.healthy)
		}
	}
	want := "[warn] 1#1: upstream server b:1 is unhealthy: connect() failed (111: Connection refused) during health check, upstream: \"app\"\n" +
		"[warn] 1#1: upstream server b:1 is healthy again, upstream: \"app\"\n"
	if got := stripTime(buf.String()); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	// While b is down, pick never returns it.
	c.observe(bad)
	c.observe(bad)
	c.observe(bad)
	for range 10 {
		if pr := g.Pick(nil); pr != g.peers[0] {
			t.Fatalf("picked %v, want a", pr.addr)
		}
	}
}

func stripTime(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, " ["); i >= 0 {
			l = l[i+1:]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// hcCheck runs one check of addr with hc and returns its result.
func hcCheck(t *testing.T, addr string, hc config.HealthCheck) error {
	t.Helper()
	if hc.Interval == 0 {
		hc.Interval = time.Second
	}
	if hc.Timeout == 0 {
		hc.Timeout = time.Second
	}
	if hc.Type == "" {
		hc.Type = config.HealthCheckHTTP
	}
	if hc.URI == "" {
		hc.URI = "/"
	}
	if hc.Status == nil {
		hc.Status = []config.StatusRange{{Lo: 200, Hi: 399}}
	}
	g := NewGroup("app", &config.Upstream{HealthCheck: &hc, Servers: []config.UpstreamServer{{Address: addr, Weight: 1}}}, nil)
	c := &checker{g: g, p: g.peers[0], hc: &hc}
	return c.check(context.Background())
}

// The product's reason for the feature: the upstream sees spillway close
// the check connection with FIN, never RST, even when the response has a
// body spillway does not need, the upstream keeps the connection open, or
// the check fails.
func TestHealthCheckClosesWithFIN(t *testing.T) {
	body := strings.Repeat("x", 32<<10) // more than one read, left unread by the status line
	cases := []struct {
		name          string
		hc            config.HealthCheck
		banner, reply string
		wantErr       string // "" = healthy
	}{
		{"http 200 with a body, keepalive upstream", config.HealthCheck{URI: "/health"}, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 32768\r\n\r\n" + body, ""},
		{"http 503 with a body", config.HealthCheck{}, "",
			"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 32768\r\n\r\n" + body, "upstream sent status 503, expected 200-399"},
		{"chunked body", config.HealthCheck{}, "",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n" + body + "\r\n0\r\n\r\n", ""},
		{"not HTTP", config.HealthCheck{}, "", "hello\r\n" + body, "upstream sent no valid HTTP/1.0 header"},
		{"no answer: timeout", config.HealthCheck{Timeout: 100 * time.Millisecond}, "", "",
			"recv() timed out (110: Connection timed out)"},
		{"tcp check of a server that greets first", config.HealthCheck{Type: config.HealthCheckTCP}, "220 hello\r\n" + body, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := closewatch.Start(t, c.banner, c.reply)
			err := hcCheck(t, w.Addr, c.hc)
			if (err == nil) != (c.wantErr == "") || (err != nil && err.Error() != c.wantErr) {
				t.Fatalf("check = %v, want %q", err, c.wantErr)
			}
			if ended := w.HowEnded(t); ended != io.EOF {
				t.Fatalf("the upstream saw %v, want EOF (FIN)", ended)
			}
		})
	}
}

// The control for the test above: the watcher does see RST when a client
// closes with unread data, which a check that closed right after the status
// line would do on Linux.
func TestCloseWatcherSeesRST(t *testing.T) {
	w := closewatch.Start(t, "", "HTTP/1.1 200 OK\r\nContent-Length: 32768\r\n\r\n"+strings.Repeat("x", 32<<10))
	c, err := net.Dial("tcp", w.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-w.Heads
	br := bufio.NewReaderSize(c, 4096)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	_ = c.Close() // unread body in the receive buffer
	if ended := w.HowEnded(t); !errors.Is(ended, syscall.ECONNRESET) {
		t.Fatalf("the upstream saw %v, want ECONNRESET: the FIN test would prove nothing", ended)
	}
}

// What a check sends, byte for byte.
func TestHealthCheckRequest(t *testing.T) {
	w := closewatch.Start(t, "", "HTTP/1.1 204 No Content\r\n\r\n")
	if err := hcCheck(t, w.Addr, config.HealthCheck{URI: "/status?full=1", Host: "app.internal"}); err != nil {
		t.Fatal(err)
	}
	want := "GET /status?full=1 HTTP/1.1\r\nHost: app.internal\r\nConnection: close\r\nUser-Agent: spillway-health\r\n\r\n"
	if got := <-w.Heads; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
	w.HowEnded(t)
	// Host defaults to the server's address.
	if err := hcCheck(t, w.Addr, config.HealthCheck{}); err != nil {
		t.Fatal(err)
	}
	if got := <-w.Heads; !strings.Contains(got, "\r\nHost: "+w.Addr+"\r\n") {
		t.Errorf("request %q lacks Host: %s", got, w.Addr)
	}
	w.HowEnded(t)
}

func TestHealthCheckStatusRanges(t *testing.T) {
	cases := []struct {
		status int
		expect []config.StatusRange
		ok     bool
	}{
		{200, nil, true}, {302, nil, true}, {399, nil, true}, {400, nil, false}, {503, nil, false},
		{302, []config.StatusRange{{Lo: 200, Hi: 200}}, false},
		{404, []config.StatusRange{{Lo: 200, Hi: 299}, {Lo: 404, Hi: 404}}, true},
		{204, []config.StatusRange{{Lo: 200, Hi: 299}, {Lo: 404, Hi: 404}}, true},
		{500, []config.StatusRange{{Lo: 500, Hi: 599}}, true},
	}
	for _, c := range cases {
		w := closewatch.Start(t, "", fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", c.status))
		err := hcCheck(t, w.Addr, config.HealthCheck{Status: c.expect})
		if (err == nil) != c.ok {
			t.Errorf("status %d with %v: check = %v, want ok %v", c.status, c.expect, err, c.ok)
		}
		w.HowEnded(t)
	}
}

func TestReadStatus(t *testing.T) {
	cases := []struct {
		in   string
		code int
		err  string
	}{
		{"HTTP/1.1 200 OK\r\n", 200, ""},
		{"HTTP/1.0 503\r\n", 503, ""},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n", 204, ""},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\n", 404, ""},
		{"", 0, "upstream prematurely closed connection"},
		{"hello\r\n", 0, "upstream sent no valid HTTP/1.0 header"},
		{"HTTP/1.1 2x0 OK\r\n", 0, "upstream sent no valid HTTP/1.0 header"},
		{strings.Repeat("H", 5000), 0, "upstream sent no valid HTTP/1.0 header"},
		{"HTTP/1.1 100 Continue\r\n", 0, "upstream prematurely closed connection"},
	}
	for _, c := range cases {
		code, err := readStatus(bufio.NewReaderSize(strings.NewReader(c.in), checkHeadBuf))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if code != c.code || got != c.err {
			t.Errorf("%.40q: got %d %q, want %d %q", c.in, code, got, c.code, c.err)
		}
	}
}
