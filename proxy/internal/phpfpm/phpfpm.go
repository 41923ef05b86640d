// Package phpfpm starts a real php-fpm for tests: a generated pool config in
// t.TempDir(), listening on a 127.0.0.1 port, run in the foreground (-F) and
// stopped through its own process handle in t.Cleanup.
//
// Tests skip with a clear message when no php-fpm binary is found, unless
// SPILLWAY_REQUIRE_PHPFPM=1 (CI), when they fail instead. SPILLWAY_PHPFPM
// names the binary; otherwise php-fpm8.2, then php-fpm, are looked up in
// PATH and /usr/sbin.
package phpfpm

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape one php-fpm instance.
type Options struct {
	Root     string            // document root holding the scripts; default: a new temp dir
	Scripts  map[string]string // file name (relative to Root) → PHP source, written before start
	Children int               // pm.max_children (pm = static); default 4
	// Unix makes php-fpm listen on a unix-domain socket in its temp dir
	// (Addr is then "unix:/path", as fastcgi_pass takes it).
	Unix bool
	// Pool holds extra pool directives, one per line, e.g.
	// "request_terminate_timeout = 1s" or "env[INSTANCE] = a".
	Pool []string
}

// Server is a running php-fpm. Its methods are safe for concurrent use.
type Server struct {
	Addr string // 127.0.0.1:port, or unix:/path with Options.Unix
	Root string

	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string // php-fpm's own log lines (stderr), in order
	done chan struct{}
	stop sync.Once
}

// Binary returns the php-fpm binary to use, or "" when there is none.
func Binary() string {
	if b := os.Getenv("SPILLWAY_PHPFPM"); b != "" {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"php-fpm8.2", "php-fpm"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := filepath.Join("/usr/sbin", name); isExec(p) {
			return p
		}
	}
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Require returns the binary, or skips the test (fails it when
// SPILLWAY_REQUIRE_PHPFPM=1) when php-fpm is not installed.
func Require(t testing.TB) string {
	t.Helper()
	b := Binary()
	if b == "" {
		const msg = "php-fpm not found (apt-get install php8.2-fpm, or set SPILLWAY_PHPFPM)"
		if os.Getenv("SPILLWAY_REQUIRE_PHPFPM") == "1" {
			t.Fatal(msg + ", and SPILLWAY_REQUIRE_PHPFPM=1 requires it")
		}
		t.Skip(msg + ": FastCGI tests against a real php-fpm skipped")
	}
	return b
}

// Start writes the scripts and a pool config and starts php-fpm, returning
// once it logs "ready to handle connections". It is stopped in t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	if o.Root == "" {
		o.Root = filepath.Join(dir, "www")
	}
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range o.Scripts {
		p := filepath.Join(o.Root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if o.Children == 0 {
		o.Children = 4
	}
	// A free port: bound and released here, then given to php-fpm (which
	// fails loudly, not silently, if someone took it in between).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	listen := addr
	if o.Unix {
		listen = filepath.Join(dir, "php-fpm.sock")
		addr = "unix:" + listen
	}

	conf := fmt.Sprintf(`[global]
pid = %s/php-fpm.pid
error_log = /proc/self/fd/2
log_level = notice
daemonize = no

[test]
listen = %s
pm = static
pm.max_children = %d
catch_workers_output = no
clear_env = yes
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
php_admin_value[memory_limit] = 64M
php_admin_value[output_buffering] = 0
%s
`, dir, listen, o.Children, strings.Join(o.Pool, "\n"))
	if os.Geteuid() == 0 {
		conf += "user = root\ngroup = root\n"
	}
	cfgPath := filepath.Join(dir, "php-fpm.conf")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", "-n", "-y", cfgPath, "-d", "opcache.enable_cli=0"}
	if os.Geteuid() == 0 {
		args = append(args, "-R")
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: addr, Root: o.Root, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log = append(s.log, line)
			s.mu.Unlock()
			if strings.Contains(line, "ready to handle connections") {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("php-fpm exited before it was ready:\n%s", strings.Join(s.Log(), "\n"))
	case <-time.After(20 * time.Second):
		s.Stop()
		t.Fatalf("php-fpm not ready after 20s:\n%s", strings.Join(s.Log(), "\n"))
	}
	return s
}

// Stop ends php-fpm (SIGQUIT to its master for a graceful stop, then a kill
// if it has not exited after 5s) and waits for it. It is idempotent.
func (s *Server) Stop() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt) // php-fpm: SIGINT = immediate termination
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Log returns php-fpm's own log lines so far.
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}
