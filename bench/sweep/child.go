package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProxyCommand returns the command that runs spillway on the configuration
// file at path: `spillway bench serve-cell PATH` (cmd/spillway), or a test
// binary standing in for it. The process must write ReadyLine to its
// stdout once its listeners are open, exit on SIGTERM, and exit when its
// stdin reaches EOF (so that it does not outlive a bench killed with
// SIGKILL).
type ProxyCommand func(path string) *exec.Cmd

const readyPrefix = "spillway-bench ready "

// ReadyLine is the line a proxy child writes on stdout when it accepts
// connections: its first listen address and its metrics address.
func ReadyLine(listen, metrics string) string {
	return readyPrefix + listen + " " + metrics + "\n"
}

// childTarget runs spillway as a child process, one per cell, on a
// generated configuration, so that its CPU time and peak RSS are its own:
// read from /proc/PID/stat and /proc/PID/status. The buffer-pool and spill
// numbers come from its metrics endpoint (metrics.listen).
type childTarget struct {
	cmd      ProxyCommand
	upstream upstreamSpec
	pid      int // the running cell's child, for the idle-connection probe
	scale    ClientScale
}

func (t *childTarget) proxyPID() int { return t.pid }

func (*childTarget) name() string { return "spillway" }

func (t *childTarget) start(c BufferConfig, conc int) (string, func(*Result) error, error) {
	dir, err := os.MkdirTemp("", "spillway-bench-")
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func(*Result) error, error) {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	for _, sub := range []string{"proxy", "client"} { // the temp paths
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return fail(err)
		}
	}
	path := filepath.Join(dir, "cell.yaml")
	if err := os.WriteFile(path, []byte(SpillwayYAML(c, t.upstream, dir, conc, t.scale)), 0o644); err != nil {
		return fail(err)
	}
	cmd := t.cmd(path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	stderr := &capped{max: 64 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting the proxy: %w", err))
	}
	ready, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, br) // to EOF: Wait must come after the reads
		exited <- cmd.Wait()
	}()
	kill := func() error {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		return <-exited
	}
	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		_ = kill()
		return fail(fmt.Errorf("the proxy did not become ready in 30s: %s", stderr))
	}
	listen, metrics, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, readyPrefix)), " ")
	if !strings.HasPrefix(line, readyPrefix) || !ok {
		err := kill()
		return fail(fmt.Errorf("the proxy did not start (%v): %s", err, stderr))
	}
	pid := cmd.Process.Pid
	t.pid = pid
	cpu0 := procCPU(pid)
	stop := func(r *Result) error {
		defer os.RemoveAll(dir)
		cpu1 := procCPU(pid)
		r.PeakRSSBytes = vmHWM(pid)
		if cpu0 >= 0 && cpu1 >= 0 {
			r.CPUus = float64((cpu1 - cpu0).Microseconds())
		}
		r.CPUScope, r.ProxyPID = "spillway process", pid
		m, merr := scrape(metrics)
		if merr == nil {
			r.PeakPoolBytes = m["spillway_buffer_peak_bytes_in_use"]
			r.SpilledBytes = m["spillway_buffer_spilled_bytes_total"]
			r.FilesCreated = m["spillway_buffer_temp_files_total"]
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var werr error
		select {
		case werr = <-exited:
		case <-time.After(10 * time.Second):
			werr = kill()
		}
		_ = stdin.Close()
		if werr != nil {
			werr = fmt.Errorf("the proxy exited with %v: %s", werr, stderr)
		}
		if log := stderr.String(); log != "" {
			r.ProxyLog = firstLines(log, 3)
		}
		return errors.Join(werr, merr)
	}
	return listen, stop, nil
}

// scrape reads the proxy's metrics page into series → value, for the
// unlabelled series.
func scrape(addr string) (map[string]int64, error) {
	// No keepalive: an idle connection would hold up the proxy's shutdown.
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			m[name] = int64(n)
		}
	}
	return m, sc.Err()
}

// SpillwayYAML is the proxy configuration of one cell.
func SpillwayYAML(c BufferConfig, up upstreamSpec, dir string, conc int, sc ClientScale) string {
	var b strings.Builder
	b.WriteString("error_log: {path: stderr, level: error}\nmetrics: {listen: \"127.0.0.1:0\"}\nhttp:\n")
	fmt.Fprintf(&b, "  proxy_temp_path: %s\n  client_body_temp_path: %s\n",
		filepath.Join(dir, "proxy"), filepath.Join(dir, "client"))
	b.WriteString("  buffer_memory_limit: 1g\n")
	b.WriteString("  proxy_http_version: \"1.1\"\n")
	if up.host != "" {
		fmt.Fprintf(&b, "  proxy_set_header: {Connection: \"\", Host: %q}\n", up.host)
	} else {
		b.WriteString("  proxy_set_header: {Connection: \"\"}\n")
	}
	b.WriteString("  proxy_read_timeout: 60s\n  proxy_send_timeout: 60s\n")
	if sc.Hold {
		b.WriteString("  keepalive_timeout: 10m\n")
	}
	if c.Buffering {
		fmt.Fprintf(&b, "  proxy_buffering: \"on\"\n  proxy_buffers: %d %s\n", c.N, FormatSize(c.Size))
		if c.Busy > 0 {
			fmt.Fprintf(&b, "  proxy_busy_buffers_size: %s\n", FormatSize(c.Busy))
		}
		if c.MaxTemp >= 0 {
			fmt.Fprintf(&b, "  proxy_max_temp_file_size: %s\n", FormatSize(c.MaxTemp))
		}
		if c.SpillGrace != "" {
			fmt.Fprintf(&b, "  proxy_spill_grace: %q\n", c.SpillGrace)
		}
	} else {
		b.WriteString("  proxy_buffering: \"off\"\n")
	}
	if c.BufferSize > 0 {
		fmt.Fprintf(&b, "  proxy_buffer_size: %s\n", FormatSize(c.BufferSize))
	}
	fmt.Fprintf(&b, "  upstreams:\n    origin:\n      keepalive: %d\n      servers: [{address: %q}]\n", max(conc, 8), up.addr)
	b.WriteString(`  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
`)
	return b.String()
}

// capped keeps the first max bytes written to it (a child's stderr).
type capped struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, " | ")
}
