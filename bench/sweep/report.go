package sweep

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Recommendation is, for one workload, the configuration the rule picks
// (see RuleText), with the bests it was held against.
type Recommendation struct {
	Workload string  `json:"workload"`
	Config   string  `json:"config"` // "" when no configuration passes
	RPS      float64 `json:"rps"`
	P99ms    float64 `json:"p99_ms"`
	HoldP99  float64 `json:"hold_p99_ms"` // -1: unknown
	BestRPS  float64 `json:"best_rps"`
	BestP99  float64 `json:"best_p99_ms"`
	BestHold float64 `json:"best_hold_p99_ms"` // -1: unknown
	// HoldRule says whether upstream hold time took part: the workload has
	// slow clients and hold times were measured.
	HoldRule bool `json:"hold_rule"`
	// Significant is true when some measured configuration is worse than
	// the best by more than the noise (and the 5%): the pick beats those.
	// False means no significant difference among the configurations, and
	// the pick is simply the smallest by memory.
	Significant bool `json:"significant_difference"`
	// Equivalent are the configurations within the noise of the best (the
	// pick among them), Worse those significantly worse, Undersampled those
	// left out for too few requests.
	Equivalent   []string `json:"equivalent,omitempty"`
	Worse        []string `json:"significantly_worse,omitempty"`
	Undersampled []string `json:"undersampled,omitempty"`
}

// The rule's bounds.
const (
	tolerance   = 0.05 // within 5% of the best req/s and of the best p99
	holdFactor  = 1.5  // upstream hold p99 within 1.5× the best ...
	holdSlackMs = 1.0  // ... plus 1 ms, for noise on short holds
)

// RuleText is the recommendation rule, printed with the recommendations.
const RuleText = "among the configurations without errors and with enough requests (--min-samples), keep those whose req/s and p99 are within the noise " +
	"(the two cells' 95% confidence half-widths combined) or within 5% of the best, and, when the workload has slow clients, " +
	"whose upstream hold p99 is within 1.5× the best hold p99 (+1 ms); recommend the smallest of them by memory (proxy_buffer_size + N × proxy_buffers size); " +
	"when none is worse by more than the noise, say there is no significant difference"

// within says whether v, on the worse side of best by diff, is within the
// noise of it (the two ± combined) or within the 5% tolerance. A ± of -1
// (unknown) counts as 0.
func within(diff, best, ciA, ciB float64) bool {
	noise := math.Hypot(max(ciA, 0), max(ciB, 0))
	return diff <= max(best*tolerance, noise)
}

// Recommend applies the rule per workload to the spillway (or external)
// cells without errors. Ties in memory go to the higher throughput.
func Recommend(rs []Result) []Recommendation {
	by := map[string][]Result{}
	under := map[string][]string{}
	load := map[string]Workload{} // a workload's key → the workload, to sort by
	var keys []string
	for _, r := range rs {
		if r.Target == "nginx" || r.Errors > 0 || r.Requests == 0 {
			continue
		}
		k := r.Load.Key()
		if _, seen := load[k]; !seen {
			keys = append(keys, k)
			load[k] = r.Load
		}
		if r.Undersampled != "" {
			under[k] = append(under[k], r.Config.Name())
			continue
		}
		by[k] = append(by[k], r)
	}
	sort.SliceStable(keys, func(i, j int) bool { return workloadLess(load[keys[i]], load[keys[j]]) })
	var out []Recommendation
	for _, k := range keys {
		cells := by[k]
		rec := Recommendation{Workload: k, P99ms: -1, HoldP99: -1, BestHold: -1, Undersampled: under[k]}
		if len(cells) == 0 {
			out = append(out, rec) // every cell had too few requests
			continue
		}
		rec.HoldRule = cells[0].Load.Client.Slow()
		bestRPS, bestP99 := cells[0], cells[0]
		for _, r := range cells {
			if r.RPS > bestRPS.RPS {
				bestRPS = r
			}
			if r.P99ms < bestP99.P99ms {
				bestP99 = r
			}
			if r.HoldP99ms < 0 || r.HoldCount == 0 {
				rec.HoldRule = false // unknown (external upstream): the rule leaves it out
			} else if rec.BestHold < 0 || r.HoldP99ms < rec.BestHold {
				rec.BestHold = r.HoldP99ms
			}
		}
		rec.BestRPS, rec.BestP99 = bestRPS.RPS, bestP99.P99ms
		var pick *Result
		for i := range cells {
			r := &cells[i]
			ok := within(bestRPS.RPS-r.RPS, bestRPS.RPS, r.RPSCI, bestRPS.RPSCI) &&
				within(r.P99ms-bestP99.P99ms, bestP99.P99ms, r.P99CI, bestP99.P99CI) &&
				(!rec.HoldRule || r.HoldP99ms <= rec.BestHold*holdFactor+holdSlackMs)
			if !ok {
				rec.Worse = append(rec.Worse, r.Config.Name())
				continue
			}
			rec.Equivalent = append(rec.Equivalent, r.Config.Name())
			if pick == nil || r.Config.Footprint() < pick.Config.Footprint() ||
				r.Config.Footprint() == pick.Config.Footprint() && r.RPS > pick.RPS {
				pick = r
			}
		}
		if pick != nil {
			rec.Config, rec.RPS, rec.P99ms, rec.HoldP99 = pick.Config.Name(), pick.RPS, pick.P99ms, pick.HoldP99ms
		}
		rec.Significant = len(rec.Worse) > 0
		out = append(out, rec)
	}
	return out
}

// Ratio compares spillway with nginx on one cell: above 1 means spillway
// has more of the quantity.
// 0 means one side is unknown.
type Ratio struct {
	Cell     string  `json:"cell"`
	RPS      float64 `json:"rps_ratio"`
	P99      float64 `json:"p99_ratio"`
	HoldMean float64 `json:"hold_mean_ratio"`
	CPU      float64 `json:"cpu_per_req_ratio"`
	RSS      float64 `json:"peak_rss_ratio"`
	IdleConn float64 `json:"idle_conn_bytes_ratio"`
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
		out = append(out, Ratio{Cell: r.Config.Name() + " | " + r.Load.Key(), RPS: div(r.RPS, n.RPS), P99: div(r.P99ms, n.P99ms),
			HoldMean: div(r.HoldMeanms, n.HoldMeanms), CPU: div(r.CPUus, n.CPUus), RSS: div(float64(r.PeakRSSBytes), float64(n.PeakRSSBytes)),
			IdleConn: div(r.IdleConnBytes, n.IdleConnBytes)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cell < out[j].Cell })
	return out
}

func div(a, b float64) float64 {
	if a < 0 || b <= 0 {
		return 0
	}
	return a / b
}

func (r Ratio) line() string {
	x := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("×%.2f", v)
	}
	return fmt.Sprintf("spillway/nginx %s: req/s %s, p99 %s, upstream hold %s, cpu/req %s, peak RSS %s, memory per idle connection %s",
		r.Cell, x(r.RPS), x(r.P99), x(r.HoldMean), x(r.CPU), x(r.RSS), x(r.IdleConn))
}

// sorted returns the results ordered by workload, then configuration
// footprint, then target, for tables.
func sorted(rs []Result) []Result {
	out := append([]Result(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Load.Key() != b.Load.Key() {
			return workloadLess(a.Load, b.Load)
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

var header = []string{"target", "config", "size", "client", "conc", "req/s", "±req/s", "p50 ms", "p90 ms", "p99 ms", "±p99", "p999 ms",
	"cpu µs/req", "req/s/core", "peak RSS", "mem/idle conn", "peak pool", "spilled", "files", "hold mean ms", "hold p99 ms", "errors"}

func row(r Result) []string {
	f := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	cpu := "-"
	if r.CPUus >= 0 {
		cpu = strconv.FormatFloat(r.CPUus, 'f', 0, 64)
	}
	f0 := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	pm := func(v float64, prec int) string {
		if v < 0 {
			return "-"
		}
		return "±" + strconv.FormatFloat(v, 'f', prec, 64)
	}
	return []string{r.Target, r.Config.Name(), r.Load.SizeLabel(), r.Load.Client.Name, strconv.Itoa(r.Load.Concurrency),
		strconv.FormatFloat(r.RPS, 'f', 0, 64), pm(r.RPSCI, 0), f(r.P50ms), f(r.P90ms), f(r.P99ms), pm(r.P99CI, 2), f(r.P999ms),
		cpu, f0(r.RPSPerCore), fmtBytes(r.PeakRSSBytes), fmtBytes(int64(r.IdleConnBytes)), fmtBytes(r.PeakPoolBytes), fmtBytes(r.SpilledBytes), fmtCount(r.FilesCreated),
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
	if rep.Budget != "" {
		fmt.Fprintln(w, "warning: "+rep.Budget)
	}
	for _, r := range sorted(rep.Results) {
		if r.Undersampled != "" {
			fmt.Fprintf(w, "undersampled: %s: %s (left out of the recommendation)\n", r.Cell, r.Undersampled)
		}
	}
	if len(rep.Recommendations) > 0 {
		fmt.Fprintln(w, "± is the 95% confidence half-width over the cell's time windows (each a fifth of the cell's duration).")
		fmt.Fprintln(w, "recommendation rule: "+rep.Rule)
	}
	for _, rec := range rep.Recommendations {
		fmt.Fprintln(w, "recommendation for "+rec.line())
		if rec.Config == "" {
			fmt.Fprintln(w, "warning: "+rec.warning())
		}
	}
	for _, r := range rep.Ratios {
		fmt.Fprintln(w, r.line())
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
	if rep.Budget != "" {
		fmt.Fprintln(w, "Warning: "+rep.Budget+".")
		fmt.Fprintln(w)
	}
	for _, r := range sorted(rep.Results) {
		if r.Undersampled != "" {
			fmt.Fprintf(w, "- undersampled: %s: %s (left out of the recommendation)\n", r.Cell, r.Undersampled)
		}
	}
	if len(rep.Recommendations) > 0 {
		fmt.Fprintln(w, "± is the 95% confidence half-width over the cell's time windows (each a fifth of the cell's duration).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Recommendation rule: "+rep.Rule+".")
		fmt.Fprintln(w)
	}
	for _, rec := range rep.Recommendations {
		fmt.Fprintln(w, "- recommendation for "+rec.line())
		if rec.Config == "" {
			fmt.Fprintln(w, "- warning: "+rec.warning())
		}
	}
	for _, r := range rep.Ratios {
		fmt.Fprintln(w, "- "+r.line())
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
		"proxy_max_temp_file_size", "proxy_spill_grace", "size", "client", "client_rate", "concurrency", "requests", "errors", "aborted", "seconds",
		"rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "cpu_us_per_req", "cpu_scope", "peak_pool_bytes", "peak_rss_bytes",
		"spilled_bytes", "files_created", "hold_count", "hold_mean_ms", "hold_p50_ms", "hold_p99_ms", "first_error", "proxy_error_log",
		"windows", "rps_ci95", "p99_ci95_ms", "undersampled", "rps_per_core", "idle_conns", "idle_conn_bytes"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range sorted(rep.Results) {
		c := r.Config
		_ = cw.Write([]string{r.Target, c.Name(), strconv.FormatBool(c.Buffering), fmt.Sprintf("%d %s", c.N, FormatSize(c.Size)),
			i(c.BufferSize), i(c.Busy), i(c.MaxTemp), c.SpillGrace, r.Load.SizeLabel(), r.Load.Client.Name, i(r.Load.Client.Rate),
			strconv.Itoa(r.Load.Concurrency), i(r.Requests), i(r.Errors), i(r.Aborted), f(r.Seconds), f(r.RPS),
			f(r.P50ms), f(r.P90ms), f(r.P99ms), f(r.P999ms), f(r.CPUus), r.CPUScope, i(r.PeakPoolBytes), i(r.PeakRSSBytes),
			i(r.SpilledBytes), i(r.FilesCreated), i(r.HoldCount), f(r.HoldMeanms), f(r.HoldP50ms), f(r.HoldP99ms), r.FirstErr, r.ProxyLog,
			strconv.Itoa(r.Windows), f(r.RPSCI), f(r.P99CI), r.Undersampled, f(r.RPSPerCore), strconv.Itoa(r.IdleConns), f(r.IdleConnBytes)})
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
	hold := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f ms", v)
	}
	best := fmt.Sprintf("best %.0f req/s, p99 %.2f ms, hold p99 %s", rec.BestRPS, rec.BestP99, hold(rec.BestHold))
	var under string
	if len(rec.Undersampled) > 0 {
		under = "; too few requests to judge: " + strings.Join(rec.Undersampled, ", ")
	}
	switch {
	case rec.Config == "" && rec.BestRPS == 0:
		return fmt.Sprintf("%s: none (every configuration had too few requests%s)", rec.Workload, under)
	case rec.Config == "":
		return fmt.Sprintf("%s: none (%s%s)", rec.Workload, best, under)
	}
	var verdict string
	switch {
	case rec.Significant:
		verdict = fmt.Sprintf("significantly better than %s", strings.Join(rec.Worse, ", "))
	case len(rec.Equivalent) == 1:
		verdict = "the only configuration measured with enough requests: nothing to compare"
	default:
		verdict = fmt.Sprintf("no significant difference among %s: the smallest by memory", strings.Join(rec.Equivalent, ", "))
	}
	return fmt.Sprintf("%s: %s (%.0f req/s, p99 %.2f ms, hold p99 %s; %s) — %s%s",
		rec.Workload, rec.Config, rec.RPS, rec.P99ms, hold(rec.HoldP99), best, verdict, under)
}

// warning explains a workload for which no configuration passes.
func (rec Recommendation) warning() string {
	if rec.BestRPS == 0 {
		return rec.Workload + ": every configuration measured fewer requests than --min-samples; measure longer (--duration, --max-time)"
	}
	if rec.HoldRule {
		return rec.Workload + ": no configuration is within the noise (or 5%) of the best throughput and of the best p99 and within 1.5× (+1 ms) of the best upstream hold p99; measure longer (--duration) or widen the grid"
	}
	return rec.Workload + ": no configuration is within the noise (or 5%) of both the best throughput and the best p99; measure longer (--duration) or widen the grid"
}
