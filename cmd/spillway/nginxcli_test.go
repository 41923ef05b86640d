package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// runMain runs spillway's command line in the test process with args and
// returns stdout, stderr and the error main would exit 1 for.
func runMain(args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err
}

// check used to pass a log_format with an unknown variable that serve
// refused: it now builds what serve builds.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	yaml := `
error_log: {path: logs/error.log}
http:
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: logs/access.log, format: "$remote_addr $no_such_variable"}
      locations: [{path: /, proxy_pass: "http://127.0.0.1:9"}]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "-c", file}, {"-t", "-c", file}} {
		_, stderr, err := runMain(args...)
		if !errors.Is(err, errCheckFailed) || !strings.Contains(stderr, "no_such_variable") ||
			!strings.Contains(stderr, "spillway: configuration file "+file+" test failed") {
			t.Errorf("%q: err %v, stderr:\n%s", args, err, stderr)
		}
	}
	serve := spillwayCmd(t, "-c", file)
	out, err := serve.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no_such_variable") {
		t.Errorf("serve: %v\n%s", err, out)
	}
}

// -q keeps only errors; -T prints the file after the verdict; -v and -V
// print nginx's first line; --version adds the revision and build date.
func TestTestAndVersionFlags(t *testing.T) {
	stdout, stderr, err := runMain("-t", "-q", "-c", "../../proxy.yaml")
	if err != nil || stdout != "" || stderr != "" {
		t.Errorf("-t -q: %v %q %q", err, stdout, stderr)
	}
	stdout, stderr, err = runMain("-T", "-c", "../../proxy.yaml")
	file, _ := os.ReadFile("../../proxy.yaml")
	abs, _ := filepath.Abs("../../proxy.yaml")
	if err != nil || !strings.HasSuffix(stderr, "test is successful\n") ||
		stdout != "# configuration file "+abs+":\n"+string(file)+"\n" {
		t.Errorf("-T: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	_, stderr, err = runMain("-v")
	if err != nil || stderr != "spillway version: spillway/"+version+"\n" {
		t.Errorf("-v: %v %q", err, stderr)
	}
	for _, flag := range []string{"-V", "--version"} {
		_, stderr, err = runMain(flag)
		if err != nil || !regexp.MustCompile(`^spillway version: spillway/\S+\nbuilt with go\S+ \S+, revision \S+, build date \S+\n`).MatchString(stderr) {
			t.Errorf("%s: %v %q", flag, err, stderr)
		}
	}
}

// -p is the prefix: a relative -c and every relative path in the file are
// joined to it, whatever the working directory; -g sets pid and error_log;
// -e is the error log of a file that sets none. A reopen sent from /, as
// logrotate does, reopens the logs under the prefix.
func TestPrefixResolvesPaths(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	prefix := t.TempDir()
	port := freePort(t)
	yaml := fmt.Sprintf(`
error_log: {level: notice}
http:
  proxy_temp_path: proxy_temp
  upstreams: {app: {servers: [%s]}}
  servers:
    - listen: ["127.0.0.1:%s"]
      access_log: logs/access.log
      locations: [{path: /, proxy_pass: http://app}]
`, upstreamList(a), port)
	if err := os.MkdirAll(filepath.Join(prefix, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "conf", "proxy.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", prefix, "-c", "conf/proxy.yaml", "-e", "logs/startup.log", "-g", "pid run/spillway.pid;"}
	cmd := spillwayCmd(t, args...)
	cmd.Dir = "/"
	srv := startChild(t, cmd)
	pidFile := filepath.Join(prefix, "run", "spillway.pid")
	waitFor(t, func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.TrimSpace(string(b)) == strconv.Itoa(srv.cmd.Process.Pid)
	}, "the pid file under the prefix (stderr: %s)", srv.stderr)
	get(t, "http://127.0.0.1:"+port+"/", 200)
	for _, f := range []string{"logs/startup.log", "logs/access.log", "proxy_temp"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Errorf("%s under the prefix: %v", f, err)
		}
	}

	// logrotate: rename, then spillway -s reopen from /.
	log := filepath.Join(prefix, "logs", "startup.log")
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	reopen := spillwayCmd(t, append(args, "-s", "reopen")...)
	reopen.Dir = "/"
	if out, err := reopen.CombinedOutput(); err != nil {
		t.Fatalf("-s reopen from /: %v\n%s", err, out)
	}
	waitFor(t, func() bool { _, err := os.Stat(log); return err == nil }, "the reopened %s", log)
	quit := spillwayCmd(t, append(args, "-s", "quit")...)
	quit.Dir = "/"
	if out, err := quit.CombinedOutput(); err != nil {
		t.Fatalf("-s quit: %v\n%s", err, out)
	}
	if err := srv.wait(); err != nil {
		t.Fatalf("exit after quit: %v\n%s", err, srv.stderr)
	}
	// nginx's lines, in nginx's order, in the reopened log.
	want := []string{"signal 3 (SIGQUIT) received, shutting down", "gracefully shutting down", "exiting", "exit"}
	if got := noticeLines(readFile(log)); !equalTail(got, want) {
		t.Errorf("the reopened log ends with %q, want %q", got, want)
	}
	if got := noticeLines(readFile(log + ".1")); !equalTail(got, []string{"signal 10 (SIGUSR1) received, reopening logs", "reopening logs"}) {
		t.Errorf("the rotated log ends with %q", got)
	}
}

func readFile(name string) string { b, _ := os.ReadFile(name); return string(b) }

// noticeLines are the messages of the [notice] lines of an error log.
func noticeLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "[notice] "); i >= 0 {
			if j := strings.Index(l[i:], ": "); j >= 0 {
				out = append(out, l[i+j+2:])
			}
		}
	}
	return out
}

func equalTail(got, want []string) bool {
	return len(got) >= len(want) && strings.Join(got[len(got)-len(want):], "\n") == strings.Join(want, "\n")
}

// nginx and spillway given the same nginx.conf and command lines: -t's
// output and exit status (a good file, and a -g that duplicates the file's
// pid), -T's dump, -V's first line, and -p's resolution of a relative -c.
func TestNginxCommandLineLikeNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			nginx = "/usr/sbin/nginx"
		} else if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
			t.Fatalf("nginx: %v and SPILLWAY_REQUIRE_NGINX=1", err)
		} else {
			t.Skipf("nginx: %v; set SPILLWAY_REQUIRE_NGINX=1 to make this a failure", err)
		}
	}
	prefix := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`error_log logs/error.log notice;
pid logs/server.pid;
events {}
http {
    server {
        listen %s;
        location / { proxy_pass http://127.0.0.1:9; proxy_temp_path proxy_temp; }
    }
}
`, addr)
	for _, d := range []string{"conf", "logs"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(prefix, "conf", "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// command is bin ("nginx" or "spillway") with args, run from / as an
	// init system runs it.
	command := func(bin string, args ...string) *exec.Cmd {
		var cmd *exec.Cmd
		if bin == "nginx" {
			cmd = exec.Command(nginx, args...)
		} else {
			cmd = spillwayCmd(t, args...)
		}
		cmd.Dir = "/"
		return cmd
	}
	run := func(bin string, args ...string) (stdout, stderr string, code int) {
		cmd := command(bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %q: %v", bin, args, err)
		}
		// spillway's conversion warnings are its own; nginx's name is
		// spillway's.
		var kept []string
		for _, l := range strings.SplitAfter(e.String(), "\n") {
			if !strings.HasPrefix(l, "spillway: [warn] ") {
				kept = append(kept, strings.Replace(l, "nginx: ", "spillway: ", 1))
			}
		}
		return o.String(), strings.Join(kept, ""), code
	}
	base := []string{"-p", prefix, "-e", "logs/startup.log", "-c", "conf/nginx.conf"}
	for _, c := range []struct {
		name, want string // want: in nginx's stderr, so that the comparison is not of two empty outputs
		args       []string
	}{
		{"-t", "test is successful", append(base, "-t")},
		{"-t -q", "", append(base, "-t", "-q")},
		{"-T", "test is successful", append(base, "-T")},
		{"-t with -g duplicating pid", `[emerg] "pid" directive is duplicate in ` + prefix + "/conf/nginx.conf:2", append(base, "-t", "-g", "pid other.pid;")},
		{"-t of a missing file under -p", `open() "` + prefix + `/nginx.conf" failed`, []string{"-p", prefix, "-e", "logs/startup.log", "-c", "nginx.conf", "-t"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			no, ne, nc := run("nginx", c.args...)
			so, se, sc := run("spillway", c.args...)
			if !strings.Contains(ne, c.want) {
				t.Errorf("nginx's stderr lacks %q:\n%s", c.want, ne)
			}
			if nc != sc || no != so || ne != se {
				t.Errorf("nginx: exit %d\nstdout:\n%s\nstderr:\n%s\nspillway: exit %d\nstdout:\n%s\nstderr:\n%s", nc, no, ne, sc, so, se)
			}
		})
	}
	// Serving from /: the pid file, the error log and the temp directory
	// of the same file land at the same places under the prefix.
	for _, bin := range []string{"nginx", "spillway"} {
		for _, d := range []string{"logs", "proxy_temp"} {
			_ = os.RemoveAll(filepath.Join(prefix, d))
		}
		_ = os.MkdirAll(filepath.Join(prefix, "logs"), 0o755) // nginx does not make it
		args := append(base, "-g", "daemon off; master_process off;")
		srv := startChild(t, command(bin, args...))
		pidFile := filepath.Join(prefix, "logs", "server.pid")
		waitFor(t, func() bool {
			b, _ := os.ReadFile(pidFile)
			return strings.TrimSpace(string(b)) == strconv.Itoa(srv.cmd.Process.Pid)
		}, "%s's pid file %s (stderr: %s)", bin, pidFile, srv.stderr)
		for _, f := range []string{"logs/error.log", "proxy_temp"} {
			if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
				t.Errorf("%s: %v", bin, err)
			}
		}
		// nginx without a master writes its pid file before it enters its
		// event loop, and a QUIT that comes in between only sets a flag
		// that is read after epoll_wait returns, which, with no timer
		// and no client, it never does (a CI run waited 10 minutes).
		// The QUIT is sent to nginx again until it ends. spillway gets
		// one: it takes signals from before its pid file is written, and
		// a QUIT after its handler is gone (it is exiting) would be Go's
		// default, a stack dump and exit status 2.
		quit := time.NewTicker(250 * time.Millisecond)
		giveUp := time.After(30 * time.Second)
		_ = srv.cmd.Process.Signal(syscall.SIGQUIT)
	quitting:
		for {
			select {
			case <-srv.exited:
				break quitting
			case <-quit.C:
				if bin == "nginx" {
					_ = srv.cmd.Process.Signal(syscall.SIGQUIT)
				}
			case <-giveUp:
				t.Errorf("%s did not end within 30 s of QUIT\n%s", bin, srv.stderr)
				break quitting
			}
		}
		quit.Stop()
		select {
		case <-srv.exited:
			if srv.err != nil {
				t.Errorf("%s after QUIT: %v\n%s", bin, srv.err, srv.stderr)
			}
		default: // the cleanup kills it
		}
	}

	_, nv, _ := run("nginx", "-V")
	_, sv, _ := run("spillway", "-V")
	shape := regexp.MustCompile(`^(\w+) version: (\w+)/\S+\n`)
	nm, sm := shape.FindStringSubmatch(nv), shape.FindStringSubmatch(sv)
	if nm == nil || sm == nil || sm[1] != "spillway" || sm[2] != "spillway" {
		t.Errorf("-V first lines: nginx %q, spillway %q", nv, sv)
	}
}

// -s reload waits for the process's answer through the status file next to
// the pid file: a refused file fails -s reload (exit 1, with the reason),
// a good one succeeds. systemd hears READY, RELOADING and STOPPING through
// NOTIFY_SOCKET (Type=notify).
func TestReloadReportsRefusalAndNotifiesSystemd(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	dir := t.TempDir()
	file, port, yaml := writeFixedPortConfig(t, dir, a)
	sock := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	notes := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()
	expect := func(prefix string) {
		t.Helper()
		var got string
		ok := false
		select {
		case got, ok = <-notes:
		case <-time.After(20 * time.Second): // a guard against hanging, as waitFor's
			t.Fatalf("no sd_notify message %q within 20 s", prefix)
		}
		if !ok || !strings.HasPrefix(got, prefix) {
			t.Fatalf("sd_notify: got %q (open %v), want %q", got, ok, prefix)
		}
	}

	cmd := spillwayCmd(t, "-c", file)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock)
	srv := startChild(t, cmd)
	expect("READY=1")
	get(t, "http://127.0.0.1:"+port+"/", 200)

	// A file that does not load: -s reload fails before signalling, as
	// nginx -s reload does.
	if err := os.WriteFile(file, []byte(yaml+"bogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := spillwayCmd(t, "-s", "reload", "-c", file).CombinedOutput(); err == nil || !strings.Contains(string(out), "bogus_key") {
		t.Errorf("-s reload of a broken file: %v\n%s", err, out)
	}
	// A file that loads but that the process cannot put to work (its new
	// listen address is taken): the process refuses it and -s reload,
	// which nginx's cannot, says so and exits 1.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	both := strings.Replace(yaml, `listen: ["127.0.0.1:`+port+`"]`, `listen: ["127.0.0.1:`+port+`", "`+taken.Addr().String()+`"]`, 1)
	if err := os.WriteFile(file, []byte(both), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := spillwayCmd(t, "-s", "reload", "-c", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "reload refused") || !strings.Contains(string(out), "bind() to "+taken.Addr().String()) {
		t.Errorf("-s reload refused by the process: %v\n%s", err, out)
	}
	expect("RELOADING=1\nMONOTONIC_USEC=")
	expect("READY=1")
	get(t, "http://127.0.0.1:"+port+"/", 200) // still serving the old configuration

	// -s reload of a good file succeeds, once the process took it.
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := spillwayCmd(t, "-s", "reload", "-c", file).CombinedOutput(); err != nil {
		t.Errorf("-s reload of a good file: %v\n%s", err, out)
	}
	expect("RELOADING=1")
	expect("READY=1")
	if st, ok := readStatus(filepath.Join(dir, "spillway.pid"), srv.cmd.Process.Pid); !ok || st.reloads != 2 || st.state != "reloaded" {
		t.Errorf("status after two reloads: %+v %v", st, ok)
	}

	if out, err := spillwayCmd(t, "-s", "quit", "-c", file).CombinedOutput(); err != nil {
		t.Fatalf("-s quit: %v\n%s", err, out)
	}
	expect("STOPPING=1")
	if err := srv.wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.stderr)
	}
	if _, err := os.Stat(statusPath(filepath.Join(dir, "spillway.pid"))); !os.IsNotExist(err) {
		t.Errorf("status file left after exit: %v", err)
	}
}
