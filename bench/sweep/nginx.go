package sweep

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// nginxTarget runs nginx from PATH as a child process, one per cell, with a
// configuration generated from the cell's buffer configuration (the
// directives map one to one). It runs a master and one worker; its CPU
// (utime+stime in /proc/PID/stat) and peak RSS (VmHWM) are the sums over
// both. (master_process off would make one process, but nginx 1.22 crashed
// with an inherited listening socket then.)
type nginxTarget struct {
	bin      string
	upstream upstreamSpec
	pid      int // the running cell's master, for the idle-connection probe
	scale    ClientScale
}

func (t *nginxTarget) proxyPID() int { return t.pid }

func newNginx(up upstreamSpec, sc ClientScale) (target, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("--compare nginx: %w", err)
	}
	return &nginxTarget{bin: bin, upstream: up, scale: sc}, nil
}

func (*nginxTarget) name() string { return "nginx" }

func (t *nginxTarget) start(c BufferConfig, conc int) (string, func(*Result) error, error) {
	dir, err := os.MkdirTemp("", "spillway-bench-nginx-")
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func(*Result) error, error) {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	// Run as root, nginx's worker is "nobody": it must reach the temp
	// directories, which nginx itself chowns to the worker's user.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	for _, sub := range []string{"logs", "proxy", "client", "fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return fail(err)
		}
	}
	// nginx inherits a listening socket we opened (its NGINX environment
	// variable, as in a binary upgrade): no race for a free port, and
	// connections wait in the backlog until nginx accepts them, so there is
	// nothing to poll for.
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fail(err)
	}
	lf, err := ln.File()
	_ = ln.Close() // lf holds its own descriptor of the socket
	if err != nil {
		return fail(err)
	}
	addr := ln.Addr().String()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConf(c, t.upstream, addr, dir, conc, t.scale)), 0o644); err != nil {
		_ = lf.Close()
		return fail(err)
	}
	cmd := exec.Command(t.bin, "-p", dir+"/", "-c", conf)
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	cmd.Env = append(os.Environ(), "NGINX=3;")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err = cmd.Start()
	_ = lf.Close()
	if err != nil {
		return fail(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	t.pid = pid
	cpu0 := treeCPU(pid) // the worker may not be forked yet: it counts from 0
	stop := func(r *Result) error {
		defer os.RemoveAll(dir)
		errLog := filepath.Join(dir, "logs", "error.log")
		select {
		case err := <-exited: // nginx should still be running
			log, _ := os.ReadFile(errLog)
			return fmt.Errorf("nginx exited during the cell (%v): %s%s", err, stderr.String(), log)
		default:
		}
		if cpu := cpuSince(cpu0, treeCPU(pid)); cpu >= 0 {
			r.CPUus = float64(cpu.Microseconds())
		}
		r.CPUScope, r.ProxyPID = "nginx processes (master + worker)", pid
		r.PeakRSSBytes = treeHWM(pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		// nginx unlinks a temp file as soon as it opens it, so the bytes it
		// spilled cannot be measured; the files are its warn lines.
		r.FilesCreated = countSpills(errLog)
		return nil
	}
	return addr, stop, nil
}

// spillLine is the warn line nginx logs for each response it buffers to a
// temporary file (ngx_event_pipe_write_chain_to_temp_file).
const spillLine = "an upstream response is buffered to a temporary file"

// countSpills counts the spill warn lines in nginx's error log, or -1.
func countSpills(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(spillLine)) {
			n++
		}
	}
	if sc.Err() != nil {
		return -1
	}
	return n
}

// NginxConf is nginx's configuration for one cell: the same buffer
// directives as spillway's, one worker, everything under dir. The error
// log is at warn for the spill lines. worker_connections and
// worker_rlimit_nofile fit the client connections sc adds to conc's.
func NginxConf(c BufferConfig, up upstreamSpec, listen, dir string, conc int, sc ClientScale) string {
	var b strings.Builder
	wc := sc.nginxConns(conc)
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile %[5]d;
error_log %[1]s/logs/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections %[6]d; }
http {
    access_log off;
    client_body_temp_path %[1]s/client;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream origin {
        server %[2]s;
        keepalive %[3]d;
    }
    server {
        listen %[4]s;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
`, dir, up.addr, max(conc, 8), listen, wc+1024, wc)
	if sc.Hold {
		b.WriteString("    keepalive_timeout 10m;\n")
	}
	if up.host != "" {
		fmt.Fprintf(&b, "            proxy_set_header Host %q;\n", up.host)
	}
	bs := c.BufferSize
	if bs == 0 {
		bs = 4 << 10 // spillway's default; nginx's is one page
	}
	fmt.Fprintf(&b, "            proxy_buffer_size %s;\n", FormatSize(bs))
	if c.Buffering {
		fmt.Fprintf(&b, "            proxy_buffering on;\n            proxy_buffers %d %s;\n", c.N, FormatSize(c.Size))
		if c.Busy > 0 {
			fmt.Fprintf(&b, "            proxy_busy_buffers_size %s;\n", FormatSize(c.Busy))
		}
		if c.MaxTemp >= 0 {
			fmt.Fprintf(&b, "            proxy_max_temp_file_size %s;\n", FormatSize(c.MaxTemp))
		}
	} else {
		b.WriteString("            proxy_buffering off;\n")
	}
	b.WriteString("        }\n    }\n}\n")
	return b.String()
}

// external is a proxy run by someone else, at a URL.
type external struct{ addr string }

func newExternal(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("--proxy %q: want http://HOST:PORT", raw)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return &external{addr: host}, nil
}

func (*external) name() string { return "external" }

func (t *external) start(BufferConfig, int) (string, func(*Result) error, error) {
	return t.addr, func(r *Result) error {
		r.CPUScope = "not measured (external proxy)"
		return nil
	}, nil
}
