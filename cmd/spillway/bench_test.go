package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs `spillway bench` on a one-cell grid and checks the
// table, the recommendation line and the files.
func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"bench", "--buffers", "8x4k", "--sizes", "1k", "--client", "fast", "--concurrency", "2",
		"--duration", "100ms", "--out", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"req/s", "spillway", "recommendation for 1k fast c2: 8x4k"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, name := range []string{"results.csv", "results.json", "results.md", "throughput.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestBenchCommandRejectsBadGrid(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--buffers", "1x4k"},
		{"bench", "--client", "medium"},
		{"bench", "--buffering", "maybe"},
		{"bench", "--sizes", "0"},
		{"bench", "--compare", "apache"},
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
