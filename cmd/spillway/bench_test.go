package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"spillway/bench/sweep"
)

// benchChildren makes `spillway bench` run its per-cell proxies as this
// test binary running main (SPILLWAY_AS_MAIN, see TestMain): the real
// `spillway bench serve-cell` path.
func benchChildren(t *testing.T) {
	t.Helper()
	prev := benchProxyCommand
	benchProxyCommand = func(path string) *exec.Cmd {
		cmd := spillwayCmd(t, "bench", "serve-cell", path)
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0") // -race sleeps 1s at exit otherwise
		return cmd
	}
	t.Cleanup(func() { benchProxyCommand = prev })
}

// TestBenchCommand runs `spillway bench` on a one-cell grid with a size
// distribution and a mixed client population, and checks the table, the
// rule and recommendation lines, the files, and that the proxy's CPU and
// RSS came from its own process.
func TestBenchCommand(t *testing.T) {
	benchChildren(t)
	dir := t.TempDir()
	sizes := filepath.Join(dir, "sizes.txt")
	if err := os.WriteFile(sizes, []byte("1k 70\n16k 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"bench", "--buffers", "8x4k", "--sizes-file", sizes, "--client", "mix:fast=50,slow:8m=50",
		"--concurrency", "2", "--duration", "100ms", "--min-duration", "200ms", "--out", dir})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"req/s", "±req/s", "±p99", "peak RSS", "spillway", "1k:70,16k:30",
		"± is the 95% confidence half-width over the cell's time windows",
		"recommendation rule: among the configurations without errors and with enough requests (--min-samples)",
		"recommendation for 1k:70,16k:30 mix:fast=50,slow:8m/s=50 c2: 8x4k"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Not a terminal: one plain progress line per cell.
	if !strings.HasPrefix(errOut.String(), "[1/1] spillway 8x4k") || strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress: %q", errOut.String())
	}
	for _, name := range []string{"results.csv", "results.json", "results.md", "throughput.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	var rep sweep.Report
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Results) != 1 {
		t.Fatalf("results.json: %v\n%s", err, b)
	}
	r := rep.Results[0]
	// --duration 100ms is raised to --min-duration 200ms: five 40ms
	// windows at least, and 200 requests (--min-samples' default).
	if rep.Duration != "200ms" || r.Windows < 5 || r.RPSCI < 0 || r.P99CI < 0 || r.Requests < 200 || r.Undersampled != "" {
		t.Errorf("cell duration %s, %d windows, ±%v req/s, ±%v ms, %d requests (%s)", rep.Duration, r.Windows, r.RPSCI, r.P99CI, r.Requests, r.Undersampled)
	}
	if r.Errors > 0 || r.Requests == 0 || r.PeakRSSBytes <= 0 || r.CPUus < 0 || r.CPUScope != "spillway process" ||
		r.ProxyPID <= 0 || r.ProxyPID == os.Getpid() {
		t.Errorf("cell: %+v", r)
	}
}

func TestBenchCommandRejectsBadGrid(t *testing.T) {
	benchChildren(t)
	dir := t.TempDir()
	badSizes, goodSizes := filepath.Join(dir, "bad.txt"), filepath.Join(dir, "good.txt")
	if err := os.WriteFile(badSizes, []byte("4k seventy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goodSizes, []byte("4k 70\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"bench", "--buffers", "1x4k"},
		{"bench", "--client", "medium"},
		{"bench", "--client", "mix:fast=80,slow:8m=10"},
		{"bench", "--buffering", "maybe"},
		{"bench", "--spill-grace", "soon"},
		{"bench", "--sizes", "0"},
		{"bench", "--compare", "apache"},
		{"bench", "--sizes-file", badSizes},
		{"bench", "--sizes-file", filepath.Join(dir, "missing.txt")},
		{"bench", "--upstream", "https://127.0.0.1:1/"},
		{"bench", "--upstream", "http://127.0.0.1:1/fixed", "--sizes-file", goodSizes}, // no {size} to draw into
	} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(append(args, "--duration", "50ms", "--out", t.TempDir()))
		if err := root.Execute(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// A --max-time that cannot give every cell --min-duration says so, and the
// cells past it are listed as skipped rather than run short.
func TestBenchCommandBudgetTooSmall(t *testing.T) {
	benchChildren(t)
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"bench", "--buffers", "8x4k,8x16k", "--sizes", "1k,4k", "--concurrency", "1",
		"--max-time", "3s", "--min-duration", "1s", "--min-samples", "1", "--out", t.TempDir()})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"warning: --max-time 3s cannot give the 4 cells their minimum 1s each", "skipped: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
