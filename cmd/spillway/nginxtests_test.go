package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNginxTestsSubset runs files of nginx's own test suite against
// spillway, with the suite's own harness (testdata/nginx-tests: the files
// spillway passes whole, their lib/Test/Nginx.pm, and the adapter that only
// prints nginx's version banner: spillway takes -p -c -e -g -t -s itself).
// Each file must pass every test it plans; the whole suite's figure is in
// the README. Needs perl's prove (skips without it unless
// SPILLWAY_REQUIRE_NGINXTESTS=1, as in CI).
func TestNginxTestsSubset(t *testing.T) {
	if testing.Short() {
		t.Skip("nginx's test suite runs the built binary: not in -short")
	}
	prove, err := exec.LookPath("prove")
	if err == nil {
		err = exec.Command("perl", "-MIO::Socket::SSL", "-MFCGI", "-MProtocol::WebSocket", "-e1").Run()
	}
	if err != nil {
		if os.Getenv("SPILLWAY_REQUIRE_NGINXTESTS") == "1" {
			t.Fatalf("prove and the suite's perl modules (libio-socket-ssl-perl libfcgi-perl libprotocol-websocket-perl): %v and SPILLWAY_REQUIRE_NGINXTESTS=1", err)
		}
		t.Skipf("prove and the suite's perl modules: %v; set SPILLWAY_REQUIRE_NGINXTESTS=1 to make this a failure", err)
	}
	suite, err := filepath.Abs("../../testdata/nginx-tests")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "spillway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(suite, "*.t"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s (%v)", suite, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".t"), func(t *testing.T) {
			// The suite listens on fixed ports (8000-8999): one file at a time.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, prove, "-v", name)
			cmd.Dir = suite
			cmd.Env = append(os.Environ(),
				"TEST_NGINX_BINARY="+filepath.Join(suite, "nginx-compat"),
				"SPILLWAY="+bin,
				"TMPDIR="+t.TempDir(),
			)
			if os.Getuid() == 0 {
				cmd.Env = append(cmd.Env, "TEST_NGINX_GLOBALS=user root;")
			}
			// Its own process group: prove, the test, its daemons and spillway
			// are stopped together, whatever state the file ends in.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			out, err := cmd.CombinedOutput()
			if cmd.Process != nil {
				if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
					t.Errorf("stopping the file's processes: %v", kerr)
				}
			}
			if err != nil || !strings.Contains(string(out), "Result: PASS") {
				t.Errorf("prove %s: %v\n%s", name, err, out)
			}
		})
	}
}
