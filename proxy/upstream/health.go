package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
)

// Active health checks (an upstream's health_check block; nginx Plus's
// health_check directive). Passive health, max_fails and fail_timeout, is
// Group.Failed in upstream.go.
//
// Each checked server has one goroutine that checks it every interval. A
// check connection is always closed by spillway, gracefully: it half-closes
// (FIN) as soon as the verdict is known, reads what the upstream still sends
// until the upstream's own FIN, and only then closes the socket. It never
// leaves the connection for the upstream to reset (the IIS problem) and
// never closes with SO_LINGER 0 (HAProxy's default), because backends log
// every reset as an error. The reading matters: on Linux, close() on a
// socket with unread received data sends RST instead of FIN.

const (
	// checkDrainLimit bounds what a check reads after the status line. A
	// health endpoint that sends more is cut off: the FIN has gone out
	// first, then the close resets what is left.
	checkDrainLimit = 64 << 10
	// checkDrainGrace is how long a check whose own timeout has passed
	// still waits for the upstream to answer its FIN, so that a timed-out
	// check is closed as cleanly as a good one.
	checkDrainGrace = 100 * time.Millisecond
	// checkHeadBuf bounds the status line.
	checkHeadBuf = 4 << 10
)

// HealthChecks runs the active health checks, one goroutine per checked
// server, and the re-resolution of servers with resolve, one goroutine per
// such server (resolve.go). The proxy calls Start with the first site's groups and again
// with every reload's: groups the new site kept (a reload reuses an
// unchanged upstream block) keep their checkers and counters, new groups get
// checkers, and checkers of groups the site dropped are stopped. Stopping
// the proxy calls Stop, which cancels the checks in progress and returns when every
// goroutine has ended. The zero value is ready (stop without start does
// nothing).
type HealthChecks struct {
	mu      sync.Mutex
	groups  map[*Group]*groupChecks // groups being checked
	stopped bool
	running atomic.Int64 // checker goroutines alive (tests)
}

// groupChecks are the checkers of one group.
type groupChecks struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start makes the running checkers match groups (a site's): it launches a
// checker for every server of every group that has a health_check block
// (except servers marked down, never picked anyway) and is not checked yet,
// and stops the checkers of groups no longer listed. After stop it does
// nothing.
func (h *HealthChecks) Start(groups map[string]*Group, elog *errorlog.Log) {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	if h.groups == nil {
		h.groups = map[*Group]*groupChecks{}
	}
	keep := map[*Group]bool{}
	for _, g := range groups {
		if g.check == nil && !g.resolving() {
			continue
		}
		keep[g] = true
		if h.groups[g] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		gc := &groupChecks{cancel: cancel}
		h.groups[g] = gc
		spawn := func(run func()) {
			gc.wg.Add(1)
			h.running.Add(1)
			go func() {
				defer gc.wg.Done()
				defer h.running.Add(-1)
				run()
			}()
		}
		if g.resolving() {
			g.runResolve(ctx, elog, spawn) // servers with resolve (resolve.go)
		}
		if g.check == nil {
			continue
		}
		for _, p := range g.all() {
			if p.conf.Down {
				continue
			}
			c := &checker{g: g, p: p, hc: g.check, elog: elog}
			spawn(func() { c.run(ctx) })
		}
	}
	var gone []*groupChecks
	for g, gc := range h.groups {
		if !keep[g] {
			gone = append(gone, gc)
			delete(h.groups, g)
		}
	}
	h.mu.Unlock()
	for _, gc := range gone {
		gc.cancel()
		gc.wg.Wait()
	}
}

// Stop cancels every check and waits for the checkers to end. A check in
// progress is cut short (its socket deadline is set to the past).
func (h *HealthChecks) Stop() {
	h.mu.Lock()
	h.stopped = true
	all := h.groups
	h.groups = nil
	h.mu.Unlock()
	for _, gc := range all {
		gc.cancel()
	}
	for _, gc := range all {
		gc.wg.Wait()
	}
}

// checker checks one server. Its counters are its own goroutine's; the
// verdict goes into the peer through group.setHealthy.
type checker struct {
	g    *Group
	p    *Peer
	hc   *config.HealthCheck
	elog *errorlog.Log

	fails, passes int // consecutive results
}

// run checks at once, then every interval, until ctx is cancelled.
func (c *checker) run(ctx context.Context) {
	t := time.NewTicker(c.hc.Interval)
	defer t.Stop()
	for {
		err := c.check(ctx)
		if ctx.Err() != nil {
			return // stopping: a check cut short says nothing about the server
		}
		c.observe(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe counts one result: fails failures in a row mark the server
// unhealthy, passes successes in a row bring it back. Servers start healthy,
// as in nginx Plus without "mandatory". Transitions are logged at warn;
// results that change nothing yet, at info.
func (c *checker) observe(err error) {
	if err != nil {
		c.fails, c.passes = c.fails+1, 0
		if c.fails >= c.hc.Fails && c.g.setHealthy(c.p, false) {
			c.logf(errorlog.Warn, "upstream server %s is unhealthy: %v during health check, upstream: %q", c.p.addr, err, c.g.name)
		} else if c.fails < c.hc.Fails {
			c.logf(errorlog.Info, "upstream server %s failed health check %d of %d: %v, upstream: %q", c.p.addr, c.fails, c.hc.Fails, err, c.g.name)
		}
		return
	}
	c.fails, c.passes = 0, c.passes+1
	if c.passes >= c.hc.Passes && c.g.setHealthy(c.p, true) {
		c.logf(errorlog.Warn, "upstream server %s is healthy again, upstream: %q", c.p.addr, c.g.name)
	} else if c.passes < c.hc.Passes && c.isUnhealthy() {
		c.logf(errorlog.Info, "upstream server %s passed health check %d of %d, upstream: %q", c.p.addr, c.passes, c.hc.Passes, c.g.name)
	}
}

func (c *checker) isUnhealthy() bool {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.p.unhealthy
}

func (c *checker) logf(lv errorlog.Level, format string, args ...any) {
	if c.elog == nil || !c.elog.Enabled(lv) {
		return
	}
	c.elog.Write(&errorlog.Entry{Level: lv, Msg: fmt.Sprintf(format, args...)})
}

// check runs one check within the timeout: nil if the server is healthy,
// else a *checkError saying what failed, in nginx's words.
func (c *checker) check(ctx context.Context) error {
	deadline := time.Now().Add(c.hc.Timeout)
	conn, err := dialStream(ctx, c.p.addr, 0, deadline)
	if err != nil {
		return checkFailed("connect", err)
	}
	_ = conn.SetDeadline(deadline)
	// Stopping cuts a check short: every blocked read or write returns.
	unwatch := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer unwatch()
	var rw io.ReadWriter = conn
	if c.hc.Type == config.HealthCheckHTTP {
		// A group used with https:// is checked over TLS (upstream_tls.go).
		tc, err := c.g.checkTLS(conn, c.p)
		if err != nil {
			_ = conn.Close()
			return err
		}
		if tc != nil {
			rw = tc
		}
	}
	br := bufio.NewReaderSize(rw, checkHeadBuf)

	if c.hc.Type == config.HealthCheckTCP {
		closeGracefully(ctx, conn, br, deadline)
		return nil
	}
	host := c.hc.Host
	if host == "" {
		host = c.p.addr
	}
	req := "GET " + c.hc.URI + " HTTP/1.1\r\nHost: " + host +
		"\r\nConnection: close\r\nUser-Agent: spillway-health\r\n\r\n"
	if _, err := io.WriteString(rw, req); err != nil {
		closeGracefully(ctx, conn, br, deadline)
		return checkFailed("send", err)
	}
	status, err := readStatus(br)
	closeGracefully(ctx, conn, br, deadline)
	if err != nil {
		return err
	}
	if !c.hc.Match(status) {
		return &checkError{msg: fmt.Sprintf("upstream sent status %d, expected %s", status, statusList(c.hc.Status))}
	}
	return nil
}

// readStatus reads the response's status line and returns its code,
// skipping 1xx interim responses as nginx does. The rest of the response is
// left to closeGracefully.
func readStatus(br *bufio.Reader) (int, error) {
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return 0, &checkError{msg: "upstream sent no valid HTTP/1.0 header"}
		case err == io.EOF && len(line) == 0:
			return 0, &checkError{msg: "upstream prematurely closed connection"}
		case err != nil && err != io.EOF:
			return 0, checkFailed("recv", err)
		}
		line = trimEOL(line)
		if !httphead.ValidStatusLine(line) {
			return 0, &checkError{msg: "upstream sent no valid HTTP/1.0 header"}
		}
		code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		if code >= 200 || code == 101 {
			return code, nil
		}
		// An interim response: skip its header lines, then read the next status line.
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, bufio.ErrBufferFull) {
					return 0, &checkError{msg: "upstream sent too big header"}
				}
				if err == io.EOF {
					return 0, &checkError{msg: "upstream prematurely closed connection"}
				}
				return 0, checkFailed("recv", err)
			}
			if len(trimEOL(h)) == 0 {
				break
			}
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// closeGracefully ends a check connection with FIN, never RST: it shuts
// down the sending side (the upstream reads EOF), reads and drops whatever
// the upstream still sends until its own FIN (so that close finds no unread
// data, which would make Linux send RST), and closes. The read is bounded by
// checkDrainLimit and by the check's deadline, extended by checkDrainGrace;
// when ctx is cancelled (stopping) it is cut short.
func closeGracefully(ctx context.Context, conn streamConn, r io.Reader, deadline time.Time) {
	_ = conn.CloseWrite()
	if min := time.Now().Add(checkDrainGrace); deadline.Before(min) {
		deadline = min
	}
	_ = conn.SetReadDeadline(deadline)
	if ctx.Err() != nil {
		// Set after the deadline above: a cancel that raced with it has
		// already been seen, or its AfterFunc runs after this.
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	}
	_, _ = io.CopyN(io.Discard, r, checkDrainLimit)
	_ = conn.Close()
}

// checkError is why a check failed, written like nginx's error-log messages
// ("connect() failed (111: Connection refused)").
type checkError struct {
	msg string
	err error
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.err }

// checkFailed describes a failed socket operation: "connect() failed (111:
// Connection refused)", "recv() timed out (110: Connection timed out)".
func checkFailed(op string, err error) *checkError {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &checkError{msg: op + "() timed out (110: " + errorlog.StrError(syscall.ETIMEDOUT) + ")", err: err}
	}
	if errno := errorlog.ErrnoOf(err); errno != 0 {
		return &checkError{msg: op + "() failed (" + strconv.Itoa(int(errno)) + ": " + errorlog.StrError(errno) + ")", err: err}
	}
	if errors.Is(err, io.EOF) {
		return &checkError{msg: "upstream prematurely closed connection", err: err}
	}
	return &checkError{msg: op + "() failed: " + err.Error(), err: err}
}

// statusList writes the expected statuses as in the file: "200-399", "200 204".
func statusList(rs []config.StatusRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.Itoa(r.Lo)
		if r.Hi != r.Lo {
			parts[i] += "-" + strconv.Itoa(r.Hi)
		}
	}
	return strings.Join(parts, " ")
}

// Running is the number of checker goroutines alive.
func (h *HealthChecks) Running() int64 { return h.running.Load() }
