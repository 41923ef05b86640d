package sweep

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the sweep reads about a proxy process from /proc (Linux). Elsewhere
// every reader returns -1 and the columns show "-".

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture it runs on.
const userHZ = 100

// procCPU is a process's user+system CPU time from /proc/PID/stat (fields
// 14 and 15, after the parenthesised command name), or -1.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * time.Second / userHZ
}

// children lists a process's children (/proc/PID/task/PID/children).
func children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// treeCPU is the CPU time of a process and of each of its children, by pid.
func treeCPU(pid int) map[int]time.Duration {
	m := map[int]time.Duration{}
	for _, p := range append([]int{pid}, children(pid)...) {
		if d := procCPU(p); d >= 0 {
			m[p] = d
		}
	}
	return m
}

// cpuSince is the CPU the processes of now used since before: a process
// that did not exist before counts from zero. -1 when nothing was read.
func cpuSince(before, now map[int]time.Duration) time.Duration {
	if len(now) == 0 {
		return -1
	}
	var d time.Duration
	for pid, t := range now {
		d += t - before[pid]
	}
	return d
}

// treeHWM is the summed peak RSS of a process and its children, or -1.
func treeHWM(pid int) int64 {
	total := vmHWM(pid)
	if total < 0 {
		return -1
	}
	for _, c := range children(pid) {
		if v := vmHWM(c); v > 0 {
			total += v
		}
	}
	return total
}

// treeRSS is the summed resident set size of a process and its children, or
// -1.
func treeRSS(pid int) int64 {
	total := statusBytes(pid, "VmRSS:")
	if total < 0 {
		return -1
	}
	for _, c := range children(pid) {
		if v := statusBytes(c, "VmRSS:"); v > 0 {
			total += v
		}
	}
	return total
}

// resetHWM sets the peak RSS (VmHWM) of a process and its children back to
// their current RSS (5 to /proc/PID/clear_refs), so that what the
// idle-connection probe held does not count as the cell's peak.
func resetHWM(pid int) {
	for _, p := range append([]int{pid}, children(pid)...) {
		_ = os.WriteFile("/proc/"+strconv.Itoa(p)+"/clear_refs", []byte("5"), 0)
	}
}

// vmHWM is a process's peak resident set size from /proc/PID/status, or -1.
func vmHWM(pid int) int64 { return statusBytes(pid, "VmHWM:") }

// statusBytes is a "kB" field of /proc/PID/status in bytes, or -1.
func statusBytes(pid int, key string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
