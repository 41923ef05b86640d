//go:build linux

package proxy_test

// The deadlines of a kept-alive connection's wait (conn.go): parked, the
// socket has no read deadline (the poller's timer is keepalive_timeout),
// and client_header_timeout is set only when the next head does not come
// whole with the wake, as nginx arms it at the first read of a head that
// finds nothing.

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readOK reads a response to a request on c: 200 with the recording
// origin's "ok".
func readOK(t *testing.T, c io.ReadWriter, req string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\n"
	b := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for !strings.HasSuffix(string(b), "\r\n\r\nok") {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			t.Fatalf("after %q: %v", b, err)
		}
	}
	if !strings.HasPrefix(string(b), want) {
		t.Fatalf("got %q, want %q first", b, want)
	}
}

// The second head of a kept-alive connection, trickled a byte every 50ms,
// is cut off after client_header_timeout (300ms) as the first one is
// (TestSlowlorisHeaderTimeout): the deadline is set when the part that came
// with the wake is not the whole head, and not renewed per read.
func TestSlowlorisKeptAlive(t *testing.T) {
	o := newRecordingOrigin(t)
	r, _ := slowRig(t, "300ms", nil, "{U0}", o.ln.Addr().String())
	c := btDial(t, r.addr)
	readOK(t, c, "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n")
	stop := make(chan struct{})
	sent := trickle(c, "GET /b HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", 50*time.Millisecond, stop)
	got, err := readUntilClosed(t, c)
	close(stop)
	n := <-sent
	if len(got) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("the client got %q and %v; want nothing, then the connection closed", got, err)
	}
	t.Logf("the client trickled %d header bytes before the proxy closed", n)
	access := r.accessLog()
	want := []string{`200 2 "GET /a HTTP/1.1" 1`, `408 0 "GET /b HTTP/1.1" 1`}
	if strings.Join(access, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log %q, want %q", access, want)
	}
	wantLog(t, r.rig, `[info] 4242#4242: *1 client timed out (110: Connection timed out) while reading client request headers, client: 127.0.0.1, server: localhost, request: "GET /b HTTP/1.1", host: "localhost"`)
}

// A request body read past the read buffer sets client_body_timeout
// (300ms) on the socket; the connection then waits, parked, longer than
// that: its next request is served, the old deadline gone with the wait.
func TestBodyDeadlineGoneWhileParked(t *testing.T) {
	o := newRecordingOrigin(t)
	r, _ := slowRig(t, "5s", nil, "{U0}", o.ln.Addr().String())
	c := btDial(t, r.addr)
	body := strings.Repeat("b", 64<<10) // past the 32 KiB read buffer: read under client_body_timeout
	readOK(t, c, "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\n\r\n"+body)
	// Idle past the body's deadline: the workload, not a synchronisation.
	time.Sleep(600 * time.Millisecond)
	readOK(t, c, "GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n")
	access := r.accessLog()
	want := []string{`200 2 "POST /a HTTP/1.1" 1`, `200 2 "GET /b HTTP/1.1" 1`}
	if strings.Join(access, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log %q, want %q", access, want)
	}
}
