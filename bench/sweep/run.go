package sweep

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// Options describe one sweep.
type Options struct {
	Configs     []BufferConfig
	Sizes       []int64
	Clients     []ClientSpec
	Concurrency []int

	// Duration is each cell's load time; 0 divides MaxTime among the cells.
	Duration time.Duration
	// MaxTime bounds the whole sweep: cells that would start after it are
	// skipped and listed in Report.Skipped.
	MaxTime time.Duration
	// Grace is how long requests in flight at the end of a cell may take
	// to finish before their connections are closed; 0 means max(cell
	// duration, 1s).
	Grace time.Duration
	// Seed orders the cells (and interleaves targets) reproducibly.
	Seed uint64
	// Compare adds a second target per cell: "nginx" (run from PATH).
	Compare string
	// ProxyURL targets an external proxy instead of the in-process one; the
	// buffer grid then only labels the cells (the external proxy's own
	// configuration applies) and buffer-pool numbers are not available.
	ProxyURL string
	// OriginAddr is where the built-in origin listens; "" picks a free
	// loopback port. An external proxy (ProxyURL) must forward to it.
	OriginAddr string
	// Progress receives one progress line per cell; nil discards.
	Progress io.Writer
}

// Result is one cell's measurements.
type Result struct {
	Cell
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Aborted  int64   `json:"aborted"` // in flight at the cell's hard stop
	FirstErr string  `json:"first_error,omitempty"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`

	// CPUus is CPU µs per request. For spillway it is the whole bench
	// process (proxy, origin and load generator share it); for nginx it is
	// the nginx processes only. CPUScope says which.
	CPUus    float64 `json:"cpu_us_per_req"`
	CPUScope string  `json:"cpu_scope"`

	PeakPoolBytes int64 `json:"peak_pool_bytes"` // buffer.Stats.PeakBytesInUse; -1 unknown
	PeakRSSBytes  int64 `json:"peak_rss_bytes"`  // nginx only (VmHWM summed over its processes); -1 unknown
	SpilledBytes  int64 `json:"spilled_bytes"`   // -1 unknown
	FilesCreated  int64 `json:"files_created"`   // -1 unknown

	HoldCount  int64   `json:"hold_count"`
	HoldMeanms float64 `json:"hold_mean_ms"`
	HoldP50ms  float64 `json:"hold_p50_ms"`
	HoldP99ms  float64 `json:"hold_p99_ms"`
}

// Report is a finished sweep.
type Report struct {
	Started         time.Time        `json:"started"`
	Seed            uint64           `json:"seed"`
	Duration        string           `json:"cell_duration"`
	Results         []Result         `json:"results"`
	Skipped         []string         `json:"skipped,omitempty"`
	Recommendations []Recommendation `json:"recommendations"`
	Ratios          []Ratio          `json:"nginx_ratios,omitempty"`
	Notes           []string         `json:"notes"`
}

// target is something the load is sent to: the in-process proxy, nginx or
// an external proxy. start prepares it for one cell; the returned stop ends
// the cell and fills in what only the target knows.
type target interface {
	name() string
	start(c BufferConfig, conc int) (addr string, stop func(*Result) error, err error)
}

// Run runs the sweep. It stops early (with the cells done so far) when
// MaxTime is reached.
func Run(opts Options) (*Report, error) {
	if len(opts.Configs) == 0 || len(opts.Sizes) == 0 || len(opts.Clients) == 0 || len(opts.Concurrency) == 0 {
		return nil, errors.New("empty grid")
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	var maxSize int64
	for _, s := range opts.Sizes {
		maxSize = max(maxSize, s)
	}
	origin, err := StartOrigin(opts.OriginAddr, maxSize)
	if err != nil {
		return nil, err
	}
	defer origin.Close()

	var targets []target
	switch {
	case opts.ProxyURL != "":
		t, err := newExternal(opts.ProxyURL)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	default:
		targets = append(targets, &inProcess{origin: origin.Addr()})
	}
	switch opts.Compare {
	case "":
	case "nginx":
		t, err := newNginx(origin.Addr())
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	default:
		return nil, fmt.Errorf("--compare %q: only nginx is supported", opts.Compare)
	}

	type job struct {
		cell Cell
		t    target
	}
	var jobs []job
	for _, c := range opts.Configs {
		for _, s := range opts.Sizes {
			for _, cl := range opts.Clients {
				for _, n := range opts.Concurrency {
					// Targets of one cell stay adjacent (interleaved runs);
					// the cells themselves are shuffled by the seed so that
					// drift over the sweep doesn't favour one configuration.
					for _, t := range targets {
						jobs = append(jobs, job{Cell{Target: t.name(), Config: c, Load: Workload{Size: s, Client: cl, Concurrency: n}}, t})
					}
				}
			}
		}
	}
	nt := len(targets)
	groups := len(jobs) / nt
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed))
	perm := rng.Perm(groups)
	ordered := make([]job, 0, len(jobs))
	for i, g := range perm {
		group := jobs[g*nt : (g+1)*nt]
		if i%2 == 1 { // alternate which target goes first
			group = append([]job(nil), group...)
			slices.Reverse(group)
		}
		ordered = append(ordered, group...)
	}

	d := opts.Duration
	if d == 0 {
		// A cell takes d, plus up to grace (= d) for slow responses in
		// flight, plus the proxy's start and stop.
		per := opts.MaxTime/time.Duration(len(ordered)) - cellOverhead
		d = min(max(per/2, 100*time.Millisecond), 5*time.Second)
	}
	rep := &Report{Started: time.Now(), Seed: opts.Seed, Duration: d.String()}
	deadline := rep.Started.Add(opts.MaxTime)
	for i, j := range ordered {
		grace := opts.Grace
		if grace == 0 {
			grace = max(d, time.Second) // a slow client's last response may take a while
		}
		if opts.MaxTime > 0 && time.Now().Add(d+cellOverhead).After(deadline) {
			for _, rest := range ordered[i:] {
				rep.Skipped = append(rep.Skipped, rest.cell.String()+": --max-time reached")
			}
			break
		}
		r, err := runCell(j.t, j.cell, origin, d, grace)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", j.cell, err)
		}
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(opts.Progress, "[%d/%d] %-40s %9.0f req/s  p99 %8.2f ms  hold %7.2f ms  spilled %s  err %d\n",
			i+1, len(ordered), j.cell.String(), r.RPS, r.P99ms, r.HoldMeanms, fmtBytes(r.SpilledBytes), r.Errors)
	}
	rep.Recommendations = Recommend(rep.Results)
	rep.Ratios = Ratios(rep.Results)
	rep.Notes = notes(opts)
	return rep, nil
}

func (c Cell) String() string {
	return fmt.Sprintf("%s %s | %s", c.Target, c.Config.Name(), c.Load.Key())
}

func notes(opts Options) []string {
	n := []string{
		"spillway runs in-process: cpu_us_per_req for spillway is the CPU of the whole bench process (proxy + origin + load generator); for nginx it is nginx's processes only, so the two are not comparable.",
		"Upstream hold time is measured at the built-in origin: from the request head read to the last body byte accepted by the kernel (kernel socket buffers absorb up to a few MiB per connection, so without buffering only larger responses hold the upstream).",
		"Slow clients use SO_RCVBUF 4k and a 536-byte MSS and pace their reads; all traffic is on 127.0.0.1.",
		"buffer_memory_limit is 1g in the generated configs so that spills come from the buffer configuration, not the process-wide budget.",
		"peak pool is spillway's buffer budget (BufferStats().PeakBytesInUse). A response that fits proxy_buffers is read whole into the response outside that budget, so such cells show 0 although they held the body in memory. Process RSS is not reported for the in-process proxy: it cannot be told apart from the origin's and the load generator's.",
	}
	if opts.Compare == "nginx" {
		n = append(n, "nginx runs with one worker process (worker_processes 1) from a generated nginx.conf per cell with the same buffer directives; spillway uses all GOMAXPROCS, and shares them with the origin and the load generator. nginx's spill columns are unknown (-) because it unlinks temp files when it opens them; its peak RSS (VmHWM) is in the CSV and JSON.")
	}
	if opts.ProxyURL != "" {
		n = append(n, "--proxy: the external proxy's configuration applies; buffer columns are labels only.")
	}
	return n
}

func runCell(t target, c Cell, origin *Origin, d, grace time.Duration) (Result, error) {
	r := Result{Cell: c, PeakPoolBytes: -1, PeakRSSBytes: -1, SpilledBytes: -1, FilesCreated: -1}
	addr, stop, err := t.start(c.Config, c.Load.Concurrency)
	if err != nil {
		return r, err
	}
	origin.Take() // drop anything left from the previous cell
	cpu0 := processCPU()
	lr := runLoad(addr, c.Load, d, grace)
	cpu := processCPU() - cpu0
	h := origin.Take()
	r.CPUScope = "process"
	if err := stop(&r); err != nil {
		return r, err
	}
	r.Requests, r.Errors, r.Aborted, r.FirstErr = lr.ok, lr.errors, lr.aborted, lr.firstErr
	r.Seconds = lr.elapsed.Seconds()
	r.RPS = float64(lr.ok) / r.Seconds
	ms := func(q float64) float64 { return float64(lr.hist.ValueAtQuantile(q)) / 1000 }
	r.P50ms, r.P90ms, r.P99ms, r.P999ms = ms(50), ms(90), ms(99), ms(99.9)
	switch {
	case lr.ok == 0:
		r.CPUus = 0
	case r.CPUScope == "nginx":
		r.CPUus /= float64(lr.ok) // stop stored nginx's own CPU time in µs
	default:
		r.CPUus = float64(cpu.Microseconds()) / float64(lr.ok)
	}
	r.HoldCount = h.Count
	r.HoldMeanms = float64(h.Mean) / float64(time.Millisecond)
	r.HoldP50ms = float64(h.P50) / float64(time.Millisecond)
	r.HoldP99ms = float64(h.P99) / float64(time.Millisecond)
	return r, nil
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// inProcess is spillway built from a generated config, fresh for each cell
// so that its buffer-pool peak and spill counters are the cell's own.
type inProcess struct{ origin string }

func (*inProcess) name() string { return "spillway" }

func (t *inProcess) start(c BufferConfig, conc int) (string, func(*Result) error, error) {
	dir, err := os.MkdirTemp("", "spillway-bench-")
	if err != nil {
		return "", nil, err
	}
	for _, sub := range []string{"proxy", "client"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return "", nil, err
		}
	}
	cfg, err := config.LoadBytes("bench.yaml", []byte(SpillwayYAML(c, t.origin, dir, conc)))
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("generated config: %w", err)
	}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(benchErrorLog, config.LevelError, errorlog.Options{})})
	if err == nil {
		err = p.Start()
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func(r *Result) error {
		s := p.BufferStats()
		r.PeakPoolBytes, r.SpilledBytes, r.FilesCreated = s.PeakBytesInUse, s.BytesSpilled, s.FilesCreated
		err := p.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}
	return p.Addrs()[0], stop, nil
}

// SpillwayYAML is the proxy configuration of one cell.
func SpillwayYAML(c BufferConfig, origin, dir string, conc int) string {
	var b strings.Builder
	b.WriteString("error_log: {path: stderr, level: error}\nhttp:\n")
	fmt.Fprintf(&b, "  proxy_temp_path: %s\n  client_body_temp_path: %s\n",
		filepath.Join(dir, "proxy"), filepath.Join(dir, "client"))
	b.WriteString("  buffer_memory_limit: 1g\n")
	b.WriteString("  proxy_http_version: \"1.1\"\n  proxy_set_header: {Connection: \"\"}\n")
	b.WriteString("  proxy_read_timeout: 60s\n  proxy_send_timeout: 60s\n")
	if c.Buffering {
		fmt.Fprintf(&b, "  proxy_buffering: \"on\"\n  proxy_buffers: %d %s\n", c.N, FormatSize(c.Size))
		if c.Busy > 0 {
			fmt.Fprintf(&b, "  proxy_busy_buffers_size: %s\n", FormatSize(c.Busy))
		}
		if c.MaxTemp >= 0 {
			fmt.Fprintf(&b, "  proxy_max_temp_file_size: %s\n", FormatSize(c.MaxTemp))
		}
	} else {
		b.WriteString("  proxy_buffering: \"off\"\n")
	}
	if c.BufferSize > 0 {
		fmt.Fprintf(&b, "  proxy_buffer_size: %s\n", FormatSize(c.BufferSize))
	}
	fmt.Fprintf(&b, "  upstreams:\n    origin:\n      keepalive: %d\n      servers: [{address: %q}]\n", max(conc, 8), origin)
	b.WriteString(`  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
`)
	return b.String()
}

func fmtBytes(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n >= 10<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%d", n)
}

var benchErrorLog io.Writer = os.Stderr
