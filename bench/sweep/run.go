package sweep

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"time"
)

// Options describe one sweep.
type Options struct {
	Configs []BufferConfig
	// Sizes are fixed response sizes; SizeDist adds a workload whose
	// requests draw their sizes from a distribution (--sizes-file).
	Sizes       []int64
	SizeDist    *SizeDist
	Clients     []ClientSpec
	Concurrency []int

	// Duration is each cell's load time; 0 divides MaxTime among the cells.
	Duration time.Duration
	// MinDuration is the shortest load time a cell gets, whatever Duration
	// or MaxTime say (a budget too small for it is reported in
	// Report.Budget and the cells past MaxTime are skipped); 0: none.
	MinDuration time.Duration
	// MinSamples is the fewest requests a cell should measure: past its
	// duration a cell goes on until that many have finished, for up to 3×
	// its duration. A cell that still has fewer is marked Undersampled and
	// left out of the recommendation. 0: none.
	MinSamples int64
	// IdleConns is how many idle keepalive client connections each cell
	// opens before its load to measure memory per connection
	// (Result.IdleConnBytes) of spillway and nginx; 0: not measured.
	IdleConns int
	// IdleHold keeps the IdleConns connections open through the cell's
	// load instead of closing them before it: N concurrent connections of
	// which Concurrency are active (peak RSS then covers both). Both
	// proxies' client keepalive_timeout is raised to 10m so that none of
	// them times out meanwhile.
	IdleHold bool
	// MaxTime bounds the whole sweep: cells that would start after it are
	// skipped and listed in Report.Skipped.
	MaxTime time.Duration
	// Grace is how long requests in flight at the end of a cell may take
	// to finish before their connections are closed; 0 means max(cell
	// duration, 1s).
	Grace time.Duration
	// Seed orders the cells (and interleaves targets) reproducibly, and
	// seeds the size draws of a distribution.
	Seed uint64
	// Compare adds a second target per cell: "nginx" (run from PATH).
	Compare string
	// ProxyCommand runs spillway as a child process per cell; required
	// unless ProxyURL is set.
	ProxyCommand ProxyCommand
	// ProxyURL targets an external proxy instead of spillway; the buffer
	// grid then only labels the cells (the external proxy's own
	// configuration applies) and its CPU, memory and spill are not known.
	ProxyURL string
	// OriginAddr is where the built-in origin listens; "" picks a free
	// loopback port. An external proxy (ProxyURL) must forward to it.
	OriginAddr string
	// Upstream is an external origin (http://HOST:PORT/PATH) used instead
	// of the built-in one; "{size}" in its path or query is replaced by
	// the size asked for. Upstream hold time is then unknown.
	Upstream string
	// Progress follows the sweep; nil reports nothing.
	Progress Progress
}

// Result is one cell's measurements. -1 in a number means unknown ("-").
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

	// RPSCI and P99CI are the ± of req/s and p99: the half-width of the
	// 95% confidence interval (t-distribution) over the cell's Windows
	// time windows at full load (each a fifth of the cell's duration);
	// -1 with fewer than two windows.
	Windows int     `json:"windows"`
	RPSCI   float64 `json:"rps_ci95"`
	P99CI   float64 `json:"p99_ci95_ms"`
	// Undersampled says why the cell is left out of the recommendation
	// (fewer requests than Options.MinSamples); "" when it is not.
	Undersampled string `json:"undersampled,omitempty"`

	// CPUus is the proxy's CPU µs per request over the cell's load:
	// utime+stime from /proc/PID/stat (in 10 ms ticks) of the spillway
	// child, or of nginx's master and worker. CPUScope says which.
	CPUus    float64 `json:"cpu_us_per_req"`
	CPUScope string  `json:"cpu_scope"`
	// RPSPerCore is requests per second per core of the proxy's own CPU:
	// 1e6 / CPUus, what one fully used core would serve at this cell's
	// cost per request (-1 when CPUus is unknown or 0).
	RPSPerCore float64 `json:"rps_per_core"`

	// IdleConnBytes is the proxy's resident memory per idle keepalive
	// client connection: the growth of its VmRSS (summed over nginx's
	// processes) while IdleConns connections that each made one request
	// stay open, divided by IdleConns; measured before the cell's load.
	// -1 when not measured.
	IdleConns     int     `json:"idle_conns"`
	IdleConnBytes float64 `json:"idle_conn_bytes"`

	PeakPoolBytes int64 `json:"peak_pool_bytes"` // spillway_buffer_peak_bytes_in_use
	PeakRSSBytes  int64 `json:"peak_rss_bytes"`  // VmHWM of the proxy process(es)
	SpilledBytes  int64 `json:"spilled_bytes"`   // spillway_buffer_spilled_bytes_total; nginx: unknown
	FilesCreated  int64 `json:"files_created"`   // spillway_buffer_temp_files_total; nginx: its warn lines

	HoldCount  int64   `json:"hold_count"`
	HoldMeanms float64 `json:"hold_mean_ms"`
	HoldP50ms  float64 `json:"hold_p50_ms"`
	HoldP99ms  float64 `json:"hold_p99_ms"`

	// ProxyPID is the spillway child's (or nginx master's) process id;
	// 0 for an external proxy.
	ProxyPID int `json:"proxy_pid,omitempty"`

	// ProxyLog is the start of what the spillway child wrote to its error
	// log (level error) during the cell, if anything.
	ProxyLog string `json:"proxy_error_log,omitempty"`
}

// Report is a finished sweep.
type Report struct {
	Started         time.Time        `json:"started"`
	Seed            uint64           `json:"seed"`
	Duration        string           `json:"cell_duration"`
	Results         []Result         `json:"results"`
	Skipped         []string         `json:"skipped,omitempty"`
	Budget          string           `json:"budget_warning,omitempty"` // MaxTime cannot give every cell MinDuration
	Rule            string           `json:"recommendation_rule"`
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
	sizes := opts.Sizes
	if len(opts.Configs) == 0 || len(sizes) == 0 && opts.SizeDist == nil || len(opts.Clients) == 0 || len(opts.Concurrency) == 0 {
		return nil, errors.New("empty grid")
	}
	progress := opts.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	var up upstreamSpec
	if opts.Upstream != "" {
		var err error
		if up, err = parseUpstream(opts.Upstream); err != nil {
			return nil, err
		}
		if !up.sized() {
			if opts.SizeDist != nil {
				return nil, fmt.Errorf("--sizes-file: --upstream %q has no {size} in its path or query", opts.Upstream)
			}
			sizes = []int64{0} // one workload: what the upstream serves
		}
	} else {
		var maxSize int64
		for _, s := range sizes {
			maxSize = max(maxSize, s)
		}
		if opts.SizeDist != nil {
			maxSize = max(maxSize, opts.SizeDist.Max())
		}
		origin, err := StartOrigin(opts.OriginAddr, maxSize)
		if err != nil {
			return nil, err
		}
		defer origin.Close()
		up = builtinUpstream(origin.Addr())
		up.origin = origin
	}

	scale := ClientScale{Idle: opts.IdleConns, Hold: opts.IdleHold}
	maxConc := 0
	for _, n := range opts.Concurrency {
		maxConc = max(maxConc, n)
	}
	// This process holds the client connections and the origin's side of
	// the upstream ones; the proxies it starts inherit the limit.
	if need := scale.fdNeed(maxConc); need > 4096 {
		if _, err := raiseNoFile(uint64(need)); err != nil {
			return nil, fmt.Errorf("--idle-conns %d with --concurrency %d: %w", opts.IdleConns, maxConc, err)
		}
	}

	var targets []target
	switch {
	case opts.ProxyURL != "":
		t, err := newExternal(opts.ProxyURL)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	case opts.ProxyCommand == nil:
		return nil, errors.New("no proxy to run: Options.ProxyCommand is nil")
	default:
		targets = append(targets, &childTarget{cmd: opts.ProxyCommand, upstream: up, scale: scale})
	}
	switch opts.Compare {
	case "":
	case "nginx":
		t, err := newNginx(up, scale)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	default:
		return nil, fmt.Errorf("--compare %q: only nginx is supported", opts.Compare)
	}

	var loads []Workload
	for _, s := range sizes {
		loads = append(loads, Workload{Size: s})
	}
	if opts.SizeDist != nil {
		loads = append(loads, Workload{Dist: opts.SizeDist})
	}
	type job struct {
		cell Cell
		t    target
	}
	var jobs []job
	for _, c := range opts.Configs {
		for _, l := range loads {
			for _, cl := range opts.Clients {
				for _, n := range opts.Concurrency {
					// Targets of one cell stay adjacent (interleaved runs);
					// the cells themselves are shuffled by the seed so that
					// drift over the sweep doesn't favour one configuration.
					for _, t := range targets {
						jobs = append(jobs, job{Cell{Target: t.name(), Config: c, Load: Workload{Size: l.Size, Dist: l.Dist, Client: cl, Concurrency: n}}, t})
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
	rep := &Report{Started: time.Now(), Seed: opts.Seed}
	if d == 0 {
		// A cell takes d, plus up to grace (= d) for slow responses in
		// flight, plus the proxy's start and stop.
		per := opts.MaxTime/time.Duration(len(ordered)) - cellOverhead
		d = min(max(per/2, 100*time.Millisecond), 5*time.Second)
		if d < opts.MinDuration {
			need := time.Duration(len(ordered)) * (2*opts.MinDuration + cellOverhead)
			rep.Budget = fmt.Sprintf("--max-time %s cannot give the %d cells their minimum %s each (about %s needed): cells that would end after it are skipped; raise --max-time or narrow the grid",
				opts.MaxTime, len(ordered), opts.MinDuration, need.Round(time.Second))
		}
	}
	d = max(d, opts.MinDuration)
	rep.Duration = d.String()
	deadline := rep.Started.Add(opts.MaxTime)
	progress.Start(len(ordered), opts.MaxTime)
	defer progress.Finish()
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
		progress.CellStart(i, j.cell)
		r, err := runCell(j.t, j.cell, up, opts.Seed, d, grace, opts.MinSamples, opts.IdleConns, opts.IdleHold)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", j.cell, err)
		}
		rep.Results = append(rep.Results, r)
		progress.CellDone(i, r)
	}
	rep.Rule, rep.Recommendations = RuleText, Recommend(rep.Results)
	rep.Ratios = Ratios(rep.Results)
	rep.Notes = notes(opts, up)
	return rep, nil
}

func (c Cell) String() string {
	return fmt.Sprintf("%s %s | %s", c.Target, c.Config.Name(), c.Load.Key())
}

func notes(opts Options, up upstreamSpec) []string {
	n := []string{
		"spillway runs as a child process per cell (the spillway binary, `bench serve-cell`, on a generated configuration): cpu µs/req is its utime+stime from /proc/PID/stat over the cell's load (10 ms ticks) divided by the requests, peak RSS its VmHWM, peak pool, spilled and files its metrics (spillway_buffer_peak_bytes_in_use, spillway_buffer_spilled_bytes_total, spillway_buffer_temp_files_total).",
		"Slow clients use SO_RCVBUF 4k and a 536-byte MSS and pace their reads; a mix:SPEC=PERCENT,... client splits each cell's connections among its parts (largest remainder, at least one connection each); all traffic is on 127.0.0.1.",
		"buffer_memory_limit is 1g in the generated configs so that spills come from the buffer configuration, not the process-wide budget.",
		"peak pool is spillway's buffer budget. A response that fits proxy_buffers is read whole into the response outside that budget, so such cells show 0 although they held the body in memory (peak RSS shows it).",
	}
	if up.external {
		n = append(n, "--upstream "+opts.Upstream+": an external origin serves the responses, so upstream hold time is unknown (-) and the recommendation leaves it out; response sizes are not checked.")
	} else {
		n = append(n, "Upstream hold time is measured at the built-in origin: from the request head read to the last body byte accepted by the kernel (kernel socket buffers absorb up to a few MiB per connection, so without buffering only larger responses hold the upstream).")
	}
	if opts.SizeDist != nil {
		n = append(n, "Size "+opts.SizeDist.Name()+": each request draws its size by weight (SIZE:WEIGHT) from the --sizes-file distribution, with a generator per connection seeded by --seed.")
	}
	if opts.Compare == "nginx" {
		n = append(n, "nginx runs with one worker process (worker_processes 1) from a generated nginx.conf per cell with the same buffer directives; spillway uses all GOMAXPROCS. Both run beside the origin and the load generator on the same CPUs. nginx's cpu and peak RSS are summed over its master and worker. nginx's spilled bytes are unknown (-): it unlinks a temp file when it opens it; its files are the \""+spillLine+"\" warn lines of its error log. nginx spills at a client's first stall; spillway waits proxy_spill_grace (50ms unless --spill-grace says otherwise) in all first, so it spills fewer responses.")
	}
	if opts.IdleConns > 0 {
		closed := "The connections are closed and the peak RSS reset before the load; a Go proxy's heap keeps part of what they used for a while, so its peak RSS includes that (--idle-conns 0 for the load's alone)."
		if opts.IdleHold {
			closed = "--idle-hold: the connections stay open through the cell's load (keepalive_timeout 10m in both proxies' generated configurations), so peak RSS is the proxy's with them and the load's connections open at once."
		}
		n = append(n, fmt.Sprintf("mem/idle conn: before each cell's load, %d client connections each make one request and stay open (idle keepalive); it is the growth of the proxy's VmRSS (nginx: master + worker) over one such connection, divided by %d. %s req/s/core is 1e6 / cpu µs/req: what one core fully used by the proxy serves at that cost.", opts.IdleConns, opts.IdleConns, closed))
		maxConc := 0
		for _, c := range opts.Concurrency {
			maxConc = max(maxConc, c)
		}
		if (ClientScale{Idle: opts.IdleConns, Hold: opts.IdleHold}).clients(maxConc) > perSource {
			n = append(n, fmt.Sprintf("Past %d client connections at once, the bench dials them from 127.0.0.2, 127.0.0.3, ... (%d each; one address has about 28000 ephemeral ports); RLIMIT_NOFILE (the bench's, inherited by the proxies) is raised to fit, and nginx gets worker_connections and worker_rlimit_nofile to match.", perSource, perSource))
		}
	}
	if opts.ProxyURL != "" {
		n = append(n, "--proxy: the external proxy's configuration applies; buffer columns are labels only, and its cpu, memory and spill are not measured (-).")
	}
	return n
}

func runCell(t target, c Cell, up upstreamSpec, seed uint64, d, grace time.Duration, minSamples int64, idleConns int, hold bool) (Result, error) {
	r := Result{Cell: c, CPUus: -1, RPSPerCore: -1, IdleConnBytes: -1, PeakPoolBytes: -1, PeakRSSBytes: -1, SpilledBytes: -1, FilesCreated: -1,
		HoldMeanms: -1, HoldP50ms: -1, HoldP99ms: -1}
	addr, stop, err := t.start(c.Config, c.Load.Concurrency)
	if err != nil {
		return r, err
	}
	firstClient := 0 // the load's first client connection's index, for its source address
	if pt, ok := t.(pidTarget); ok && idleConns > 0 && pt.proxyPID() > 0 {
		size := int64(1)
		if up.external && !up.sized() {
			size = 0
		}
		total := idleConns + 1 // and the warm-up connection
		if hold {
			total += c.Load.Concurrency
		}
		timeout := 30*time.Second + time.Duration(idleConns)*time.Millisecond
		src := func(i int) *net.TCPAddr { return sourceAddr(addr, i, total, perSource) }
		per, release, err := idleConnCost(addr, up.request(size), idleConns, pt.proxyPID(), src, timeout)
		if err != nil {
			_ = stop(&r)
			return r, err
		}
		r.IdleConns, r.IdleConnBytes = idleConns, per
		if hold {
			firstClient = total - c.Load.Concurrency
			defer release()
		} else {
			release()
		}
	}
	if up.origin != nil {
		up.origin.Take() // drop anything left from the previous cell
	}
	lr := runLoad(addr, c.Load, up, seed, d, grace, minSamples, 3*d, firstClient)
	var h HoldStats
	if up.origin != nil {
		h = up.origin.Take()
	}
	if err := stop(&r); err != nil {
		return r, err
	}
	r.Requests, r.Errors, r.Aborted, r.FirstErr = lr.ok, lr.errors, lr.aborted, lr.firstErr
	r.Seconds = lr.elapsed.Seconds()
	r.RPS = float64(lr.ok) / r.Seconds
	ms := func(q float64) float64 { return float64(lr.hist.ValueAtQuantile(q)) / 1000 }
	r.P50ms, r.P90ms, r.P99ms, r.P999ms = ms(50), ms(90), ms(99), ms(99.9)
	windowStats(&r, lr)
	if lr.ok < minSamples {
		r.Undersampled = fmt.Sprintf("%d requests in %.1fs, fewer than the minimum %d", lr.ok, r.Seconds, minSamples)
	}
	switch {
	case r.CPUus < 0:
	case lr.ok == 0:
		r.CPUus = 0
	default:
		r.CPUus /= float64(lr.ok) // stop stored the proxy's CPU µs for the cell
	}
	if r.CPUus > 0 {
		r.RPSPerCore = 1e6 / r.CPUus
	}
	if up.origin != nil {
		r.HoldCount = h.Count
		r.HoldMeanms = float64(h.Mean) / float64(time.Millisecond)
		r.HoldP50ms = float64(h.P50) / float64(time.Millisecond)
		r.HoldP99ms = float64(h.P99) / float64(time.Millisecond)
	}
	return r, nil
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
