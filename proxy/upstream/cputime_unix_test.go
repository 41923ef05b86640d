//go:build unix

package upstream

import (
	"syscall"
	"testing"
	"time"
)

// cpuPerOp reports the process's CPU time (user and system) per operation
// of the benchmark loop body f as "cpu-ns/op": on the shared, loaded
// machine the wall clock's ns/op counts the time the benchmark waited for
// a core, the CPU time does not.
func cpuPerOp(b *testing.B, f func()) {
	b.Helper()
	t0 := processCPU(b)
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(processCPU(b)-t0)/float64(n), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
