package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"spillway/bench/sweep"
	"spillway/proxy"
)

// The default sweep, used when no grid flag is given: nginx's default
// buffers, a larger set, and buffering off; a small, a medium and a large
// response (larger than what loopback socket buffers absorb, so that an
// unbuffered proxy visibly holds its upstream); fast and slow clients.
var (
	defaultBuffers   = []string{"8x4k", "8x16k", "32x64k"}
	defaultBuffering = []string{"on", "off"}
	defaultSizes     = []string{"4k", "256k", "8m"}
	defaultClients   = []string{"fast", "slow:8m/s"}
	defaultConc      = []int{8}
)

// newBenchCmd is `spillway bench`: sweep buffer configurations against a
// workload and report what each costs.
func newBenchCmd() *cobra.Command {
	var (
		grid                   sweep.GridSpec
		sizes, clients         []string
		conc                   []int
		duration, maxTime      time.Duration
		minDuration            time.Duration
		minSamples             int64
		seed                   uint64
		out, compare, proxyURL string
		originAddr, upstream   string
		sizesFile              string
		idleConns              int
		idleHold               bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure what proxy buffer configurations cost on a workload",
		Long: `Run spillway as a child process per cell (this binary, on a generated
configuration), a built-in origin (GET /size/N) that records how long each
request held its upstream connection, and a load generator with fast,
throttled slow or mixed clients, over a grid of buffer configurations ×
response sizes × client speeds × concurrency. Everything runs on 127.0.0.1
unless --upstream or --proxy says otherwise.

  spillway bench --out docs/bench
  spillway bench --buffers 8x4k,4x64k --buffering on,off --sizes 1k,64k,1m \
      --client fast,slow:1m/s,mix:fast=80,slow:1m=20 --concurrency 16 --duration 2s --out results
  spillway bench --sizes-file sizes.txt --out results   # lines "4k 70", "256k 25", "8m 5"
  spillway bench --upstream 'http://127.0.0.1:9000/blob?size={size}' --out results
  spillway bench --compare nginx --out results   # nginx from PATH, same cells
  spillway bench --proxy http://127.0.0.1:8080 --origin-listen 127.0.0.1:9001 --out results

Per cell: req/s, latency quantiles, the proxy's CPU per request, requests/s
per core (1e6 / CPU µs per request), peak RSS and RSS per idle keepalive
client connection (--idle-conns, measured before the load; from /proc, for
the proxy process alone), buffer-pool peak, bytes and files
spilled, upstream hold time (built-in origin only) and errors.

Every cell runs at least --min-duration and goes on (up to 3× its duration)
until --min-samples requests have finished; a cell with fewer is marked
undersampled and left out of the recommendation, and a --max-time too small
for the minimum duration is reported. req/s and p99 carry a ± (the 95%
confidence half-width over the cell's five time windows).

Writes results.csv, results.json, results.md and plots (SVG and PNG) into --out,
prints the table, and recommends per workload the smallest configuration
whose throughput and p99 are within the noise (the ±s combined) or 5% of the
best and, with slow clients, within 1.5× (+1 ms) of the best upstream hold
p99; when no configuration is worse by more than the noise it says "no
significant difference". With no grid flag a small default sweep runs within
--max-time. A progress bar runs on stderr when
stdout and stderr are terminals; otherwise one line per cell.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			f := cmd.Flags()
			gridGiven := false
			for _, n := range []string{"buffers", "buffer-size", "busy", "max-temp", "spill-grace", "buffering", "sizes", "sizes-file", "client", "concurrency"} {
				gridGiven = gridGiven || f.Changed(n)
			}
			if !gridGiven {
				grid.Buffers, grid.Buffering = defaultBuffers, defaultBuffering
				sizes, clients, conc = defaultSizes, defaultClients, defaultConc
			}
			var dist *sweep.SizeDist
			if sizesFile != "" {
				fh, err := os.Open(sizesFile)
				if err != nil {
					return fmt.Errorf("--sizes-file: %w", err)
				}
				dist, err = sweep.ParseSizeDist(fh)
				_ = fh.Close()
				if err != nil {
					return fmt.Errorf("--sizes-file %s: %w", sizesFile, err)
				}
				if !f.Changed("sizes") {
					sizes = nil // the distribution is the size axis
				}
			}
			configs, skipped, err := grid.Configs()
			if err != nil {
				return err
			}
			for _, s := range skipped {
				fmt.Fprintln(stderr, "spillway bench: skipping", s)
			}
			sz, err := sweep.ParseSizes(sizes)
			if err != nil {
				return fmt.Errorf("--sizes: %w", err)
			}
			for _, s := range sz {
				if s <= 0 {
					return errors.New("--sizes: sizes must be positive")
				}
			}
			var cls []sweep.ClientSpec
			for _, c := range sweep.JoinClientFlags(clients) {
				cs, err := sweep.ParseClient(c)
				if err != nil {
					return err
				}
				cls = append(cls, cs)
			}
			for _, n := range conc {
				if n <= 0 {
					return errors.New("--concurrency: must be positive")
				}
			}
			rep, err := sweep.Run(sweep.Options{
				Configs: configs, Sizes: sz, SizeDist: dist, Clients: cls, Concurrency: conc,
				Duration: duration, MaxTime: maxTime, Seed: seed, MinDuration: minDuration, MinSamples: minSamples,
				Compare: compare, ProxyURL: proxyURL, IdleConns: idleConns, IdleHold: idleHold, OriginAddr: originAddr, Upstream: upstream,
				ProxyCommand: benchProxyCommand, Progress: sweep.NewProgress(stderr, progressWidth(stdout, stderr)),
			})
			if rep != nil {
				if werr := rep.WriteTable(stdout); werr != nil {
					return werr
				}
				paths, werr := rep.WriteFiles(out)
				if len(paths) > 0 {
					fmt.Fprintln(stdout, "wrote", strings.Join(paths, " "))
				}
				err = errors.Join(err, werr)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&grid.Buffers, "buffers", []string{"8x4k"}, "proxy_buffers values, NxSIZE")
	f.StringSliceVar(&grid.BufferSizes, "buffer-size", nil, "proxy_buffer_size values (default: the proxy's)")
	f.StringSliceVar(&grid.Busy, "busy", nil, "proxy_busy_buffers_size values (default: the proxy's)")
	f.StringSliceVar(&grid.MaxTemp, "max-temp", nil, "proxy_max_temp_file_size values, e.g. 1024m,0 (default: the proxy's)")
	f.StringSliceVar(&grid.SpillGrace, "spill-grace", nil, "proxy_spill_grace values, e.g. 50ms,0 (default: the proxy's; nginx has none: it spills at the first stall, like 0)")
	f.StringSliceVar(&grid.Buffering, "buffering", []string{"on"}, "proxy_buffering values: on, off")
	f.StringSliceVar(&sizes, "sizes", []string{"1k", "64k", "1m"}, "response sizes")
	f.StringVar(&sizesFile, "sizes-file", "", `a response-size distribution, lines "SIZE WEIGHT" (e.g. "4k 70"): one more size value whose requests draw their sizes by weight (seeded by --seed); alone, it replaces --sizes`)
	f.StringSliceVar(&clients, "client", []string{"fast"}, "client read speeds: fast, slow:RATE (e.g. slow:1m/s), mix:SPEC=PERCENT,... (e.g. mix:fast=80,slow:8m=20: percent of each cell's connections)")
	f.IntSliceVar(&conc, "concurrency", []int{8}, "concurrent client connections")
	f.DurationVar(&duration, "duration", 0, "load time per cell (default: --max-time divided among the cells)")
	f.DurationVar(&minDuration, "min-duration", time.Second, "shortest load time per cell, whatever --duration and --max-time say")
	f.Int64Var(&minSamples, "min-samples", 200, "fewest requests a cell should measure: it goes on past its duration (up to 3×) for them; a cell with fewer is left out of the recommendation")
	f.DurationVar(&maxTime, "max-time", 60*time.Second, "bound on the whole sweep: cells that would end after it are skipped (a cell may overrun by the time its in-flight slow responses take, at most max(duration, 1s))")
	f.Uint64Var(&seed, "seed", 1, "seed for the cell order and the size draws of --sizes-file")
	f.StringVar(&out, "out", "bench-results", "directory for results.csv, results.json, results.md and plots")
	f.IntVar(&idleConns, "idle-conns", 1000, "idle keepalive client connections opened before each cell's load (each after one request) to measure the proxy's RSS per connection (mem/idle conn); 0: not measured")
	f.BoolVar(&idleHold, "idle-hold", false, "keep the --idle-conns connections open through each cell's load (N concurrent connections, --concurrency of them active; peak RSS covers both); the proxies' keepalive_timeout is 10m then. Past 20000 connections they come from 127.0.0.2, 127.0.0.3, ...; RLIMIT_NOFILE is raised to fit (as root up to fs.nr_open)")
	f.StringVar(&compare, "compare", "", `run each cell against "nginx" too (interleaved) and report ratios`)
	f.StringVar(&proxyURL, "proxy", "", "target an external proxy at this URL (http://127.0.0.1:PORT) instead of spillway")
	f.StringVar(&originAddr, "origin-listen", "", "address of the built-in origin (default: a free 127.0.0.1 port); point --proxy's upstream at it")
	f.StringVar(&upstream, "upstream", "", `an external origin, http://HOST:PORT[/PATH]: the proxies forward to it instead of the built-in origin; "{size}" in the path or query is replaced by the size in bytes (without it, one size: what it serves); upstream hold time is then unknown (-)`)
	cmd.AddCommand(newServeCellCmd())
	return cmd
}

// benchProxyCommand runs this binary as the proxy of one cell. Tests point
// it at the test binary (SPILLWAY_AS_MAIN, see serve_test.go's TestMain).
var benchProxyCommand sweep.ProxyCommand = func(path string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, "bench", "serve-cell", path)
}

// progressWidth is the terminal width for the progress bar on stderr, or 0
// for plain lines: the bar needs stdout and stderr on a terminal.
func progressWidth(stdout, stderr io.Writer) int {
	o, ok1 := stdout.(*os.File)
	e, ok2 := stderr.(*os.File)
	if !ok1 || !ok2 || sweep.TermWidth(o) == 0 {
		return 0
	}
	return sweep.TermWidth(e)
}

// newServeCellCmd is the hidden `spillway bench serve-cell FILE`: serve
// (the same loop as `spillway serve`) on one cell's generated
// configuration, write sweep.ReadyLine on stdout once listening, and stop
// on SIGTERM or when stdin reaches EOF (the bench is gone).
func newServeCellCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "serve-cell FILE",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				_, _ = io.Copy(io.Discard, bufio.NewReader(cmd.InOrStdin()))
				cancel()
			}()
			stdout := cmd.OutOrStdout()
			return runWith(ctx, cfg, runOptions{ready: func(p *proxy.Proxy) {
				fmt.Fprint(stdout, sweep.ReadyLine(p.Addrs()[0], p.MetricsAddr()))
			}})
		},
	}
}
