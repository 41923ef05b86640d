package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// halfBody is what the held upstream sends of its body before it falls
// silent: more than one read of the relay, and the whole body (twice as
// much) more than proxy_buffers (8 4k), so that a buffered one streams
// through the spool. The client reads each byte: no temp file is due.
const halfBody = 24 << 10

// A client that resets while the upstream's body is read, the upstream
// silent after its first half: nginx notices the RST at once, buffered or
// not (its client read handler stays the upstream's broken-connection
// check), closes the upstream connection, writes
//
//	[info] epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too (104: Connection reset by peer) while reading upstream
//
// and logs the upstream's status with the bytes the client got (measured,
// nginx 1.22, difftest's sent-client-resets-midway*). The upstream
// connection must close long before proxy_read_timeout (60s), no failure
// is counted, no temp file stays, and no goroutine. A buffered body that
// fits proxy_buffers is read whole before its head goes out (respond's
// small body): its client has had nothing when it goes, and the line is
// the same.
func TestClientAbortDuringBody(t *testing.T) {
	for _, mode := range []struct {
		name, buffering string
		half            int // the upstream's first half; the body is twice as long
		sent            int // the body bytes the client gets
	}{
		{"unbuffered", "off", halfBody, halfBody},
		{"buffered", "on", halfBody, halfBody},
		{"buffered small body", "on", 4 << 10, 0},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			r, held, alog := bodyAbortRig(t, dir, mode.buffering, "off")
			var cl *net.TCPConn
			if mode.sent > 0 {
				cl = getHalf(t, r.addr, held, mode.half)
			} else {
				cl = sendAndWait(t, r.addr, held)
				held.answer <- fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 2*mode.half, strings.Repeat("a", mode.half))
				// The RST once the head is in: the proxy reads the body.
				testutil.Eventually(t, "the proxy reading the body", 10*time.Second, func() bool { return goroutineIn("proxy.readSmallBody") != "" })
			}
			_ = cl.SetLinger(0)
			_ = cl.Close()
			held.waitClosed(t, "after the client reset (proxy_read_timeout is 60s)")

			testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "\n") })
			want := fmt.Sprintf(`200 %d "GET /x HTTP/1.1" "U0" "200"`+"\n", mode.sent)
			if got := strings.ReplaceAll(alog(), held.addr(), "U0"); got != want {
				t.Errorf("access log %q, want %q", got, want)
			}
			line := `[info] 4242#4242: *1 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too (104: Connection reset by peer)` +
				` while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
			if got := r.log(); !strings.HasSuffix(got, line) || strings.Count(got, "\n") != 1 {
				t.Errorf("error log:\n%s\nwant only:\n%s", got, line)
			}
			m := scrape(t, r.p.MetricsAddr())
			if f := sumOf(m, "spillway_upstream_failures_total"); f != 0 {
				t.Errorf("%v upstream failures counted, want none: the client left", f)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "proxy", "*")); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
			// The exchange has finished (its line is written): neither the
			// watcher nor the spool's producer may still run.
			testutil.Eventually(t, "no watcher or producer left", 10*time.Second, func() bool {
				return goroutineIn("proxy.(*clientWatch).arm", "proxy.(*spoolStream).produce") == ""
			})
		})
	}
}

// proxy_ignore_client_abort on: nothing is watched, the exchange reads the
// upstream on after the client's RST and fails at its next write to the
// client, as nginx (difftest's sent-client-resets-midway-ignore-abort):
// the upstream connection is closed only once the upstream sent the rest.
func TestClientAbortDuringBodyIgnored(t *testing.T) {
	for _, buffering := range []string{"off", "on"} {
		t.Run("proxy_buffering "+buffering, func(t *testing.T) {
			r, held, alog := bodyAbortRig(t, t.TempDir(), buffering, "on")
			cl := getHalf(t, r.addr, held, halfBody)
			_ = cl.SetLinger(0)
			_ = cl.Close()
			held.more <- strings.Repeat("b", halfBody) // the rest: its write to the client fails
			held.waitClosed(t, "after the rest was relayed to a client that had gone")
			testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return strings.Contains(alog(), "/x") })
			if got := strings.ReplaceAll(alog(), held.addr(), "U0"); !strings.HasPrefix(got, `200 `) || !strings.HasSuffix(got, `"GET /x HTTP/1.1" "U0" "200"`+"\n") {
				t.Errorf("access log %q, want the upstream's 200", got)
			}
			// nginx's own line for the failed write, in its action of the
			// moment: an unbuffered body is written from the upstream's
			// read handler (measured, nginx 1.22, difftest's
			// sent-client-resets-midway-ignore-abort).
			action := "sending to client"
			if buffering == "off" {
				action = "reading upstream"
			}
			// The first write after the RST gets ECONNRESET, a later one
			// EPIPE: which one fails depends on what was written before.
			line := `[info] 4242#4242: *1 writev() failed (104: Connection reset by peer) while ` + action +
				`, client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", upstream: "http://U0/x", host: "localhost"` + "\n"
			got := strings.ReplaceAll(r.log(), held.addr(), "U0")
			got = strings.Replace(got, "(32: Broken pipe)", "(104: Connection reset by peer)", 1)
			if !strings.HasSuffix(got, line) || strings.Count(got, "\n") != 1 {
				t.Errorf("error log:\n%s\nwant the write's failure only:\n%s", got, line)
			}
		})
	}
}

// A kept-alive client's next request is not taken for a close: the watch
// ended with the body, and a second request on the same connection, a
// pipelined one included, gets its answer.
func TestClientWatchEndsWithBody(t *testing.T) {
	for _, buffering := range []string{"off", "on"} {
		t.Run("proxy_buffering "+buffering, func(t *testing.T) {
			u := upstream(t, slowBodyBehavior())
			dir := t.TempDir()
			conf := strings.NewReplacer("{IGNORE}", "off", "{TMP}", dir).Replace(abortTmpl)
			conf = strings.Replace(conf, "http:\n", "http:\n  proxy_buffering: "+buffering+"\n", 1)
			r := newRig(t, "info", conf, u.Addr(), u.Addr())
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			// The body takes longer than clientWatchDelay: the watch is armed.
			for i := range 3 {
				req := "GET /size/64k HTTP/1.1\r\nHost: localhost\r\n\r\n"
				if i == 1 {
					req += req // pipelined behind the second
				}
				if i < 2 {
					if _, err := io.WriteString(c, req); err != nil {
						t.Fatal(err)
					}
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d: %v\n%s", i+1, err, r.log())
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || n != 64<<10 {
					t.Fatalf("answer %d: %d, %d bytes, %v", i+1, resp.StatusCode, n, err)
				}
			}
			if strings.Contains(r.log(), "closed") {
				t.Errorf("error log:\n%s", r.log())
			}
		})
	}
}

// bodyAbortRig is abortRig with proxy_buffering set and its temp files
// under dir/proxy.
func bodyAbortRig(t *testing.T, dir, buffering, ignore string) (*rig, *heldUpstream, func() string) {
	t.Helper()
	held := startHeld(t)
	ok := upstream(t)
	conf := strings.NewReplacer("{IGNORE}", ignore, "{TMP}", dir).Replace(abortTmpl)
	conf = strings.Replace(conf, "http:\n", "http:\n  proxy_buffering: "+buffering+"\n", 1)
	r := newRig(t, "info", conf, held.addr(), ok.Addr())
	alog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		return string(b)
	}
	return r, held, alog
}

// getHalf sends GET /x, has the held upstream answer with the head and
// the first half of its body, and returns once the client has read them.
func getHalf(t *testing.T, addr string, held *heldUpstream, half int) *net.TCPConn {
	t.Helper()
	cl := sendAndWait(t, addr, held)
	held.answer <- fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 2*half, strings.Repeat("a", half))
	br := bufio.NewReader(cl)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, half)); err != nil {
		t.Fatalf("the first half: %v", err)
	}
	return cl
}

// slowBodyBehavior answers GET /size/N with its body in two halves, each
// after a pause longer than clientWatchDelay: the watch is armed while
// the body is read.
func slowBodyBehavior() upstreamsim.Behavior {
	return upstreamsim.Behavior{Kind: upstreamsim.KindSlowBody, D: 20 * time.Millisecond, Chunks: 2}
}

// goroutineIn returns the stack of a goroutine running any of fns, "" when
// none is.
func goroutineIn(fns ...string) string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range fns {
			if strings.Contains(g, f) {
				return g
			}
		}
	}
	return ""
}

// A client that closes as soon as it has the whole body, while the watch
// is armed: it may close before the exchange has seen the upstream body's
// end (nginx, one thread, always sees the end first). That is no abort:
// no line, and the upstream connection stays in the keepalive cache.
// The race is rare in one request; thirty on new client connections, each
// closed right after its last byte, give it the chance to show.
func TestClientClosesAfterWholeBody(t *testing.T) {
	for _, buffering := range []string{"off", "on"} {
		t.Run("proxy_buffering "+buffering, func(t *testing.T) {
			u := upstream(t, slowBodyBehavior())
			dir := t.TempDir()
			conf := strings.NewReplacer("{TMP}", dir, "{BUF}", buffering).Replace(`
error_log: {path: stderr, level: info}
http:
  proxy_read_timeout: 60s
  proxy_buffering: {BUF}
  proxy_temp_path: {TMP}/proxy
  upstreams:
    app:
      keepalive: 4
      servers:
        - address: {U0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {TMP}/access.log}
      locations:
        - path: /
          proxy_pass: http://app
          proxy_http_version: "1.1"
          proxy_set_header: ["Connection \"\""]
`)
			r := newRig(t, "info", conf, u.Addr())
			lines := func() int {
				b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
				return strings.Count(string(b), "\n")
			}
			for i := range 30 {
				c, err := net.Dial("tcp", r.addr)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "GET /size/64k HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("answer %d: %v\n%s", i+1, err, r.log())
				}
				n, err := io.Copy(io.Discard, resp.Body)
				c.Close() // at once: the proxy may not have seen the body's end yet
				if err != nil || resp.StatusCode != 200 || n != 64<<10 {
					t.Fatalf("answer %d: %d, %d bytes, %v", i+1, resp.StatusCode, n, err)
				}
				// The exchange is over (its connection released) once its
				// access-log line is written.
				testutil.Eventually(t, "the access log line", 10*time.Second, func() bool { return lines() == i+1 })
			}
			if strings.Contains(r.log(), "prematurely closed") {
				t.Errorf("a client that had the whole body was taken for one that left:\n%s", r.log())
			}
			if n := u.Conns(); n != 1 {
				t.Errorf("upstream connections = %d, want 1: each was kept\n%s", n, r.log())
			}
		})
	}
}
