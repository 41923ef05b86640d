package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
)

// instance is spillway's serve loop run in the test process, with the
// signals fed by the test instead of the kernel.
type instance struct {
	t      *testing.T
	dir    string
	file   string
	sigs   chan os.Signal
	p      *proxy.Proxy
	addr   string // the first listen address
	done   chan error
	stopMu sync.Once
}

// startInstance writes yaml (with {{DIR}} replaced by a temp dir) to
// proxy.yaml and runs it.
func startInstance(t *testing.T, yaml string) *instance {
	t.Helper()
	in := &instance{t: t, dir: t.TempDir(), sigs: make(chan os.Signal, 4), done: make(chan error, 1)}
	in.file = filepath.Join(in.dir, "proxy.yaml")
	in.write(yaml)
	cfg, err := config.Load(in.file)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan *proxy.Proxy, 1)
	go func() {
		in.done <- runWith(context.Background(), cfg, runOptions{signals: in.sigs, ready: func(p *proxy.Proxy) { ready <- p }})
	}()
	select {
	case in.p = <-ready:
	case err := <-in.done:
		t.Fatalf("run: %v", err)
	}
	in.addr = in.p.Addrs()[0]
	t.Cleanup(func() { in.stop(syscall.SIGTERM) })
	return in
}

func (in *instance) write(yaml string) {
	in.t.Helper()
	if err := os.WriteFile(in.file, []byte(strings.ReplaceAll(yaml, "{{DIR}}", in.dir)), 0o644); err != nil {
		in.t.Fatal(err)
	}
}

func (in *instance) signal(s syscall.Signal) { in.sigs <- s }

// stop sends s and waits for run to return.
func (in *instance) stop(s syscall.Signal) error {
	var err error
	in.stopMu.Do(func() {
		in.sigs <- s
		err = <-in.done
	})
	return err
}

func (in *instance) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(in.dir, name))
	return string(b)
}

// waitLog waits until the file holds want.
func (in *instance) waitLog(name, want string) {
	in.t.Helper()
	waitFor(in.t, func() bool { return strings.Contains(in.log(name), want) }, "%s to contain %q:\n%s", name, want, in.log(name))
}

// waitFor polls cond (a state the test is waiting for, not a timing) for up
// to 20 s.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startOrigin(t *testing.T, bs ...upstreamsim.Behavior) *upstreamsim.Upstream {
	t.Helper()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", bs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

const reloadYAML = `
error_log: {path: {{DIR}}/error.log, level: notice}
pid: {{DIR}}/spillway.pid
http:
  proxy_temp_path: {{DIR}}/temp
  client_body_temp_path: {{DIR}}/ctemp
  proxy_http_version: "1.1"
  proxy_set_header: {Host: $host, Connection: ""}
  upstreams:
    app:
      keepalive: 8
      servers: [%s]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: {path: {{DIR}}/access.log, format: combined}
      locations:
        - {path: /, proxy_pass: http://app}
`

func upstreamList(us ...*upstreamsim.Upstream) string {
	var s []string
	for _, u := range us {
		s = append(s, "{address: "+u.Addr()+"}")
	}
	return strings.Join(s, ", ")
}

// A HUP that changes the upstream list while keepalive clients keep
// sending (some responses 1 MiB, in flight during the reload) loses no
// request, and the new upstream gets the traffic afterwards.
func TestHUPUnderLoadSwapsUpstreams(t *testing.T) {
	const big = 1 << 20
	a := startOrigin(t, upstreamsim.OK().At("/big").WithSize(big), upstreamsim.OK())
	b := startOrigin(t, upstreamsim.OK().At("/big").WithSize(big), upstreamsim.OK())
	in := startInstance(t, fmt.Sprintf(reloadYAML, upstreamList(a)))

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				path, want := "/small", 0
				if (n+i)%3 == 0 {
					path, want = "/big", big
				}
				resp, err := c.Get("http://" + in.addr + path)
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || (want > 0 && len(body) != want)) {
						err = fmt.Errorf("GET %s: status %d, %d bytes", path, resp.StatusCode, len(body))
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return a.Total() >= 20 }, "traffic to the first upstream")
	in.write(fmt.Sprintf(reloadYAML, upstreamList(b)))
	in.signal(syscall.SIGHUP)
	waitFor(t, func() bool { return b.Total() >= 20 }, "traffic to the new upstream (log:\n%s)", in.log("error.log"))
	aAfter := a.Total()
	before := ok.Load()
	waitFor(t, func() bool { return ok.Load() >= before+20 }, "more requests after the reload")
	close(stop)
	wg.Wait()

	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across the reload; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	if a.Total() != aAfter {
		t.Errorf("the removed upstream got %d requests after the new one took over", a.Total()-aAfter)
	}
	for _, want := range []string{"[notice]", "signal 1 (SIGHUP) received, reconfiguring", "reconfiguring"} {
		if !strings.Contains(in.log("error.log"), want) {
			t.Errorf("error log lacks %q:\n%s", want, in.log("error.log"))
		}
	}
	t.Logf("%d requests, %d to the old upstream, %d to the new", ok.Load(), a.Total(), b.Total())
}

// A HUP with a broken file logs nginx's [emerg] line with the key and its
// line, and the running config keeps serving.
func TestHUPBrokenFileKeepsServing(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	good := fmt.Sprintf(reloadYAML, upstreamList(a))
	in := startInstance(t, good)
	get(t, "http://"+in.addr+"/", 200)

	in.write(strings.Replace(good, "proxy_pass:", "proxy_pas:", 1))
	in.signal(syscall.SIGHUP)
	in.waitLog("error.log", "[emerg]")
	log := in.log("error.log")
	if !strings.Contains(log, `proxy_pas`) || !strings.Contains(log, "proxy.yaml:") {
		t.Errorf("the [emerg] line should name the key and its line:\n%s", log)
	}
	get(t, "http://"+in.addr+"/", 200)

	// A file that loads but cannot be put to work (its listen address is
	// taken) is refused as a whole too.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in.write(strings.Replace(good, `listen: ["127.0.0.1:0"]`, `listen: ["127.0.0.1:0", "`+taken.Addr().String()+`"]`, 1))
	in.signal(syscall.SIGHUP)
	in.waitLog("error.log", "bind() to "+taken.Addr().String()+" failed (98: Address already in use)")
	get(t, "http://"+in.addr+"/", 200)
}

func get(t *testing.T, url string, want int) []byte {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", url, resp.StatusCode, want, body)
	}
	return body
}

// USR1 after logrotate's rename: the next lines go to new files at the
// configured paths, none to the renamed ones.
func TestUSR1ReopensRenamedLogs(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	in := startInstance(t, fmt.Sprintf(reloadYAML, upstreamList(a)))
	get(t, "http://"+in.addr+"/before", 200)
	in.waitLog("access.log", "GET /before")
	for _, f := range []string{"access.log", "error.log"} {
		if err := os.Rename(filepath.Join(in.dir, f), filepath.Join(in.dir, f+".1")); err != nil {
			t.Fatal(err)
		}
	}
	in.signal(syscall.SIGUSR1)
	in.waitLog("error.log.1", "reopening logs") // written before the reopen, as nginx does
	in.waitLog("error.log.1", "signal 10 (SIGUSR1) received, reopening logs")
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(in.dir, "access.log")); return err == nil }, "a new access.log")
	get(t, "http://"+in.addr+"/after", 200)
	in.waitLog("access.log", "GET /after")
	if strings.Contains(in.log("access.log.1"), "/after") {
		t.Errorf("the renamed access log still gets lines")
	}
	in.signal(syscall.SIGHUP) // any later error-log line goes to the new file
	in.waitLog("error.log", "reconfiguring")
	if strings.Contains(in.log("error.log.1"), "SIGHUP") {
		t.Errorf("the renamed error log still gets lines")
	}
}

// QUIT stops accepting at once but lets a slow client finish its 10 MiB
// response, then exits with nginx's lines; the pid file goes with it.
func TestQUITFinishesSlowLargeResponse(t *testing.T) {
	const size = 10 << 20
	a := startOrigin(t, upstreamsim.OK().WithSize(size))
	in := startInstance(t, fmt.Sprintf(reloadYAML, upstreamList(a)))
	if _, err := os.Stat(filepath.Join(in.dir, "spillway.pid")); err != nil {
		t.Fatalf("pid file: %v", err)
	}
	conn, err := net.Dial("tcp", in.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 64<<10); err != nil {
		t.Fatal(err)
	}

	quit := make(chan error, 1)
	go func() { quit <- in.stop(syscall.SIGQUIT) }()
	in.waitLog("error.log", "gracefully shutting down")
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", in.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the listener to close")
	select {
	case err := <-quit:
		t.Fatalf("exited (%v) with a response in flight", err)
	default:
	}
	n, err := io.Copy(h, resp.Body)
	if err != nil || n+64<<10 != size {
		t.Fatalf("read %d more bytes (%v), want %d in all", n, err, size)
	}
	want := sha256.New()
	const pattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n" // bench's body
	_, _ = want.Write(bytes.Repeat([]byte(pattern), size/len(pattern)))
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Errorf("the body differs from the origin's")
	}
	if err := <-quit; err != nil {
		t.Fatalf("run: %v", err)
	}
	log := in.log("error.log")
	for _, w := range []string{"signal 3 (SIGQUIT) received, shutting down", "gracefully shutting down", "exiting", "[notice] "} {
		if !strings.Contains(log, w) {
			t.Errorf("error log lacks %q:\n%s", w, log)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(log), ": exit") {
		t.Errorf("the last line is not nginx's exit:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(in.dir, "spillway.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

// TestMain lets the test binary run as spillway itself (SPILLWAY_AS_MAIN=1,
// arguments in SPILLWAY_ARGS, one per line), so that signal tests can start
// a real process and signal it through its pid file.
func TestMain(m *testing.M) {
	if os.Getenv("SPILLWAY_AS_MAIN") == "1" {
		os.Args = append([]string{"spillway"}, strings.Split(os.Getenv("SPILLWAY_ARGS"), "\n")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// spillwayCmd is the test binary running as spillway with args.
func spillwayCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "SPILLWAY_AS_MAIN=1", "SPILLWAY_ARGS="+strings.Join(args, "\n"))
	return cmd
}

// spillway -s reload|reopen|quit signals the process named by the pid file,
// as nginx -s does: a real process, real signals.
func TestSignalFlag(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	dir := t.TempDir()
	file, port, _ := writeFixedPortConfig(t, dir, a)
	pidFile := filepath.Join(dir, "spillway.pid")
	logFile := filepath.Join(dir, "error.log")

	// Without a running process: nginx's error for the missing pid file.
	out, err := spillwayCmd(t, "-s", "reload", "-c", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `[error] open() "`+pidFile+`" failed (2: No such file or directory)`) {
		t.Fatalf("-s reload without a process: %v\n%s", err, out)
	}

	srv := startChild(t, spillwayCmd(t, "-c", file))
	waitFor(t, func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.TrimSpace(string(b)) == strconv.Itoa(srv.cmd.Process.Pid)
	}, "the pid file (stderr: %s)", srv.stderr)
	get(t, "http://127.0.0.1:"+port+"/", 200)
	logHas := func(s string) bool { b, _ := os.ReadFile(logFile); return strings.Contains(string(b), s) }

	for _, c := range []struct{ name, line string }{
		{"reload", "signal 1 (SIGHUP) received, reconfiguring"},
		{"reopen", "signal 10 (SIGUSR1) received, reopening logs"},
		{"quit", "signal 3 (SIGQUIT) received, shutting down"},
	} {
		if out, err := spillwayCmd(t, "-s", c.name, "-c", file).CombinedOutput(); err != nil {
			t.Fatalf("-s %s: %v\n%s", c.name, err, out)
		}
		waitFor(t, func() bool { return logHas(c.line) }, "%q in the error log", c.line)
	}
	select {
	case <-srv.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("spillway still running 20 s after -s quit; stderr:\n%s", srv.stderr)
	}
	if srv.err != nil {
		t.Fatalf("spillway exited with %v after -s quit; stderr:\n%s", srv.err, srv.stderr)
	}
	b, _ := os.ReadFile(logFile)
	for _, w := range []string{"spillway/" + version, "OS: Linux ", "getrlimit(RLIMIT_NOFILE): ", "gracefully shutting down", "exiting"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("error log lacks %q:\n%s", w, b)
		}
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after exit: %v", err)
	}
	if out, err := spillwayCmd(t, "-s", "restart", "-c", file).CombinedOutput(); err == nil || !strings.Contains(string(out), `invalid option: "-s restart"`) {
		t.Errorf("-s restart: %v\n%s", err, out)
	}
}

// A listen address in use fails the start with nginx's line.
func TestBindInUse(t *testing.T) {
	a := startOrigin(t, upstreamsim.OK())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	yaml := strings.ReplaceAll(fmt.Sprintf(reloadYAML, upstreamList(a)), "{{DIR}}", dir)
	yaml = strings.Replace(yaml, "127.0.0.1:0", taken.Addr().String(), 1)
	file := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := spillwayCmd(t, "-c", file).CombinedOutput()
	want := "bind() to " + taken.Addr().String() + " failed (98: Address already in use)"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("start on a taken address: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	if !strings.Contains(string(b), "[emerg] ") || !strings.Contains(string(b), want) {
		t.Errorf("error log lacks the [emerg] bind line:\n%s", b)
	}
}

// writeFixedPortConfig writes reloadYAML in front of origins to
// dir/proxy.yaml, listening on a free port fixed in the file (a child
// process, and the one that replaces it, must be found there again), and
// returns the file, the port and the YAML text.
func writeFixedPortConfig(t *testing.T, dir string, origins ...*upstreamsim.Upstream) (file, port, yaml string) {
	t.Helper()
	port = freePort(t)
	yaml = strings.ReplaceAll(fmt.Sprintf(reloadYAML, upstreamList(origins...)), "{{DIR}}", dir)
	yaml = strings.Replace(yaml, "127.0.0.1:0", "127.0.0.1:"+port, 1)
	file = filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, port, yaml
}

// child is a spillway process that a test started with startChild: stderr
// is what it writes there, exited is closed once it has ended, and err is
// then what Wait returned.
type child struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{}
	err    error
}

// startChild starts cmd with its stderr kept; the test's cleanup kills the
// process if it still runs, and waits for it.
func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// wait returns what Wait returned, once the process has ended.
func (c *child) wait() error {
	<-c.exited
	return c.err
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
