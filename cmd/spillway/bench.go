package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"spillway/bench/sweep"
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
		seed                   uint64
		out, compare, proxyURL string
		originAddr             string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure what proxy buffer configurations cost on a workload",
		Long: `Run spillway in-process with a generated configuration per cell, a built-in
origin (GET /size/N) that records how long each request held its upstream
connection, and a load generator with fast and throttled slow clients, over a
grid of buffer configurations × response sizes × client speeds × concurrency.
Everything runs on 127.0.0.1.

  spillway bench --out docs/bench
  spillway bench --buffers 8x4k,4x64k --buffering on,off --sizes 1k,64k,1m \
      --client fast,slow:1m/s --concurrency 16 --duration 2s --out results
  spillway bench --compare nginx --out results   # nginx from PATH, same cells
  spillway bench --proxy http://127.0.0.1:8080 --origin-listen 127.0.0.1:9001 --out results

Writes results.csv, results.json, results.md and plots (SVG and PNG) into --out,
prints the table, and recommends per workload the smallest configuration
within 5% of the best throughput and p99. With no grid flag a small default
sweep runs within --max-time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			f := cmd.Flags()
			gridGiven := false
			for _, n := range []string{"buffers", "buffer-size", "busy", "max-temp", "buffering", "sizes", "client", "concurrency"} {
				gridGiven = gridGiven || f.Changed(n)
			}
			if !gridGiven {
				grid.Buffers, grid.Buffering = defaultBuffers, defaultBuffering
				sizes, clients, conc = defaultSizes, defaultClients, defaultConc
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
			for _, c := range clients {
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
				Configs: configs, Sizes: sz, Clients: cls, Concurrency: conc,
				Duration: duration, MaxTime: maxTime, Seed: seed,
				Compare: compare, ProxyURL: proxyURL, OriginAddr: originAddr, Progress: stderr,
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
	f.StringSliceVar(&grid.Buffering, "buffering", []string{"on"}, "proxy_buffering values: on, off")
	f.StringSliceVar(&sizes, "sizes", []string{"1k", "64k", "1m"}, "response sizes")
	f.StringSliceVar(&clients, "client", []string{"fast"}, "client read speeds: fast, slow:RATE (e.g. slow:1m/s)")
	f.IntSliceVar(&conc, "concurrency", []int{8}, "concurrent client connections")
	f.DurationVar(&duration, "duration", 0, "load time per cell (default: --max-time divided among the cells)")
	f.DurationVar(&maxTime, "max-time", 60*time.Second, "bound on the whole sweep: cells that would end after it are skipped (a cell may overrun by the time its in-flight slow responses take, at most max(duration, 1s))")
	f.Uint64Var(&seed, "seed", 1, "seed for the cell order")
	f.StringVar(&out, "out", "bench-results", "directory for results.csv, results.json, results.md and plots")
	f.StringVar(&compare, "compare", "", `run each cell against "nginx" too (interleaved) and report ratios`)
	f.StringVar(&proxyURL, "proxy", "", "target an external proxy at this URL (http://127.0.0.1:PORT) instead of the in-process one")
	f.StringVar(&originAddr, "origin-listen", "", "address of the built-in origin (default: a free 127.0.0.1 port); point --proxy's upstream at it")
	return cmd
}
