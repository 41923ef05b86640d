//go:build linux

package proxy_test

// End-to-end checks of response and request-body buffering against what
// nginx 1.22.1 does with its temp files, as measured against a real nginx: a slow
// client makes the response spill to proxy_temp_path while the upstream
// connection goes back to the keepalive cache; the memory budget holds under
// many concurrent spilled responses; proxy_max_temp_file_size 0,
// proxy_buffering off and X-Accel-Buffering: no never create a file; broken
// temp dirs give nginx's [crit] line and status; request bodies spill to
// client_body_temp_path and are replayed on a retry; aborted requests leak
// neither chunks nor files; proxy_request_buffering off streams the body once.
//
// Every socket is on 127.0.0.1. Tests wait on observable state with a
// deadline (testutil.Eventually), never on a sleep. The file is Linux-only: the slow
// clients set SO_RCVBUF before connect, and the errno texts are Linux's.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// btPattern is bench's body pattern: byte i of every /size/N body (and of
// btOrigin's bodies) is btPattern[i%64]. TestBufferingBenchPattern checks it.
const btPattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"

// btBodyCheck is an io.Writer that checks that what it gets continues the
// pattern from byte 0, and counts it.
type btBodyCheck struct{ n int64 }

func (v *btBodyCheck) Write(p []byte) (int, error) {
	for i, b := range p {
		if want := btPattern[(v.n+int64(i))%int64(len(btPattern))]; b != want {
			v.n += int64(i)
			return i, fmt.Errorf("body byte %d is %q, want %q", v.n, b, want)
		}
	}
	v.n += int64(len(p))
	return len(p), nil
}

// btProducers counts the live response producers: goroutines running
// (*spoolStream).produce. A producer releases its upstream connection (to the
// keepalive cache, or closed) before it exits (spool.go: x.release, then the
// deferred close(done)), so when the count is back to what it was before a
// test's requests, every upstream body of the test is fully in its spool and
// every upstream connection has been released. Nothing else in the proxy's
// API shows that moment.
func btProducers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Count(buf, []byte("\nspillway/proxy.(*spoolStream).produce("))
}

// btOrigin is a raw keepalive HTTP/1.1 origin that answers every request
// with size pattern bytes (and extra header lines), counting the body bytes
// its writes have handed to the kernel: how far it got shows how much the
// proxy has taken off it.
type btOrigin struct {
	addr    string
	written atomic.Int64
}

func startBTOrigin(t *testing.T, size int64, extraHead string) *btOrigin {
	t.Helper()
	slab := []byte(strings.Repeat(btPattern, (16<<10)/len(btPattern)))
	o := &btOrigin{}
	o.addr = keptAliveOrigin(t, 20*time.Second, nil, func(c net.Conn) bool {
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.FormatInt(size, 10) + "\r\n" + extraHead + "\r\n"
		if _, err := io.WriteString(c, head); err != nil {
			return false
		}
		for left := size; left > 0; {
			k := min(left, int64(len(slab)))
			n, err := c.Write(slab[:k])
			o.written.Add(int64(n))
			left -= int64(n)
			if err != nil {
				return false
			}
		}
		return true
	})
	return o
}

// keptAliveOrigin is a raw HTTP/1.1 origin on 127.0.0.1: on each
// connection it accepts (told to accepted first, when not nil) it reads a
// request head to its blank line (the tests send no bodies) and calls
// answer, until answer returns false or the connection fails; each
// connection has idle as its deadline. The test's cleanup closes the
// listener and every connection (a write blocked on a proxy that stopped
// reading returns), and waits for their goroutines.
func keptAliveOrigin(t *testing.T, idle time.Duration, accepted func(net.Conn), answer func(c net.Conn) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted != nil {
				accepted(c)
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(idle))
				br := bufio.NewReader(c)
				for {
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					if !answer(c) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// The helpers' idea of the body matches bench's: /size/N is btPattern
// repeated.
func TestBufferingBenchPattern(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	resp, err := http.Get(u.URL() + "/size/200000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	v := &btBodyCheck{}
	if _, err := io.Copy(v, resp.Body); err != nil || v.n != 200000 {
		t.Fatalf("bench body: %d bytes, %v", v.n, err)
	}
}

// 1. A slow client and a 16 MiB response with proxy_buffers 4 4k: the body
// spills to proxy_temp_path (nginx's warn line, once), the upstream
// connection goes back to the keepalive cache while the client is still
// paused (a second request reuses it), the client then gets every byte, and
// afterwards no file or chunk is left.
func TestSlowClientSpillsAndReleasesUpstream(t *testing.T) {
	const size = 16 << 20
	u := upstream(t, upstreamsim.OK())
	d := newBTDirs(t)
	r := newRig(t, "warn", btYAML(d, 1, true, "proxy_buffers: 4 4k"), u.Addr())
	base := btProducers()

	c := btDialSlow(t, r.addr)
	resp, _ := btGet(t, c, "/size/16m")
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("got %d with Content-Length %d, want 200 with %d", resp.StatusCode, resp.ContentLength, size)
	}
	v := &btBodyCheck{}
	if _, err := io.CopyN(v, resp.Body, 1000); err != nil {
		t.Fatalf("first 1000 bytes: %v", err)
	}
	// The client stops reading here.

	// (a) The proxy buffers the rest in a temp file.
	testutil.Eventually(t, "the response to spill to a temp file", 5*time.Second, func() bool {
		return r.p.BufferStats().FilesOpen == 1
	})
	// (b) The whole body gets buffered and the upstream connection released
	// while the client has read only 1000 bytes.
	testutil.Eventually(t, "the producer to finish (body fully buffered, upstream released)", 5*time.Second, func() bool {
		return btProducers() <= base
	})
	if st := r.p.BufferStats(); st.FilesOpen != 1 || st.FilesCreated != 1 || st.BytesSpilled == 0 {
		t.Fatalf("while the client is paused: %+v, want the one temp file still open", st)
	}
	if status, body := r.do("GET", "/size/1000", nil); status != 200 || len(body) != 1000 {
		t.Fatalf("second request while the first client is paused: %d, %d bytes", status, len(body))
	}
	if n := u.Conns(); n != 1 {
		t.Fatalf("upstream accepted %d connections, want 1: the second request did not reuse the released connection", n)
	}
	if u.Hits("GET", "/size/1000") != 1 {
		t.Fatalf("the second request did not reach the upstream")
	}
	// The temp file is unlinked as soon as it is created (nginx does the same).
	btEmptyDir(t, d.proxy)
	want := btLogLine(`[warn] 4242#4242: *1 an upstream response is buffered to a temporary file ` + d.proxy +
		`/0000000001 while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /size/16m HTTP/1.1", upstream: "http://U0/size/16m", host: "localhost"`)
	if got := r.log(); got != want {
		t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
	}

	// (c) The client reads the rest: every byte, in order.
	if _, err := io.Copy(v, resp.Body); err != nil || v.n != size {
		t.Fatalf("client got %d of %d bytes: %v", v.n, size, err)
	}

	// (d) Nothing is left.
	testutil.Eventually(t, "the spool to be released", 5*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.FilesOpen == 0 && st.ChunksInUse == 0
	})
	btEmptyDir(t, d.proxy)
	if got := r.log(); got != want {
		t.Errorf("error log after the body\n--- got\n%s--- want (nginx)\n%s", got, want)
	}
}

// 2. buffer_memory_limit holds with many concurrent spilled responses:
// memory never exceeds the budget plus one chunk per response, and every
// body still arrives intact.
func TestBufferMemoryBudget(t *testing.T) {
	const (
		n     = 50
		size  = 512 << 10
		limit = 256 << 10
		chunk = 4 << 10
	)
	// The body comes in four pieces 10ms apart: a fast upstream would hand
	// over the whole body before the client's socket is full, the spool
	// would put all but proxy_buffers in its file at once, and the chunks
	// would be free again by the time the client stalls. Pieces that arrive
	// after the client stalled fill the spools' chunks (memory first) and
	// keep them: 50 responses want 200 chunks from a budget of 64.
	slow := upstreamsim.SlowBody(10 * time.Millisecond)
	slow.Chunks = 4
	u := upstream(t, slow)
	d := newBTDirs(t)
	r := newRig(t, "error", btYAML(d, 1, false, "proxy_buffers: 4 4k", "buffer_memory_limit: 256k"), u.Addr())
	base := btProducers()

	type client struct {
		resp *http.Response
	}
	clients := make([]client, n)
	for i := range clients {
		c := btDialSlow(t, r.addr)
		resp, _ := btGet(t, c, "/size/"+strconv.Itoa(size))
		if resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("client %d: %d, Content-Length %d", i, resp.StatusCode, resp.ContentLength)
		}
		clients[i].resp = resp
	}
	// Nobody reads a body byte until every upstream body is in the proxy.
	testutil.Eventually(t, "every response to be fully buffered", 10*time.Second, func() bool {
		return btProducers() <= base
	})
	st := r.p.BufferStats()
	if max := int64(limit + n*chunk); st.PeakBytesInUse > max {
		t.Errorf("peak memory %d bytes > budget %d + one chunk per response = %d", st.PeakBytesInUse, limit, max)
	}
	if st.Denied == 0 || st.PeakBytesInUse < limit || st.FilesCreated != n {
		t.Errorf("the budget was never under pressure (%+v): the test proves nothing", st)
	}
	if st.BytesInUse > limit+n*chunk {
		t.Errorf("memory in use %d > %d", st.BytesInUse, limit+n*chunk)
	}
	t.Logf("after buffering: %+v", st)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &btBodyCheck{}
			if _, err := io.Copy(v, cl.resp.Body); err != nil || v.n != size {
				errs <- fmt.Errorf("client %d: %d of %d bytes: %v", i, v.n, size, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	testutil.Eventually(t, "all chunks and files to be released", 5*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.ChunksInUse == 0 && st.FilesOpen == 0 && st.BytesInUse == 0
	})
	if st := r.p.BufferStats(); st.PeakBytesInUse > limit+n*chunk {
		t.Errorf("peak memory %d bytes > %d", st.PeakBytesInUse, limit+n*chunk)
	}
	btEmptyDir(t, d.proxy)
}

// 3. No temp file with proxy_max_temp_file_size 0, proxy_buffering off or
// an upstream "X-Accel-Buffering: no", even for a client much slower than
// the upstream; with buffering on and the same pause, there is one (the
// control case, which shows that the pause is long enough to spill).
func TestNoTempFileWhenSpillingIsOff(t *testing.T) {
	const size = 4 << 20
	// How far the origin must have got while the client is paused: more
	// than proxy_buffers (16k) and the client's window, so that a buffering
	// proxy would have had to spill by then (the control case shows it
	// does), and little enough to fit the kernel buffers between the origin
	// and a proxy that does not read (at least the initial 128k receive
	// buffer; about 4 MiB were measured on loopback).
	const paused = 64 << 10
	cases := []struct {
		name      string
		http      []string
		header    string
		wantFile  bool
		maxChunks int64
	}{
		{"buffering_on_control", []string{"proxy_buffers: 4 4k"}, "", true, 4},
		{"max_temp_file_size_0", []string{"proxy_buffers: 4 4k", "proxy_max_temp_file_size: 0"}, "", false, 4},
		{"proxy_buffering_off", []string{"proxy_buffers: 4 4k", "proxy_buffering: off"}, "", false, 0},
		{"x_accel_buffering_no", []string{"proxy_buffers: 4 4k"}, "X-Accel-Buffering: no\r\n", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startBTOrigin(t, size, tc.header)
			d := newBTDirs(t)
			r := newRig(t, "warn", btYAML(d, 1, true, tc.http...), o.addr)
			c := btDialSlow(t, r.addr)
			resp, _ := btGet(t, c, "/big")
			if resp.StatusCode != 200 || resp.ContentLength != size {
				t.Fatalf("got %d with Content-Length %d", resp.StatusCode, resp.ContentLength)
			}
			if h := resp.Header.Get("X-Accel-Buffering"); h != "" {
				t.Errorf("X-Accel-Buffering reached the client (%q); nginx hides it", h)
			}
			v := &btBodyCheck{}
			if _, err := io.CopyN(v, resp.Body, 1000); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, fmt.Sprintf("the origin to send %d bytes while the client is paused", paused), 5*time.Second, func() bool {
				return o.written.Load() >= paused
			})
			if tc.wantFile {
				testutil.Eventually(t, "the control response to spill", 5*time.Second, func() bool {
					return r.p.BufferStats().FilesCreated == 1
				})
			}
			if st := r.p.BufferStats(); st.ChunksInUse > tc.maxChunks {
				t.Errorf("%d chunks in use, want at most %d", st.ChunksInUse, tc.maxChunks)
			}
			if _, err := io.Copy(v, resp.Body); err != nil || v.n != size {
				t.Fatalf("client got %d of %d bytes: %v", v.n, size, err)
			}
			testutil.Eventually(t, "the spool to be released", 5*time.Second, func() bool {
				st := r.p.BufferStats()
				return st.FilesOpen == 0 && st.ChunksInUse == 0
			})
			st := r.p.BufferStats()
			if st.PeakBytesInUse > tc.maxChunks*4096 {
				t.Errorf("peak memory %d bytes, want at most %d chunks of 4k", st.PeakBytesInUse, tc.maxChunks)
			}
			log := r.log()
			if tc.wantFile {
				if st.FilesCreated != 1 || strings.Count(log, "an upstream response is buffered to a temporary file") != 1 {
					t.Errorf("control: %d files, log\n%s", st.FilesCreated, log)
				}
			} else if st.FilesCreated != 0 || st.BytesSpilled != 0 || log != "" {
				t.Errorf("a temp file was used: %+v\nlog:\n%s", st, log)
			}
			btEmptyDir(t, d.proxy)
		})
	}
}

// btNotDir returns a path under a regular file: open() in it fails with
// ENOTDIR (20: Not a directory).
func btNotDir(t *testing.T, name string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "regular_file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(f, name)
}

// 4. A temp dir that cannot be used: for a response, nginx's
// `[crit] open() "..." failed (20: Not a directory) while reading upstream`
// and a truncated 200 (the connection is closed); for a request body that
// does not fit client_body_buffer_size, the same line without `while` and a
// 500, the upstream never contacted.
func TestBrokenTempDir(t *testing.T) {
	t.Run("response", func(t *testing.T) {
		const size = 4 << 20
		u := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		d.proxy = btNotDir(t, "proxy_temp")
		r := newRig(t, "info", btYAML(d, 1, false, "proxy_buffers: 4 4k"), u.Addr())
		c := btDialSlow(t, r.addr)
		resp, br := btGet(t, c, "/size/4m")
		if resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("got %d with Content-Length %d, want 200 with %d", resp.StatusCode, resp.ContentLength, size)
		}
		testutil.Eventually(t, "the [crit] line", 5*time.Second, func() bool { return strings.Contains(r.elog.String(), "[crit]") })
		v := &btBodyCheck{}
		_, err := io.Copy(v, resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || v.n >= size {
			t.Fatalf("client got %d of %d bytes (%v), want a truncated body", v.n, size, err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the truncated body: %v, want the connection closed with FIN (EOF)", err)
		}
		want := btLogLine(`[crit] 4242#4242: *1 open() "` + d.proxy + `/0000000001" failed (20: Not a directory) while reading upstream, client: 127.0.0.1, server: localhost, request: "GET /size/4m HTTP/1.1", upstream: "http://U0/size/4m", host: "localhost"`)
		if got := r.log(); got != want {
			t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
		}
		testutil.Eventually(t, "the spool to be released", 5*time.Second, func() bool {
			st := r.p.BufferStats()
			return st.FilesOpen == 0 && st.ChunksInUse == 0
		})
		if st := r.p.BufferStats(); st.FilesCreated != 0 {
			t.Errorf("%d temp files created", st.FilesCreated)
		}
	})
	t.Run("request_body", func(t *testing.T) {
		u := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		d.client = btNotDir(t, "client_temp")
		r := newRig(t, "info", btYAML(d, 1, false, "client_body_buffer_size: 8k", "client_body_memory_max: 0"), u.Addr())
		c := btDial(t, r.addr)
		body := btRandom(64 << 10)
		if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\n\r\n"+string(body)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		page, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || !bytes.Contains(page, []byte("<title>500 Internal Server Error</title>")) {
			t.Errorf("got %d %q, want 500 and the error page", resp.StatusCode, page)
		}
		if !resp.Close {
			t.Errorf("500 without Connection: close (nginx closes)")
		}
		want := btLogLine(`[crit] 4242#4242: *1 open() "` + d.client + `/0000000001" failed (20: Not a directory), client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", host: "localhost"`)
		if got := r.log(); got != want {
			t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
		}
		if u.Conns() != 0 {
			t.Errorf("upstream contacted (%d connections)", u.Conns())
		}
		testutil.Eventually(t, "the body buffer to be released", 5*time.Second, func() bool {
			st := r.p.BufferStats()
			return st.FilesOpen == 0 && st.ChunksInUse == 0
		})
	})
}

// 5. A request body bigger than client_body_buffer_size goes to
// client_body_temp_path with nginx's warn line (no `while`, no upstream) and
// reaches the upstream byte for byte; on a retry it is replayed in full.
func TestRequestBodySpill(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		u := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		r := newRig(t, "warn", btYAML(d, 1, false, "client_body_buffer_size: 8k", "client_body_memory_max: 0"), u.Addr())
		// 24 KiB: more than client_body_buffer_size, and an echo that fits
		// the default proxy_buffers (8 4k), so that the response is read at
		// once and cannot spill (nginx: timing-dependent for a fast client).
		body := btRandom(24 << 10)
		status, got := r.do("POST", "/echo", body)
		if status != 200 || !bytes.Equal(got, body) {
			t.Fatalf("echo: %d, %d bytes back, identical=%v", status, len(got), bytes.Equal(got, body))
		}
		if bs := u.Bodies("POST", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
			t.Errorf("the upstream did not get the client's bytes")
		}
		want := btLogLine(`[warn] 4242#4242: *1 a client request body is buffered to a temporary file ` + d.client +
			`/0000000001, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", host: "PROXY"`)
		if got := r.log(); got != want {
			t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
		}
		// A body that fits is not written to a file.
		if status, got := r.do("POST", "/echo", body[:4<<10]); status != 200 || !bytes.Equal(got, body[:4<<10]) {
			t.Fatalf("small echo: %d, %d bytes", status, len(got))
		}
		testutil.Eventually(t, "the body buffers to be released", 5*time.Second, func() bool {
			st := r.p.BufferStats()
			return st.FilesOpen == 0 && st.ChunksInUse == 0
		})
		if st := r.p.BufferStats(); st.FilesCreated != 1 {
			t.Errorf("%d temp files created, want 1", st.FilesCreated)
		}
		btEmptyDir(t, d.client)
	})
	// PUT is idempotent: after the first server resets, the spilled body is
	// sent again, in full, to the second.
	t.Run("retry_PUT", func(t *testing.T) {
		u0 := upstream(t, upstreamsim.Reset())
		u1 := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		r := newRig(t, "warn", btYAML(d, 2, false, "client_body_buffer_size: 8k", "client_body_memory_max: 0"), u0.Addr(), u1.Addr())
		body := btRandom(64 << 10)
		status, got := r.do("PUT", "/echo", body)
		if status != 200 || !bytes.Equal(got, body) {
			t.Fatalf("PUT: %d, %d bytes back, identical=%v", status, len(got), bytes.Equal(got, body))
		}
		if u0.Hits("PUT", "/echo") != 1 || u1.Hits("PUT", "/echo") != 1 {
			t.Errorf("hits: first %d, second %d, want 1 and 1", u0.Hits("PUT", "/echo"), u1.Hits("PUT", "/echo"))
		}
		if bs := u1.Bodies("PUT", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
			t.Errorf("the second server did not get the client's bytes")
		}
		if log := r.log(); strings.Count(log, "a client request body is buffered to a temporary file "+d.client+"/0000000001,") != 1 {
			t.Errorf("want one body temp file line, log:\n%s", log)
		}
		testutil.Eventually(t, "the body buffers to be released", 5*time.Second, func() bool {
			st := r.p.BufferStats()
			return st.FilesOpen == 0 && st.ChunksInUse == 0
		})
		btEmptyDir(t, d.client)
	})
	// nginx's retry-reset-POST-tempfile-nonidem: both servers see the same
	// 65536 bytes.
	t.Run("retry_POST_non_idempotent", func(t *testing.T) {
		a0, got0 := rawUpstream(t, true) // reads the request, then RST
		u1 := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		r := newRig(t, "warn", btYAML(d, 2, false, "client_body_buffer_size: 8k", "client_body_memory_max: 0",
			"proxy_next_upstream: error timeout non_idempotent"), a0, u1.Addr())
		body := btRandom(64 << 10)
		status, got := r.do("POST", "/echo", body)
		if status != 200 || !bytes.Equal(got, body) {
			t.Fatalf("POST: %d, %d bytes back, identical=%v", status, len(got), bytes.Equal(got, body))
		}
		if first := requestBody(received(t, got0)); !bytes.Equal(first, body) {
			t.Errorf("the first server got %d different bytes", len(first))
		}
		if bs := u1.Bodies("POST", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
			t.Errorf("the second server did not get the client's bytes")
		}
		testutil.Eventually(t, "the body buffers to be released", 5*time.Second, func() bool {
			st := r.p.BufferStats()
			return st.FilesOpen == 0 && st.ChunksInUse == 0
		})
		btEmptyDir(t, d.client)
	})
}

// 6. Leak check: 100 requests that end badly in four ways leave no chunk and
// no file behind: clients that leave while their response is spilled,
// upstreams that reset mid-body, clients that leave mid-upload (body
// spilled), and 413s (declared and chunked).
func TestAbortedRequestsLeakNothing(t *testing.T) {
	const batch = 25
	u := upstream(t, upstreamsim.OK(), upstreamsim.ResetMidBody(256<<10).At("/rmb"))
	d := newBTDirs(t)
	r := newRig(t, "info", btYAML(d, 1, true, "proxy_buffers: 4 4k", "client_body_buffer_size: 8k", "client_body_memory_max: 0",
		"client_max_body_size: 1m"), u.Addr())
	base := btProducers()

	// a. Clients that leave while their 1 MiB response is buffered, half
	// with FIN and half with RST.
	conns := make([]*net.TCPConn, batch)
	for i := range conns {
		conns[i] = btDialSlow(t, r.addr)
		resp, _ := btGet(t, conns[i], "/size/1m")
		if resp.StatusCode != 200 {
			t.Fatalf("a%d: %d", i, resp.StatusCode)
		}
	}
	testutil.Eventually(t, "(a) every response to be fully buffered", 10*time.Second, func() bool { return btProducers() <= base })
	if st := r.p.BufferStats(); st.FilesOpen != batch {
		t.Errorf("(a) %d temp files open while the clients are paused, want %d: %+v", st.FilesOpen, batch, st)
	}
	for i, c := range conns {
		if i%2 == 1 {
			_ = c.SetLinger(0)
		}
		_ = c.Close()
	}

	// b. Upstreams that reset after 256 KiB of 512 KiB.
	resps := make([]*http.Response, batch)
	for i := range resps {
		c := btDialSlow(t, r.addr)
		resps[i], _ = btGet(t, c, "/rmb")
		if resps[i].StatusCode != 200 {
			t.Fatalf("b%d: %d", i, resps[i].StatusCode)
		}
	}
	testutil.Eventually(t, "(b) every upstream reset to be seen", 10*time.Second, func() bool { return btProducers() <= base })
	for i, resp := range resps {
		v := &btBodyCheck{}
		if _, err := io.Copy(v, resp.Body); err == nil || v.n >= 512<<10 {
			t.Errorf("b%d: %d bytes, %v: want a truncated body", i, v.n, err)
		}
	}

	// c. Clients that leave in the middle of a 256 KiB upload, after 20 KiB
	// (more than client_body_buffer_size: the body is in a temp file).
	before := strings.Count(r.elog.String(), "a client request body is buffered")
	conns = make([]*net.TCPConn, batch)
	part := btRandom(20 << 10)
	for i := range conns {
		conns[i] = btDial(t, r.addr)
		if _, err := io.WriteString(conns[i], "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 262144\r\n\r\n"+string(part)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "(c) every upload to spill", 5*time.Second, func() bool {
		return strings.Count(r.elog.String(), "a client request body is buffered") == before+batch
	})
	if st := r.p.BufferStats(); st.FilesOpen != batch {
		t.Errorf("(c) %d temp files open during the uploads, want %d", st.FilesOpen, batch)
	}
	for i, c := range conns {
		if i%2 == 1 {
			_ = c.SetLinger(0)
		}
		_ = c.Close()
	}

	// d. 413: a declared length over client_max_body_size, and chunked
	// bodies that go over it after spilling.
	var wg sync.WaitGroup
	errs := make(chan error, batch)
	chunk := btRandom(64 << 10)
	for i := range batch {
		c := btDial(t, r.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if i%2 == 0 {
				// The head and the first 16 KiB, as a client streaming its
				// upload sends them. (With the head alone spillway does not
				// answer before the read timeout: fasthttp pre-reads up to
				// 8 KiB of body before calling the handler, while nginx
				// answers 413 at once; a known limitation, see
				// TestClientMaxBodySize/content-length_head_only.)
				_, _ = io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2097152\r\n\r\n"+string(chunk[:16<<10]))
			} else {
				go func() {
					// The proxy stops reading at the limit: writes then fail.
					_, _ = io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
					for range 20 { // 1.25 MiB
						if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
							return
						}
					}
					_, _ = io.WriteString(c, "0\r\n\r\n")
				}()
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				// A chunked upload may have its 413 overtaken by the RST of
				// the unread bytes; the leak check below still applies.
				if i%2 == 0 {
					errs <- fmt.Errorf("d%d: %v", i, err)
				}
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 413 {
				errs <- fmt.Errorf("d%d: status %d, want 413", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	testutil.Eventually(t, "every chunk and temp file to be released", 5*time.Second, func() bool {
		st := r.p.BufferStats()
		return st.ChunksInUse == 0 && st.FilesOpen == 0 && st.BytesInUse == 0
	})
	btEmptyDir(t, d.proxy)
	btEmptyDir(t, d.client)
	t.Logf("stats: %+v", r.p.BufferStats())
}

// 7. proxy_request_buffering off: a Content-Length body is streamed to the
// upstream intact and never touches a temp file; once streamed it is not
// resent, so a reset after the upstream read it gives 502 even for PUT, and
// for POST with non_idempotent (nginx's retry-reset-PUT64k-reqbuf-off and
// retry-reset-POST64k-reqbuf-off-nonidem).
func TestRequestBufferingOff(t *testing.T) {
	t.Run("streamed_intact", func(t *testing.T) {
		u := upstream(t, upstreamsim.OK())
		d := newBTDirs(t)
		// proxy_buffers 64 8k: the 256 KiB echo is read at once and cannot
		// spill, so that any temp file would be the request body's.
		r := newRig(t, "warn", btYAML(d, 1, false, "proxy_request_buffering: off", "client_body_buffer_size: 8k", "client_body_memory_max: 0",
			"proxy_buffers: 64 8k"), u.Addr())
		body := btRandom(256 << 10)
		status, got := r.do("POST", "/echo", body)
		if status != 200 || !bytes.Equal(got, body) {
			t.Fatalf("echo: %d, %d bytes back, identical=%v", status, len(got), bytes.Equal(got, body))
		}
		if bs := u.Bodies("POST", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
			t.Errorf("the upstream did not get the client's bytes")
		}
		if st := r.p.BufferStats(); st.FilesCreated != 0 {
			t.Errorf("a streamed body used a temp file: %+v", st)
		}
		if log := r.log(); log != "" {
			t.Errorf("unexpected error log:\n%s", log)
		}
		btEmptyDir(t, d.client)
	})
	for _, tc := range []struct{ method, next string }{
		{"PUT", "error timeout"},
		{"POST", "error timeout non_idempotent"},
	} {
		t.Run("not_retried_"+tc.method, func(t *testing.T) {
			a0, got0 := rawUpstream(t, true) // reads the request, then RST
			u1 := upstream(t, upstreamsim.OK())
			d := newBTDirs(t)
			r := newRig(t, "error", btYAML(d, 2, false, "proxy_request_buffering: off",
				"proxy_next_upstream: "+tc.next), a0, u1.Addr())
			body := btRandom(64 << 10)
			status, _ := r.do(tc.method, "/echo", body)
			if first := requestBody(received(t, got0)); !bytes.Equal(first, body) {
				t.Errorf("the first server got %d different bytes", len(first))
			}
			if status != 502 {
				t.Errorf("status %d, want 502 (a streamed body is not resent)", status)
			}
			if n := u1.Total(); n != 0 {
				t.Errorf("the second server got %d requests, want none", n)
			}
			if log := r.log(); !strings.Contains(log, `while reading response header from upstream`) {
				t.Errorf("error log:\n%s", log)
			}
		})
	}
}

// A client that half-closes (FIN) in the middle of its Content-Length body
// has not sent a request: nginx (body-client-closes) logs
// `client prematurely closed connection` (info; client, server, request,
// host), answers nothing and never contacts the upstream. The proxy must not
// pass the bytes it got off as the whole body.
func TestTruncatedUploadNotForwarded(t *testing.T) {
	cases := []struct {
		name      string
		http      []string
		sent, cl  int
		spilled   bool
		streaming bool
	}{
		{"in_memory", []string{"client_body_buffer_size: 8k", "client_body_memory_max: 0"}, 2 << 10, 4 << 10, false, false},
		{"spilled", []string{"client_body_buffer_size: 8k", "client_body_memory_max: 0"}, 20 << 10, 64 << 10, true, false},
		{"request_buffering_off", []string{"client_body_buffer_size: 8k", "client_body_memory_max: 0", "proxy_request_buffering: off"}, 20 << 10, 64 << 10, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := upstream(t, upstreamsim.OK())
			d := newBTDirs(t)
			r := newRig(t, "info", btYAML(d, 1, false, tc.http...), u.Addr())
			c := btDial(t, r.addr)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			req := "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + strconv.Itoa(tc.cl) + "\r\n\r\n"
			if _, err := io.WriteString(c, req+string(btRandom(tc.sent))); err != nil {
				t.Fatal(err)
			}
			_ = c.CloseWrite()
			got, err := io.ReadAll(c)
			if len(got) != 0 {
				resp := string(got)
				if i := strings.Index(resp, "\r\n"); i > 0 {
					resp = resp[:i]
				}
				t.Errorf("the client got a response (%q, %v); nginx closes without one", resp, err)
			}
			testutil.Eventually(t, "the body buffers to be released", 5*time.Second, func() bool {
				st := r.p.BufferStats()
				return st.FilesOpen == 0 && st.ChunksInUse == 0
			})
			if bs := u.Bodies("POST", "/echo"); len(bs) != 0 {
				t.Errorf("the upstream got a complete request with a %d-byte body although the client declared %d and closed after %d",
					len(bs[0]), tc.cl, tc.sent)
			}
			if tc.streaming {
				// The upstream was contacted before the body ended (nginx
				// too); nginx's reading of the client body sees the FIN and
				// gives up at once (info `client prematurely closed
				// connection`, not measured with its phase): no waiting for
				// proxy_read_timeout, no 504.
				if log := r.log(); !strings.Contains(log, "client prematurely closed connection") || strings.Contains(log, "timed out") {
					t.Errorf("error log\n%s", log)
				}
				return
			}
			if n := u.Conns(); n != 0 {
				t.Errorf("upstream contacted (%d connections)", n)
			}
			want := ""
			if tc.spilled {
				want = btLogLine(`[warn] 4242#4242: *1 a client request body is buffered to a temporary file ` + d.client +
					`/0000000001, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", host: "localhost"`)
			}
			want += btLogLine(`[info] 4242#4242: *1 client prematurely closed connection, client: 127.0.0.1, server: localhost, request: "POST /echo HTTP/1.1", host: "localhost"`)
			if got := r.log(); got != want {
				t.Errorf("error log\n--- got\n%s--- want (nginx)\n%s", got, want)
			}
		})
	}
}
