package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// synSent reports whether a socket of this process's host is connecting to
// addr (Linux's /proc/net/tcp state 02, SYN_SENT): the proxy's dial to a
// stuffed listener, which gets no answer to its SYN.
func synSent(t *testing.T, addr string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp to see the dial: %v", err)
	}
	ap, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	// rem_address is the IPv4 address in host byte order (little endian
	// here) and the port, in hex: 127.0.0.1:8080 is 0100007F:1F90.
	ip := ap.IP.To4()
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 3 && f[2] == want && f[3] == "02" {
			return true
		}
	}
	return false
}

// A stop whose drain deadline has passed (Shutdown's context done: a hard
// stop) ends a request waiting on its upstream at once, wherever it waits:
// connecting (proxy_connect_timeout 1h), reading the response header
// (proxy_read_timeout 1h), or pausing before a same-server retry
// (proxy_next_upstream_backoff 1h). The request's context does it, not a
// timeout. As nginx when worker_shutdown_timeout ends a request waiting for
// its upstream (measured, nginx 1.22): no error line, no other server
// tried, the client's connection closed without an answer, and the access
// log's status 000 with "-" for the attempt. Shutdown returns once the
// request has unwound: its access-log line is written before the logs close.
func TestHardStopEndsUpstreamWaits(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T) (conf string, u0 string, inWait func() bool, after func(t *testing.T))
		want  string // the access log line, U0 for the first server
	}{
		{"connecting", func(t *testing.T) (string, string, func() bool, func(*testing.T)) {
			addr := stuffedListener(t)
			conf := strings.Replace(abortTmpl, "  proxy_read_timeout: 60s", "  proxy_read_timeout: 60s\n  proxy_connect_timeout: 1h", 1)
			return conf, addr, func() bool { return synSent(t, addr) }, func(t *testing.T) {
				if synSent(t, addr) {
					t.Error("the dial is still in progress after Shutdown returned")
				}
			}
		}, `000 0 "GET /x HTTP/1.1" "U0" "-"`},
		{"reading the header", func(t *testing.T) (string, string, func() bool, func(*testing.T)) {
			held := startHeld(t)
			conf := strings.Replace(abortTmpl, "  proxy_read_timeout: 60s", "  proxy_read_timeout: 1h", 1)
			got := false
			return conf, held.addr(), func() bool {
					select {
					case <-held.heads:
						got = true
					default:
					}
					return got
				}, func(t *testing.T) {
					held.waitClosed(t, "(proxy_read_timeout is an hour)")
				}
		}, `000 0 "GET /x HTTP/1.1" "U0" "-"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conf, u0, inWait, after := c.setup(t)
			ok := upstream(t, upstreamsim.OK())
			dir := t.TempDir()
			conf = strings.NewReplacer("{IGNORE}", "off", "{TMP}", dir).Replace(conf)
			r := newRig(t, "info", conf, u0, ok.Addr())
			cl, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := io.WriteString(cl, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the request waiting on the upstream", 10*time.Second, inWait)
			hardStop(t, r)
			after(t)
			b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			if got := strings.ReplaceAll(string(b), u0, "U0"); got != c.want+"\n" {
				t.Errorf("access log %q, want %q\n%s", got, c.want+"\n", r.log())
			}
			if got := r.log(); strings.Contains(got, "[error]") || strings.Contains(got, "[warn]") || strings.Contains(got, "[info]") {
				t.Errorf("error log:\n%s\nwant no line for the stopped request", got)
			}
			if n := ok.Total(); n != 0 {
				t.Errorf("the second server got %d requests, want none", n)
			}
			noAnswer(t, cl)
		})
	}
}

// The pause before a same-server retry (proxy_next_upstream_backoff, an
// hour here) is cut short by a hard stop: no retry is made, and the access
// log has the failed attempt and the abandoned retry.
func TestHardStopCutsBackoff(t *testing.T) {
	r, u, _, br, alog := inBackoffPause(t)
	hardStop(t, r)
	if got := strings.ReplaceAll(alog(), u.Addr(), "U0"); got != `200 "U0" "200"`+"\n"+`000 "U0, U0" "502, -"`+"\n" {
		t.Errorf("access log:\n%s\nwant the reset attempt (502) and the abandoned retry (-), status 000", got)
	}
	if n := u.Hits("GET", "/boom"); n != 1 {
		t.Errorf("the upstream saw /boom %d times, want 1 (no retry once the stop came)", n)
	}
	noAnswer(t, br)
}

// hardStop runs a Shutdown whose drain deadline has already passed; it
// returns when Shutdown did, the logs closed.
func hardStop(t *testing.T, r *rig) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.p.Shutdown(ctx); err != context.Canceled {
		t.Fatalf("Shutdown: %v, want context.Canceled (out of time)", err)
	}
}

// noAnswer checks that the client's connection was closed with nothing
// more sent.
func noAnswer(t *testing.T, r io.Reader) {
	t.Helper()
	if c, ok := r.(net.Conn); ok {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	if b, err := io.ReadAll(r); len(b) > 0 || err != nil {
		t.Errorf("the client got %q (%v), want the connection closed without an answer", b, err)
	}
}
