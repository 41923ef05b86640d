package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/buffer"
	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/liveset"
	"spillway/proxy/upstream"
)

// Proxy is a running spillway: listeners, the current site, upstream
// connection caches and logs. All state hangs off it (no globals), so tests
// run many proxies side by side. Methods are safe for concurrent use.
type Proxy struct {
	elog      *errorlog.Log
	ownsElog  bool
	site      atomic.Pointer[site]
	transport upstream.Transport
	connIDs   atomic.Uint64 // nginx's *N: shared by client and upstream connections
	tempNums  atomic.Uint64 // nginx's ngx_next_temp_number: multipart/byteranges boundaries (files.go)
	stale     upstream.StaleStats
	full      diskFull // what a lack of temp space did (diskfull.go)
	exchanges sync.Pool
	now       func() time.Time
	budget    *buffer.Budget // http.buffer_memory_limit, shared by every body and spool
	bodies    reqBodies      // request-body chunk pools and pooled bodies (body.go)
	copyBufs  sync.Pool      // *[]byte for reading upstream bodies into spools
	tunBufs   sync.Map       // size → *sync.Pool of *[]byte: tunnels' copy buffers (tunnel.go)
	clients   liveset.Set[*clientConn]
	requests  inflight
	health    upstream.HealthChecks // health_check: started by Start, stopped by stop
	logs      logSet                // access logs, shared by generations
	accepts   atomic.Int64          // connections accepted (stub_status "accepts")
	handled   atomic.Int64          // connections handed to a server ("handled")
	stats     *stats                // counters for metrics and stub_status
	pid       int                   // $pid
	hostname  string                // $hostname
	fds       *fdReserve            // descriptors kept for accepted clients (fdreserve.go)
	inherited inheritedSet          // sockets from the previous binary (Options.Inherited)
	// idle parks idle keep-alive client connections without a goroutine
	// (conn.go), in one poller per P (idlepollers.go); nil: each waits in
	// its own goroutine.
	idle *idlePollers
	// watches are the client watches' pending lists, one per P
	// (clientabort_sweep.go).
	watches []watchList

	// mu serialises Start, Reload and Shutdown and guards what they change.
	mu        sync.Mutex
	acceptors map[string]*acceptor   // by listen address
	order     []*acceptor            // in the order they were opened (Addrs)
	quic      map[string]*h3Listener // the QUIC addresses, kept across reloads (http3.go)
	gen       *generation            // the running configuration; nil before Start and after Shutdown
	metrics   *metricsServer         // metrics.listen; nil without one
	retiring  sync.WaitGroup         // old generations still draining
	hardStop  <-chan struct{}        // closed when the stop may no longer wait: stopCtx.Done()
	stopping  chan struct{}          // closed when Shutdown begins: retired generations end their grace
	done      chan struct{}
	wg        sync.WaitGroup

	// stopCtx is done when a stop may no longer wait (Shutdown out of
	// time, Close), with errHardStop as its cause: every request's
	// context (cancel.go) derives from it.
	stopCtx context.Context
	stopNow context.CancelCauseFunc
}

// Options are what a caller may inject; the zero value is production.
type Options struct {
	ErrorLog *errorlog.Log    // nil: opened from cfg.ErrorLog
	Now      func() time.Time // nil: time.Now (passive health clock)
	// Inherited are listening sockets passed on by the previous binary,
	// by configured listen address; Start serves them instead of binding.
	Inherited map[string]net.Listener
}

// New builds a proxy from a loaded config without opening listeners.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	p := &Proxy{elog: opts.ErrorLog, now: opts.Now, acceptors: map[string]*acceptor{}, quic: map[string]*h3Listener{},
		stopping: make(chan struct{}), done: make(chan struct{})}
	p.stopCtx, p.stopNow = context.WithCancelCause(context.Background())
	p.hardStop = p.stopCtx.Done()
	p.stats = newStats()
	p.pid = os.Getpid()
	p.hostname, _ = os.Hostname()
	p.fds = newFDReserve()
	p.watches = newWatchLists(runtime.GOMAXPROCS(0))

	p.inherited.lns = opts.Inherited
	p.exchanges.New = func() any { return &exchange{exchangeKept: exchangeKept{uresp: new(fasthttp.Response)}} }
	p.copyBufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	p.budget = buffer.NewBudget(cfg.BufferMemoryLimit)
	p.budget.SetTempLimit(cfg.TempFileLimit)
	p.bodies.init(p.budget)
	if p.elog == nil {
		l, err := errorlog.OpenAll(cfg.AllErrorLogs(), errorlog.Options{})
		if err != nil {
			return nil, err
		}
		p.elog, p.ownsElog = l, true
	}
	s, err := p.prepare(cfg, nil)
	if err != nil {
		p.closeLogs()
		return nil, err
	}
	p.site.Store(s)
	return p, nil
}

// ReopenLogs reopens every error log and every access log at their paths
// (SIGUSR1, after logrotate renamed them). A log that cannot be reopened
// keeps its old file; the first error is returned.
func (p *Proxy) ReopenLogs() error {
	err := p.elog.Reopen()
	if aerr := p.logs.reopen(); err == nil {
		err = aerr
	}
	return err
}

// BufferStats reports the buffer budget's counters (chunks in use, bytes
// spilled, temp files open) for metrics and tests.
func (p *Proxy) BufferStats() buffer.Stats { return p.budget.Stats() }

// Validate checks what Load cannot (variables, proxy_pass addresses)
// without opening anything: `spillway check` runs it after config.Load.
func Validate(cfg *config.Config) error {
	_, err := buildSite(cfg, nil, nil)
	return err
}

// Start opens every listen address and serves in the background. A bind
// failure is reported with nginx's wording and nothing is left open.
func (p *Proxy) Start() error {
	p.mu.Lock()
	s := p.site.Load()
	opened, err := p.listen(s)
	var quicOpened map[string]*h3Listener
	if err == nil {
		if quicOpened, err = p.listenQUIC(s); err != nil {
			for _, ln := range opened {
				_ = ln.Close()
			}
		}
	}
	if err == nil && s.cfg.MetricsListen != "" {
		if p.metrics, err = p.startMetrics(s.cfg.MetricsListen); err != nil {
			for _, ln := range opened {
				_ = ln.Close()
			}
			for _, l := range quicOpened {
				l.close()
			}
		}
	}
	if err != nil {
		p.mu.Unlock()
		p.Close()
		return err
	}
	if pl, err := newIdlePollers(runtime.GOMAXPROCS(0)); err == nil {
		p.idle = pl
	} else {
		p.elog.Logf(errorlog.Notice, "idle connections wait in a goroutine each: %v", err)
	}
	p.installQUIC(s, quicOpened) // first: install points the QUIC listeners at s's generation
	p.install(s, opened)
	p.mu.Unlock()
	p.wg.Add(1)
	go p.reaper()
	return nil
}

func bindError(addr string, err error) error {
	if errno := errorlog.ErrnoOf(err); errno != 0 {
		return fmt.Errorf("bind() to %s failed (%d: %s)", addr, int(errno), errorlog.StrError(errno))
	}
	return fmt.Errorf("bind() to %s failed: %w", addr, err)
}

// Addrs returns the bound listen addresses (useful with port 0).
func (p *Proxy) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.order))
	for i, a := range p.order {
		out[i] = a.ln.Addr().String()
	}
	return out
}

// fasthttpLogger routes fasthttp's own messages to the error log at info,
// where nginx logs client-side connection errors.
type fasthttpLogger struct{ p *Proxy }

func (l fasthttpLogger) Printf(format string, args ...any) {
	lv := errorlog.Info
	if strings.HasPrefix(format, "error when serving connection") {
		// A body that failed mid-way: spillway has already written
		// nginx's line for it (upstream or client side).
		lv = errorlog.Debug
	}
	l.p.elog.Logf(lv, format, args...)
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is
// done, then closes idle upstream connections and logs.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	for _, a := range p.order {
		a.close()
		<-a.done
	}
	p.acceptors, p.order = map[string]*acceptor{}, nil
	p.shutdownQUIC()
	p.metrics.close()
	p.metrics = nil
	select {
	case <-p.stopping:
	default:
		close(p.stopping)
	}
	gen := p.gen
	p.gen = nil
	if gen != nil {
		p.retire(gen, 0)
	}
	p.mu.Unlock()
	retired := make(chan struct{})
	go func() { p.retiring.Wait(); close(retired) }()
	var err error
	select {
	case <-retired:
	case <-ctx.Done():
		// Out of time: drop what is left, client and upstream side, and
		// wait for those requests to unwind before the logs close. The
		// requests' contexts end their dials, backoff pauses and header
		// reads; closed sockets end the rest.
		err = ctx.Err()
		p.stopNow(errHardStop)
		p.clients.CloseAll()
		p.transport.CloseAll()
		<-retired // each generation's requests unwound (unwind)
	}
	p.stop()
	return err
}

// unwindLimit is how long a hard stop waits for the requests it canceled.
const unwindLimit = 5 * time.Second

// unwind waits, after a hard stop, for the requests it canceled to end, so
// that their access-log lines are written before the logs close: no
// polling, the last request to end closes the channel waited on. A request
// stuck where no stop reaches must not hold the process: past unwindLimit
// the logs close under it.
func (p *Proxy) unwind() {
	t := time.NewTimer(unwindLimit)
	defer t.Stop()
	select {
	case <-p.requests.idleCh():
	case <-t.C:
		p.elog.Logf(errorlog.Alert, "%d requests still in flight %v after a hard stop", p.requests.n.Load(), unwindLimit)
	}
}

// Close stops at once.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Shutdown(ctx)
	return nil
}

func (p *Proxy) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
	if p.idle != nil {
		_ = p.idle.Close() // the connections still parked end (conn.go's wake)
	}
	p.health.Stop() // before the logs close: checkers log
	for _, g := range p.site.Load().groups {
		g.CloseIdle()
	}
	p.closeLogs()
}

func (p *Proxy) closeLogs() {
	p.logs.closeAll()
	if p.ownsElog {
		_ = p.elog.Close()
	}
}

// reaper closes upstream connections idle past keepalive_timeout.
func (p *Proxy) reaper() {
	defer p.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			for _, g := range p.site.Load().groups {
				g.Reap(now, idleLog{p})
			}
		}
	}
}

// StaleStats reports idle upstream connections found dead before reuse.
func (p *Proxy) StaleStats() (fin, rst, expired, reused int64) {
	return p.stale.FIN.Load(), p.stale.RST.Load(), p.stale.Expired.Load(), p.stale.Reused.Load()
}

func (p *Proxy) nextConnID() uint64 { return p.connIDs.Add(1) }

// clientConn is an accepted client connection, numbered from the proxy's
// shared counter (nginx's *N). It embeds *net.TCPConn (not net.Conn) so
// ReadFrom, and with it sendfile for temp-file bodies, stays visible to
// fasthttp's writer.
type clientConn struct {
	*net.TCPConn
	id   uint64
	p    *Proxy
	gen  *generation        // the configuration serving it
	pp   *client.ProxyProto // "listen ... proxy_protocol"; nil otherwise (package client)
	idle atomic.Bool        // between requests (stub_status "Waiting")
	// active: a request's first byte has arrived (fasthttp's StateActive);
	// a timeout before it is nginx's "while waiting for request".
	active atomic.Bool
	head   client.HeadLF // the current request head's bare LFs (package client)
	closed atomic.Bool   // Close ran: HTTP/2's server and the loop both close it
	// wait is when the connection began waiting for a request (unix
	// seconds; a new one's counts from 5 s after it opened), 0 while a
	// request is read or served, waitClaimed once a drain closed it (conn.go).
	wait     atomic.Int64
	hijack   fasthttp.HijackHandler // the request's hijack, taken by the loop (conn.go)
	requests uint64                 // requests so far: $connection_requests
	linger   config.Lingering       // a refused Expect: 100-continue's location's: the discard's waits (conn.go)
	wrote    atomic.Bool            // written since the last read: the next read yields first (Read)

	start time.Time // accepted: $connection_time, keepalive_time
	// remote is the client's address and remoteText its text, taken once
	// as the connection was accepted (noteRemote): begin copies them.
	remote     netip.AddrPort
	remoteText []byte
	// keepalive is the request's last location's keepalive_* (its
	// server's without one), set as the request is served and taken by the
	// loop after it (keepalive.go); log is that location's error log, where
	// nginx writes "closed keepalive connection".
	keepalive    *config.Keepalive
	log          *errorlog.Log
	closedLogged atomic.Bool // "closed keepalive connection" written (keepalive.go)
	// answering: the loop writes the answer of the request being served
	// (conn.go); finish then leaves the exchange in answered for the
	// loop's lines about that write (clientwrite.go).
	answering bool
	answered  *exchange
	// sent is nginx's c->sent: the bytes of the current request's answer
	// the socket took (its 100 Continue, head and body, a tunnel's bytes),
	// zeroed by the loop as each request begins; the plain bytes under
	// TLS (frontConn.Write), so Write does not count once sealed. Atomic:
	// the spool's passthrough writes from its producer (respond.go).
	sent   atomic.Int64
	sealed bool
	// holder, set by a spooled response's direct writer until its body's
	// WriteTo begins (respond.go, spool.go), takes the loop's flush of the
	// response head, to send it with the body's first bytes.
	holder *client.SocketWriter
	// limit is the answer's limit_rate while the loop writes it (set by
	// noteRate, cleared by answered; limitrate.go).
	limit rateLimit
}

// Read is what the loop reads on a plain connection: each head with its
// bare LFs made CRLF (client.HeadLF), then the bytes as they come, after a
// PROXY protocol header (proxyproto.go).
func (c *clientConn) Read(b []byte) (int, error) {
	if c.wrote.Load() && c.wrote.Swap(false) {
		yieldBeforeRead()
	}
	return c.head.Read(c.readRaw, b)
}

// Write marks the connection as written for the next Read.
func (c *clientConn) Write(b []byte) (int, error) {
	c.wrote.Store(true)
	if c.holder != nil {
		c.holder.Hold(b) // written and counted with the body's first bytes
		return len(b), nil
	}
	var n int
	var err error
	if c.limit.on() {
		n, err = c.limit.write(b, c.TCPConn.Write, c.p.stopCtx.Done(), c.renewSend) // limit_rate (limitrate.go)
	} else {
		n, err = c.TCPConn.Write(b)
	}
	if !c.sealed {
		c.sent.Add(int64(n)) // $bytes_sent (nginx's c->sent)
	}
	return n, err
}

// ReadFrom is the socket's (sendfile for a file), a step at a time at
// limit_rate when the answer has one; counted for $bytes_sent.
func (c *clientConn) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if c.limit.on() {
		n, err = c.limit.readFrom(c.TCPConn, r, c.p.stopCtx.Done(), c.renewSend)
	} else {
		n, err = c.TCPConn.ReadFrom(r)
	}
	if !c.sealed {
		c.sent.Add(n)
	}
	return n, err
}

// renewSend renews send_timeout after a limit_rate pause, which is not
// the client's.
func (c *clientConn) renewSend() {
	if st := c.limit.sendTimeout; st > 0 {
		_ = c.TCPConn.SetWriteDeadline(time.Now().Add(st))
	}
}

// Close closes the socket before anything else, and a second Close (a hard
// stop's CloseAll racing the request's own) closes it too before it
// returns: a caller that closed the connection to send nothing more must
// find it closed, or fasthttp writes its response into it.
func (c *clientConn) Close() error {
	if c.closed.Swap(true) {
		_ = c.TCPConn.Close()
		return net.ErrClosed
	}
	err := c.TCPConn.Close()
	c.p.clients.Remove(c)
	if c.gen != nil {
		c.gen.clients.Remove(c)
	}
	c.p.fds.closed()
	return err
}

func connID(ctx *fasthttp.RequestCtx) uint64 {
	nc := ctx.Conn()
	if s, ok := nc.(*h2Stream); ok {
		nc = s.conn // an HTTP/2 stream: its connection's number, as nginx logs
		if q, ok := nc.(*quicConn); ok {
			return q.id // an HTTP/3 stream: its QUIC connection's
		}
	}
	if c := clientConnOf(nc); c != nil { // through TLS too (tls.go)
		return c.id
	}
	return ctx.ConnID()
}

func sysErrno(e uintptr) syscall.Errno { return syscall.Errno(e) }

// finish frees what the request held and, once its answer is written,
// logs it and recycles the exchange: here, or, for an answer the
// connection loop writes after serve, in the loop's answered
// (clientwrite.go), as nginx logs at the request's finalization, after
// the answer went to the socket or failed ($bytes_sent, $request_time).
func (x *exchange) finish() {
	if x.cur != nil && x.cur.Conn != nil {
		x.release(x.cur, false)
	}
	x.grpc.EndBody()    // HTTP/2 upstreams: http2 reads the body no more (grpc.go)
	release(x.connHeld) // limit_conn (limitconn.go)
	if cc := x.loopWrites(); cc != nil {
		cc.answered = x // logged and recycled once the answer is written (clientwrite.go)
	} else {
		x.logged()
		x.recycle()
	}
}

// logged writes the access-log line of a request whose answer was
// written (or failed), then closes its body and counts it; the request is
// then no longer in flight (a stop waits for its line before it closes
// the logs).
func (x *exchange) logged() {
	x.takeSent()
	x.site.writeAccess(x.accessLogs(), x)
	if x.body != nil {
		// After the log line: $request_body reads it, $request_length its
		// size, and a closed buffered body is back in its pool, another
		// request's.
		_ = x.body.Close()
	}
	p := x.p
	p.stats.request(x.status, time.Since(x.start))
	p.requests.end()
}

// logDecision states what nginx's log does not: whether a failed attempt
// (ue), or an answer with a status proxy_next_upstream lists (ue nil), is
// passed to the next server, and why (info level, after nginx's own line).
func (x *exchange) logDecision(ue *upstream.Error, status int, v retryVerdict, a *upstream.Attempt, addr string) {
	lv := errorlog.Info
	if !x.log().Enabled(lv) {
		return
	}
	msg := "not retried: " + v.Why
	if v.Retry {
		msg = "retrying: " + v.Why
	}
	if ue == nil {
		msg += " (upstream sent " + strconv.Itoa(status) + ")"
		x.logPeer(lv, upstream.PhaseReadHeader, msg, 0, addr)
		return
	}
	if ue.Reused {
		msg += " (" + reuseNote(a.Idle, ue.Kind) + ")"
	}
	x.logPeer(lv, ue.Phase, msg, ue.Errno(), addr)
}

// reuseNote says how long a reused connection that failed had been idle
// and how it was found closed. A connection idle for less than a
// millisecond was not "idle 0.000s" in any useful sense: the upstream
// closed it right after its previous response without saying so
// (no Connection: close), and the note says that.
func reuseNote(idle time.Duration, k upstream.Kind) string {
	how := ""
	switch k {
	case upstream.KindReset:
		how = "closed by RST"
	case upstream.KindClosed:
		how = "closed by FIN"
	}
	if idle < time.Millisecond {
		if how == "" {
			return "reused connection, idle under 0.001s"
		}
		return "reused connection, idle under 0.001s: " + how + " right after the previous response"
	}
	note := "reused connection, idle " + strconv.FormatFloat(idle.Seconds(), 'f', 3, 64) + "s"
	if how != "" {
		note += ", " + how
	}
	return note
}

// clientError answers requests fasthttp could not parse, with nginx's
// status and info-level line, and, as nginx, an access-log line and a count
// for every request it read a byte of (logRefused, clienterr.go).
func (p *Proxy) clientError(ctx *fasthttp.RequestCtx, s *site, vhosts []*vhost, err error) {
	vh := vhosts[0]
	lv := errorlog.Info
	f := errorlog.Fields{Server: vh.name}
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		f.Client = a.AddrPort().Addr().Unmap().String()
	}
	conn := connID(ctx)
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, client.ErrBrokenHeader):
		// A "listen ... proxy_protocol" connection without a valid
		// header: logged as it was read (proxyproto.go); nginx closes
		// without an answer or an access-log line.
		_ = ctx.Conn().Close()
	case errors.As(err, &small):
		vh = headSoFar(err, vhosts, &f) // the request line, host and server nginx has by then
		p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: conn, Msg: "client sent too long header line", Action: "reading client request headers", Fields: &f})
		if p.refusedPage(ctx, s, vh, &f, 494) { // the server's error_page (errorpage.go)
			return
		}
		writePage(ctx, 494)
		p.logRefused(ctx, s, vh, &f, conn, 400, len(ctx.Response.Body()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The client closed inside the first 8 KiB of body, which fasthttp
		// reads ahead of the handler: nginx logs it and closes without an
		// answer. fasthttp has reset the request by now, so the line lacks
		// nginx's request and host fields, and so does the access-log
		// line (nginx: 400, nothing sent).
		p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: conn, Msg: "client prematurely closed connection", Fields: &f})
		p.logRefused(ctx, s, vh, &f, conn, fasthttp.StatusBadRequest, 0)
		_ = ctx.Conn().Close()
	case waitingForRequest(ctx) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		// The client left before a byte of a first request (the loop
		// calls here only then): nginx's lines, with the listen address
		// as server, and no access-log line.
		f.Server = ctx.LocalAddr().String()
		e := &errorlog.Entry{Level: lv, Conn: conn, Msg: "client closed connection", Action: "waiting for request", Fields: &f}
		if !errors.Is(err, io.EOF) {
			e.Msg, e.Errno = "recv() failed", syscall.ECONNRESET
		}
		p.errorLog(vh, nil).Write(e)
		_ = ctx.Conn().Close()
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		if waitingForRequest(ctx) {
			// Not a byte came: nginx's "while waiting for request", with
			// the listen address as server, and no request, so no
			// access-log line.
			f.Server = ctx.LocalAddr().String()
			p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: conn, Msg: "client timed out", Errno: syscall.ETIMEDOUT, Action: "waiting for request", Fields: &f})
			_ = ctx.Conn().Close()
			break
		}
		// nginx's lines have what came of the request line and the
		// headers: the error line its request and host, the access log
		// 408, nothing sent.
		vh = headSoFar(err, vhosts, &f)
		action := "reading client request headers"
		if !client.LineEnded(err) {
			action = "reading client request line"
		}
		p.errorLog(vh, nil).Write(&errorlog.Entry{Level: lv, Conn: conn, Msg: "client timed out", Errno: syscall.ETIMEDOUT, Action: action, Fields: &f})
		p.logRefused(ctx, s, vh, &f, conn, fasthttp.StatusRequestTimeout, 0)
		_ = ctx.Conn().Close()
	default:
		// A request line or head fasthttp refused: nginx's line for it
		// (package client, parseerr.go).
		e := client.ParseErrorEntry(err, serverName(vhosts), f, conn)
		if e.Fields.Host != "" {
			vh = vhostFor(vhosts, []byte(e.Fields.Host)) // nginx chose the server by then
		}
		p.errorLog(vh, nil).Write(e)
		// 400, or 501 for "Transfer-Encoding: gzip"
		status := client.ParseErrorStatus(err)
		if p.refusedPage(ctx, s, vh, e.Fields, status) { // the server's error_page (errorpage.go)
			return
		}
		writePage(ctx, status)
		p.logRefused(ctx, s, vh, e.Fields, conn, status, len(ctx.Response.Body()))
	}
}

// waitingForRequest: not a byte of the connection's first request came
// (nginx's "while waiting for request").
func waitingForRequest(ctx *fasthttp.RequestCtx) bool {
	c := clientConnOf(ctx.Conn())
	return c != nil && !c.active.Load()
}

// accessLogs are the access_log lines of the request: those of the
// location that finally handled it (after try_files, error_page and other
// internal redirects, as nginx), or the server's when no location did.
func (x *exchange) accessLogs() []config.AccessLog {
	if x.loc != nil && x.loc.conf != nil && x.loc.conf.AccessLogs != nil {
		return x.loc.conf.AccessLogs
	}
	return x.vh.conf.AllAccessLogs()
}
