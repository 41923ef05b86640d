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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nginxTarget runs nginx from PATH as a child process, one per cell, with a
// configuration generated from the cell's buffer configuration (the
// directives map one to one). It runs a master and one worker: the
// master's rusage at exit includes the worker's (it reaps it), and the peak
// RSS is the sum of both VmHWM. (master_process off would make one process,
// but nginx 1.22 crashed with an inherited listening socket then.)
type nginxTarget struct {
	bin    string
	origin string
}

func newNginx(origin string) (target, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("--compare nginx: %w", err)
	}
	return &nginxTarget{bin: bin, origin: origin}, nil
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
	if err := os.WriteFile(conf, []byte(NginxConf(c, t.origin, addr, dir, conc)), 0o644); err != nil {
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
	stop := func(r *Result) error {
		select {
		case err := <-exited: // nginx should still be running
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			_ = os.RemoveAll(dir)
			return fmt.Errorf("nginx exited during the cell (%v): %s%s", err, stderr.String(), log)
		default:
		}
		r.PeakRSSBytes = treeHWM(pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if ps := cmd.ProcessState; ps != nil {
			r.CPUus = float64((ps.UserTime() + ps.SystemTime()).Microseconds())
			r.CPUScope = "nginx"
		}
		// nginx unlinks its temp files as soon as it opens them, so what it
		// spilled cannot be counted afterwards: the spill columns stay -1.
		return os.RemoveAll(dir)
	}
	return addr, stop, nil
}

// NginxConf is nginx's configuration for one cell: the same buffer
// directives as spillway's, single process, everything under dir.
func NginxConf(c BufferConfig, origin, listen, dir string, conc int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes 1;
error_log %[1]s/logs/error.log error;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
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
`, dir, origin, max(conc, 8), listen)
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

// treeHWM is the summed peak RSS of a process and its children, or -1.
func treeHWM(pid int) int64 {
	total := vmHWM(pid)
	if total < 0 {
		return -1
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			if v := vmHWM(c); v > 0 {
				total += v
			}
		}
	}
	return total
}

// vmHWM is a process's peak resident set size from /proc, or -1.
func vmHWM(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
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
		r.CPUScope = "bench process (origin + load generator; the external proxy is not measured)"
		return nil
	}, nil
}
