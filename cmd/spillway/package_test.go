//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The packaged config is valid (with the unit's prefix). The test runs it
// with its /var/log and /run paths moved into a temp dir, since a test
// opens the logs.
func TestPackagedConfig(t *testing.T) {
	b, err := os.ReadFile("../../docs/packaging/proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := strings.NewReplacer("/var/log/spillway", dir, "/run/spillway", dir).Replace(string(b))
	file := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runMain("-t", "-c", file, "-p", dir); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
}

// The Debian package: built with nfpm (docs/packaging/build-deb.sh),
// installed with dpkg -i, started as the unit starts it (by systemd when it
// runs; otherwise the packaged binary with the packaged config as the
// spillway user with CAP_NET_BIND_SERVICE as its only ambient capability,
// which is what the unit grants), answering on port 80; reloaded and
// stopped with -s; purged. It needs root and dpkg, and port 80 free, and
// skips otherwise unless SPILLWAY_REQUIRE_PACKAGE=1 (CI).
func TestDebianPackage(t *testing.T) {
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("SPILLWAY_REQUIRE_PACKAGE") == "1" {
			t.Fatalf(format+" and SPILLWAY_REQUIRE_PACKAGE=1", args...)
		}
		t.Skipf(format+"; set SPILLWAY_REQUIRE_PACKAGE=1 to make this a failure", args...)
	}
	if os.Getuid() != 0 {
		skip("not root")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		skip("no dpkg: %v", err)
	}
	if testing.Short() {
		skip("-short")
	}
	// One package test at a time on this machine (dpkg has one lock, the
	// package one name and port 80).
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "spillway-package-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dpkg-query", "-W", "spillway").CombinedOutput(); err == nil {
		skip("a spillway package is installed already (%s): not replacing it", bytes.TrimSpace(out))
	}
	if ln, err := net.Listen("tcp", "127.0.0.1:80"); err != nil {
		skip("port 80: %v", err)
	} else {
		ln.Close()
	}

	out := t.TempDir()
	build := exec.Command("sh", "../../docs/packaging/build-deb.sh", out)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "spillway_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("packages built: %q", debs)
	}
	if b, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "spillway").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, b)
		}
		if _, err := user.Lookup("spillway"); err == nil {
			t.Errorf("the spillway user is left after purge")
		}
		if _, err := os.Stat("/usr/bin/spillway"); !os.IsNotExist(err) {
			t.Errorf("/usr/bin/spillway left after purge: %v", err)
		}
	})

	for _, f := range []string{"/usr/bin/spillway", "/etc/spillway/proxy.yaml", "/usr/lib/systemd/system/spillway.service",
		"/etc/logrotate.d/spillway", "/var/lib/spillway", "/var/log/spillway", "/run/spillway"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	u, err := user.Lookup("spillway")
	if err != nil {
		t.Fatalf("the package made no spillway user: %v", err)
	}
	if b, err := exec.Command("/usr/bin/spillway", "-V").CombinedOutput(); err != nil ||
		!strings.Contains(string(b), "spillway version: spillway/") || strings.Contains(string(b), "revision unknown") {
		t.Errorf("spillway -V: %v\n%s", err, b)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		if b, err := exec.Command(sa, "verify", "/usr/lib/systemd/system/spillway.service").CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, b)
		}
	}

	args := []string{"-c", "/etc/spillway/proxy.yaml", "-p", "/var/lib/spillway"}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// systemd runs: postinst enabled and started the unit.
		if b, err := exec.Command("systemctl", "is-active", "spillway.service").CombinedOutput(); err != nil {
			t.Fatalf("the unit is not active: %v\n%s", err, b)
		}
	} else {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		srv := exec.Command("/usr/bin/spillway", args...)
		srv.Dir = "/"
		srv.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
			AmbientCaps: []uintptr{unix.CAP_NET_BIND_SERVICE},
		}
		var stderr bytes.Buffer
		srv.Stderr = &stderr
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- srv.Wait() }()
		defer func() {
			if b, err := exec.Command("/usr/bin/spillway", append(args, "-s", "quit")...).CombinedOutput(); err != nil {
				t.Errorf("-s quit: %v\n%s", err, b)
				_ = srv.Process.Kill()
			}
			if err := <-exited; err != nil {
				t.Errorf("exit: %v\n%s", err, &stderr)
			}
		}()
		waitFor(t, func() bool {
			b, _ := os.ReadFile("/run/spillway/spillway.pid")
			return strings.TrimSpace(string(b)) == strconv.Itoa(srv.Process.Pid)
		}, "the pid file (stderr: %s)", &stderr)
	}

	resp, err := http.Get("http://127.0.0.1:80/stub_status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Active connections: ") {
		t.Errorf("GET /stub_status: %d %q", resp.StatusCode, body)
	}
	// Reload as the unit's ExecReload does: it waits for the verdict.
	if b, err := exec.Command("/usr/bin/spillway", append(args, "-s", "reload")...).CombinedOutput(); err != nil {
		t.Errorf("-s reload: %v\n%s", err, b)
	}
	logs, _ := os.ReadFile("/var/log/spillway/error.log")
	if !strings.Contains(string(logs), "signal 1 (SIGHUP) received, reconfiguring") {
		t.Errorf("the error log lacks the reload:\n%s", logs)
	}
	if fi, err := os.Stat("/var/log/spillway/access.log"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(mustAtoi(u.Uid)) {
		t.Errorf("access.log is not the spillway user's: %v", err)
	}

	// logrotate with the packaged file, from /: the logs are renamed and
	// spillway -s reopen makes spillway write to new ones.
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		skip("no logrotate for the rotation check: %v", err)
	}
	rotate := exec.Command(lr, "-f", "-s", filepath.Join(out, "logrotate.state"), "/etc/logrotate.d/spillway")
	rotate.Dir = "/"
	if b, err := rotate.CombinedOutput(); err != nil {
		t.Fatalf("logrotate: %v\n%s", err, b)
	}
	if rotated := readFile("/var/log/spillway/error.log.1"); !strings.Contains(rotated, "signal 1 (SIGHUP) received, reconfiguring") ||
		!strings.Contains(rotated, "signal 10 (SIGUSR1) received, reopening logs") {
		t.Errorf("error.log.1 lacks the reload and the reopen:\n%s", rotated)
	}
	waitFor(t, func() bool { _, err := os.Stat("/var/log/spillway/error.log"); return err == nil }, "the reopened error.log")
	if fi, err := os.Stat("/var/log/spillway/error.log"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(mustAtoi(u.Uid)) {
		t.Errorf("the new error.log is not the spillway user's: %v", err)
	}
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }
