package proxy_test

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// Deadlines are renewed lazily (within 1/16 of the timeout). A pooled
// connection that sat idle past proxy_read_timeout must still be probed and
// reused (its expired deadline is cleared first), and a slow upstream must
// still time out on the reused connection.
func TestReusedConnectionDeadlines(t *testing.T) {
	u := upstream(t, upstreamsim.SlowHeader(400*time.Millisecond).At("/slow"))
	yaml := strings.Replace(keepaliveTmpl, "http:\n", "http:\n  proxy_read_timeout: 100ms\n", 1)
	r := newRig(t, "error", yaml, u.Addr())
	if status, _ := r.do("GET", "/size/10", nil); status != 200 {
		t.Fatalf("first request: %d", status)
	}
	time.Sleep(150 * time.Millisecond)                                  // the workload: idle past proxy_read_timeout
	if status, _ := r.do("POST", "/echo", []byte("x")); status != 200 { // a POST always probes
		t.Fatalf("request on the idle connection: %d\n%s", status, r.elog.String())
	}
	if u.Conns() != 1 {
		t.Fatalf("%d upstream connections, want the first one reused", u.Conns())
	}
	start := time.Now()
	if status, _ := r.do("GET", "/slow", nil); status != 504 {
		t.Fatalf("slow upstream on a reused connection: %d, want 504", status)
	}
	// 504 before the upstream's 400ms proves the timeout fired; not before
	// ~100ms proves it was not a stale deadline left from earlier.
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Fatalf("timed out after %v, want about proxy_read_timeout (100ms)", took)
	}
}

// send_timeout (renewed lazily, like the upstream deadlines) still closes a
// client that stops reading: the proxy gives up on it, releases the spool
// and its temp file, and the client finds its body cut short.
func TestSendTimeoutClosesStalledClient(t *testing.T) {
	const size = 8 << 20
	u := upstream(t, upstreamsim.OK())
	d := newBTDirs(t)
	r := newRig(t, "error", btYAML(d, 1, false, "send_timeout: 200ms"), u.Addr())
	c := btDialSlow(t, r.addr)
	resp, _ := btGet(t, c, "/size/"+strconv.Itoa(size))
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("%d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	// The client reads nothing more; the proxy must give up on it and
	// free what the response held.
	testutil.Eventually(t, "the stalled response to be dropped", 5*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.FilesOpen == 0 && st.ChunksInUse == 0 && st.FilesCreated > 0
	})
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= size {
		t.Fatalf("client read %d of %d bytes (%v); want the body cut short after send_timeout", n, size, err)
	}
}
