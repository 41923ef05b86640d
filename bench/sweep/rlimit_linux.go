package sweep

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseNoFile raises this process's RLIMIT_NOFILE to at least need: the
// soft limit up to the hard one, and, when that is not enough, the hard
// one too up to fs.nr_open (root only). The proxies the sweep starts
// inherit it (Go stops restoring the original soft limit in children once
// the program sets it itself). It returns the soft limit in force.
func raiseNoFile(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < need {
				want.Max, want.Cur = n, n
			}
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not root: take what the hard limit allows.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, fmt.Errorf("needs about %d file descriptors per process; raising RLIMIT_NOFILE failed: %w", need, err)
		}
		return want.Cur, fmt.Errorf("needs about %d file descriptors per process; RLIMIT_NOFILE's hard limit is %d and raising it failed (%w: it needs root with CAP_SYS_RESOURCE)", need, lim.Max, err)
	}
	return want.Cur, nil
}
