//go:build linux

package proxy_test

// 10,000 idle keepalive client connections (issue #8): what each costs the
// proxy in memory, and that keepalive_timeout closes every one of them.
//
// The clients live in a child process (this test binary re-executed with
// SPILLWAY_IDLE_CHILD set), so that the proxy's 10,000 sockets and the
// clients' 10,000 fit under RLIMIT_NOFILE each (20000 here). The child
// opens its connections, sends one request on each (a stub_status location:
// no upstream involved), reads the answers, says "ready", then reports
// "closed" once the proxy has closed every connection. The proxy's memory
// is runtime.MemStats HeapInuse+StackInuse after a GC, before the clients
// connect and while all of them are idle (stub_status shows them all
// Waiting before and after the measurement).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

const idleConf = `
error_log: {path: stderr, level: error}
http:
  client_header_timeout: 60s
  keepalive_timeout: {KT}
  keepalive_requests: 1000
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, stub_status: on}
`

// idleBytesPerConnLimit bounds the proxy's memory per idle keepalive
// connection (issue #23's goal: 4 KiB). nginx holds about 1 KiB (its header
// buffers are freed when a connection goes keepalive). The connection loop
// (conn.go) holds no RequestCtx, read or write buffer between requests, and
// no goroutine: the connection is parked in the proxy's epoll set
// (idlepark). What is left is the loop's record, the connection's and its
// registrations: measured 1.9-2.0 KiB (fasthttp's server held 59-60 KiB:
// its goroutine, 32 KiB read and 16 KiB write buffers and a RequestCtx).
const idleBytesPerConnLimit = 4 << 10

func TestIdleKeepaliveConnections(t *testing.T) {
	if addr := os.Getenv("SPILLWAY_IDLE_CHILD"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("SPILLWAY_IDLE_N"))
		idleChild(addr, n)
		return
	}
	// 10,000 connections take ~3s to open and serve; under the race
	// detector (CI's go test -race) 10x that, so there it is 2,000, and
	// 1,000 with -short. SPILLWAY_IDLE_CONNS=N forces N.
	n, kt := 10000, "8s"
	switch {
	case os.Getenv("SPILLWAY_IDLE_CONNS") != "":
		n, _ = strconv.Atoi(os.Getenv("SPILLWAY_IDLE_CONNS"))
		kt = strconv.Itoa(8+n/500) + "s"
	case testing.Short():
		n, kt = 1000, "3s"
	case raceEnabled:
		n, kt = 2000, "5s"
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < uint64(n)+1000 {
		t.Skipf("RLIMIT_NOFILE %d is too small for %d connections", lim.Cur, n)
	}
	// keepalive_timeout (kt) must outlast serving every connection plus the
	// measurement (checked: stub_status shows all of them Waiting after it).
	r := newRig(t, "error", strings.ReplaceAll(idleConf, "{KT}", kt))

	baseHeap, baseStack := idleMem()
	baseG := runtime.NumGoroutine()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleKeepaliveConnections$")
	cmd.Env = append(os.Environ(), "SPILLWAY_IDLE_CHILD="+r.addr, "SPILLWAY_IDLE_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string, d time.Duration) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the client process ended before %s", what)
			}
			return l
		case <-time.After(d):
			t.Fatalf("no %s from the client process within %v", what, d)
		}
		return ""
	}
	if l := next("ready", 60*time.Second); l != "ready" {
		t.Fatalf("client process: %q", l)
	}
	setup := time.Since(start)
	// The loop marks a connection idle just after its answer went out.
	testutil.Eventually(t, fmt.Sprintf("stub_status to show %d connections Waiting", n), 10*time.Second, func() bool {
		return stubWaiting(t, r.addr) == n
	})
	heap, stack := idleMem()
	goroutines := runtime.NumGoroutine() - baseG
	if w := stubWaiting(t, r.addr); w != n {
		t.Fatalf("stub_status Waiting %d after the measurement, want %d: keepalive_timeout too short for this machine", w, n)
	}
	perHeap, perStack := (heap-baseHeap)/int64(n), (stack-baseStack)/int64(n)
	per := perHeap + perStack
	t.Logf("%d idle keepalive connections (opened and served in %v): HeapInuse %.1f -> %.1f MiB, StackInuse %.1f -> %.1f MiB; per connection %d B (heap %d, stack %d); %d goroutines more",
		n, setup.Round(time.Millisecond), float64(baseHeap)/(1<<20), float64(heap)/(1<<20), float64(baseStack)/(1<<20), float64(stack)/(1<<20),
		per, perHeap, perStack, goroutines)
	if per > idleBytesPerConnLimit {
		t.Errorf("%d bytes per idle connection, bound %d", per, idleBytesPerConnLimit)
	}
	if goroutines > n/100 {
		t.Errorf("%d goroutines more for %d idle connections: they should be parked, not waiting in a goroutine each", goroutines, n)
	}

	// keepalive_timeout closes every one of them.
	if l := next("closed", 30*time.Second); l != "closed" {
		t.Fatalf("client process: %q", l)
	}
	testutil.Eventually(t, "the proxy to drop every idle connection", 10*time.Second, func() bool {
		return stubActive(t, r.addr) == 1 // the status request's own
	})
	t.Logf("all %d closed by keepalive_timeout %s, %v after they were ready", n, kt, (time.Since(start) - setup).Round(time.Millisecond))
}

// idleMem is the proxy process's live memory after a GC: heap and stacks.
func idleMem() (heap, stack int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), int64(ms.StackInuse)
}

var (
	reWaiting = regexp.MustCompile(`Waiting: (\d+)`)
	reActive  = regexp.MustCompile(`Active connections: (\d+)`)
)

func stubPage(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stubWaiting(t *testing.T, addr string) int {
	t.Helper()
	page := stubPage(t, addr)
	m := reWaiting.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no stub_status page: %q", page)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func stubActive(t *testing.T, addr string) int {
	t.Helper()
	page := stubPage(t, addr)
	m := reActive.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no stub_status page: %q", page)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// idleChild is the client process: n connections to addr, one request on
// each, then idle. It prints "ready" when every answer has arrived and
// "closed" when the proxy has closed every connection; it exits when its
// stdin closes (the parent's handle).
func idleChild(addr string, n int) {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "idle child: "+format+"\n", a...)
		os.Exit(2)
	}
	go func() { // the parent went away: exit
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail("dial %d: %v", i, err)
		}
		conns[i] = c
	}
	const req = "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n"
	var ready, closed sync.WaitGroup
	ready.Add(n)
	closed.Add(n)
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		sem <- struct{}{}
		go func() {
			br := bufio.NewReaderSize(c, 512)
			if _, err := io.WriteString(c, req); err != nil {
				fail("write: %v", err)
			}
			// stub_status: a head with Content-Length, then the page.
			cl := -1
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					fail("read head: %v", err)
				}
				if l == "\r\n" {
					break
				}
				if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length: "); ok {
					cl, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			if cl < 0 {
				fail("no Content-Length")
			}
			if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
				fail("read body: %v", err)
			}
			<-sem
			ready.Done()
			// Idle: the next read ends when the proxy closes.
			if _, err := br.ReadByte(); err == nil {
				fail("bytes on an idle connection")
			}
			_ = c.Close()
			closed.Done()
		}()
	}
	ready.Wait()
	fmt.Println("ready")
	closed.Wait()
	fmt.Println("closed")
	select {} // until the parent closes stdin
}
