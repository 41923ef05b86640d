package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"spillway/bench/upstreamsim"
)

// nginx's binary upgrade: USR2 starts the binary again on the same
// listening sockets (the pid file becomes .oldbin), QUIT stops the old one;
// a client connecting all along is never refused, and the new process
// serves alone afterwards.
func TestUSR2UpgradeRefusesNoConnection(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	dir := t.TempDir()
	file, port, _ := writeFixedPortConfig(t, dir, a)
	pidFile := filepath.Join(dir, "spillway.pid")
	readPid := func(f string) int {
		b, _ := os.ReadFile(f)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}

	old := spillwayCmd(t, "-c", file)
	// A file, not a pipe: the new binary inherits it, and Wait would wait
	// for a pipe's writers to close.
	stderrFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderrFile.Close()
	old.Stderr = stderrFile
	stderr := stderrText(filepath.Join(dir, "stderr"))
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	oldExited := make(chan error, 1)
	go func() { oldExited <- old.Wait() }()
	newPid := 0
	t.Cleanup(func() {
		_ = old.Process.Kill()
		if newPid > 0 {
			_ = syscall.Kill(newPid, syscall.SIGKILL)
		}
	})
	waitFor(t, func() bool { return readPid(pidFile) == old.Process.Pid }, "the pid file (stderr: %s)", stderr)

	// A client that opens a new connection for every request.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://127.0.0.1:" + port + "/")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok.Add(1)
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	served := func(n int64) {
		t.Helper()
		from := ok.Load()
		waitFor(t, func() bool { return ok.Load() >= from+n }, "%d more requests served", n)
	}
	served(20)

	if err := syscall.Kill(old.Process.Pid, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		newPid = readPid(pidFile)
		return newPid != 0 && newPid != old.Process.Pid && readPid(pidFile+".oldbin") == old.Process.Pid
	}, "the new binary's pid file and the old one's .oldbin (stderr: %s)", stderr)
	served(50) // both processes accept

	if err := syscall.Kill(old.Process.Pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if err := <-oldExited; err != nil {
		t.Fatalf("old process: %v\n%s", err, stderr)
	}
	served(50) // the new one alone
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the upgrade; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	if _, err := os.Stat(pidFile + ".oldbin"); !os.IsNotExist(err) {
		t.Errorf(".oldbin left after the old process exited: %v", err)
	}
	log := readFile(filepath.Join(dir, "error.log"))
	for _, w := range []string{"signal 12 (SIGUSR2) received, changing binary", `using inherited sockets from "3;"`} {
		if !strings.Contains(log, w) {
			t.Errorf("error log lacks %q:\n%s", w, log)
		}
	}
	// The new process is the one -s talks to now.
	if out, err := spillwayCmd(t, "-s", "quit", "-c", file).CombinedOutput(); err != nil {
		t.Fatalf("-s quit to the new binary: %v\n%s", err, out)
	}
	waitFor(t, func() bool { return syscall.Kill(newPid, 0) != nil || isZombie(newPid) }, "the new binary to exit")
}

// stderrText prints a file's content when formatted.
type stderrText string

func (f stderrText) String() string { return readFile(string(f)) }

// isZombie: the new binary's parent (the old process) is gone, and a
// container's init may not reap it.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}
