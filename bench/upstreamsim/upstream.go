package upstreamsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// UpstreamConfig describes one misbehaving upstream. Start turns it into a
// running *Upstream; StartUpstream is the short form.
type UpstreamConfig struct {
	Name      string     // shown in logs; defaults to the address
	Addr      string     // "127.0.0.1:0" picks a free port
	Behaviors []Behavior // empty means ok
	// Log, when set, gets one line per request: which behaviour answered it.
	Log io.Writer
	// KeepBodies is how many request bodies Bodies keeps per method and
	// path (the most recent ones); 0 means 16, negative none (a soak with a
	// path per request would keep every body).
	KeepBodies int
	// Linger bounds how long a FIN-closing behaviour keeps reading what the
	// client still sends before the socket is closed; 0 means 2s.
	Linger time.Duration
}

// Upstream is a running misbehaving HTTP/1.1 origin on a real TCP socket.
// It is safe for concurrent use. Close stops it; an Upstream cannot be
// restarted. Every byte it sends is written by this package (no HTTP library
// sits between the behaviours and the socket), so RSTs, FINs and lengths are
// exactly what the behaviour says.
type Upstream struct {
	name string
	addr string
	ln   net.Listener // nil for refuse
	// refused holds a refusing upstream's port until Close.
	refused *reservation
	pol     policy
	rules   []*rule
	log     io.Writer
	logMu   sync.Mutex
	keep    int
	linger  time.Duration
	slab    []byte // read-only body pattern

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu       sync.Mutex // guards everything below
	closed   bool
	conns    map[streamConn]struct{}
	hits     map[string]int
	targets  map[string]int // "GET /path?query": the request target as received
	bodies   map[string][][]byte
	total    int
	accepted int
}

// policy is the connection-level part of the behaviours.
type policy struct {
	idle        time.Duration // 0: connections may idle forever
	idleRST     bool
	idleSilent  bool
	idleHint    string // "Keep-Alive: timeout=N" on keepalive responses; "" = none
	headLimit   int
	headReply   Reply
	maxRequests int
	bodyLimit   int64 // -1: none
	bodyReply   Reply
	expect      ExpectMode
	refuse      bool
}

// rule is a response behaviour plus its fail_ratio state.
type rule struct {
	b    Behavior
	mu   sync.Mutex
	seen int
	rng  *rand.Rand
}

const defaultHeadLimit = 1 << 20 // without header_limit: a memory guard, answered with 431

// StartUpstream listens on addr ("127.0.0.1:0" for an ephemeral port) and
// serves the behaviours; with none it serves ok.
func StartUpstream(addr string, behaviors ...Behavior) (*Upstream, error) {
	return UpstreamConfig{Addr: addr, Behaviors: behaviors}.Start()
}

// Start validates the behaviours and starts serving.
func (cfg UpstreamConfig) Start() (*Upstream, error) {
	u := &Upstream{
		name:   cfg.Name,
		log:    cfg.Log,
		keep:   cfg.KeepBodies,
		linger: cfg.Linger,
		done:   make(chan struct{}),
		conns:  make(map[streamConn]struct{}),
		hits:   make(map[string]int),
		bodies: make(map[string][][]byte),
		pol:    policy{headLimit: defaultHeadLimit, bodyLimit: -1},
	}
	u.targets = make(map[string]int)
	if u.keep == 0 {
		u.keep = 16
	}
	if u.linger <= 0 {
		u.linger = 2 * time.Second
	}
	if err := u.compile(cfg.Behaviors); err != nil {
		return nil, err
	}
	if u.pol.refuse {
		r, err := reserve(cfg.Addr)
		if err != nil {
			return nil, err
		}
		u.refused = r
		u.addr = r.addr
		close(u.done)
		u.closed = true
		return u, nil
	}
	ln, err := listen(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u.ln = ln
	u.addr = listenAddr(ln)
	if u.name == "" {
		u.name = u.addr
	}
	u.slab = make([]byte, 64<<10)
	const pattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
	for i := range u.slab {
		u.slab[i] = pattern[i%len(pattern)]
	}
	u.wg.Add(1)
	go u.acceptLoop()
	return u, nil
}

func (u *Upstream) compile(bs []Behavior) error {
	seenIdle := false
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		switch b.Kind {
		case KindIdleRST, KindIdleFIN:
			if seenIdle {
				return errors.New("upstream: only one of idle_rst and idle_fin")
			}
			seenIdle = true
			u.pol.idle, u.pol.idleRST, u.pol.idleSilent = b.D, b.Kind == KindIdleRST, b.Silent
			if b.Hint {
				u.pol.idleHint = "Keep-Alive: timeout=" + strconv.FormatInt(int64((b.D+time.Second-1)/time.Second), 10) + "\r\n"
			}
		case KindRefuse:
			u.pol.refuse = true
		case KindHeaderLimit:
			u.pol.headLimit, u.pol.headReply = int(b.N), b.Reply
		case KindKeepaliveRequests:
			u.pol.maxRequests = int(b.N)
		case KindBodyLimit:
			u.pol.bodyLimit, u.pol.bodyReply = b.N, b.Reply
		case KindExpect:
			u.pol.expect = b.Expect
		default:
			r := &rule{b: b}
			if b.Kind == KindFailRatio && b.Seed != 0 {
				r.rng = rand.New(rand.NewPCG(b.Seed, b.Seed^0x9e3779b97f4a7c15))
			}
			u.rules = append(u.rules, r)
		}
	}
	if u.pol.refuse && (len(bs) > 1) {
		return errors.New("upstream: refuse cannot be combined with other behaviours")
	}
	// The most specific path wins; among equals, the one written first.
	slices.SortStableFunc(u.rules, func(a, b *rule) int { return len(b.b.Path) - len(a.b.Path) })
	return nil
}

// Addr is the listening address, "127.0.0.1:PORT".
func (u *Upstream) Addr() string { return u.addr }

// URL is "http://" + Addr().
func (u *Upstream) URL() string { return "http://" + u.addr }

// Close stops the listener, closes every connection (stalls and waits end
// at once) and waits for all of the upstream's goroutines. It is idempotent.
func (u *Upstream) Close() error {
	var err error
	u.closeOnce.Do(func() {
		if u.refused != nil {
			err = u.refused.Close()
		}
		if u.ln == nil {
			return
		}
		u.mu.Lock()
		u.closed = true
		for c := range u.conns {
			_ = c.Close()
		}
		u.mu.Unlock()
		close(u.done)
		err = u.ln.Close()
		u.wg.Wait()
	})
	return err
}

// Hits is the number of requests for method and path (without query) whose
// head the upstream has read. A request that arrives on a connection that
// idle_rst/idle_fin silent has dropped is not counted: it never reaches the
// application.
func (u *Upstream) Hits(method, path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[method+" "+path]
}

// Total is the number of request heads read, all paths together
// (GET /__stats excluded).
func (u *Upstream) Total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.total
}

// Conns is the number of TCP connections accepted so far.
func (u *Upstream) Conns() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.accepted
}

// Bodies returns copies of the most recent request bodies (see
// UpstreamConfig.KeepBodies) the upstream read completely for method and
// path, oldest first. Bodies of requests it reset or closed before reading
// the body are not there.
func (u *Upstream) Bodies(method, path string) [][]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out [][]byte
	for _, b := range u.bodies[method+" "+path] {
		out = append(out, slices.Clone(b))
	}
	return out
}

// Stats is what GET /__stats returns as JSON.
type Stats struct {
	Total       int            `json:"total"`
	Connections int            `json:"connections"`
	Hits        map[string]int `json:"hits"`    // "GET /path" → count
	Targets     map[string]int `json:"targets"` // "GET /path?query" → count: the request target byte for byte
}

// Stats returns a snapshot of the counters.
func (u *Upstream) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := Stats{Total: u.total, Connections: u.accepted, Hits: make(map[string]int, len(u.hits)), Targets: make(map[string]int, len(u.targets))}
	for k, v := range u.hits {
		s.Hits[k] = v
	}
	for k, v := range u.targets {
		s.Targets[k] = v
	}
	return s
}

func (u *Upstream) count(r *request) {
	u.mu.Lock()
	u.total++
	u.hits[r.key()]++
	u.targets[r.method+" "+r.target]++
	u.mu.Unlock()
}

func (u *Upstream) recordBody(r *request, body []byte) {
	if u.keep < 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := r.key()
	bs := append(u.bodies[k], slices.Clone(body))
	if len(bs) > u.keep {
		bs = slices.Delete(bs, 0, len(bs)-u.keep)
	}
	u.bodies[k] = bs
}

func (u *Upstream) logf(format string, a ...any) {
	if u.log == nil {
		return
	}
	u.logMu.Lock()
	defer u.logMu.Unlock()
	fmt.Fprintf(u.log, "%s %s ", time.Now().Format("15:04:05.000"), u.name)
	fmt.Fprintf(u.log, format, a...)
	fmt.Fprintln(u.log)
}

func (u *Upstream) acceptLoop() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		tc := c.(streamConn)
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			_ = tc.Close()
			return
		}
		u.conns[tc] = struct{}{}
		u.accepted++
		u.wg.Add(1)
		u.mu.Unlock()
		go u.serveConn(tc)
	}
}

// wait sleeps for d; false means the upstream is closing.
func (u *Upstream) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-u.done:
		return false
	}
}

// pick returns the behaviour that answers r.
func (u *Upstream) pick(r *request) Behavior {
	for _, ru := range u.rules {
		b := ru.b
		if (b.Path != "" && !hasPathPrefix(r.path, b.Path)) || (b.Method != "" && b.Method != r.method) {
			continue
		}
		if b.Kind != KindFailRatio {
			return b
		}
		if ru.fire() {
			return *b.Inner
		}
	}
	return OK()
}

func hasPathPrefix(path, prefix string) bool {
	return len(path) >= len(prefix) && path[:len(prefix)] == prefix
}

// fire decides one fail_ratio request. Without a seed the decisions are
// spread evenly: request n fires when ceil(n·P) grows, so the first
// request fails and then one in every 1/P.
func (r *rule) fire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	if r.rng != nil {
		return r.rng.Float64() < r.b.P
	}
	n := float64(r.seen)
	return math.Ceil(n*r.b.P-1e-9) > math.Ceil((n-1)*r.b.P-1e-9)
}

// ending is how a connection is finished.
type ending int

const (
	keepOpen  ending = iota // read the next request
	endClose                // close(): FIN, nothing left unread
	endLinger               // FIN, then discard what the client still sends
	endReset                // RST after everything written was delivered
	endGone                 // nothing more to do (write failed or upstream closing)
)

func (u *Upstream) serveConn(c streamConn) {
	defer u.wg.Done()
	s := &session{u: u, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 32<<10)}
	end := s.loop()
	switch end {
	case endLinger:
		lingeringClose(c, u.linger)
	case endReset:
		waitSent(c, 5*time.Second, u.done)
		resetConn(c)
	default:
		_ = c.Close()
	}
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
}

// session is one client connection.
type session struct {
	u  *Upstream
	c  streamConn
	br *bufio.Reader
	bw *bufio.Writer
}

func (s *session) loop() ending {
	pol := &s.u.pol
	lastActive := time.Now()
	for served := 1; ; served++ {
		// idle_rst and idle_fin time keepalive connections, between two
		// requests; a new connection waits for its first request as long as
		// the client takes (a server's header timeout, not modelled), or a
		// proxy slow to write after its connect (a loaded machine) would
		// see a fresh connection closed (TestStaleKeepaliveSoak).
		keepalive := served > 1
		if pol.idle > 0 && !pol.idleSilent && keepalive {
			if err := s.awaitRequest(pol.idle); err != nil {
				return s.headFailed(err)
			}
		}
		req, err := readHead(s.br, pol.headLimit)
		if err != nil {
			return s.headFailed(err)
		}
		_ = s.c.SetReadDeadline(time.Time{})
		if pol.idleSilent && keepalive && req.readAt.Sub(lastActive) >= pol.idle {
			// The state was dropped: the request never reaches the application.
			s.u.logf("%s %s after %s idle → dropped connection", req.method, req.target, req.readAt.Sub(lastActive).Round(time.Millisecond))
			if pol.idleRST {
				return endReset
			}
			return endLinger
		}
		closeAfter := req.wantClose || (pol.maxRequests > 0 && served >= pol.maxRequests)
		if req.method == "GET" && req.path == "/__stats" {
			if end := s.stats(req, closeAfter); end != keepOpen {
				return end
			}
			lastActive = time.Now()
			continue
		}
		s.u.count(req)
		if pol.bodyLimit >= 0 && req.contentLength > pol.bodyLimit {
			s.u.logf("%s %s → body_limit %d (Content-Length %d)", req.method, req.target, pol.bodyLimit, req.contentLength)
			return s.bodyTooLarge(req)
		}
		b := s.u.pick(req)
		s.u.logf("%s %s → %s", req.method, req.target, b)
		if end := s.act(b, req, closeAfter); end != keepOpen {
			return end
		}
		lastActive = time.Now()
	}
}

// awaitRequest waits for the first byte of the next request on a keepalive
// connection and fails with a timeout once the connection has been idle for
// idle (idle_rst, idle_fin). The connection is idle only once the peer has
// acknowledged every byte of the last response: until then the timer is not
// armed, however long a slow reader behind the peer takes. Starting it when
// write(2) returned, as this did, reset connections that were still
// delivering a response, and the RST discarded the response's tail from the
// send queue (TestFaultSoak's slow GETs cut short; TestIdleRSTSlowReader).
// The deadline stays set for the rest of the head, as before.
func (s *session) awaitRequest(idle time.Duration) error {
	for {
		wait := idle
		n, err := unsentBytes(s.c)
		delivering := err == nil && n > 0
		if delivering {
			wait = min(idle, time.Millisecond) // look again soon
		}
		_ = s.c.SetReadDeadline(time.Now().Add(wait))
		_, err = s.br.Peek(1)
		var ne net.Error
		if err == nil || !delivering || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
	}
}

func (s *session) headFailed(err error) ending {
	var ne net.Error
	switch {
	case errors.Is(err, errHeadTooLarge):
		s.u.logf("request head over %d bytes → header_limit reply %s", s.u.pol.headLimit, s.u.pol.headReply)
		switch s.u.pol.headReply {
		case ReplyReset:
			return endReset
		case Reply400:
			return s.simple(400, "400 Bad Request: request header too large\n")
		default:
			return s.simple(431, "431 Request Header Fields Too Large\n")
		}
	case errors.Is(err, errBadRequest):
		return s.simple(400, "400 Bad Request\n")
	case errors.As(err, &ne) && ne.Timeout():
		// The idle timer of idle_rst / idle_fin (and a client that stopped
		// half-way through a head, like a header timeout).
		if s.u.pol.idleRST {
			return endReset
		}
		return endClose
	}
	return endClose // EOF, reset by the client, or upstream closing
}

// simple answers with a short text body and Connection: close.
func (s *session) simple(code int, body string) ending {
	s.head(code, nil, true, fmt.Sprintf("Content-Length: %d", len(body)), "Content-Type: text/plain")
	s.bw.WriteString(body)
	if s.bw.Flush() != nil {
		return endGone
	}
	return endLinger
}

func (s *session) stats(req *request, closeAfter bool) ending {
	if _, end, ok := s.body(req, false); !ok {
		return end
	}
	js, _ := json.Marshal(s.u.Stats())
	js = append(js, '\n')
	s.head(200, req, closeAfter, fmt.Sprintf("Content-Length: %d", len(js)), "Content-Type: application/json")
	s.bw.Write(js)
	return s.finish(closeAfter)
}

// bodyTooLarge answers a body over body_limit before reading it, like nginx
// answers 413 to a too large Content-Length.
func (s *session) bodyTooLarge(req *request) ending {
	switch s.u.pol.bodyReply {
	case ReplyReset:
		return endReset
	case Reply413Close:
		if s.simple(413, "413 Request Entity Too Large\n") == endGone {
			return endGone
		}
		return endClose // no draining: unread body bytes make this an RST
	}
	return s.simple(413, "413 Request Entity Too Large\n")
}

// body reads the request body, honouring Expect: 100-continue and
// body_limit, and records it. ok=false means the connection must end with end.
func (s *session) body(req *request, record bool) (body []byte, end ending, ok bool) {
	if !req.hasBody() {
		return nil, keepOpen, true
	}
	if req.expect100 {
		switch s.u.pol.expect {
		case ExpectContinue:
			s.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if s.bw.Flush() != nil {
				return nil, endGone, false
			}
		case ExpectReject:
			return nil, s.simple(417, "417 Expectation Failed\n"), false
		}
	}
	body, err := readBody(s.br, req, s.u.pol.bodyLimit)
	if errors.Is(err, errBodyTooLarge) {
		return nil, s.bodyTooLarge(req), false
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, endReset, false // kill_after's deadline
		}
		return nil, endClose, false
	}
	if record {
		s.u.recordBody(req, body)
	}
	return body, keepOpen, true
}

// head writes a status line and headers. req may be nil (connection-level
// errors). Callers add Content-Length or Transfer-Encoding themselves.
func (s *session) head(code int, req *request, closeAfter bool, extra ...string) {
	fmt.Fprintf(s.bw, "HTTP/1.1 %d %s\r\nServer: spillway-upstream\r\n", code, statusText(code))
	for _, h := range extra {
		s.bw.WriteString(h)
		s.bw.WriteString("\r\n")
	}
	switch {
	case closeAfter:
		s.bw.WriteString("Connection: close\r\n")
	case req != nil && req.http10:
		s.bw.WriteString("Connection: keep-alive\r\n")
	}
	if !closeAfter {
		s.bw.WriteString(s.u.pol.idleHint)
	}
	s.bw.WriteString("\r\n")
}

// pattern writes n bytes of the body pattern.
func (s *session) pattern(n int64) {
	for n > 0 {
		k := min(n, int64(len(s.u.slab)))
		s.bw.Write(s.u.slab[:k])
		n -= k
	}
}

// patternOneWrite is pattern in a single Write, so that the body's last
// bytes and whatever follows them (LengthMismatch's extra bytes) leave in
// the same system call: written apart, the proxy could read the last body
// byte, keep the connection and reuse it before the extra bytes arrive,
// a race of the test rig, not of the proxy (an upstream's bytes that are
// sent later are another scenario).
func (s *session) patternOneWrite(n int64) {
	if n <= int64(len(s.u.slab)) {
		s.bw.Write(s.u.slab[:n])
		return
	}
	b := make([]byte, n)
	for i := int64(0); i < n; i += int64(len(s.u.slab)) {
		copy(b[i:], s.u.slab)
	}
	s.bw.Write(b)
}

// finish flushes a complete response and says whether to keep the connection.
func (s *session) finish(closeAfter bool) ending {
	if s.bw.Flush() != nil {
		return endGone
	}
	if closeAfter {
		return endLinger
	}
	return keepOpen
}
