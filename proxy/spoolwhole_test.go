//go:build linux

package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

// A body over the proxy buffers (8 x 4k) but within a copy buffer, all in
// the upstream's socket with its head, is read and written by the client
// connection's goroutine (spoolStream's spoolWhole): the upstream is
// released at once, the client that keeps up gets the head and the body
// in one write, and only what a slow client does not take goes through
// the spool, with nginx's temp file and warning.

// wholeOrigin answers every request on its kept-alive connections with
// the head and a Content-Length body of size bytes (btPattern) in one
// write, followed by extra bytes past the body when extra > 0. It counts
// the connections it accepted.
type wholeOrigin struct {
	addr     string
	accepted atomic.Int64
}

func startWholeOrigin(t *testing.T, size, extra int) *wholeOrigin {
	t.Helper()
	o := &wholeOrigin{}
	body := []byte(strings.Repeat(btPattern, size/len(btPattern)+1)[:size])
	msg := append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"), body...)
	msg = append(msg, strings.Repeat("X", extra)...)
	o.addr = keptAliveOrigin(t, 20*time.Second, func(net.Conn) { o.accepted.Add(1) }, func(c net.Conn) bool {
		_, err := c.Write(msg)
		return err == nil
	})
	return o
}

// wholeRig is btYAML's proxy (proxy_buffers 8 4k, upstream keepalive) with
// an access log of the figures a body read whole must keep.
func wholeRig(t *testing.T, o *wholeOrigin) (*rig, btDirs, string) {
	t.Helper()
	d := newBTDirs(t)
	alog := filepath.Join(t.TempDir(), "access.log")
	y := strings.Replace(btYAML(d, 1, true), "access_log: off",
		"access_log: {path: "+alog+", format: '$status $bytes_sent $body_bytes_sent $upstream_status'}", 1)
	return newRig(t, "warn", y, o.addr), d, alog
}

// A client that keeps up: three answers on one client connection, each
// whole and framed right, from one upstream connection kept alive
// between them (released at once, before the client's next request), and
// logged with nginx's figures: $bytes_sent the head and body,
// $body_bytes_sent the body. Nothing is buffered or logged.
func TestSpoolWholeKeepsUp(t *testing.T) {
	const size = 64 << 10
	o := startWholeOrigin(t, size, 0)
	r, d, alog := wholeRig(t, o)
	c := btDial(t, r.addr)
	br := bufio.NewReader(c)
	var heads []int
	for i := range 3 {
		if _, err := io.WriteString(c, "GET /w HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		head := rawHead(t, br)
		if !strings.HasPrefix(string(head), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(head), "Content-Length: 65536\r\n") {
			t.Fatalf("request %d: head %q", i, head)
		}
		heads = append(heads, len(head))
		v := &btBodyCheck{}
		if _, err := io.CopyN(v, br, size); err != nil {
			t.Fatalf("request %d: body: %v after %d bytes", i, err, v.n)
		}
	}
	if n := o.accepted.Load(); n != 1 {
		t.Errorf("the origin accepted %d connections, want 1 (kept alive)", n)
	}
	testutil.Eventually(t, "three access log lines", 5*time.Second, func() bool {
		b, _ := os.ReadFile(alog)
		return strings.Count(string(b), "\n") == 3
	})
	b, _ := os.ReadFile(alog)
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		want := fmt.Sprintf("200 %d %d 200", heads[i]+size, size)
		if l != want {
			t.Errorf("access log line %d: %q, want %q", i, l, want)
		}
	}
	if st := r.p.BufferStats(); st.FilesCreated != 0 || st.ChunksInUse != 0 {
		t.Errorf("buffers used: %+v", st)
	}
	if log := r.log(); log != "" {
		t.Errorf("error log:\n%s", log)
	}
	btEmptyDir(t, d.proxy)
}

// A client that does not read: three pipelined answers, the first of
// which fills the sockets, so that the next ones find the client's
// socket full. What the client does not take at once goes through the
// spool as any body the client is slower than: its 8 buffers, then the
// temp file with nginx's warning; the client then gets every byte of the
// three answers, from one upstream connection.
func TestSpoolWholeSlowClientSpills(t *testing.T) {
	const size = 90 << 10
	o := startWholeOrigin(t, size, 0)
	r, d, _ := wholeRig(t, o)
	c := btDialSlow(t, r.addr)
	if _, err := io.WriteString(c, strings.Repeat("GET /w HTTP/1.1\r\nHost: localhost\r\n\r\n", 3)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "an answer to spill", 5*time.Second, func() bool {
		return r.p.BufferStats().FilesCreated >= 1
	})
	if st := r.p.BufferStats(); st.ChunksInUse > 8 {
		t.Errorf("%d chunks in use, want at most 8", st.ChunksInUse)
	}
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("answer %d: %v %v", i, resp, err)
		}
		v := &btBodyCheck{}
		if _, err := io.Copy(v, resp.Body); err != nil || v.n != size {
			t.Fatalf("answer %d: client got %d of %d bytes: %v", i, v.n, size, err)
		}
	}
	testutil.Eventually(t, "the spool to be released", 5*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.FilesOpen == 0 && st.ChunksInUse == 0
	})
	st := r.p.BufferStats()
	if n := strings.Count(r.log(), "an upstream response is buffered to a temporary file"); int64(n) != st.FilesCreated {
		t.Errorf("%d temp-file warnings for %d files; log:\n%s", n, st.FilesCreated, r.log())
	}
	if st.PeakBytesInUse > 8*4096 {
		t.Errorf("peak memory %d bytes, want at most 8 chunks of 4k", st.PeakBytesInUse)
	}
	if n := o.accepted.Load(); n != 1 {
		t.Errorf("the origin accepted %d connections, want 1 (kept alive)", n)
	}
	btEmptyDir(t, d.proxy)
}

// Bytes past the Content-Length in the same socket: nginx's warning, and
// the upstream connection is not reused (a second request dials again);
// the client gets the body as declared.
func TestSpoolWholeOverrun(t *testing.T) {
	const size = 64 << 10
	o := startWholeOrigin(t, size, 10)
	r, _, _ := wholeRig(t, o)
	c := btDial(t, r.addr)
	for i := range 2 {
		resp, body := btGet(t, c, "/w")
		v := &btBodyCheck{}
		if _, err := io.CopyN(v, body, size); err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %d, body %v after %d bytes", i, resp.StatusCode, err, v.n)
		}
	}
	if n := strings.Count(r.log(), `upstream sent more data than specified in "Content-Length" header`); n != 2 {
		t.Errorf("%d overrun warnings, want 2; log:\n%s", n, r.log())
	}
	if n := o.accepted.Load(); n != 2 {
		t.Errorf("the origin accepted %d connections, want 2 (none reused after an overrun)", n)
	}
}
