package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

func newServeCmd(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(*configPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfg, nil)
		},
	}
}

// run starts the proxy and serves until ctx is done or a stopping signal
// comes. ready, if not nil, is called once the listeners are open.
func run(ctx context.Context, cfg *config.Config, ready func(*proxy.Proxy)) error {
	return runWith(ctx, cfg, runOptions{ready: ready})
}

type runOptions struct {
	ready func(*proxy.Proxy)
	// override adjusts every loaded config (the demo sends its error log
	// to the terminal, reloads included).
	override func(*config.Config)
	// signals replaces the process's signals (tests).
	signals chan os.Signal
}

// master is what nginx's master process does for spillway's single
// process: the pid file, the error log's process lines, and the signals.
type master struct {
	cfg  *config.Config
	opts runOptions
	elog *errorlog.Log
	p    *proxy.Proxy
	pid  string // the pid file written, "" for none
}

func runWith(ctx context.Context, cfg *config.Config, opts runOptions) error {
	if opts.override != nil {
		opts.override(cfg)
	}
	if err := ensureDirs(cfg); err != nil {
		return err
	}
	elog, err := errorlog.OpenAll(cfg.AllErrorLogs(), errorlog.Options{})
	if err != nil {
		return err
	}
	defer elog.Close()
	m := &master{cfg: cfg, opts: opts, elog: elog}
	m.startupLines()
	if m.p, err = proxy.New(cfg, proxy.Options{ErrorLog: elog}); err != nil {
		m.emerg(err)
		return err
	}
	if err := m.p.Start(); err != nil {
		m.emerg(err)
		return err
	}
	if err := m.writePID(cfg.PID); err != nil {
		m.emerg(err)
		_ = m.p.Close()
		return err
	}
	defer m.removePID()
	if opts.ready != nil {
		opts.ready(m.p)
	}
	sigs := opts.signals
	if sigs == nil {
		sigs = make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sigs)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return m.loop(ctx, sigs)
}

// loop handles signals until one stops the proxy. The lines are nginx's;
// Go does not tell who sent a signal, so they have nginx's form for a
// signal without a sender ("signal 1 (SIGHUP) received, reconfiguring").
func (m *master) loop(ctx context.Context, sigs <-chan os.Signal) error {
	for {
		select {
		case <-ctx.Done():
			return m.p.Close()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				m.notice("signal 1 (SIGHUP) received, reconfiguring")
				m.notice("reconfiguring")
				m.reload()
			case syscall.SIGUSR1:
				m.notice("signal 10 (SIGUSR1) received, reopening logs")
				m.notice("reopening logs")
				if err := m.p.ReopenLogs(); err != nil {
					m.elog.Logf(errorlog.Alert, "%v", err)
				}
			case syscall.SIGQUIT:
				m.notice("signal 3 (SIGQUIT) received, shutting down")
				m.notice("gracefully shutting down")
				return m.quit(sigs)
			default: // TERM, INT
				n := sig.(syscall.Signal)
				m.notice(fmt.Sprintf("signal %d (%s) received, exiting", int(n), sigName(n)))
				m.notice("exiting")
				err := m.p.Close()
				m.notice("exit")
				return err
			}
		}
	}
}

// quit is SIGQUIT: no new connections, in-flight requests finish (within
// worker_shutdown_timeout, if set), then exit. A TERM or INT meanwhile
// makes it fast, as with nginx.
func (m *master) quit(sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.p.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			m.notice("exiting")
			m.notice("exit")
			if errors.Is(err, context.Canceled) {
				err = nil // cut short on purpose
			}
			return err
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				n := sig.(syscall.Signal)
				m.notice(fmt.Sprintf("signal %d (%s) received, exiting", int(n), sigName(n)))
				cancel()
			}
		}
	}
}

// reload is SIGHUP: read and check the file again and swap it in; a file
// that does not load, or a config that cannot be put to work, is refused
// with an [emerg] line and the running one stays.
func (m *master) reload() {
	cfg, err := loadConfig(m.cfg.Source, os.Stderr)
	if err == nil && m.opts.override != nil {
		m.opts.override(cfg)
	}
	if err == nil {
		err = ensureDirs(cfg)
	}
	if err == nil {
		err = m.p.Reload(cfg)
	}
	if err != nil {
		m.emerg(err)
		return
	}
	if cfg.PID != m.pid {
		old := m.pid
		if err := m.writePID(cfg.PID); err != nil {
			m.emerg(err)
		} else if old != "" {
			_ = os.Remove(old)
		}
	}
	m.cfg = cfg
}

func (m *master) notice(msg string) { m.elog.Logf(errorlog.Notice, "%s", msg) }

// emerg logs a config or start-up error the way nginx does, one line per
// problem.
func (m *master) emerg(err error) {
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		m.elog.Logf(errorlog.Emerg, "%s", line)
	}
}

// startupLines are nginx's notices at start: version, OS, and the open
// files limit (Go raises the soft limit to the hard one at start).
func (m *master) startupLines() {
	m.notice("spillway/" + version)
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.notice("OS: Linux " + utsString(u.Release[:]))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.notice(fmt.Sprintf("getrlimit(RLIMIT_NOFILE): %d:%d", rl.Cur, rl.Max))
	}
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// writePID writes the pid file (nginx's "pid"), "" for none.
func (m *master) writePID(path string) error {
	if path == "" {
		m.pid = ""
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("open() %q failed (%s)", path, errnoText(err))
	}
	m.pid = path
	return nil
}

func (m *master) removePID() {
	if m.pid != "" {
		_ = os.Remove(m.pid)
	}
}

// errnoText is nginx's "(2: No such file or directory)" for err.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return strconv.Itoa(int(errno)) + ": " + errorlog.StrError(errno)
	}
	return err.Error()
}

// sigName is the signal's C name.
func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	}
	return "SIG" + strconv.Itoa(int(s))
}

// signalNames are nginx -s's names.
var signalNames = map[string]syscall.Signal{
	"stop":   syscall.SIGTERM,
	"quit":   syscall.SIGQUIT,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
}

// sendSignal is `spillway -s NAME`: the pid file of the config names the
// process to signal, as for nginx -s.
func sendSignal(configPath, name string) error {
	sig, ok := signalNames[name]
	if !ok {
		return fmt.Errorf(`invalid option: "-s %s" (use stop, quit, reopen or reload)`, name)
	}
	cfg, err := loadConfig(configPath, nil)
	if err != nil {
		return err
	}
	if cfg.PID == "" {
		return fmt.Errorf(`[error] -s %s needs the pid file, and %s sets no "pid"`, name, configPath)
	}
	b, err := os.ReadFile(cfg.PID)
	if err != nil {
		return fmt.Errorf("[error] open() %q failed (%s)", cfg.PID, errnoText(err))
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return fmt.Errorf("[error] invalid PID number %q in %q", s, cfg.PID)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("[alert] kill(%d, %d) failed (%s)", pid, int(sig), errnoText(err))
	}
	return nil
}

// ensureDirs creates the directories for logs, the pid file and temp files
// when they are missing, so a fresh checkout runs (nginx would refuse; the
// paths are spillway's own defaults, not the user's).
func ensureDirs(cfg *config.Config) error {
	dirs := []string{}
	for _, l := range cfg.AllErrorLogs() {
		if l.Path != "stderr" {
			dirs = append(dirs, filepath.Dir(l.Path))
		}
	}
	if cfg.PID != "" {
		dirs = append(dirs, filepath.Dir(cfg.PID))
	}
	for _, s := range cfg.Servers {
		if !s.AccessLog.Off && s.AccessLog.Path != "" && s.AccessLog.Path != "stderr" {
			dirs = append(dirs, filepath.Dir(s.AccessLog.Path))
		}
		for _, l := range s.Locations {
			dirs = append(dirs, l.ProxyTempPath, l.ClientBodyTempPath)
		}
	}
	for _, d := range dirs {
		if d == "" || d == "." {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("mkdir() %q failed: %w", d, err)
		}
	}
	return nil
}
