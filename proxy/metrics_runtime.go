package proxy

// The Go runtime's and the process's collectors (go_*, process_*), as
// VictoriaMetrics/metrics writes them, given the # HELP and # TYPE lines the
// library writes only behind its process-wide ExposeMetadata switch (and
// then with empty help texts and types promtool's linter refuses).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// runtimeHelp is the help text of the collectors' families; a family the
// library adds later gets a generic text (runtimeFamilyHelp).
var runtimeHelp = map[string]string{
	"go_goroutines":                       "Goroutines that exist now.",
	"go_threads":                          "OS threads created by the Go runtime.",
	"go_gomaxprocs":                       "GOMAXPROCS: the CPUs Go code may run on at once.",
	"go_info":                             "Always 1; the label says the Go version the binary was built with.",
	"go_info_ext":                         "Always 1; the labels say the compiler, GOARCH, GOOS and GOROOT.",
	"go_memlimit_bytes":                   "The Go runtime's soft memory limit (GOMEMLIMIT).",
	"go_gc_duration_seconds":              "Stop-the-world GC pause durations.",
	"go_gc_pauses_seconds":                "Stop-the-world GC pause durations.",
	"go_sched_latencies_seconds":          "Time goroutines spent runnable before running.",
	"go_gc_cpu_seconds_total":             "CPU time spent in the garbage collector.",
	"go_gc_mark_assist_cpu_seconds_total": "CPU time goroutines spent assisting the garbage collector.",
	"go_scavenge_cpu_seconds_total":       "CPU time spent returning memory to the OS.",
	"go_mutex_wait_seconds_total":         "Time goroutines spent blocked on sync.Mutex and sync.RWMutex.",
	"go_memstats_alloc_bytes":             "Heap bytes allocated and still in use.",
	"go_memstats_alloc_bytes_total":       "Heap bytes allocated since the start.",
	"go_memstats_sys_bytes":               "Bytes obtained from the OS by the Go runtime.",
	"go_memstats_heap_alloc_bytes":        "Heap bytes allocated and still in use.",
	"go_memstats_heap_inuse_bytes":        "Heap bytes in in-use spans.",
	"go_memstats_heap_idle_bytes":         "Heap bytes in idle spans.",
	"go_memstats_heap_released_bytes":     "Heap bytes returned to the OS.",
	"go_memstats_heap_sys_bytes":          "Heap bytes obtained from the OS.",
	"go_memstats_heap_objects":            "Allocated heap objects.",
	"go_memstats_mallocs_total":           "Heap objects allocated since the start.",
	"go_memstats_frees_total":             "Heap objects freed since the start.",
	"go_memstats_next_gc_bytes":           "Heap size at which the next GC cycle starts.",
	"go_memstats_last_gc_time_seconds":    "Unix time of the last GC cycle's end.",
	"process_cpu_seconds_total":           "User and system CPU time spent by the process.",
	"process_cpu_seconds_user_total":      "User CPU time spent by the process.",
	"process_cpu_seconds_system_total":    "System CPU time spent by the process.",
	"process_resident_memory_bytes":       "Resident set size.",
	"process_virtual_memory_bytes":        "Virtual memory size.",
	"process_start_time_seconds":          "Unix time the process started.",
	"process_open_fds":                    "Open file descriptors.",
	"process_max_fds":                     "The open file descriptor limit (RLIMIT_NOFILE).",
	"process_num_threads":                 "OS threads of the process.",
}

func runtimeFamilyHelp(name string) string {
	if h := runtimeHelp[name]; h != "" {
		return h
	}
	src := "the Go runtime"
	if strings.HasPrefix(name, "process_") {
		src = "/proc"
	}
	return fmt.Sprintf("%s, from %s (written by github.com/VictoriaMetrics/metrics).", name, src)
}

// writeRuntimeMetrics writes go_* and process_* with their metadata.
func writeRuntimeMetrics(w io.Writer) {
	var b bytes.Buffer
	metrics.WriteProcessMetrics(&b)
	metrics.WriteFDMetrics(&b)
	annotateRuntime(w, &b)
}

// annotateRuntime copies the collectors' samples from r to w, each family
// after its # HELP and # TYPE. A family is a histogram when its first
// sample is a _bucket with le, a summary when it has quantile, a counter
// when its name ends in _total, a gauge otherwise. Families named _count
// that are neither (go_cgo_calls_count, go_gc_forced_count, go_cpu_count)
// are left out: their names break Prometheus's naming rules, which
// promtool checks, and nothing here needs them.
func annotateRuntime(w io.Writer, r io.Reader) {
	var fam string
	skip := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue // the library's own metadata, were it switched on
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		if fam == "" || (name != fam && name != fam+"_bucket" && name != fam+"_sum" && name != fam+"_count") {
			typ := "gauge"
			fam = name
			switch {
			case strings.HasSuffix(name, "_bucket") && strings.Contains(line, "le="):
				fam, typ = strings.TrimSuffix(name, "_bucket"), "histogram"
			case strings.Contains(line, "quantile="):
				typ = "summary"
			case strings.HasSuffix(name, "_total"):
				typ = "counter"
			}
			skip = typ != "histogram" && typ != "summary" && strings.HasSuffix(name, "_count")
			if !skip {
				fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", fam, runtimeFamilyHelp(fam), fam, typ)
			}
		}
		if !skip {
			_, _ = io.WriteString(w, line+"\n")
		}
	}
}
