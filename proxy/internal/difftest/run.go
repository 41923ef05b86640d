package difftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// listenHost is the address every proxy and upstream of the suite listens
// on. Not 127.0.0.1: a port the suite takes from the kernel may have just
// been another test's (another package, another process), whose clients
// may still be connecting to 127.0.0.1:port; they cannot reach
// 127.0.0.2:port. Clients still connect from 127.0.0.1.
const listenHost = "127.0.0.2"

// Outcome is what one side (nginx or spillway) produced for a scenario.
type Outcome struct {
	Side      string
	Responses []Response
	Hits      []map[string]int // per upstream server: "GET /x?q" (the target byte for byte) → requests received
	Conns     []int            // per upstream server: TCP connections accepted
	Log       []string         // normalised error-log lines, in the order written
	Access    []string         // access-log lines (accessFormat), in the order written
	Dropped   map[string]int   // global rule → lines it removed
	RawLog    string           // the log as written, for failure messages
	AccessLog string           // the access log as written (Scenario.AccessLog)
	Config    string           // the generated configuration
	Dir       string           // the side's directory (error.log, access.log, temp files)
}

// Cleanup registers a function to run when the test ends (testing.T.Cleanup).
type Cleanup func(func())

// filesMtime is every Files entry's modification time.
var filesMtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Run runs s against nginx (the binary at nginxBin) and spillway at the
// same time, each in front of its own fresh upstreams, in directories under
// dir. Everything started is stopped before Run returns; cleanup is a
// safety net for a failure half-way.
func Run(s *Scenario, nginxBin, dir string, cleanup Cleanup) (ng, sp *Outcome, err error) {
	var wg sync.WaitGroup
	var ngErr, spErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		ng, ngErr = runSide(s, nginxSide{bin: nginxBin}, filepath.Join(dir, "nginx"), cleanup)
	}()
	go func() {
		defer wg.Done()
		sp, spErr = runSide(s, spillwaySide{}, filepath.Join(dir, "spillway"), cleanup)
	}()
	wg.Wait()
	if ngErr != nil {
		return ng, sp, fmt.Errorf("nginx: %w", ngErr)
	}
	if spErr != nil {
		return ng, sp, fmt.Errorf("spillway: %w", spErr)
	}
	return ng, sp, nil
}

// side starts one proxy in front of the given upstream addresses.
type side interface {
	name() string
	start(s *Scenario, dir string, addrs []string, cleanup Cleanup) (running, error)
}

// running is a started proxy.
type running interface {
	addr() string
	config() string
	log() string
	// stop ends the proxy gracefully (every line written) and does not
	// return before it is gone. It may be called more than once.
	stop() error
}

func runSide(s *Scenario, sd side, dir string, cleanup Cleanup) (*Outcome, error) {
	out := &Outcome{Side: sd.name(), Dir: dir}
	for _, sub := range []string{"", "client", "proxy"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return out, err
		}
	}
	for name, content := range s.Files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return out, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return out, err
		}
		// One mtime on both sides: Last-Modified and ETag are compared.
		if err := os.Chtimes(p, filesMtime, filesMtime); err != nil {
			return out, err
		}
	}
	// The directories too, once their files are in: autoindex lists them.
	for name := range s.Files {
		for d := filepath.Dir(filepath.Join(dir, name)); len(d) > len(dir); d = filepath.Dir(d) {
			if err := os.Chtimes(d, filesMtime, filesMtime); err != nil {
				return out, err
			}
		}
	}
	ups := make([]*upstreamsim.Upstream, len(s.Servers))
	addrs := make([]string, len(s.Servers))
	names := map[string]string{}
	for i, sv := range s.Servers {
		if sv.Unix == UnixMissing || sv.Unix == UnixRefused {
			addr, err := unixPeer(dir, i, sv.Unix)
			if err != nil {
				return out, err
			}
			addrs[i] = addr
			names[addr] = fmt.Sprintf("U%d", i)
			continue
		}
		listen := listenHost + ":0"
		if sv.Unix == UnixListen {
			listen = "unix:" + filepath.Join(dir, fmt.Sprintf("u%d.sock", i))
		}
		if len(sv.Behaviors) == 1 && sv.Behaviors[0].Kind == upstreamsim.KindRefuse {
			// bench's refuse closes a port it bound, which the kernel may
			// hand to another scenario's listener running in parallel; a
			// port bound but never listened on refuses for as long as the
			// scenario holds it.
			addr, release, err := testutil.RefusedPort(listenHost)
			if err != nil {
				return out, err
			}
			cleanup(release)
			addrs[i] = addr
			names[addr] = fmt.Sprintf("U%d", i)
			continue
		}
		u, err := upstreamsim.UpstreamConfig{Addr: listen, Behaviors: sv.Behaviors}.Start()
		if err != nil {
			return out, err
		}
		cleanup(func() { _ = u.Close() })
		ups[i], addrs[i] = u, u.Addr()
		names[u.Addr()] = fmt.Sprintf("U%d", i)
	}

	dnsAddr := ""
	if s.DNS != nil {
		var err error
		host0, _, _ := net.SplitHostPort(addrs[0])
		if dnsAddr, err = startDNS(s.DNS, host0, cleanup); err != nil {
			return out, err
		}
	}
	r, err := sd.start(withPlaceholders(s, dnsAddr, addrs), dir, addrs, cleanup)
	if err != nil {
		return out, err
	}
	out.Config = r.config()
	names[r.addr()] = "PROXY"
	for _, req := range s.Requests {
		if req.Pause > 0 {
			// The upstream's idle timer is what is tested, not a
			// synchronisation: nothing else can be waited for.
			time.Sleep(req.Pause)
		}
		before := totalHits(ups)
		reached := func() bool { return totalHits(ups) > before }
		out.Responses = append(out.Responses, send(r.addr(), req, r.log, reached))
	}
	stopErr := r.stop()
	keys := requestKeys(s)
	// The upstreams are closed after the proxy, so that nothing the proxy
	// still had in flight is cut by them.
	for _, u := range ups {
		if u == nil { // refused: nothing reached it
			out.Hits = append(out.Hits, map[string]int{})
			out.Conns = append(out.Conns, 0)
			continue
		}
		_ = u.Close()
		st := u.Stats()
		hits := map[string]int{}
		for k, v := range st.Targets {
			if keys[strings.SplitN(k, "?", 2)[0]] || s.ProxyPassURI != "" { // a request of this scenario, not a stray one
				hits[k] = v
			}
		}
		out.Hits = append(out.Hits, hits)
		out.Conns = append(out.Conns, st.Connections)
	}
	out.RawLog = r.log()
	if s.AccessLog {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		out.AccessLog = string(b)
	}
	if stopErr != nil {
		return out, stopErr
	}
	// Complete once the proxy has stopped: nginx writes each line with
	// one write(2), spillway flushes its buffer on Shutdown.
	access, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return out, err
	}
	for _, l := range strings.Split(string(access), "\n") {
		if l != "" {
			out.Access = append(out.Access, l)
		}
	}
	if s.Sizes {
		out.Access = sizesRelative(s, out)
	}
	out.Log, out.Dropped = normaliseLog(out.RawLog, names, dir)
	for _, name := range s.ErrorLogs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, err
		}
		out.RawLog += "\n" + name + ":\n" + string(b)
		lines, dropped := normaliseLog(string(b), names, dir)
		for _, l := range lines {
			out.Log = append(out.Log, name+": "+l)
		}
		for k, n := range dropped {
			out.Dropped[k] += n
		}
	}
	return out, nil
}

// totalHits is the number of request heads the upstreams have read.
func totalHits(ups []*upstreamsim.Upstream) int {
	n := 0
	for _, u := range ups {
		if u != nil {
			n += u.Total()
		}
	}
	return n
}

// nginxSide runs nginx as a child process: a master and one worker, on a
// listening socket the test opened and hands over (nginx's NGINX
// environment variable, as in a binary upgrade), so there is no race for a
// port and nothing to poll: connections wait in the backlog until the
// worker accepts them. (master_process off crashes nginx 1.22 with an
// inherited socket.)
type nginxSide struct{ bin string }

func (nginxSide) name() string { return "nginx" }

type nginxProc struct {
	cmd    *exec.Cmd
	listen string
	conf   string
	dir    string
	stderr *bytes.Buffer
	exited chan struct{}
	werr   error
	once   sync.Once
	err    error
}

func (n nginxSide) start(s *Scenario, dir string, addrs []string, cleanup Cleanup) (running, error) {
	for _, sub := range []string{"fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(listenHost)})
	if err != nil {
		return nil, err
	}
	lf, err := ln.File()
	_ = ln.Close() // lf holds its own descriptor of the socket
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	p := &nginxProc{listen: ln.Addr().String(), dir: dir, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	p.conf = NginxConf(s, dir, p.listen, addrs)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(p.conf), 0o644); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(n.bin, "-p", dir+"/", "-c", confPath)
	p.cmd.ExtraFiles = []*os.File{lf} // fd 3
	p.cmd.Env = append(os.Environ(), "NGINX=3;")
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	// Its own process group: if the master does not stop, the fallback
	// kills the master and its worker together.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.werr = p.cmd.Wait(); close(p.exited) }()
	cleanup(func() { _ = p.stop() })
	return p, nil
}

func (p *nginxProc) addr() string   { return p.listen }
func (p *nginxProc) config() string { return p.conf }

func (p *nginxProc) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
	return string(b)
}

func (p *nginxProc) stop() error {
	p.once.Do(func() {
		select {
		case <-p.exited:
			p.err = fmt.Errorf("nginx exited early (%v): %s%s", p.werr, p.stderr, p.log())
			return
		default:
		}
		// SIGQUIT: graceful; the master waits for its worker, which
		// finishes the connections still open. nginx writes each log
		// line with one write(2), so the file is complete once it exits.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			p.err = errors.New("nginx did not stop on SIGQUIT within 10s; killed")
		}
	})
	return p.err
}

// spillwaySide runs spillway in-process, from the generated proxy.yaml,
// with its error log in memory.
type spillwaySide struct{}

func (spillwaySide) name() string { return "spillway" }

type spillwayProc struct {
	p    *proxy.Proxy
	yaml string
	elog *testutil.LogBuffer
	once sync.Once
	err  error
}

func (spillwaySide) start(s *Scenario, dir string, addrs []string, cleanup Cleanup) (running, error) {
	text, err := SpillwayYAML(s, dir, addrs)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(text))
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, text)
	}
	sb := &testutil.LogBuffer{}
	el := errorlog.New(sb, errorlog.Info, errorlog.Options{})
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: el})
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	r := &spillwayProc{p: p, yaml: text, elog: sb}
	cleanup(func() { _ = r.stop() })
	return r, nil
}

func (r *spillwayProc) addr() string   { return r.p.Addrs()[0] }
func (r *spillwayProc) config() string { return r.yaml }
func (r *spillwayProc) log() string    { return r.elog.String() }

func (r *spillwayProc) stop() error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.err = r.p.Shutdown(ctx) // waits for in-flight requests
	})
	return r.err
}

// requestKeys are the "METHOD /path" keys (bench's hit counters) the
// scenario's requests can produce upstream.
func requestKeys(s *Scenario) map[string]bool {
	keys := map[string]bool{}
	for _, r := range s.Requests {
		method, path := r.Method, r.Path
		if r.Raw != "" {
			line, _, _ := strings.Cut(r.Raw, "\r\n")
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			method, path = f[0], f[1]
		}
		if method == "" {
			method = "GET"
		}
		if path == "" {
			path = "/x"
		}
		path, _, _ = strings.Cut(path, "?")
		keys[method+" "+path] = true
	}
	return keys
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// unixPeer makes server i's unix-domain socket address in dir for a
// connect that fails: UnixMissing names a file that does not exist,
// UnixRefused a socket bound and closed with its file left (ECONNREFUSED).
func unixPeer(dir string, i int, kind string) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("u%d.sock", i))
	if kind == UnixRefused {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return "", err
		}
		ln.SetUnlinkOnClose(false)
		if err := ln.Close(); err != nil {
			return "", err
		}
	}
	return "unix:" + path, nil
}
