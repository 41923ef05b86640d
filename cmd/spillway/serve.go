package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

func newServeCmd(src *source) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := src.load(cmd.ErrOrStderr())
			if err != nil {
				// nginx's [emerg] lines; nothing is served
				printEmerg(cmd.ErrOrStderr(), err)
				return fmt.Errorf("%w: %s", errCheckFailed, src.path())
			}
			return runWith(cmd.Context(), cfg, runOptions{src: src})
		},
	}
}

type runOptions struct {
	ready func(*proxy.Proxy)
	// override adjusts every loaded config (the demo sends its error log
	// to the terminal, reloads included).
	override func(*config.Config)
	// signals replaces the process's signals (tests).
	signals chan os.Signal
	// src is where a reload reads the configuration again (nil: from
	// cfg.Source, with the file's directory as the prefix).
	src *source
}

// master is what nginx's master process does for spillway's single
// process: the pid file, the error log's process lines, and the signals.
type master struct {
	cfg  *config.Config
	opts runOptions
	elog *errorlog.Log
	p    *proxy.Proxy
	pid  string // the pid file written, "" for none
	// reloads counts the SIGHUPs handled, for the status file.
	reloads int
	// newBinary reports the exit of the binary a USR2 started (nil: none
	// runs); its pid and the pid file it took over.
	newBinary        chan error
	newBinaryPid     int
	newBinaryPidFile string
}

func runWith(ctx context.Context, cfg *config.Config, opts runOptions) error {
	if opts.override != nil {
		opts.override(cfg)
	}
	if opts.src == nil {
		opts.src = &source{file: cfg.Source}
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
	inherited, fds, err := inheritedListeners()
	if err != nil {
		m.elog.Alertf("%v", err)
	}
	if fds != "" {
		m.notice(fmt.Sprintf("using inherited sockets from %q", fds))
	}
	// Signals are caught before the first connection is served and before
	// the pid file names this process (nginx's ngx_init_signals comes before
	// its workers): a HUP that arrives as soon as the port answers, from a
	// deploy script or a reload storm, is a reload and not the default
	// action, which ends the process.
	sigs := opts.signals
	if sigs == nil {
		c := make(chan os.Signal, 4)
		signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(c)
		sigs = c
	}
	if m.p, err = proxy.New(cfg, proxy.Options{ErrorLog: elog, Inherited: inherited}); err != nil {
		m.emerg(err)
		return err
	}
	if err := m.p.Start(); err != nil {
		m.emerg(err)
		return err
	}
	m.p.DropInherited()
	if err := m.writePID(cfg.PID); err != nil {
		m.emerg(err)
		_ = m.p.Close()
		return err
	}
	defer m.removePID()
	m.writeStatus("started", "")
	if opts.ready != nil {
		opts.ready(m.p)
	}
	if fds != "" { // a binary upgrade: systemd's main process is now this one
		notify(fmt.Sprintf("MAINPID=%d\n%s", os.Getpid(), daemon.SdNotifyReady))
	} else {
		notify(daemon.SdNotifyReady)
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
		case err := <-m.newBinary: // nil channel until a USR2
			m.newBinaryExited(err)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR2:
				m.notice("signal 12 (SIGUSR2) received, changing binary")
				m.upgrade()
			case syscall.SIGHUP:
				m.notice("signal 1 (SIGHUP) received, reconfiguring")
				m.notice("reconfiguring")
				notify(daemon.SdNotifyReloading + "\n" + monotonicUsec())
				m.reload()
				notify(daemon.SdNotifyReady)
			case syscall.SIGUSR1:
				m.notice("signal 10 (SIGUSR1) received, reopening logs")
				m.notice("reopening logs")
				if err := m.p.ReopenLogs(); err != nil {
					m.elog.Alertf("%v", err)
				}
			case syscall.SIGQUIT:
				m.notice("signal 3 (SIGQUIT) received, shutting down")
				m.notice("gracefully shutting down")
				m.notifyStopping()
				return m.quit(sigs)
			default: // TERM, INT
				n := sig.(syscall.Signal)
				m.notice(fmt.Sprintf("signal %d (%s) received, exiting", int(n), sigName(n)))
				m.notice("exiting")
				m.notifyStopping()
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
	m.reloads++
	cfg, err := m.opts.src.load(os.Stderr)
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
		m.writeStatus("refused", strings.SplitN(strings.TrimSpace(err.Error()), "\n", 2)[0])
		return
	}
	if cfg.PID != m.pid {
		old := m.pid
		if err := m.writePID(cfg.PID); err != nil {
			m.emerg(err)
		} else if old != "" {
			_ = os.Remove(old)
			_ = os.Remove(statusPath(old))
		}
	}
	m.cfg = cfg
	m.writeStatus("reloaded", "")
}

func (m *master) notice(msg string) { m.elog.Noticef("%s", msg) }

// emerg logs a config or start-up error the way nginx does, one line per
// problem.
func (m *master) emerg(err error) {
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		m.elog.Emergf("%s", line)
	}
}

// startupLines are nginx's notices at start: version, OS, and the open
// files limit (Go raises the soft limit to the hard one at start).
func (m *master) startupLines() {
	m.notice("spillway/" + version)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.notice("OS: " + unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.notice(fmt.Sprintf("getrlimit(RLIMIT_NOFILE): %d:%d", rl.Cur, rl.Max))
	}
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
		_ = os.Remove(statusPath(m.pid))
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
	case syscall.SIGUSR2:
		return "SIGUSR2"
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
// process to signal, as for nginx -s. For reload it then waits until the
// process reports through its status file whether it took the new
// configuration, and fails if it refused it (nginx cannot say).
func sendSignal(src *source, name string, out io.Writer) error {
	sig, ok := signalNames[name]
	if !ok {
		return fmt.Errorf(`invalid option: "-s %s" (use stop, quit, reopen or reload)`, name)
	}
	cfg, err := src.load(nil)
	if err != nil {
		return err
	}
	if cfg.PID == "" {
		return fmt.Errorf(`[error] -s %s needs the pid file, and %s sets no "pid"`, name, src.path())
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
	before, known := readStatus(cfg.PID, pid)
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("[alert] kill(%d, %d) failed (%s)", pid, int(sig), errnoText(err))
	}
	if sig != syscall.SIGHUP || !known {
		return nil // a process without a status file cannot answer
	}
	return awaitReload(cfg, pid, before, out)
}

// reloadWait bounds how long -s reload waits for the process's answer.
const reloadWait = 90 * time.Second

// awaitReload waits until the status file counts a reload past before.
func awaitReload(cfg *config.Config, pid int, before status, out io.Writer) error {
	deadline := time.Now().Add(reloadWait)
	for {
		st, ok := readStatus(cfg.PID, pid)
		switch {
		case !ok:
			return fmt.Errorf("[error] process %d went away during the reload (see %s)", pid, cfg.ErrorLog.Path)
		case st.reloads > before.reloads && st.state == "refused":
			return fmt.Errorf("[emerg] reload refused, process %d keeps its running configuration: %s (see %s)",
				pid, st.reason, cfg.ErrorLog.Path)
		case st.reloads > before.reloads:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("[error] process %d did not report the reload within %s (see %s)", pid, reloadWait, cfg.ErrorLog.Path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The status file sits next to the pid file (spillway.pid.status) and holds
// one line, "PID RELOADS STATE [REASON]": STATE is started, reloaded or
// refused (REASON: the first error line). -s reload reads it.
func statusPath(pidFile string) string { return pidFile + ".status" }

type status struct {
	reloads int
	state   string
	reason  string
}

func (m *master) writeStatus(state, reason string) {
	if m.pid == "" {
		return
	}
	line := fmt.Sprintf("%d %d %s %s", os.Getpid(), m.reloads, state, reason)
	tmp := statusPath(m.pid) + ".tmp"
	err := os.WriteFile(tmp, []byte(strings.TrimSpace(line)+"\n"), 0o644)
	if err == nil {
		err = os.Rename(tmp, statusPath(m.pid)) // whole lines only
	}
	if err != nil {
		m.elog.Alertf("writing %q failed (%s)", statusPath(m.pid), errnoText(err))
	}
}

// readStatus reads the status file of pid; ok is false when there is none
// or it belongs to another process.
func readStatus(pidFile string, pid int) (status, bool) {
	b, err := os.ReadFile(statusPath(pidFile))
	if err != nil {
		return status{}, false
	}
	f := strings.SplitN(strings.TrimSpace(string(b)), " ", 4)
	if len(f) < 3 || f[0] != strconv.Itoa(pid) {
		return status{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return status{}, false
	}
	st := status{reloads: n, state: f[2]}
	if len(f) == 4 {
		st.reason = f[3]
	}
	return st, true
}

// notifyStopping is STOPPING=1, unless a new binary took over (USR2): the
// service goes on in it.
func (m *master) notifyStopping() {
	if m.newBinary == nil {
		notify(daemon.SdNotifyStopping)
	}
}

// notify tells systemd (Type=notify) about the state; without
// NOTIFY_SOCKET it does nothing.
func notify(state string) { _, _ = daemon.SdNotify(false, state) }

// monotonicUsec is the MONOTONIC_USEC field systemd wants with RELOADING=1.
func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000)
}

// ensureDirs creates the directories for logs, the pid file and temp files
// when they are missing, so a fresh checkout runs (nginx would refuse; the
// paths are spillway's own defaults, not the user's).
func ensureDirs(cfg *config.Config) error {
	dirs := []string{}
	errorLogs := cfg.AllErrorLogs()
	for _, s := range cfg.Servers {
		errorLogs = append(errorLogs, s.ErrorLogs...) // error_log of http, servers and locations
		for _, l := range s.Locations {
			errorLogs = append(errorLogs, l.ErrorLogs...)
		}
	}
	for _, l := range errorLogs {
		if l.Path != "stderr" {
			dirs = append(dirs, filepath.Dir(l.Path))
		}
	}
	if cfg.PID != "" {
		dirs = append(dirs, filepath.Dir(cfg.PID))
	}
	for _, s := range cfg.Servers {
		logs := s.AllAccessLogs()
		for _, l := range s.AllLocations() {
			dirs = append(dirs, l.Upstream.TempPath, l.ClientBodyTempPath)
			logs = append(logs, l.AccessLogs...)
		}
		for _, l := range logs {
			if !l.Off && l.Path != "" && l.Path != "stderr" {
				dirs = append(dirs, filepath.Dir(l.Path))
			}
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
