package sweep

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Recommendation is the smallest buffer configuration whose throughput and
// p99 are both within 5% of the best measured for one workload.
type Recommendation struct {
	Workload string  `json:"workload"`
	Config   string  `json:"config"`
	RPS      float64 `json:"rps"`
	P99ms    float64 `json:"p99_ms"`
	BestRPS  float64 `json:"best_rps"`
	BestP99  float64 `json:"best_p99_ms"`
	// The recommendation does not weigh upstream hold time; these show it
	// next to the best hold of the workload so that a reader sees when the
	// smallest configuration ties up upstreams (buffering off with slow
	// clients).
	HoldMeanms float64 `json:"hold_mean_ms"`
	BestHoldms float64 `json:"best_hold_mean_ms"`
}

// tolerance is "within 5%".
const tolerance = 0.05

// Recommend picks, per workload, among the spillway (or external) cells
// without errors, the configuration with the smallest per-request buffer
// footprint whose req/s is at least 95% of the best and whose p99 is at
// most 105% of the best. Ties go to the higher throughput.
func Recommend(rs []Result) []Recommendation {
	by := map[string][]Result{}
	var keys []string
	for _, r := range rs {
		if r.Target == "nginx" || r.Errors > 0 || r.Requests == 0 {
			continue
		}
		k := r.Load.Key()
		if by[k] == nil {
			keys = append(keys, k)
		}
		by[k] = append(by[k], r)
	}
	sortWorkloads(keys, by)
	var out []Recommendation
	for _, k := range keys {
		cells := by[k]
		bestRPS, bestP99, bestHold := 0.0, cells[0].P99ms, cells[0].HoldMeanms
		for _, r := range cells {
			bestRPS = max(bestRPS, r.RPS)
			bestP99 = min(bestP99, r.P99ms)
			bestHold = min(bestHold, r.HoldMeanms)
		}
		var pick *Result
		for i := range cells {
			r := &cells[i]
			if r.RPS < bestRPS*(1-tolerance) || r.P99ms > bestP99*(1+tolerance) {
				continue
			}
			if pick == nil || r.Config.Footprint() < pick.Config.Footprint() ||
				r.Config.Footprint() == pick.Config.Footprint() && r.RPS > pick.RPS {
				pick = r
			}
		}
		rec := Recommendation{Workload: k, BestRPS: bestRPS, BestP99: bestP99, BestHoldms: bestHold, Config: "none (no configuration is within 5% of both bests)"}
		if pick != nil {
			rec.Config, rec.RPS, rec.P99ms, rec.HoldMeanms = pick.Config.Name(), pick.RPS, pick.P99ms, pick.HoldMeanms
		}
		out = append(out, rec)
	}
	return out
}

func sortWorkloads(keys []string, by map[string][]Result) {
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := by[keys[i]][0].Load, by[keys[j]][0].Load
		if a.Size != b.Size {
			return a.Size < b.Size
		}
		if a.Client.Rate != b.Client.Rate {
			return a.Client.Rate == 0 || b.Client.Rate != 0 && a.Client.Rate > b.Client.Rate
		}
		return a.Concurrency < b.Concurrency
	})
}

// Ratio compares spillway with nginx on one cell: above 1 means spillway
// has more of the quantity.
type Ratio struct {
	Cell     string  `json:"cell"`
	RPS      float64 `json:"rps_ratio"`
	P99      float64 `json:"p99_ratio"`
	HoldMean float64 `json:"hold_mean_ratio"`
}

// Ratios pairs each spillway cell with the nginx cell of the same
// configuration and workload.
func Ratios(rs []Result) []Ratio {
	ng := map[string]Result{}
	for _, r := range rs {
		if r.Target == "nginx" {
			ng[r.Config.Name()+"|"+r.Load.Key()] = r
		}
	}
	var out []Ratio
	for _, r := range rs {
		n, ok := ng[r.Config.Name()+"|"+r.Load.Key()]
		if r.Target == "nginx" || !ok {
			continue
		}
		out = append(out, Ratio{Cell: r.Config.Name() + " | " + r.Load.Key(), RPS: div(r.RPS, n.RPS), P99: div(r.P99ms, n.P99ms), HoldMean: div(r.HoldMeanms, n.HoldMeanms)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cell < out[j].Cell })
	return out
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// sorted returns the results ordered by workload, then target, then
// configuration footprint, for tables.
func sorted(rs []Result) []Result {
	out := append([]Result(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Load.Size != b.Load.Size {
			return a.Load.Size < b.Load.Size
		}
		if a.Load.Client.Rate != b.Load.Client.Rate {
			return a.Load.Client.Rate == 0 || b.Load.Client.Rate != 0 && a.Load.Client.Rate > b.Load.Client.Rate
		}
		if a.Load.Concurrency != b.Load.Concurrency {
			return a.Load.Concurrency < b.Load.Concurrency
		}
		if a.Config.Footprint() != b.Config.Footprint() {
			return a.Config.Footprint() < b.Config.Footprint()
		}
		if a.Config.Name() != b.Config.Name() {
			return a.Config.Name() < b.Config.Name()
		}
		return a.Target > b.Target // spillway before nginx
	})
	return out
}

var header = []string{"target", "config", "size", "client", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "p999 ms",
	"cpu µs/req", "peak pool", "spilled", "files", "hold mean ms", "hold p99 ms", "errors"}

func row(r Result) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	return []string{r.Target, r.Config.Name(), FormatSize(r.Load.Size), r.Load.Client.Name, strconv.Itoa(r.Load.Concurrency),
		strconv.FormatFloat(r.RPS, 'f', 0, 64), f(r.P50ms), f(r.P90ms), f(r.P99ms), f(r.P999ms),
		strconv.FormatFloat(r.CPUus, 'f', 0, 64), fmtBytes(r.PeakPoolBytes), fmtBytes(r.SpilledBytes), fmtCount(r.FilesCreated),
		f(r.HoldMeanms), f(r.HoldP99ms), strconv.FormatInt(r.Errors, 10)}
}

func fmtCount(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// WriteTable writes the terminal table, the recommendations and the notes.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range sorted(rep.Results) {
		fmt.Fprintln(tw, strings.Join(row(r), "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, rec := range rep.Recommendations {
		fmt.Fprintln(w, "recommendation for "+rec.line())
	}
	for _, r := range rep.Ratios {
		fmt.Fprintf(w, "spillway/nginx %s: req/s ×%.2f, p99 ×%.2f, upstream hold ×%.2f\n", r.Cell, r.RPS, r.P99, r.HoldMean)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// WriteMarkdown writes the table and the recommendations as markdown.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range sorted(rep.Results) {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row(r), " | "))
	}
	fmt.Fprintln(w)
	for _, rec := range rep.Recommendations {
		fmt.Fprintln(w, "- recommendation for "+rec.line())
	}
	for _, r := range rep.Ratios {
		fmt.Fprintf(w, "- spillway/nginx %s: req/s ×%.2f, p99 ×%.2f, upstream hold ×%.2f\n", r.Cell, r.RPS, r.P99, r.HoldMean)
	}
	fmt.Fprintln(w)
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, "- skipped:", s)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "- note:", n)
	}
	_, err := fmt.Fprintf(w, "\nCell duration %s, seed %d.\n", rep.Duration, rep.Seed)
	return err
}

// WriteCSV writes one line per cell.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"target", "config", "proxy_buffering", "proxy_buffers", "proxy_buffer_size", "proxy_busy_buffers_size",
		"proxy_max_temp_file_size", "size", "client", "client_rate", "concurrency", "requests", "errors", "aborted", "seconds",
		"rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "cpu_us_per_req", "cpu_scope", "peak_pool_bytes", "peak_rss_bytes",
		"spilled_bytes", "files_created", "hold_count", "hold_mean_ms", "hold_p50_ms", "hold_p99_ms", "first_error"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range sorted(rep.Results) {
		c := r.Config
		_ = cw.Write([]string{r.Target, c.Name(), strconv.FormatBool(c.Buffering), fmt.Sprintf("%d %s", c.N, FormatSize(c.Size)),
			i(c.BufferSize), i(c.Busy), i(c.MaxTemp), i(r.Load.Size), r.Load.Client.Name, i(r.Load.Client.Rate),
			strconv.Itoa(r.Load.Concurrency), i(r.Requests), i(r.Errors), i(r.Aborted), f(r.Seconds), f(r.RPS),
			f(r.P50ms), f(r.P90ms), f(r.P99ms), f(r.P999ms), f(r.CPUus), r.CPUScope, i(r.PeakPoolBytes), i(r.PeakRSSBytes),
			i(r.SpilledBytes), i(r.FilesCreated), i(r.HoldCount), f(r.HoldMeanms), f(r.HoldP50ms), f(r.HoldP99ms), r.FirstErr})
	}
	cw.Flush()
	return cw.Error()
}

// WriteFiles writes results.csv, results.json and results.md into dir, and
// the plots (see WritePlots). It returns the paths written.
func (rep *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	write := func(name string, fn func(io.Writer) error) error {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("writing %s: %w", p, err)
		}
		paths = append(paths, p)
		return f.Close()
	}
	if err := write("results.csv", rep.WriteCSV); err != nil {
		return paths, err
	}
	if err := write("results.json", func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}); err != nil {
		return paths, err
	}
	if err := write("results.md", rep.WriteMarkdown); err != nil {
		return paths, err
	}
	plots, err := rep.WritePlots(dir)
	return append(paths, plots...), err
}

func (rec Recommendation) line() string {
	if rec.RPS == 0 {
		return fmt.Sprintf("%s: %s (best %.0f req/s, best p99 %.2f ms)", rec.Workload, rec.Config, rec.BestRPS, rec.BestP99)
	}
	s := fmt.Sprintf("%s: %s (%.0f req/s, p99 %.2f ms; best %.0f req/s, p99 %.2f ms)",
		rec.Workload, rec.Config, rec.RPS, rec.P99ms, rec.BestRPS, rec.BestP99)
	if rec.RPS > 0 && rec.HoldMeanms > 2*rec.BestHoldms && rec.HoldMeanms-rec.BestHoldms > 1 {
		s += fmt.Sprintf("; but it holds the upstream %.1f ms per request, against %.1f ms for the best configuration",
			rec.HoldMeanms, rec.BestHoldms)
	}
	return s
}
