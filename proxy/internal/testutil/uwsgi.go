package testutil

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// StartUwsgi runs a real uWSGI serving the Python WSGI application app on a
// unix socket and returns the socket's path. It skips without uwsgi unless
// SPILLWAY_REQUIRE_UWSGI=1; the test's cleanup stops it by its process
// handle (SIGINT, then kill after 10s), printing its output if the test
// failed.
func StartUwsgi(t *testing.T, app string) string {
	t.Helper()
	bin := uwsgiBin(t)
	dir := t.TempDir()
	file, sock := filepath.Join(dir, "app.py"), filepath.Join(dir, "app.sock")
	if err := os.WriteFile(file, []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--plugin", "python3", "--socket", sock, "--wsgi-file", file, "--need-app",
		"--processes", "1", "--disable-logging", "--buffer-size", "32768")
	out := &LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("uwsgi:\n%s", out.String())
		}
	})
	// uWSGI creates the socket before it loads the application: wait for
	// an accepted connection, not for the file.
	Eventually(t, "uwsgi listening on "+sock, 30*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("uwsgi exited:\n%s", out.String())
		default:
		}
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return sock
}

func uwsgiBin(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"uwsgi", "uwsgi-core"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "uwsgi not found (apt-get install uwsgi-core uwsgi-plugin-python3)"
	if os.Getenv("SPILLWAY_REQUIRE_UWSGI") == "1" {
		t.Fatal(msg + ", and SPILLWAY_REQUIRE_UWSGI=1 requires it")
	}
	t.Skip(msg + ": tests against a real uWSGI skipped")
	return ""
}
