package sweep

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestTinySweep runs 2 buffer configurations × 2 sizes with slow clients,
// buffering on and off, end to end, and checks that the outputs exist and
// that the numbers make sense: only the small buffers spill, and only for
// the response larger than they are; buffering releases the upstream sooner
// than no buffering for a slow client.
func TestTinySweep(t *testing.T) {
	configs, _, err := GridSpec{Buffers: []string{"8x4k", "32x64k"}, Buffering: []string{"on", "off"}}.Configs()
	if err != nil {
		t.Fatal(err)
	}
	slow, _ := ParseClient("slow:8m/s")
	const small, large = 1 << 20, 8 << 20 // small: > 8×4k, < 32×64k; large: > both
	rep, err := Run(Options{
		Configs:     configs,
		Sizes:       []int64{small, large},
		Clients:     []ClientSpec{slow},
		Concurrency: []int{2},
		Duration:    300 * time.Millisecond,
		Grace:       3 * time.Second, // -race on 2 CPUs: an 8m spill can take a second
		MaxTime:     15 * time.Second,
		Seed:        1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 6 || len(rep.Skipped) != 0 {
		t.Fatalf("%d results, skipped %v; want 6 cells", len(rep.Results), rep.Skipped)
	}
	dir := t.TempDir()
	paths, err := rep.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"results.csv", "results.json", "results.md",
		"throughput.png", "throughput.svg", "p99.png", "p99.svg", "hold.png", "hold.svg", "memory.png", "memory.svg"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size 0?)", name, err)
		}
	}
	t.Logf("wrote %v", paths)
	var back Report
	if b, err := os.ReadFile(filepath.Join(dir, "results.json")); err != nil || json.Unmarshal(b, &back) != nil || len(back.Results) != 6 {
		t.Errorf("results.json does not hold the 6 results: %v", err)
	}

	hold := map[string]float64{}
	for _, r := range rep.Results {
		name := r.Config.Name()
		t.Logf("%-8s %5s  %6.0f req/s  p99 %7.2f ms  hold %7.2f ms  peak %7d  spilled %8d  files %d  err %d %s",
			name, FormatSize(r.Load.Size), r.RPS, r.P99ms, r.HoldMeanms, r.PeakPoolBytes, r.SpilledBytes, r.FilesCreated, r.Errors, r.FirstErr)
		if r.Requests == 0 || r.Errors > 0 || r.HoldCount == 0 {
			t.Errorf("%s: %d requests, %d errors (%s), %d holds", r.Cell, r.Requests, r.Errors, r.FirstErr, r.HoldCount)
		}
		if r.P50ms <= 0 || r.P99ms < r.P50ms || r.P999ms < r.P99ms {
			t.Errorf("%s: latency quantiles out of order: %v %v %v", r.Cell, r.P50ms, r.P99ms, r.P999ms)
		}
		wantSpill := r.Config.Buffering && int64(r.Config.N)*r.Config.Size < r.Load.Size
		if gotSpill := r.SpilledBytes > 0; gotSpill != wantSpill || (r.FilesCreated > 0) != wantSpill {
			t.Errorf("%s: spilled %d bytes in %d files; want spilling %v", r.Cell, r.SpilledBytes, r.FilesCreated, wantSpill)
		}
		if r.Load.Size == large {
			hold[name] = r.HoldMeanms
		}
	}
	// An 8m body read at 8m/s takes a second; an unbuffered proxy
	// holds the upstream for most of it (all but what the socket buffers
	// absorb), a buffering one (in memory or spilled) not.
	for _, on := range []string{"8x4k", "32x64k"} {
		if !(hold[on] < hold["off"]*0.8) {
			t.Errorf("upstream hold for 8m: %s %.2f ms, off %.2f ms; want buffering below off", on, hold[on], hold["off"])
		}
	}
	if len(rep.Recommendations) != 2 {
		t.Errorf("recommendations: %+v", rep.Recommendations)
	}
}

// TestCompareNginx runs one cell against spillway and nginx (when nginx is
// installed) and checks both answered and a ratio came out.
func TestCompareNginx(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not in PATH")
	}
	configs, _, err := GridSpec{Buffers: []string{"8x4k"}}.Configs()
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := ParseClient("fast")
	rep, err := Run(Options{Configs: configs, Sizes: []int64{64 << 10}, Clients: []ClientSpec{fast},
		Concurrency: []int{2}, Duration: 200 * time.Millisecond, MaxTime: 10 * time.Second, Compare: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || len(rep.Ratios) != 1 {
		t.Fatalf("results %d, ratios %+v", len(rep.Results), rep.Ratios)
	}
	for _, r := range rep.Results {
		if r.Requests == 0 || r.Errors > 0 {
			t.Errorf("%s: %d requests, %d errors (%s)", r.Cell, r.Requests, r.Errors, r.FirstErr)
		}
		if r.Target == "nginx" && (r.CPUScope != "nginx" || r.PeakRSSBytes <= 0 || r.CPUus <= 0) {
			t.Errorf("nginx cell: cpu %v (%s), peak RSS %d", r.CPUus, r.CPUScope, r.PeakRSSBytes)
		}
	}
	if r := rep.Ratios[0]; r.RPS <= 0 || r.P99 <= 0 {
		t.Errorf("ratio %+v", r)
	}
}
