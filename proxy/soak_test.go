//go:build linux

package proxy_test

// TestFaultSoak: mixed faults through one spillway for thousands of requests
// (issue 8, "fault soak"), then a check that nothing leaked and nothing was
// lost or replayed.
//
// One proxy on 127.0.0.1 fronts an upstream group of seven bench upstreams:
// one always healthy, the others resetting, closing, answering after
// proxy_read_timeout, failing a share of their requests, resetting or closing
// idle keepalive connections, refusing connections, and breaking off
// response bodies under /mid (RST, FIN, a chunked body without its end, a
// stall). Many concurrent clients send a deterministic mix of requests (the
// kind of request i depends on i only): GET and HEAD of pattern bodies up to
// 1 MiB, PUT echoes of 64 KiB bodies (idempotent: they are replayed), POST
// and PATCH echoes (non-idempotent, each on its own path /echo/p<i> so that
// an upstream counts every copy it reads; some chunked, some of 200 KiB that
// spill to client_body_temp_path), GETs of /mid, slow clients (4 KiB receive
// window, paced reads) whose responses spill to proxy_temp_path, clients that
// leave mid-response with FIN or RST or right after sending, and clients that
// leave in the middle of a 200 KiB upload. Requests go to four locations:
// response buffering on, proxy_buffering off, proxy_max_temp_file_size 0, and
// (POST and PATCH only) proxy_request_buffering off. Every 1000th request
// first reloads the configuration, alternating between a change that keeps
// the upstream group and one that replaces it.
//
// Afterwards it asserts:
//   - every GET, HEAD and PUT (and slow GET) got 200 with the whole, correct
//     body (the pattern, or the echoed bytes): retries always reach the
//     healthy server;
//   - no POST or PATCH was read twice by the upstreams together
//     (proxy_next_upstream lacks non_idempotent), one answered 200 was read
//     exactly once and echoed exactly, and an upload its client abandoned
//     never reached an upstream;
//   - a /mid answer is whole and correct, or cut short with a correct
//     prefix, or a 502; never wrong bytes;
//   - once the clients are gone: the buffer budget holds no chunk and no
//     temp file, and both temp dirs are empty; once the proxy is shut down,
//     no upstream connection is left open; once the upstreams are closed
//     too, goroutines and open file descriptors are back to their baseline;
//   - the counts add up: clients' outcomes, the proxy's requests by status,
//     its attempts against first attempts plus retries, and the heads the
//     upstreams read against the attempts;
//   - no temp-file error and no [crit], [alert] or [emerg] line;
//   - a request that met an idle client connection the proxy had just
//     closed is sent again on a new one, as HTTP clients do; that happens
//     only around reloads, at most once per client and reload.
//
// What is asserted depends on the request mix only, never on timing; the
// only sleeps are the slow clients' read pacing, which is workload. It logs
// a report: outcomes per kind of request, the proxy's metrics (failures by
// kind and phase, retries and non-retries by reason, spills), the stale
// keepalive counts, and the error log's lines counted by message.
//
// Short form (the default, part of `go test -race ./proxy/`): 6000 requests
// from 48 clients, 25-50 s with -race on two cores depending on what else
// runs. Long form (flags after the package, or go test takes them as its
// own and loses the package):
//
//	go test -run TestFaultSoak -v -timeout 30m ./proxy/ -soak.requests=50000
//	go test -run TestFaultSoak -v -timeout 30m ./proxy/ -soak.duration=5m
//
// -soak.clients sets the number of concurrent clients, -soak.reload-every
// the reload interval (0: no reloads).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

var (
	soakRequests = flag.Int("soak.requests", 6000, "TestFaultSoak: number of requests (the short form's default suits -race on two cores)")
	soakDuration = flag.Duration("soak.duration", 0, "TestFaultSoak: run for this long instead of a number of requests")
	soakClients  = flag.Int("soak.clients", 48, "TestFaultSoak: concurrent clients")
	soakReloads  = flag.Int("soak.reload-every", 1000, "TestFaultSoak: reload the configuration before every Nth request (0: never)")
)

const soakYAML = `
error_log: {path: stderr, level: warn}
metrics: {listen: "127.0.0.1:0"}
http:
  buffer_memory_limit: 1m
  proxy_connect_timeout: 1s
  proxy_send_timeout: 10s
  proxy_read_timeout: 2s
  send_timeout: 30s
  client_body_timeout: 30s
  proxy_buffer_size: 4k
  proxy_buffers: 4 8k
  client_body_buffer_size: 16k
  client_max_body_size: 1m
  proxy_temp_path: {PROXYTMP}
  client_body_temp_path: {CLIENTTMP}
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  proxy_next_upstream: error timeout
  upstreams:
    app:
      keepalive: 16
      retry_budget: off
      servers:
        - {address: "{U0}", weight: 4, max_fails: 0}
        - {address: "{U1}", max_fails: 0}
        - {address: "{U2}", max_fails: 3, fail_timeout: 500ms}
        - {address: "{U3}", max_fails: 2, fail_timeout: 1s}
        - {address: "{U4}", weight: 2, max_fails: 0}
        - {address: "{U5}", weight: 2, max_fails: 0}
        - {address: "{U6}", max_fails: 0}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
        - path: /nb/
          proxy_pass: http://app/
          proxy_buffering: off
        - path: /nospill/
          proxy_pass: http://app/
          proxy_max_temp_file_size: 0
        - path: /stream/
          proxy_pass: http://app/
          proxy_request_buffering: off
`

// soakReadTimeout is soakYAML's proxy_read_timeout; the slow upstream
// answers a second later. It is long because a healthy answer slower than
// it would fail a GET: under -race on a loaded two-core machine, headers took
// up to 900ms.
const soakReadTimeout = 2 * time.Second

// soakMidSize is the length of every /mid body.
const soakMidSize = 300 << 10

// soakUpstreams are the group's servers, U0 first; U6 refuses connections.
func soakUpstreams() [][]upstreamsim.Behavior {
	mid := func(b upstreamsim.Behavior) upstreamsim.Behavior { return b.WithSize(soakMidSize).At("/mid") }
	flaky := upstreamsim.FailRatio(0.3, upstreamsim.Reset())
	flaky.Seed = 1
	flakyFIN := upstreamsim.FailRatio(0.2, upstreamsim.CloseBeforeHeader())
	flakyFIN.Seed = 2
	return [][]upstreamsim.Behavior{
		// U0: healthy; it closes a keepalive connection every 100 requests.
		{upstreamsim.OK(), mid(upstreamsim.OK()), upstreamsim.KeepaliveRequests(100)},
		// U1: RST after every request head; /mid: RST after 100 KiB of body.
		{upstreamsim.Reset(), mid(upstreamsim.ResetMidBody(100 << 10))},
		// U2: FIN after every request head (max_fails 3, so it is out of
		// the group now and then); /mid: FIN after 64 KiB.
		{upstreamsim.CloseBeforeHeader(), mid(upstreamsim.CloseMidBody(64 << 10))},
		// U3: the header comes a second after proxy_read_timeout: a
		// timeout (max_fails 2: out of the group for a second after two);
		// /mid: the header, then RST.
		{upstreamsim.SlowHeader(soakReadTimeout + time.Second), mid(upstreamsim.ResetAfterHeader())},
		// U4: 30% RST, idle keepalive connections reset after 20ms; /mid:
		// a chunked body without its last chunk (100 KiB: the bench
		// restarts the pattern at its second chunk, 50 KiB in, a multiple
		// of the pattern's length).
		{flaky, upstreamsim.ChunkedTruncated(100 << 10).At("/mid"), upstreamsim.IdleRST(20 * time.Millisecond)},
		// U5: 20% FIN, idle connections closed after 30ms; /mid: the
		// header, then silence until proxy_read_timeout.
		{flakyFIN, mid(upstreamsim.HeadersThenStall()), upstreamsim.IdleFIN(30 * time.Millisecond)},
	}
}

// soakKind is one kind of client request.
type soakKind int

const (
	skGet         soakKind = iota // GET /size/N on the client's keepalive connection
	skHead                        // HEAD /size/N
	skPut                         // PUT /echo/u<i>, 64 KiB: idempotent, replayed on retries
	skPost                        // POST /echo/p<i>, 1 KiB or 200 KiB (spills)
	skPatch                       // PATCH /echo/q<i>, 2 KiB
	skMid                         // GET /mid: the body may be cut off
	skSlow                        // GET /size/1m by a slow reader: spills to proxy_temp_path
	skAbortFIN                    // GET /size/1m, read 8 KiB, close
	skAbortRST                    // the same with an RST
	skAbortEarly                  // GET /size/64k, RST right after sending it
	skAbortUpload                 // POST /echo/a<i> of 200 KiB, leave after 40 KiB (FIN or RST)
	numSoakKinds
)

var soakKindNames = [numSoakKinds]string{"GET", "HEAD", "PUT", "POST", "PATCH", "GET /mid", "slow GET",
	"abort FIN", "abort RST", "abort early", "abort upload"}

// soakMix is the share of each kind in thousandths.
var soakMix = [numSoakKinds]int{
	skGet: 400, skHead: 80, skPut: 60, skPost: 140, skPatch: 40, skMid: 80, skSlow: 40,
	skAbortFIN: 40, skAbortRST: 40, skAbortEarly: 30, skAbortUpload: 50,
}

// soakHash is splitmix64: request i's kind and size come from it, so the mix
// is the same on every run.
func soakHash(i uint64) uint64 {
	i += 0x9e3779b97f4a7c15
	i = (i ^ (i >> 30)) * 0xbf58476d1ce4e5b9
	i = (i ^ (i >> 27)) * 0x94d049bb133111eb
	return i ^ (i >> 31)
}

func soakKindOf(id int) soakKind {
	r := int(soakHash(uint64(id)) % 1000)
	for k, share := range soakMix {
		if r < share {
			return soakKind(k)
		}
		r -= share
	}
	return skGet
}

var soakSizes = []int{0, 1, 100, 4 << 10, 20 << 10, 64 << 10, 300 << 10, 1 << 20}

func soakSizeOf(id int) int {
	h := soakHash(uint64(id) ^ 0x5bd1e995)
	if h%16 == 0 { // 1 MiB is heavy under -race: 1 in 16 of the sized requests
		return 1 << 20
	}
	return soakSizes[h%uint64(len(soakSizes)-1)]
}

// soakPrefixOf picks request i's location: / (response buffering on), /nb/
// (proxy_buffering off), /nospill/ (proxy_max_temp_file_size 0) or, for
// POST and PATCH only, /stream/ (proxy_request_buffering off: a body once
// sent cannot be sent again, which only non-idempotent requests may
// observe; an abandoned upload there would reach an upstream).
func soakPrefixOf(id int, k soakKind) string {
	prefixes := []string{"", "", "/nb", "/nospill"}
	if k == skPost || k == skPatch {
		prefixes = append(prefixes, "/stream")
	}
	return prefixes[soakHash(uint64(id)^0x10c)%uint64(len(prefixes))]
}

// soakOutcome is how one request ended for its client.
type soakOutcome int

const (
	soOK        soakOutcome = iota // 200, whole and correct body
	so502                          // 502, nginx's page read whole
	so504                          // 504
	soTruncated                    // 200 head, body cut short (its bytes correct)
	soAborted                      // the client left on purpose
	soFailed                       // anything else: a test failure
	numSoakOutcomes
)

var soakOutcomeNames = [numSoakOutcomes]string{"200", "502", "504", "cut short", "aborted", "FAILED"}

// soakSent is one POST or PATCH: what its client sent and got.
type soakSent struct {
	target  string
	bytes   int
	chunked bool
	status  int // 0: no answer
}

// soakResults collects what the clients saw.
type soakResults struct {
	mu       sync.Mutex
	counts   [numSoakKinds][numSoakOutcomes]int
	failures int
	examples []string
	// nonIdem maps each POST/PATCH as the upstream sees it ("POST
	// /echo/p7") to what its client sent and got.
	nonIdem map[string]soakSent
	// abandoned are the paths of uploads their clients left.
	abandoned []string
	// raced counts requests sent again on a new connection because the
	// proxy had closed the idle keepalive connection they were sent on (a
	// reload retires the old configuration's idle connections, as nginx's
	// HUP does; HTTP clients resend then, RFC 9112 9.3.1).
	raced atomic.Int64
}

func (r *soakResults) add(k soakKind, o soakOutcome) {
	r.mu.Lock()
	r.counts[k][o]++
	r.mu.Unlock()
}

func (r *soakResults) fail(k soakKind, id int, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[k][soFailed]++
	r.failures++
	if len(r.examples) < 20 {
		r.examples = append(r.examples, fmt.Sprintf("request %d (%s): ", id, soakKindNames[k])+fmt.Sprintf(format, a...))
	}
}

// soakLog is the proxy's error log: lines counted by level and by message
// with numbers and paths taken out; nothing is kept, so a long run does not
// grow memory.
type soakLog struct {
	mu      sync.Mutex
	levels  map[string]int
	msgs    map[string]int
	example map[string]string // the first line of each message
}

var (
	soakLogRe   = regexp.MustCompile(`^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)(?:, client: .*)?$`)
	soakLogNums = regexp.MustCompile(`/\S+|\d+`)
)

func (l *soakLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		m := soakLogRe.FindStringSubmatch(line)
		if m == nil {
			l.levels["?"]++
			l.msgs[line]++
			continue
		}
		l.levels[m[1]]++
		key := "[" + m[1] + "] " + soakLogNums.ReplaceAllStringFunc(m[2], func(s string) string {
			if s[0] == '/' {
				return "PATH"
			}
			if len(s) <= 3 { // errnos (104), statuses: kept
				return s
			}
			return "N"
		})
		if l.msgs[key]++; l.msgs[key] == 1 {
			l.example[key] = line
		}
	}
	return len(p), nil
}

// soakStart starts a proxy from yamlText with its error log counted by l.
func soakStart(t *testing.T, yamlText string, l *soakLog) *proxy.Proxy {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(yamlText))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	lv, err := config.ParseLevel("warn")
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(l, lv, errorlog.Options{})})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// soakFDs counts this process's open file descriptors.
func soakFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// soakGoroutines groups the live goroutines by their top frame and the
// function that created them, and counts them. fasthttp's worker-pool
// cleaner is left out: it sleeps 10s (MaxIdleWorkerDuration) between looks at
// its stop channel, so it outlives a stopped server by up to 10s.
func soakGoroutines() (groups map[string]int, n int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/valyala/fasthttp.(*workerPool).Start") {
			continue
		}
		n++
		lines := strings.Split(g, "\n")
		key := ""
		if len(lines) > 1 {
			key = strings.TrimSpace(lines[1])
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "created by ") {
				key += " ← " + strings.TrimPrefix(l, "created by ")
			}
		}
		out[key]++
	}
	return out, n
}

// soakWarmUp runs one request through a throw-away proxy so that the
// process-wide goroutines fasthttp starts once (its date updater) exist
// before the baseline is taken.
func soakWarmUp(t *testing.T) {
	t.Helper()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", upstreamsim.OK())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	d := newBTDirs(t)
	yaml := strings.NewReplacer("{PROXYTMP}", d.proxy, "{CLIENTTMP}", d.client).Replace(soakYAML)
	for i := range 7 {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("{U%d}", i), u.Addr())
	}
	p := soakStart(t, yaml, &soakLog{levels: map[string]int{}, msgs: map[string]int{}, example: map[string]string{}})
	c, err := net.Dial("tcp", p.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /size/10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.Shutdown(ctx)
}

func TestFaultSoak(t *testing.T) {
	soakWarmUp(t)
	// The refused address holds its port (a bound socket) until the test
	// ends: taken before the baseline, its descriptor is not a leak.
	refused := upstreamsim.RefusedAddr(t)
	baseStacks, baseGoroutines := soakGoroutines()
	baseFDs := soakFDs(t)

	behaviours := soakUpstreams()
	ups := make([]*upstreamsim.Upstream, len(behaviours))
	addrs := make([]string, 0, len(behaviours)+1)
	for i, bs := range behaviours {
		u, err := upstreamsim.UpstreamConfig{Addr: "127.0.0.1:0", Behaviors: bs, KeepBodies: -1}.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = u.Close() })
		ups[i] = u
		addrs = append(addrs, u.Addr())
	}
	addrs = append(addrs, refused)

	d := newBTDirs(t)
	yaml := strings.NewReplacer("{PROXYTMP}", d.proxy, "{CLIENTTMP}", d.client).Replace(soakYAML)
	for i, a := range addrs {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("{U%d}", i), a)
	}
	elog := &soakLog{levels: map[string]int{}, msgs: map[string]int{}, example: map[string]string{}}
	p := soakStart(t, yaml, elog)
	addr, maddr := p.Addrs()[0], p.MetricsAddr()

	res := &soakResults{nonIdem: map[string]soakSent{}}
	total := *soakRequests
	var until time.Time
	if *soakDuration > 0 {
		total = int(^uint(0) >> 1)
		until = time.Now().Add(*soakDuration)
	}
	// Reloads: before every soak.reload-every'th request, the next of three
	// configurations: the first one; a changed location (the upstream
	// group is kept, with its keepalive connections and health state); a
	// changed server weight (a new group: the old one's connections are
	// closed once the old configuration has drained).
	variants := []string{yaml,
		strings.Replace(yaml, "          proxy_buffering: off\n", "          proxy_buffering: off\n          proxy_buffers: 8 4k\n", 1),
		strings.Replace(yaml, `weight: 4,`, `weight: 5,`, 1)}
	for _, v := range variants[1:] {
		if v == yaml {
			t.Fatal("a reload variant is the same as the first configuration")
		}
	}
	cfgPath := filepath.Join(t.TempDir(), "proxy.yaml")
	var reloads atomic.Int64
	reload := func(r int) {
		cfg, err := config.LoadBytes(cfgPath, []byte(variants[r%len(variants)]))
		if err == nil {
			err = p.Reload(cfg)
		}
		if err != nil {
			t.Errorf("reload %d: %v", r, err)
		}
		reloads.Add(1)
	}

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &soakClient{addr: addr, res: res, buf: make([]byte, 32<<10)}
			defer cl.drop(false)
			for {
				id := int(next.Add(1) - 1)
				if id >= total || (!until.IsZero() && time.Now().After(until)) {
					return
				}
				if *soakReloads > 0 && id > 0 && id%*soakReloads == 0 {
					reload(id / *soakReloads)
				}
				cl.do(id)
			}
		}()
	}
	wg.Wait()
	sent := min(int(next.Load()), total)
	if !until.IsZero() {
		sent = int(next.Load()) - *soakClients // each client drew one id it did not send
	}
	elapsed := time.Since(start)

	// Quiescence: the clients are gone; requests whose clients left may
	// still be finishing (an upstream timing out, a spool draining).
	testutil.Eventually(t, "every client connection to close and every buffer to be released", 30*time.Second, func() bool {
		st := p.BufferStats()
		m := scrape(t, maddr)
		return m["spillway_connections_active"] == 0 && st.ChunksInUse == 0 && st.BytesInUse == 0 &&
			st.FilesOpen == 0 && btProducers() == 0
	})
	quiet := time.Now()
	m := scrape(t, maddr)
	stats := p.BufferStats()
	fin, rst, expired, reused := p.StaleStats()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("shutdown with nothing in flight: %v", err)
	}
	// The shutdown closed the keepalive caches: no upstream connection is
	// left open from the proxy's side. (An upstream in slow_header notices
	// only when its wait is over.)
	testutil.Eventually(t, "every upstream connection to be closed", 10*time.Second, func() bool {
		for _, u := range ups {
			if u.OpenConns() != 0 {
				return false
			}
		}
		return true
	})
	shutdown := time.Now()
	hits := map[string]int{}
	upTotal := 0
	for _, u := range ups {
		_ = u.Close()
		upTotal += u.Total()
		for k, v := range u.Stats().Hits {
			hits[k] += v
		}
	}

	// The report, upstream addresses shown as U0...U6.
	var names []string
	for i, a := range addrs {
		names = append(names, a, fmt.Sprintf("U%d", i))
	}
	unames := strings.NewReplacer(names...)
	var rep strings.Builder
	defer func() {
		t.Logf("phases: load %v, quiescence %v, proxy shutdown %v, upstreams closed and leak checks %v", elapsed.Round(time.Millisecond), quiet.Sub(start.Add(elapsed)).Round(time.Millisecond), shutdown.Sub(quiet).Round(time.Millisecond), time.Since(shutdown).Round(time.Millisecond))
	}()
	fmt.Fprintf(&rep, "%d requests by %d clients in %v (%.0f req/s)\n", sent, *soakClients, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds())
	fmt.Fprintf(&rep, "%-13s", "kind")
	for o := range numSoakOutcomes {
		fmt.Fprintf(&rep, "%10s", soakOutcomeNames[o])
	}
	rep.WriteString("\n")
	var clientStatus [600]int
	aborted := 0
	for k := range numSoakKinds {
		fmt.Fprintf(&rep, "%-13s", soakKindNames[k])
		for o := range numSoakOutcomes {
			fmt.Fprintf(&rep, "%10d", res.counts[k][o])
		}
		rep.WriteString("\n")
		clientStatus[200] += res.counts[k][soOK] + res.counts[k][soTruncated]
		clientStatus[502] += res.counts[k][so502]
		clientStatus[504] += res.counts[k][so504]
		aborted += res.counts[k][soAborted]
	}
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, "spillway_upstream_") || strings.HasPrefix(k, "spillway_requests_total") ||
			strings.HasPrefix(k, "spillway_buffer_") || strings.HasPrefix(k, "spillway_connections_") {
			if !strings.Contains(k, "_bucket") && !strings.Contains(k, "server_up") && m[k] != 0 {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&rep, "  %s %v\n", unames.Replace(k), m[k])
	}
	// The margin to proxy_read_timeout: a healthy answer slower than it
	// would be a timeout, and a failed GET.
	hc := sumOf(m, `spillway_upstream_header_duration_seconds_count`)
	fmt.Fprintf(&rep, "answered upstream headers: %v, slower than 250ms %v, than 500ms %v, than 1s %v\n", hc,
		hc-sumOf(m, `spillway_upstream_header_duration_seconds_bucket`, `le="0.25"`),
		hc-sumOf(m, `spillway_upstream_header_duration_seconds_bucket`, `le="0.5"`),
		hc-sumOf(m, `spillway_upstream_header_duration_seconds_bucket`, `le="1"`))
	fmt.Fprintf(&rep, "reloads: %d; requests sent again after their idle client connection was closed: %d\n", reloads.Load(), res.raced.Load())
	fmt.Fprintf(&rep, "buffers: %+v\n", stats)
	fmt.Fprintf(&rep, "stale keepalive connections: fin %d rst %d expired %d; reused %d\n", fin, rst, expired, reused)
	fmt.Fprintf(&rep, "upstream heads read: %d (", upTotal)
	for i, u := range ups {
		fmt.Fprintf(&rep, " U%d %d", i, u.Total())
	}
	fmt.Fprintf(&rep, " )\nerror log lines by level: %v\n", elog.levels)
	type kv struct {
		k string
		v int
	}
	var msgs []kv
	for k, v := range elog.msgs {
		msgs = append(msgs, kv{k, v})
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].v > msgs[j].v })
	for _, e := range msgs {
		fmt.Fprintf(&rep, "  %6d %s\n         e.g. %s\n", e.v, e.k, unames.Replace(elog.example[e.k]))
	}
	t.Log("\n" + rep.String())

	// 1. What the clients saw.
	if res.failures > 0 {
		t.Errorf("%d requests went wrong; the first ones:\n%s", res.failures, strings.Join(res.examples, "\n"))
	}

	// Only a reload closes idle client connections under the clients' feet
	// (keepalive_timeout is not reached; keepalive_requests ends a
	// connection with "Connection: close", which the clients honour), at
	// most one per client each.
	if n := res.raced.Load(); n > reloads.Load()*int64(*soakClients) {
		t.Errorf("%d requests met a closed idle client connection; %d reloads of %d clients explain at most %d", n, reloads.Load(), *soakClients, reloads.Load()*int64(*soakClients))
	}

	// 2. No non-idempotent request read twice; a 200 means read once.
	// what lists the heads the upstreams read for the same id under any
	// method and path, for the failure message.
	what := func(key string) string {
		_, path, _ := strings.Cut(key, " ")
		id := path[strings.LastIndexByte(path, '/')+2:]
		var seen []string
		for k, v := range hits {
			if strings.HasSuffix(k, id) && !strings.HasSuffix(k, "0"+id) && k[len(k)-len(id)-1] >= 'a' {
				seen = append(seen, fmt.Sprintf("%q×%d", k, v))
			}
		}
		slices.Sort(seen)
		return fmt.Sprintf("%+v; the upstreams read: %v", res.nonIdem[key], seen)
	}
	twice := 0
	for key, sent := range res.nonIdem {
		n := hits[key]
		switch {
		case n > 1:
			if twice++; twice <= 10 {
				t.Errorf("%s reached the upstreams %d times: %s", key, n, what(key))
			}
		case sent.status == 200 && n != 1:
			t.Errorf("%s answered 200 but the upstreams read it %d times: %s", key, n, what(key))
		}
	}
	if twice > 0 {
		t.Errorf("%d non-idempotent requests were sent more than once", twice)
	}
	for _, path := range res.abandoned {
		if hits[path] != 0 {
			t.Errorf("%s: an upload its client abandoned reached an upstream %d times", path, hits[path])
		}
	}

	// 3. Nothing held: budget, temp files, temp dirs.
	if stats.ChunksInUse != 0 || stats.BytesInUse != 0 || stats.FilesOpen != 0 {
		t.Errorf("buffers still held after the run: %+v", stats)
	}
	if stats.FilesCreated == 0 {
		t.Errorf("no temp file was created: the soak did not exercise spilling")
	}
	btEmptyDir(t, d.proxy)
	btEmptyDir(t, d.client)
	if n := m[`spillway_buffer_temp_file_errors_total`]; n != 0 {
		t.Errorf("%v temp-file errors", n)
	}
	for _, lv := range []string{"crit", "alert", "emerg", "?"} {
		if elog.levels[lv] != 0 {
			t.Errorf("%d error-log lines at level %s", elog.levels[lv], lv)
		}
	}

	// 4. Counts add up.
	proxyTotal := 0
	for k, v := range m {
		if strings.HasPrefix(k, `spillway_requests_total{`) {
			proxyTotal += int(v)
		}
	}
	answered := sent - aborted - res.failures
	for _, code := range []int{200, 502, 504} {
		if got := int(m[`spillway_requests_total{status="`+strconv.Itoa(code)+`"}`]); got < clientStatus[code] || got > clientStatus[code]+aborted+res.failures {
			t.Errorf("the proxy counted %d requests with status %d; the clients got %d (and %d left early)", got, code, clientStatus[code], aborted)
		}
	}
	if proxyTotal < answered || proxyTotal > sent {
		t.Errorf("the proxy counted %d requests; %d were sent, %d answered", proxyTotal, sent, answered)
	}
	retries := 0
	for k, v := range m {
		if strings.HasPrefix(k, `spillway_upstream_retries_total{`) {
			retries += int(v)
		}
	}
	// Every answered request made a first attempt; an abandoned upload
	// cannot have (its body never arrived whole).
	attempts := int(sumOf(m, `spillway_upstream_attempts_total`))
	if maxFirst := sent - len(res.abandoned); attempts < answered+retries || attempts > maxFirst+retries {
		t.Errorf("%d upstream attempts; want the first attempts (%d..%d) plus %d retries", attempts, answered, maxFirst, retries)
	}
	refusedN := int(sumOf(m, `spillway_upstream_failures_total`, `kind="refused"`, `phase="connecting to upstream"`))
	if refusedN == 0 {
		t.Errorf("no connection was refused: the soak did not exercise U6")
	}
	// Every head an upstream read was an attempt, also when the client
	// went while it was awaited (counted without a failure).
	if upTotal+refusedN > attempts {
		t.Errorf("the upstreams read %d request heads and %d connects were refused, but only %d attempts were made", upTotal, refusedN, attempts)
	}
	// Heads the upstreams never read are attempts on connections they had
	// dropped (idle_rst, idle_fin): each is a failure before any response.
	var early int
	for k, v := range m {
		if strings.HasPrefix(k, `spillway_upstream_failures_total{`) && !strings.Contains(k, `phase="reading upstream"`) &&
			!strings.Contains(k, `kind="refused"`) {
			early += int(v)
		}
	}
	if unread := attempts - upTotal - refusedN; unread > early {
		t.Errorf("%d attempts reached no upstream but only %d failed before a response", unread, early)
	}

	// 5. Goroutines and file descriptors back to the baseline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stacks, n := soakGoroutines()
		fds := soakFDs(t)
		if n <= baseGoroutines && fds <= baseFDs {
			break
		}
		if time.Now().After(deadline) {
			var diff []string
			for k, v := range stacks {
				if v > baseStacks[k] {
					diff = append(diff, fmt.Sprintf("%4d × %s", v-baseStacks[k], k))
				}
			}
			slices.Sort(diff)
			t.Errorf("after the run: %d goroutines (baseline %d), %d file descriptors (baseline %d); new goroutines:\n%s",
				n, baseGoroutines, fds, baseFDs, strings.Join(diff, "\n"))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// soakClient is one client goroutine: a keepalive connection it reuses
// until the proxy closes it or the client leaves.
type soakClient struct {
	addr string
	res  *soakResults
	c    *net.TCPConn
	uses int // requests sent on c
	br   *bufio.Reader
	buf  []byte
	body []byte // the request body being sent
}

func (cl *soakClient) dial(slow bool) error {
	cl.drop(false)
	var d net.Dialer
	if slow {
		d.Control = btSlowControl // the proxy's writes block after a few KiB
	}
	c, err := d.Dial("tcp", cl.addr)
	if err != nil {
		return err
	}
	cl.c, cl.uses = c.(*net.TCPConn), 0
	cl.br = bufio.NewReaderSize(cl.c, 16<<10)
	return nil
}

// drop closes the connection, with an RST if rst.
func (cl *soakClient) drop(rst bool) {
	if cl.c == nil {
		return
	}
	if rst {
		_ = cl.c.SetLinger(0)
	}
	_ = cl.c.Close()
	cl.c, cl.br = nil, nil
}

// send writes one request (on a new connection if there is none) and,
// unless the client means to leave before the answer, reads its head. A body
// goes with Content-Length, or chunked in three pieces.
func (cl *soakClient) send(id int, method, target string, body []byte, chunked, readHead bool) (*http.Response, error) {
	if cl.c == nil {
		if err := cl.dial(false); err != nil {
			return nil, err
		}
	}
	_ = cl.c.SetDeadline(time.Now().Add(60 * time.Second))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: localhost\r\nX-Soak-Id: %d\r\n", method, target, id)
	bufs := net.Buffers{nil, body}
	switch {
	case body != nil && chunked:
		head += "Transfer-Encoding: chunked\r\n"
		bufs = net.Buffers{nil}
		for rest := body; len(rest) > 0; {
			k := min(len(rest), max(len(body)/3, 1))
			bufs = append(bufs, []byte(fmt.Sprintf("%x\r\n", k)), rest[:k], []byte("\r\n"))
			rest = rest[k:]
		}
		bufs = append(bufs, []byte("0\r\n\r\n"))
	case body != nil:
		head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	bufs[0] = []byte(head + "\r\n")
	reused := cl.uses > 0
	cl.uses++
	// A closed idle connection: the write fails, or the read finds EOF or
	// a reset before any byte of an answer.
	raced := func(err error) bool {
		return reused && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
	}
	again := func() (*http.Response, error) {
		cl.drop(false)
		cl.res.raced.Add(1)
		return cl.send(id, method, target, body, chunked, readHead)
	}
	if _, err := (&bufs).WriteTo(cl.c); err != nil {
		if raced(err) {
			return again()
		}
		cl.drop(false)
		return nil, fmt.Errorf("sending: %w", err)
	}
	if !readHead {
		return nil, nil
	}
	if _, err := cl.br.Peek(1); err != nil {
		if raced(err) {
			return again()
		}
		cl.drop(false)
		return nil, fmt.Errorf("waiting for the response: %w", err)
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		cl.drop(false)
		return nil, fmt.Errorf("reading the response head: %w", err)
	}
	return resp, nil
}

// finish reads the rest of an error page and keeps the connection if the
// proxy keeps it.
func (cl *soakClient) finish(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.Close {
		cl.drop(false)
	}
	return err
}

// fill makes request i's body: n bytes only it has.
func (cl *soakClient) fill(id, n int) []byte {
	if cap(cl.body) < n {
		cl.body = make([]byte, n)
	}
	b := cl.body[:n]
	r := rand.New(rand.NewPCG(uint64(id), 0xb0d1))
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// soakSlab is the bench body pattern, long enough to compare 32 KiB at any
// offset.
var soakSlab = []byte(strings.Repeat(btPattern, (32<<10)/len(btPattern)+1))

// readPattern reads r to its end, checking every byte against the bench
// pattern; n is how many bytes came. bad, when set, describes the first
// wrong byte (n is then its offset).
func (cl *soakClient) readPattern(r io.Reader, slow bool) (n int64, bad string, err error) {
	buf := cl.buf
	if slow {
		buf = buf[:4<<10]
	}
	for {
		k, rerr := r.Read(buf)
		off := int(n % int64(len(btPattern)))
		if !bytes.Equal(buf[:k], soakSlab[off:off+k]) {
			i := 0
			for buf[i] == soakSlab[off+i] {
				i++
			}
			return n + int64(i), fmt.Sprintf("%q", buf[i:min(k, i+48)]), nil
		}
		n += int64(k)
		if rerr == io.EOF {
			return n, "", nil
		}
		if rerr != nil {
			return n, "", rerr
		}
		if slow && k > 0 {
			time.Sleep(500 * time.Microsecond) // the slow client's pace: workload, not synchronisation
		}
	}
}

// soakHead describes a response head for a failure message.
func soakHead(resp *http.Response) string {
	return fmt.Sprintf("%s, Content-Length %d, Transfer-Encoding %v, Connection close %v, headers %v",
		resp.Status, resp.ContentLength, resp.TransferEncoding, resp.Close, resp.Header)
}

func (cl *soakClient) do(id int) {
	k := soakKindOf(id)
	prefix := soakPrefixOf(id, k)
	res := cl.res
	switch k {
	case skGet, skHead, skSlow:
		size := soakSizeOf(id)
		method := "GET"
		if k == skHead {
			method = "HEAD"
		}
		if k == skSlow {
			size = 1 << 20
			if err := cl.dial(true); err != nil {
				res.fail(k, id, "dial: %v", err)
				return
			}
		}
		resp, err := cl.send(id, method, fmt.Sprintf("%s/size/%d?id=%d", prefix, size, id), nil, false, true)
		if err != nil {
			res.fail(k, id, "%v", err)
			return
		}
		if resp.StatusCode != 200 {
			_ = cl.finish(resp)
			res.fail(k, id, "status %d", resp.StatusCode)
			return
		}
		if resp.ContentLength != int64(size) {
			cl.drop(false)
			res.fail(k, id, "Content-Length %d, want %d", resp.ContentLength, size)
			return
		}
		n, bad, err := cl.readPattern(resp.Body, k == skSlow)
		if k == skHead {
			n = int64(size)
		}
		switch {
		case bad != "":
			res.fail(k, id, "%s: wrong body bytes at %d: %s; %s", prefix, n, bad, soakHead(resp))
		case err != nil || n != int64(size):
			res.fail(k, id, "%d of %d body bytes: %v", n, size, err)
		default:
			res.add(k, soOK)
		}
		if bad != "" || err != nil || resp.Close || k == skSlow {
			cl.drop(false)
		}

	case skPut, skPost, skPatch:
		method, path, n := "PUT", fmt.Sprintf("/echo/u%d", id), 64<<10
		switch k {
		case skPost:
			method, path, n = "POST", fmt.Sprintf("/echo/p%d", id), 1<<10
			if soakHash(uint64(id)^0xfeed)%5 < 2 {
				n = 200 << 10 // over client_body_buffer_size: spills
			}
		case skPatch:
			method, path, n = "PATCH", fmt.Sprintf("/echo/q%d", id), 2<<10
		}
		body := cl.fill(id, n)
		chunked := soakHash(uint64(id)^0xc4)%4 == 0
		resp, err := cl.send(id, method, prefix+path, body, chunked, true)
		status := 0
		defer func() {
			if k != skPut {
				res.mu.Lock()
				res.nonIdem[method+" "+path] = soakSent{target: prefix + path, bytes: n, chunked: chunked, status: status}
				res.mu.Unlock()
			}
		}()
		if err != nil {
			res.fail(k, id, "%v", err)
			return
		}
		status = resp.StatusCode
		switch {
		case resp.StatusCode == 200:
			got, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				cl.drop(false)
				res.fail(k, id, "echo: %d of %d bytes: %v", len(got), n, err)
			case !bytes.Equal(got, body):
				res.fail(k, id, "echo differs from the %d bytes sent (%d bytes back)", n, len(got))
			default:
				res.add(k, soOK)
			}
			if resp.Close {
				cl.drop(false)
			}
		case (resp.StatusCode == 502 || resp.StatusCode == 504) && k != skPut:
			if err := cl.finish(resp); err != nil {
				res.fail(k, id, "%d page: %v", resp.StatusCode, err)
				return
			}
			res.add(k, map[int]soakOutcome{502: so502, 504: so504}[resp.StatusCode])
		default:
			_ = cl.finish(resp)
			res.fail(k, id, "status %d", resp.StatusCode)
		}

	case skMid:
		resp, err := cl.send(id, "GET", fmt.Sprintf("%s/mid?id=%d", prefix, id), nil, false, true)
		if err != nil {
			res.fail(k, id, "%v", err)
			return
		}
		switch resp.StatusCode {
		case 200:
			n, bad, err := cl.readPattern(resp.Body, false)
			switch {
			case bad != "":
				res.fail(k, id, "%s: wrong body bytes at %d: %s; %s", prefix, n, bad, soakHead(resp))
			case err == nil && n == soakMidSize:
				res.add(k, soOK)
			case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
				res.add(k, soTruncated)
			default:
				res.fail(k, id, "%d of %d body bytes: %v", n, soakMidSize, err)
			}
			if bad != "" || err != nil || resp.Close {
				cl.drop(false)
			}
		case 502:
			if err := cl.finish(resp); err != nil {
				res.fail(k, id, "502 page: %v", err)
				return
			}
			res.add(k, so502)
		default:
			_ = cl.finish(resp)
			res.fail(k, id, "status %d", resp.StatusCode)
		}

	case skAbortFIN, skAbortRST:
		resp, err := cl.send(id, "GET", fmt.Sprintf("%s/size/%d?id=%d", prefix, 1<<20, id), nil, false, true)
		if err != nil {
			res.fail(k, id, "%v", err)
			return
		}
		if resp.StatusCode != 200 {
			res.fail(k, id, "status %d", resp.StatusCode)
		} else if _, err := io.ReadFull(resp.Body, cl.buf[:8<<10]); err != nil {
			res.fail(k, id, "the first 8 KiB: %v", err)
		} else {
			res.add(k, soAborted)
		}
		cl.drop(k == skAbortRST)

	case skAbortEarly:
		if _, err := cl.send(id, "GET", fmt.Sprintf("%s/size/%d?id=%d", prefix, 64<<10, id), nil, false, false); err != nil {
			res.fail(k, id, "%v", err)
			return
		}
		cl.drop(true)
		res.add(k, soAborted)

	case skAbortUpload:
		path := fmt.Sprintf("/echo/a%d", id)
		body := cl.fill(id, 200<<10)
		// A new connection: the upload must not meet an idle connection the
		// proxy is closing.
		if err := cl.dial(false); err != nil {
			res.fail(k, id, "dial: %v", err)
			return
		}
		_ = cl.c.SetDeadline(time.Now().Add(60 * time.Second))
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nX-Soak-Id: %d\r\nContent-Length: %d\r\n\r\n", prefix+path, id, len(body))
		bufs := net.Buffers{[]byte(head), body[:40<<10]}
		if _, err := bufs.WriteTo(cl.c); err != nil {
			cl.drop(false)
			res.fail(k, id, "sending: %v", err)
			return
		}
		cl.drop(id%2 == 1)
		res.mu.Lock()
		res.abandoned = append(res.abandoned, "POST "+path)
		res.mu.Unlock()
		res.add(k, soAborted)
	}
}
