package sweep

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The recommendation rule against synthetic cells: a difference smaller
// than the noise (the cells' ± combined) is no difference, and the smallest
// configuration by memory is picked with "no significant difference"; a
// difference larger than the noise (and than 5%) excludes the worse
// configurations; cells with too few requests are left out.
func TestRecommendNoiseRule(t *testing.T) {
	fast, _ := ParseClient("fast")
	small := BufferConfig{Buffering: true, N: 8, Size: 4 << 10, MaxTemp: -1}
	mid := BufferConfig{Buffering: true, N: 8, Size: 16 << 10, MaxTemp: -1}
	big := BufferConfig{Buffering: true, N: 32, Size: 64 << 10, MaxTemp: -1}
	type cell struct {
		c            BufferConfig
		rps, rpsCI   float64
		p99, p99CI   float64
		undersampled bool
	}
	for _, tc := range []struct {
		name        string
		cells       []cell
		want        string
		significant bool
		worse       []string
		under       []string
	}{
		{
			// The case: 32x64k looks 12% faster with a better p99,
			// but the windows spread more than that.
			name: "noise larger than the difference",
			cells: []cell{
				{small, 1000, 150, 10, 4, false},
				{mid, 1050, 160, 9.5, 4, false},
				{big, 1120, 140, 8, 3, false},
			},
			want: "8x4k", significant: false,
		},
		{
			name: "difference larger than the noise",
			cells: []cell{
				{small, 1000, 10, 10, 0.2, false},
				{mid, 1190, 12, 8.1, 0.2, false},
				{big, 1200, 10, 8, 0.2, false},
			},
			want: "8x16k", significant: true, worse: []string{"8x4k"},
		},
		{
			name: "p99 worse beyond the noise, throughput equal",
			cells: []cell{
				{small, 1000, 50, 30, 1, false},
				{big, 1000, 50, 10, 1, false},
			},
			want: "32x64k", significant: true, worse: []string{"8x4k"},
		},
		{
			// Without ± (fewer than two windows) the 5% tolerance alone
			// decides, as before.
			name: "no windows: tolerance only",
			cells: []cell{
				{small, 1000, -1, 10, -1, false},
				{big, 1200, -1, 8, -1, false},
			},
			want: "32x64k", significant: true, worse: []string{"8x4k"},
		},
		{
			name: "an undersampled cell is left out even when it would win",
			cells: []cell{
				{small, 5000, 10, 1, 0.1, true},
				{mid, 1000, 10, 10, 0.2, false},
				{big, 1010, 10, 10, 0.2, false},
			},
			want: "8x16k", significant: false, under: []string{"8x4k"},
		},
		{
			name:  "every cell undersampled",
			cells: []cell{{small, 1000, 10, 1, 0.1, true}, {big, 1000, 10, 1, 0.1, true}},
			want:  "", under: []string{"8x4k", "32x64k"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []Result
			for _, c := range tc.cells {
				r := Result{Cell: Cell{Target: "spillway", Config: c.c, Load: Workload{Size: 4 << 10, Client: fast, Concurrency: 8}},
					Requests: 5000, RPS: c.rps, RPSCI: c.rpsCI, P99ms: c.p99, P99CI: c.p99CI, Windows: 5, HoldP99ms: 1, HoldCount: 1}
				if c.undersampled {
					r.Undersampled = "too few"
				}
				rs = append(rs, r)
			}
			recs := Recommend(rs)
			if len(recs) != 1 {
				t.Fatalf("%d recommendations", len(recs))
			}
			rec := recs[0]
			if rec.Config != tc.want || rec.Significant != tc.significant || !slices.Equal(rec.Worse, tc.worse) || !slices.Equal(rec.Undersampled, tc.under) {
				t.Errorf("got %q significant %v worse %v undersampled %v; want %q %v %v %v",
					rec.Config, rec.Significant, rec.Worse, rec.Undersampled, tc.want, tc.significant, tc.worse, tc.under)
			}
			line := rec.line()
			switch {
			case tc.want == "":
				if !strings.Contains(line, "none (every configuration had too few requests") {
					t.Errorf("line: %s", line)
				}
			case tc.significant:
				if !strings.Contains(line, "significantly better than "+strings.Join(tc.worse, ", ")) {
					t.Errorf("line: %s", line)
				}
			default:
				if !strings.Contains(line, "no significant difference among ") || !strings.Contains(line, "the smallest by memory") {
					t.Errorf("line: %s", line)
				}
			}
		})
	}
}

// Workloads whose cells are all undersampled sort among the others and
// get a recommendation of none (a real 30s sweep crashed here).
func TestRecommendAllUndersampledWorkloads(t *testing.T) {
	fast, _ := ParseClient("fast")
	slow, _ := ParseClient("slow:8m/s")
	small := BufferConfig{Buffering: true, N: 8, Size: 4 << 10, MaxTemp: -1}
	var rs []Result
	for _, cl := range []ClientSpec{slow, fast} {
		for _, size := range []int64{8 << 20, 4 << 10} {
			r := Result{Cell: Cell{Target: "spillway", Config: small, Load: Workload{Size: size, Client: cl, Concurrency: 8}},
				Requests: 8, RPS: 8, P99ms: 900, Undersampled: "8 requests"}
			if cl.Name == "fast" && size == 4<<10 {
				r.Requests, r.RPS, r.P99ms, r.Undersampled = 5000, 5000, 1, ""
			}
			rs = append(rs, r)
		}
	}
	recs := Recommend(rs)
	if len(recs) != 4 {
		t.Fatalf("%d recommendations for 4 workloads", len(recs))
	}
	for _, rec := range recs {
		if want := map[bool]string{true: "8x4k", false: ""}[rec.Workload == "4k fast c8"]; rec.Config != want {
			t.Errorf("%s: %q, want %q", rec.Workload, rec.Config, want)
		}
	}
}

// ci95 is Student's t interval: for 1,2,3,4,5 (mean 3, sd √2.5) with 4
// degrees of freedom, 2.776 × √2.5 / √5; fewer than two values have none.
func TestCI95(t *testing.T) {
	if got, want := ci95([]float64{1, 2, 3, 4, 5}), 2.776*math.Sqrt(2.5)/math.Sqrt(5); math.Abs(got-want) > 1e-9 {
		t.Errorf("ci95 = %v, want %v", got, want)
	}
	if ci95([]float64{7}) != -1 || ci95(nil) != -1 {
		t.Error("ci95 of fewer than two values should be -1")
	}
	if ci95([]float64{4, 4, 4}) != 0 {
		t.Error("ci95 of equal values should be 0")
	}
}

// A cell goes on past its duration until the minimum sample count is
// reached, and its windows (at full load, before the clients stop) give
// the ± figures; without a minimum it stops starting requests at d.
func TestLoadMinSamplesAndWindows(t *testing.T) {
	origin, err := StartOrigin("", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	fast, _ := ParseClient("fast")
	up := builtinUpstream(origin.Addr())
	w := Workload{Size: 1 << 10, Client: fast, Concurrency: 2}

	// A 1 ms cell cannot measure 300 requests; the minimum keeps it going
	// (up to 10 s, far more than 300 loopback requests need).
	lr := runLoad(origin.Addr(), w, up, 1, time.Millisecond, time.Second, 300, 10*time.Second, 0)
	if lr.ok < 300 || lr.errors > 0 {
		t.Errorf("min samples 300: %d requests, %d errors (%s)", lr.ok, lr.errors, lr.firstErr)
	}

	lr = runLoad(origin.Addr(), w, up, 1, 200*time.Millisecond, time.Second, 0, 0, 0)
	var inWindows int64
	for _, h := range lr.windows {
		inWindows += h.TotalCount()
	}
	if len(lr.windows) < loadWindows || inWindows == 0 || inWindows > lr.ok {
		t.Fatalf("%d windows holding %d of %d requests; want at least %d", len(lr.windows), inWindows, lr.ok, loadWindows)
	}
	var r Result
	windowStats(&r, lr)
	if r.Windows != len(lr.windows) || r.RPSCI < 0 || r.P99CI < 0 {
		t.Errorf("window stats: %d windows, ±%v req/s, ±%v ms", r.Windows, r.RPSCI, r.P99CI)
	}
}

// The memory plot's legend (one line per configuration, at the top of the
// plot area) covers no data point: the y axis leaves a band for it above
// the largest value, at the size the plot is saved at.
func TestMemoryPlotLegendClearOfPoints(t *testing.T) {
	var configs []BufferConfig
	var rs []Result
	for i, n := range []int{2, 4, 8, 16, 32, 64} {
		c := BufferConfig{Buffering: true, N: n, Size: 4 << 10, MaxTemp: -1}
		configs = append(configs, c)
		// Points everywhere, the largest pool and spill included (top
		// right, where a legend goes).
		for j := range 3 {
			rs = append(rs, Result{Cell: Cell{Config: c}, SpilledBytes: int64(i*j) << 20, PeakPoolBytes: int64(n*(j+1)) << 18})
		}
	}
	p, err := memoryPlot(rs, configs)
	if err != nil || p == nil {
		t.Fatalf("memoryPlot: %v, %v", p, err)
	}
	if !p.Legend.Top {
		t.Fatal("the legend is expected at the top")
	}
	c := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: plotW, Y: plotH}}}
	dc := p.DataCanvas(c)
	legendBottom := dc.Max.Y - p.Legend.Rectangle(c).Size().Y
	_, y := p.Transforms(&dc)
	for _, r := range rs {
		py := float64(r.PeakPoolBytes) / (1 << 20)
		if top := y(py) + vg.Points(3); top >= legendBottom {
			t.Errorf("point at %.2f MiB reaches %.1fpt, into the legend (from %.1fpt up)", py, top, legendBottom)
		}
	}
}
