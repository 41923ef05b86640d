package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// start runs a simulated upstream for the test and stops it at the end.
func start(t *testing.T, behaviors ...upstreamsim.Behavior) *upstreamsim.Upstream {
	t.Helper()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", behaviors...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// probe runs Run against u's root. Tests raise Rate ("unless asked") and
// narrow IdleMax so that each finishes in a few seconds.
func probe(t *testing.T, u *upstreamsim.Upstream, cfg Config) *Report {
	t.Helper()
	cfg.URL = u.URL() + "/"
	if cfg.Rate == 0 {
		cfg.Rate = 50
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	return r
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got < want*0.9 || got > want*1.1 {
		t.Errorf("%s = %v, want %v ±10%%", what, got, want)
	}
}

func finding(r *Report, check string) string {
	for _, f := range r.Findings {
		if f.Check == check {
			return f.Summary + " → " + f.Advice + " | " + f.Nginx
		}
	}
	return ""
}

func TestProbeIdleRSTHeaderLimitRequests(t *testing.T) {
	t.Parallel()
	u := start(t, upstreamsim.IdleRST(time.Second), upstreamsim.HeaderLimit(6000, upstreamsim.ReplyDefault), upstreamsim.KeepaliveRequests(20))
	r := probe(t, u, Config{IdleMax: 2 * time.Second, Checks: []string{CheckIdle, CheckHeader, CheckKeepaliveRequests}})

	i := r.Idle
	if i == nil || !i.Found || i.Close != CloseRST || i.Reuse != CloseRST {
		t.Fatalf("idle: %+v", i)
	}
	near(t, "idle timeout", time.Duration(i.Timeout).Seconds(), 1)
	if i.Lo > i.Timeout || i.Hi < i.Timeout || float64(i.Hi)/float64(i.Lo) > 1.1 {
		t.Errorf("bracket [%v, %v] around %v", i.Lo, i.Hi, i.Timeout)
	}
	if f := finding(r, "idle timeout"); !strings.Contains(f, "after 1.0s with RST") || !strings.Contains(f, "keepalive_timeout 500ms") || !strings.Contains(f, "104: Connection reset by peer") ||
		!regexp.MustCompile(`spillway learns it \(keepalive_timeout_learn on\): "upstream `+regexp.QuoteMeta(u.Addr())+` closes idle connections after 1\.0s \(RST\); keeping them at most 0\.[89]\d*s"`).MatchString(f) {
		t.Errorf("idle finding: %s", f)
	}

	h := r.Header
	if h == nil || h.Reject != "431" {
		t.Fatalf("header: %+v", h)
	}
	near(t, "largest header", float64(h.MaxAccepted), 6000)
	if h.MaxAccepted > 6000 || h.FirstRejected <= 6000 {
		t.Errorf("header bracket %d..%d does not contain the limit 6000", h.MaxAccepted, h.FirstRejected)
	}

	k := r.KeepaliveRequests
	if k == nil || k.Limit != 20 || !k.Announced || k.Close != CloseFIN {
		t.Errorf("keepalive_requests: %+v", k)
	}
}

func TestProbeIdleFINHeaderReset(t *testing.T) {
	t.Parallel()
	u := start(t, upstreamsim.IdleFIN(1500*time.Millisecond), upstreamsim.HeaderLimit(20000, upstreamsim.ReplyReset), upstreamsim.KeepaliveRequests(7))
	r := probe(t, u, Config{IdleMax: 2500 * time.Millisecond, Checks: []string{CheckIdle, CheckHeader, CheckKeepaliveRequests}})

	// The reuse that meets the close may land as the upstream closes with
	// the request unread, which the kernel answers with RST: either is right.
	i := r.Idle
	if i == nil || !i.Found || i.Close != CloseFIN || (i.Reuse != CloseFIN && i.Reuse != CloseRST) {
		t.Fatalf("idle: %+v", i)
	}
	near(t, "idle timeout", time.Duration(i.Timeout).Seconds(), 1.5)
	if f := finding(r, "idle timeout"); !strings.Contains(f, "with FIN") || !strings.Contains(f, "keepalive_timeout 700ms") || !strings.Contains(f, "upstream prematurely closed connection") {
		t.Errorf("idle finding: %s", f)
	}
	if h := r.Header; h == nil || h.Reject != CloseRST {
		t.Errorf("header: %+v", h)
	} else {
		near(t, "largest header", float64(h.MaxAccepted), 20000)
	}
	if k := r.KeepaliveRequests; k == nil || k.Limit != 7 || !k.Announced {
		t.Errorf("keepalive_requests: %+v", k)
	}
}

func TestProbeSilentDropBisects(t *testing.T) {
	t.Parallel()
	// Nothing is sent when the upstream forgets the connection, so the
	// passive watch sees nothing and only the reuse bisection can find it.
	u := start(t, upstreamsim.IdleDrop(700*time.Millisecond))
	r := probe(t, u, Config{IdleMin: 200 * time.Millisecond, IdleMax: 1500 * time.Millisecond, Checks: []string{CheckIdle}})
	i := r.Idle
	if i == nil || !i.Found || i.Observed != 0 || i.Reuse != CloseRST {
		t.Fatalf("idle: %+v", i)
	}
	near(t, "idle timeout", time.Duration(i.Timeout).Seconds(), 0.7)
	if f := finding(r, "idle timeout"); !strings.Contains(f, "without closing them") ||
		!regexp.MustCompile(`spillway learns it from the failed reuses \(keepalive_timeout_learn on\): "upstream `+regexp.QuoteMeta(u.Addr())+` closes idle connections after \d\.\d+s \(RST\); keeping them at most \d\.\d+s"`).MatchString(f) {
		t.Errorf("finding: %s", f)
	}
}

func TestProbeNoIdleTimeout(t *testing.T) {
	t.Parallel()
	u := start(t)
	r := probe(t, u, Config{IdleMax: 500 * time.Millisecond, Checks: []string{CheckIdle}})
	if i := r.Idle; i == nil || i.Found || !strings.HasPrefix(i.Note, "no idle close within") {
		t.Errorf("idle: %+v", i)
	}
}

func TestProbeBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reply  upstreamsim.Reply
		reject string
		early  bool
		unread string // how the early answer's connection ends with a body in flight
	}{
		{upstreamsim.ReplyDefault, "413", true, CloseFIN}, // lingering close: drained, FIN
		{upstreamsim.Reply413Close, "413", true, CloseRST},
		{upstreamsim.ReplyReset, CloseRST, false, ""},
	} {
		t.Run("reply="+tc.reply.String(), func(t *testing.T) {
			t.Parallel()
			u := start(t, upstreamsim.BodyLimit(100_000, tc.reply))
			r := probe(t, u, Config{Checks: []string{CheckBody}, BodyMax: 4 << 20})
			b := r.Body
			if b == nil || b.Reject != tc.reject || b.Early != tc.early || b.Status != 200 || b.Unread != tc.unread {
				t.Fatalf("body: %+v", b)
			}
			near(t, "largest body", float64(b.MaxAccepted), 100_000)
			if b.MaxAccepted > 100_000 || b.FirstRejected <= 100_000 {
				t.Errorf("bracket %d..%d does not contain 100000", b.MaxAccepted, b.FirstRejected)
			}
			if f := finding(r, "request body"); !strings.Contains(f, "client_max_body_size 9") {
				t.Errorf("finding: %s", f)
			}
		})
	}
	t.Run("answers before the body", func(t *testing.T) {
		t.Parallel()
		b := upstreamsim.Status(405)
		b.SkipBody = true
		u := start(t, b.For("POST"))
		r := probe(t, u, Config{Checks: []string{CheckBody}})
		if r.Body == nil || !r.Body.Early || r.Body.EarlyStatus != 405 || r.Body.Status != 405 || r.Body.FirstRejected != 0 {
			t.Errorf("body: %+v", r.Body)
		}
	})
	t.Run("405 path behind a size limit", func(t *testing.T) {
		// nginx serving a static file: POST gets 405 at once, but a body
		// over client_max_body_size gets 413 first, then a lingering close.
		t.Parallel()
		b := upstreamsim.Status(405)
		b.SkipBody = true
		u := start(t, b.For("POST"), upstreamsim.BodyLimit(100_000, upstreamsim.ReplyDefault))
		r := probe(t, u, Config{Checks: []string{CheckBody}, BodyMax: 4 << 20})
		bd := r.Body
		if bd == nil || bd.Status != 405 || !bd.Early || bd.EarlyStatus != 405 || bd.Reject != "413" ||
			bd.UnreadStatus != 413 || bd.Unread != CloseFIN || bd.UnreadSize != 4<<20 {
			t.Fatalf("body: %+v", bd)
		}
		if bd.MaxAccepted > 100_000 || bd.FirstRejected <= 100_000 {
			t.Errorf("bracket %d..%d does not contain 100000", bd.MaxAccepted, bd.FirstRejected)
		}
		near(t, "largest body", float64(bd.MaxAccepted), 100_000)
		if f := finding(r, "request body"); !strings.Contains(f, "answered 405") || !strings.Contains(f, "refused: 413") ||
			!strings.Contains(f, "gets 413, then FIN") || !strings.Contains(f, "client_max_body_size 9") {
			t.Errorf("finding: %s", f)
		}
	})
}

func TestProbePipelineExpectKeepalive(t *testing.T) {
	t.Parallel()
	checks := []string{CheckPipeline, CheckExpect}
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		r := probe(t, start(t), Config{Checks: checks})
		if !r.Baseline.Keepalive || r.Baseline.Status != 200 || r.Baseline.HeaderBytes == 0 {
			t.Errorf("baseline: %+v", r.Baseline)
		}
		if r.Pipeline == nil || r.Pipeline.Answered != 2 {
			t.Errorf("pipeline: %+v", r.Pipeline)
		}
		if e := r.Expect; e == nil || !e.Continue || e.Status != 200 {
			t.Errorf("expect: %+v", e)
		}
	})
	t.Run("expect ignored, no keepalive", func(t *testing.T) {
		t.Parallel()
		r := probe(t, start(t, upstreamsim.Expect(upstreamsim.ExpectIgnore), upstreamsim.KeepaliveRequests(1)), Config{Checks: append(checks, CheckIdle)})
		if r.Baseline.Keepalive || r.KeepaliveRequests != nil || r.Idle != nil {
			t.Errorf("baseline: %+v", r.Baseline)
		}
		if f := finding(r, "idle timeout"); !strings.HasPrefix(f, "not measured: no keepalive") || finding(r, "requests/conn") != "" {
			t.Errorf("idle finding %q, requests/conn %q: want only the idle check said to be skipped", f, finding(r, "requests/conn"))
		}
		if r.Pipeline == nil || r.Pipeline.Answered != 1 || r.Pipeline.Close != CloseFIN {
			t.Errorf("pipeline: %+v", r.Pipeline)
		}
		if e := r.Expect; e == nil || !e.Ignored || e.Status != 200 {
			t.Errorf("expect: %+v", e)
		}
	})
}

func TestProbeFailures(t *testing.T) {
	t.Parallel()
	addr := upstreamsim.RefusedAddr(t)
	r, err := Run(context.Background(), Config{URL: "http://" + addr + "/", Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if r.Baseline.ConnectErr != "refused" || !strings.Contains(finding(r, "connect"), "connect() failed (111: Connection refused) while connecting to upstream") {
		t.Errorf("refused: %+v %v", r.Baseline, r.Findings)
	}

	for _, tc := range []struct {
		b     upstreamsim.Behavior
		nginx string
	}{
		{upstreamsim.Reset(), "recv() failed (104: Connection reset by peer) while reading response header from upstream"},
		{upstreamsim.CloseBeforeHeader(), "upstream prematurely closed connection while reading response header from upstream"},
		{upstreamsim.NoValidHTTP(), "upstream sent no valid HTTP/1.0 header"},
	} {
		r := probe(t, start(t, tc.b), Config{})
		if f := finding(r, "first byte"); !strings.Contains(f, tc.nginx) {
			t.Errorf("%s: %s", tc.b, f)
		}
	}
	if _, err := Run(context.Background(), Config{URL: "ftp://127.0.0.1:1/"}); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestProbeBoundedTimeAndRate(t *testing.T) {
	t.Parallel()
	u := start(t, upstreamsim.IdleFIN(time.Minute))
	// Default rate (5/s): the bound must hold whatever the checks still want.
	// The upstream closes idle connections after a minute: a probe that
	// waited for that would report the idle timeout.
	r, err := Run(context.Background(), Config{URL: u.URL() + "/", MaxTime: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Idle != nil && r.Idle.Found {
		t.Errorf("the idle check waited past --max-time 1.5s for the upstream's close: %+v", r.Idle)
	}
	// Paced requests plus the few unpaced second halves of reuse tests.
	if max := 5*time.Duration(r.Elapsed).Seconds() + 3; float64(r.Requests) > max {
		t.Errorf("%d requests in %v: more than 5/s", r.Requests, r.Elapsed)
	}
	if finding(r, "probe") == "" {
		t.Errorf("no out-of-time finding: %v", r.Findings)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.URL != r.URL || len(back.Findings) != len(r.Findings) {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestProbeProgress(t *testing.T) {
	t.Parallel()
	u := start(t, upstreamsim.IdleRST(1200*time.Millisecond))
	var buf syncBuffer
	probe(t, u, Config{IdleMax: 2 * time.Second, Checks: []string{CheckIdle}, Progress: &buf})
	if s := buf.String(); !strings.Contains(s, "idle: bisecting") || strings.Contains(s, "\x1b") {
		t.Errorf("progress (not a terminal: plain lines):\n%s", s)
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestKeepaliveTimeoutAdvice(t *testing.T) {
	for _, tc := range []struct {
		measured time.Duration
		want     string
	}{
		{4990 * time.Millisecond, "4s"}, // nginx keepalive_timeout 5s as measured
		{5 * time.Second, "4s"},
		{2 * time.Second, "1s"},
		{3 * time.Second, "2s"},
		{75 * time.Second, "60s"},
		{120 * time.Second, "96s"},
		{500 * time.Millisecond, "200ms"},
		{150 * time.Millisecond, "100ms"},
	} {
		if got := nginxDuration(keepaliveTimeoutFor(tc.measured)); got != tc.want {
			t.Errorf("%v: keepalive_timeout %s, want %s", tc.measured, got, tc.want)
		}
	}
}

// A probe out of time before its first answer says so; a dial or read cut
// off by --max-time is never reported as the upstream's doing.
func TestProbeOutOfTimeBeforeFirstAnswer(t *testing.T) {
	t.Parallel()
	u := start(t, upstreamsim.SlowHeader(5*time.Second))
	r, err := Run(context.Background(), Config{URL: u.URL() + "/", MaxTime: 800 * time.Millisecond, Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Check != "probe" || !strings.Contains(r.Findings[0].Summary, "before the first answer") {
		t.Errorf("findings: %+v (baseline %+v)", r.Findings, r.Baseline)
	}
}
