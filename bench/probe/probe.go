package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Probe checks, by name; Config.Checks selects some of them.
const (
	CheckKeepaliveRequests = "keepalive_requests"
	CheckIdle              = "idle"
	CheckHeader            = "header"
	CheckBody              = "body"
	CheckPipeline          = "pipeline"
	CheckExpect            = "expect"
)

// AllChecks lists every check in report order. The baseline (connect, first
// byte, keepalive) always runs.
func AllChecks() []string {
	return []string{CheckKeepaliveRequests, CheckIdle, CheckHeader, CheckBody, CheckPipeline, CheckExpect}
}

// Config says what to probe and how hard. The zero value of every
// field but URL is a sensible default.
type Config struct {
	URL string // http://host[:port]/path or https://...; host:port alone means http://host:port/; the path is what GET requests ask for
	// Insecure skips the check of an https:// upstream's certificate
	// (self-signed test upstreams), like curl -k.
	Insecure bool

	// MaxTime bounds the whole probe (default 60s). Checks still running
	// then are cut short and reported as far as they got.
	MaxTime time.Duration
	// Rate is the most requests per second the probe sends (default 5).
	// Requests that end an idle period are not delayed by it (that would
	// change the period) but are counted.
	Rate float64
	// IdleMin and IdleMax bound the idle timeout search (default 100ms and
	// 50s, always within MaxTime).
	IdleMin, IdleMax time.Duration
	// HeaderMax is the largest request head tried (default 1 MiB).
	HeaderMax int
	// BodyMax is the largest request body tried (default 8 MiB).
	BodyMax int64
	// RequestsMax is how many requests the keepalive_requests check sends
	// on one connection before giving up (default 100).
	RequestsMax int
	// Checks selects checks (see AllChecks); nil runs all.
	Checks []string
	// Timeout bounds one exchange (default 10s).
	Timeout time.Duration

	// Progress, when set, receives a progress line while the probe runs: a
	// live, rewritten line on a terminal, plain lines otherwise.
	Progress io.Writer
}

func (cfg *Config) defaults() {
	if cfg.MaxTime <= 0 {
		cfg.MaxTime = 60 * time.Second
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 5
	}
	if cfg.IdleMin <= 0 {
		cfg.IdleMin = 100 * time.Millisecond
	}
	if cfg.IdleMax <= 0 {
		cfg.IdleMax = 50 * time.Second
	}
	if cfg.HeaderMax <= 0 {
		cfg.HeaderMax = 1 << 20
	}
	if cfg.BodyMax <= 0 {
		cfg.BodyMax = 8 << 20
	}
	if cfg.RequestsMax <= 0 {
		cfg.RequestsMax = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Checks == nil {
		cfg.Checks = AllChecks()
	}
}

// prober is one Run.
type prober struct {
	cfg      Config
	addr     string      // host:port to dial
	host     string      // Host header
	path     string      // request target
	tls      *tls.Config // an https:// upstream; nil for http://
	pace     pacer
	prog     *progress
	requests atomic.Int64
}

// Run characterises the HTTP/1.1 upstream at cfg.URL from the outside and
// explains what it found in nginx's vocabulary. It returns an error only
// for a bad configuration; an unreachable or broken upstream is a finding.
// It never sends more than cfg.Rate requests a second and returns within
// about cfg.MaxTime.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if !strings.Contains(cfg.URL, "://") {
		cfg.URL = "http://" + cfg.URL // host:port, as nginx's proxy_pass has it after the scheme
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("probe: only http:// and https:// URLs are supported, got %q", cfg.URL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("probe: no host in %q", cfg.URL)
	}
	for _, c := range cfg.Checks {
		if !slices.Contains(AllChecks(), c) {
			return nil, fmt.Errorf("probe: unknown check %q (have %s)", c, strings.Join(AllChecks(), ", "))
		}
	}
	p := &prober{cfg: cfg, host: u.Host, path: u.RequestURI(), addr: u.Host}
	if u.Port() == "" {
		p.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		p.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: cfg.Insecure} //nolint:gosec // --insecure, asked for
	}
	p.pace.gap = time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxTime)
	defer cancel()
	p.prog = newProgress(cfg.Progress, start)
	defer p.prog.stop()

	r := &Report{URL: cfg.URL}
	r.Baseline = p.baseline(ctx)
	if r.Baseline.ConnectErr == "" && r.Baseline.RequestErr == "" {
		var wg sync.WaitGroup
		run := func(name string, f func()) {
			if slices.Contains(cfg.Checks, name) {
				wg.Go(f)
			}
		}
		base := r.Baseline
		if base.Keepalive {
			run(CheckKeepaliveRequests, func() { r.KeepaliveRequests = p.keepaliveRequests(ctx) })
			run(CheckIdle, func() { r.Idle = p.idle(ctx) })
		}
		run(CheckHeader, func() { r.Header = p.headerLimit(ctx) })
		run(CheckBody, func() { r.Body = p.bodyLimit(ctx, time.Duration(base.FirstByte)) })
		run(CheckPipeline, func() { r.Pipeline = p.pipeline(ctx) })
		run(CheckExpect, func() { r.Expect = p.expect(ctx) })
		wg.Wait()
	}
	r.Elapsed = Duration(time.Since(start))
	r.Requests = int(p.requests.Load())
	r.Findings = findings(r, &cfg, expired(ctx))
	return r, nil
}

var errOutOfTime = errors.New("out of time (--max-time)")

// kindOutOfTime is the baseline's error when --max-time ended it.
const kindOutOfTime = "out of time"

// expired reports whether the probe is out of time. The deadline is checked
// directly: a socket deadline or a dial can fail at --max-time a moment
// before ctx.Err() says so, and such a failure must not become a finding.
func expired(ctx context.Context) bool {
	return ctx.Err() != nil || !time.Now().Before(deadlineOf(ctx))
}

// pacer spaces requests at least gap apart, across all checks.
type pacer struct {
	mu   sync.Mutex
	next time.Time
	gap  time.Duration
}

func (pc *pacer) wait(ctx context.Context) error {
	pc.mu.Lock()
	now := time.Now()
	at := now
	if pc.next.After(now) {
		at = pc.next
	}
	pc.next = at.Add(pc.gap)
	pc.mu.Unlock()
	return sleepCtx(ctx, time.Until(at))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pconn is one probe connection. Deadlines are set on the TCP connection
// (they hold for TLS over it too); requests are written to w, which is the
// TLS connection for an https:// upstream.
type pconn struct {
	p  *prober
	c  *net.TCPConn
	w  io.Writer
	cr *countingReader
	br *bufio.Reader
}

// countingReader counts bytes read from the socket and notes the first.
type countingReader struct {
	r     io.Reader
	n     int64
	first time.Time
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	if n > 0 && cr.first.IsZero() {
		cr.first = time.Now()
	}
	cr.n += int64(n)
	return n, err
}

// dial waits for a request slot and connects.
func (p *prober) dial(ctx context.Context) (*pconn, time.Duration, error) {
	if err := p.pace.wait(ctx); err != nil {
		return nil, 0, err
	}
	return p.dialNow(ctx)
}

func (p *prober) dialNow(ctx context.Context) (*pconn, time.Duration, error) {
	d := net.Dialer{Timeout: min(p.cfg.Timeout, 10*time.Second)}
	t0 := time.Now()
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, 0, err
	}
	var rw io.ReadWriter = c
	if p.tls != nil {
		tc := tls.Client(c, p.tls)
		hctx, cancel := context.WithTimeout(ctx, d.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = c.Close()
			return nil, 0, &tlsError{err}
		}
		rw = tc
	}
	cr := &countingReader{r: rw}
	return &pconn{p: p, c: c.(*net.TCPConn), w: rw, cr: cr, br: bufio.NewReaderSize(cr, 64<<10)}, time.Since(t0), nil
}

// tlsError is a failed TLS handshake with an https:// upstream.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

func (pc *pconn) close() { _ = pc.c.Close() }

// exchange is one answered request.
type exchange struct {
	resp      *http.Response
	bodyBytes int64
	firstByte time.Duration // request written → first response byte
	headBytes int
}

// request builds a request head for the probed path.
func (p *prober) request(method string, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: spillway-probe\r\nAccept: */*\r\n", method, p.path, p.host)
	for _, h := range extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// do writes req (already paced by the caller) and reads one full response.
func (pc *pconn) do(ctx context.Context, req []byte) (*exchange, error) {
	pc.p.requests.Add(1)
	deadline := time.Now().Add(pc.p.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = pc.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Now()) })
	defer stop()
	pc.cr.first = time.Time{}
	before := pc.cr.n - int64(pc.br.Buffered())
	t0 := time.Now()
	if _, err := pc.w.Write(req); err != nil {
		return nil, err
	}
	return pc.read(t0, before, req)
}

// read reads one response (skipping nothing) that was asked for at t0.
func (pc *pconn) read(t0 time.Time, before int64, req []byte) (*exchange, error) {
	buffered := pc.br.Buffered() > 0
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		return nil, err
	}
	x := &exchange{resp: resp, headBytes: int(pc.cr.n - int64(pc.br.Buffered()) - before)}
	if !buffered && !pc.cr.first.IsZero() {
		x.firstByte = pc.cr.first.Sub(t0)
	}
	if !strings.HasPrefix(string(req), "HEAD ") {
		x.bodyBytes, err = io.Copy(io.Discard, resp.Body)
	}
	return x, err
}

// kindOf names how an exchange failed: CloseRST, CloseFIN, CloseTimeout,
// "refused", or the error text.
func kindOf(err error) string {
	var te *tlsError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return te.Error()
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		// EPIPE: writing after the peer's RST was already reported.
		return CloseRST
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CloseFIN
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CloseTimeout
	}
	return err.Error()
}

// closeAfter waits up to d for the upstream to end a connection whose last
// response announced Connection: close, and says how it did.
func (pc *pconn) closeAfter(d time.Duration) string {
	_ = pc.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, pc.br)
	if err == nil {
		return CloseFIN
	}
	return kindOf(err)
}

// baseline connects a few times, sends one GET, then a second one on the
// same connection.
func (p *prober) baseline(ctx context.Context) *BaselineResult {
	b := &BaselineResult{}
	p.prog.set("baseline", "connecting")
	defer p.prog.set("baseline", "")
	var times []time.Duration
	var pc *pconn
	for i := 0; i < 3; i++ {
		c, d, err := p.dial(ctx)
		if err != nil {
			b.ConnectErr = kindOf(err)
			if expired(ctx) {
				b.ConnectErr = kindOutOfTime
			}
			return b
		}
		times = append(times, d)
		if pc != nil {
			pc.close()
		}
		pc = c
	}
	defer pc.close()
	slices.Sort(times)
	b.Connect = Duration(times[len(times)/2])
	x, err := pc.do(ctx, p.request("GET"))
	if err != nil {
		b.RequestErr = kindOf(err)
		if expired(ctx) {
			b.RequestErr = kindOutOfTime
		}
		return b
	}
	b.FirstByte = Duration(x.firstByte)
	b.Status, b.Proto, b.HeaderBytes = x.resp.StatusCode, x.resp.Proto, x.headBytes
	b.Server = x.resp.Header.Get("Server")
	if x.resp.Close {
		b.NoKeepalive = "answers with Connection: close"
		if x.resp.ProtoMajor == 1 && x.resp.ProtoMinor == 0 {
			b.NoKeepalive = "answers in HTTP/1.0 and closes"
		}
		return b
	}
	if err := p.pace.wait(ctx); err != nil {
		return b
	}
	if _, err := pc.do(ctx, p.request("GET")); err != nil {
		b.NoKeepalive = "second request on the connection failed (" + kindOf(err) + ")"
		return b
	}
	b.Keepalive = true
	return b
}

// progress shows what the running checks are doing, on one line: rewritten
// five times a second on a terminal, printed at most once a second (when it
// changed) elsewhere.
type progress struct {
	w     io.Writer
	live  bool
	start time.Time
	mu    sync.Mutex
	parts map[string]string
	quit  chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer, start time.Time) *progress {
	pr := &progress{w: w, start: start, parts: make(map[string]string)}
	if w == nil {
		return pr
	}
	if f, ok := w.(*os.File); ok {
		pr.live = IsTerminal(f)
	}
	pr.quit, pr.done = make(chan struct{}), make(chan struct{})
	go pr.run()
	return pr
}

// set replaces the status of one check ("" removes it).
func (pr *progress) set(check, text string) {
	if pr.w == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if text == "" {
		delete(pr.parts, check)
	} else {
		pr.parts[check] = text
	}
}

func (pr *progress) line() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	keys := make([]string, 0, len(pr.parts))
	for k := range pr.parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+pr.parts[k])
	}
	return strings.Join(parts, " | ")
}

func (pr *progress) run() {
	defer close(pr.done)
	period := time.Second
	if pr.live {
		period = 200 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-pr.quit:
			if pr.live {
				fmt.Fprint(pr.w, "\r\x1b[K")
			}
			return
		case <-t.C:
			line := pr.line()
			stamp := fmt.Sprintf("[%4.0fs] ", time.Since(pr.start).Seconds())
			switch {
			case pr.live:
				if len(line) > 150 {
					line = line[:147] + "..."
				}
				fmt.Fprint(pr.w, "\r\x1b[K"+stamp+line)
			case line != last && line != "":
				fmt.Fprintln(pr.w, stamp+line)
			}
			last = line
		}
	}
}

func (pr *progress) stop() {
	if pr.quit != nil {
		close(pr.quit)
		<-pr.done
	}
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
