package main

// nginx's binary upgrade: USR2 starts the binary again (the file may have
// been replaced) with the listening sockets passed on as inherited file
// descriptors, named in an environment variable as nginx names them in
// NGINX; the old process renames its pid file to PIDFILE.oldbin and keeps
// serving until it is sent QUIT. Both accept on the same sockets meanwhile,
// so no connection is refused at any point.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// listenersEnv names the inherited sockets: "FD=ADDR;FD=ADDR;".
const listenersEnv = "SPILLWAY_LISTENERS"

// inheritedListeners takes the sockets the previous binary passed on, and
// returns them by address with nginx's description of them ("3;4;").
func inheritedListeners() (map[string]net.Listener, string, error) {
	v, ok := os.LookupEnv(listenersEnv)
	if !ok {
		return nil, "", nil
	}
	_ = os.Unsetenv(listenersEnv) // not for a later upgrade's child
	lns := map[string]net.Listener{}
	var fds strings.Builder
	for _, item := range strings.Split(v, ";") {
		if item == "" {
			continue
		}
		fdText, addr, ok := strings.Cut(item, "=")
		fd, err := strconv.Atoi(fdText)
		if !ok || err != nil || fd < 3 {
			return nil, "", fmt.Errorf("invalid socket number %q in environment variable %s, ignoring", item, listenersEnv)
		}
		f := os.NewFile(uintptr(fd), addr)
		ln, err := net.FileListener(f) // a duplicate
		_ = f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("inherited socket %d (%s): %w", fd, addr, err)
		}
		lns[addr] = ln
		fmt.Fprintf(&fds, "%d;", fd)
	}
	return lns, fds.String(), nil
}

// upgrade is SIGUSR2: start the binary again with the sockets. A second
// USR2 while a new binary runs is ignored, as by nginx.
func (m *master) upgrade() {
	if m.newBinary != nil {
		m.elog.Alertf("the changing binary signal is ignored: you should shutdown or terminate before either old or new binary's process")
		return
	}
	files, err := m.p.ListenerFiles()
	if err != nil {
		m.elog.Alertf("%v", err)
		return
	}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		m.elog.Alertf("execve() failed (%v)", err)
		return
	}
	addrs := make([]string, 0, len(files))
	for a := range files {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var env strings.Builder
	cmd := exec.Command(exe, os.Args[1:]...)
	for i, a := range addrs {
		cmd.ExtraFiles = append(cmd.ExtraFiles, files[a])
		fmt.Fprintf(&env, "%d=%s;", 3+i, a)
	}
	cmd.Env = append(os.Environ(), listenersEnv+"="+env.String())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not stopped with the old one's terminal group
	// The new process writes the pid file; this one's becomes .oldbin.
	oldbin := ""
	if m.pid != "" {
		oldbin = m.pid + ".oldbin"
		if err := os.Rename(m.pid, oldbin); err != nil {
			m.elog.Alertf("rename() %q to %q failed (%s), binary is not changed", m.pid, oldbin, errnoText(err))
			return
		}
		_ = os.Remove(statusPath(m.pid))
	}
	if err := cmd.Start(); err != nil {
		m.elog.Alertf("execve() failed while executing new binary process %q (%v)", exe, err)
		if oldbin != "" {
			_ = os.Rename(oldbin, m.pid)
		}
		return
	}
	m.newBinary = make(chan error, 1)
	m.newBinaryPid = cmd.Process.Pid
	m.newBinaryPidFile = m.pid
	if oldbin != "" {
		m.pid = oldbin
		m.writeStatus("upgraded", "")
	}
	go func(done chan<- error) { done <- cmd.Wait() }(m.newBinary)
}

// newBinaryExited is the new binary's exit while this process still runs
// (it failed to start, or was stopped): the pid file becomes this
// process's again, as nginx renames .oldbin back.
func (m *master) newBinaryExited(err error) {
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	m.notice(fmt.Sprintf("new binary process %d exited with code %d", m.newBinaryPid, code))
	if m.newBinaryPidFile != "" && m.pid != m.newBinaryPidFile {
		if err := os.Rename(m.pid, m.newBinaryPidFile); err != nil {
			m.elog.Alertf("rename() %q to %q failed (%s)", m.pid, m.newBinaryPidFile, errnoText(err))
		} else {
			_ = os.Remove(statusPath(m.pid))
			m.pid = m.newBinaryPidFile
			m.writeStatus("started", "")
		}
	}
	m.newBinary = nil
}
