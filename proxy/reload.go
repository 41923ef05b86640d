package proxy

// Listeners that outlive a reload, and the generations they serve.
//
// Every listen address is owned by an acceptor for as long as some
// configuration lists it. The acceptor accepts connections and hands each
// one, through a handoff (a net.Listener fed by a channel), to the current
// generation's h1Server for that address (conn.go). A generation is what
// one configuration runs: its site, and one h1Server per address built
// from that site's server blocks.
//
// Reload builds a new site and a new generation, opens the addresses that
// are new, points every acceptor at the new generation and closes the
// addresses that are gone. The old generation is then shut down in the
// background, as nginx's old worker processes are: it takes no new
// connection, finishes the requests it has, answers them with
// "Connection: close" and closes its idle keepalive connections. A listening
// socket is never closed for an address both configurations have, so no
// connection is refused during a reload.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/accesslog"
	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/liveset"
)

// acceptor owns one listening socket across generations.
type acceptor struct {
	addr string // as configured ("127.0.0.1:8080")
	ln   net.Listener
	cur  atomic.Pointer[handoff] // the current generation's server for addr
	done chan struct{}           // closed when the accept loop has returned
	stop chan struct{}           // closed by close: ends a loop paused for descriptors
	once sync.Once
}

// close closes the listening socket and ends the accept loop, also one
// paused for descriptors (fdreserve.go).
func (a *acceptor) close() {
	a.once.Do(func() { close(a.stop) })
	_ = a.ln.Close()
}

// handoff is the net.Listener a generation's h1Server serves: it
// yields the connections its acceptor hands over, until it is closed.
type handoff struct {
	addr  net.Addr
	gen   *generation
	conns chan *clientConn
	done  chan struct{}
	once  sync.Once
	front *frontAddr // "listen ... ssl": wraps each connection in TLS (tls.go); nil otherwise
	// proxyProtocol: "listen ... proxy_protocol", each connection starts
	// with a PROXY protocol header (proxyproto.go).
	proxyProtocol bool
	h2c           bool // a plain "listen ... http2": each connection may speak HTTP/2 (http2.go)
}

func newHandoff(addr net.Addr, g *generation) *handoff {
	return &handoff{addr: addr, gen: g, conns: make(chan *clientConn), done: make(chan struct{})}
}

// give hands c to the server; false when the handoff is closed.
func (h *handoff) give(c *clientConn) bool {
	select {
	case <-h.done:
		return false
	default:
	}
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		if h.h2c {
			return &h2cConn{clientConn: c}, nil // prior knowledge or HTTP/1.x (http2.go)
		}
		return h.front.wrap(c), nil // TLS on an ssl address (tls.go)
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error   { h.once.Do(func() { close(h.done) }); return nil }
func (h *handoff) Addr() net.Addr { return h.addr }

// generation is one configuration at work.
type generation struct {
	site     *site
	servers  []*h1Server
	handoffs map[string]*handoff // by listen address
	h2       []*h2Server         // the HTTP/2 addresses' servers (http2.go)
	h3       []*h3Server         // the QUIC addresses' servers (http3.go)
	clients  liveset.Set[*clientConn]
	wg       sync.WaitGroup // the servers' Serve loops
}

// accept runs one acceptor until its socket is closed.
func (p *Proxy) accept(a *acceptor) {
	defer close(a.done)
	for {
		if !p.fds.admit() {
			// Too few descriptors left for the clients already
			// accepted: let new ones wait in the backlog.
			if !p.waitForDescriptors(0, a.stop) {
				return
			}
			continue
		}
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errno := errorlog.ErrnoOf(err); errno == syscall.EMFILE || errno == syscall.ENFILE {
				// Out of descriptors all the same (another
				// process, or files the reserve did not see).
				if !p.waitForDescriptors(errno, a.stop) {
					return
				}
				continue
			}
			// Anything else: nginx logs accept4() failed and tries
			// again; a pause keeps this from spinning.
			p.elog.Write(&errorlog.Entry{Level: errorlog.Crit, Msg: "accept4() failed", Errno: errorlog.ErrnoOf(err)})
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-a.stop:
				return
			case <-p.done:
				return
			}
		}
		p.fds.accepted()
		tc, ok := c.(*net.TCPConn)
		if !ok {
			_ = c.Close()
			continue
		}
		p.accepts.Add(1)
		cc := &clientConn{TCPConn: tc, id: p.nextConnID(), p: p, start: time.Now()}
		cc.noteRemote()
		if !p.clients.Add(cc) {
			continue // stopping: add closed it
		}
		p.handled.Add(1)
		for {
			h := a.cur.Load()
			cc.gen = h.gen
			cc.pp = nil
			if h.proxyProtocol {
				cc.pp = client.NewProxyProto(h.addr.String(), p.listenLog(h.gen.site, a.addr), cc.id) // the default server's error_log (levellog.go)
			}
			if h.gen.clients.Add(cc) && h.give(cc) {
				break
			}
			h.gen.clients.Remove(cc)
			if a.cur.Load() == h { // closed and not replaced: stopping
				_ = cc.Close()
				break
			}
		}
	}
}

// prepare builds the running form of cfg beside the current one: a site
// that reuses prev's unchanged upstream groups, with its access logs open.
func (p *Proxy) prepare(cfg *config.Config, prev *site) (*site, error) {
	s, err := buildSite(cfg, p.now, prev)
	if err != nil {
		return nil, err
	}
	s.startStapling(p.elog) // ssl_stapling (stapling.go)
	if err := p.logs.acquire(s); err != nil {
		return nil, err
	}
	p.stats.bind(s)
	return s, nil
}

// listen opens the addresses of s that no acceptor has yet. On failure it
// closes what it opened and returns nginx's bind() error.
func (p *Proxy) listen(s *site) (map[string]net.Listener, error) {
	opened := map[string]net.Listener{}
	for addr := range s.listeners {
		if p.acceptors[addr] != nil {
			continue
		}
		ln, err := p.listenTCP(addr)
		if err != nil {
			for _, l := range opened {
				_ = l.Close()
			}
			return nil, bindError(addr, err)
		}
		opened[addr] = ln
	}
	return opened, nil
}

// install makes s the running configuration: a generation for it, the
// acceptors pointed at it, new addresses accepting, removed ones closed.
// The previous generation, if any, is retired. It cannot fail. p.mu is held.
func (p *Proxy) install(s *site, opened map[string]net.Listener) {
	g := &generation{site: s, handoffs: map[string]*handoff{}}
	for addr, vhosts := range s.listeners {
		var la net.Addr
		if a := p.acceptors[addr]; a != nil {
			la = a.ln.Addr()
		} else {
			la = opened[addr].Addr()
		}
		h := newHandoff(la, g)
		h.front = p.frontFor(s, addr, la)
		for _, vh := range vhosts {
			h.proxyProtocol = h.proxyProtocol || slices.Contains(vh.conf.ListenProxyProtocol, addr)
		}
		srv := p.newH1Server(s, vhosts)
		if http2Address(vhosts, addr) {
			// ALPN's "h2", or the preface on a plain address: the
			// connection goes to HTTP/2 (http2.go).
			h2 := p.newH2Server(s, vhosts)
			srv.h2 = h2
			h.h2c = h.front == nil
			g.h2 = append(g.h2, h2)
		}
		g.handoffs[addr] = h
		g.servers = append(g.servers, srv)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			srv.serve(h)
		}()
	}
	g.h3 = p.serveQUIC(s) // before old goes: a new QUIC connection always finds a generation
	old := p.gen
	p.gen = g
	p.site.Store(s)
	for addr, a := range p.acceptors {
		if h := g.handoffs[addr]; h != nil {
			a.cur.Store(h)
			continue
		}
		a.close() // an address the new configuration dropped
		delete(p.acceptors, addr)
	}
	for addr, ln := range opened {
		a := &acceptor{addr: addr, ln: ln, done: make(chan struct{}), stop: make(chan struct{})}
		a.cur.Store(g.handoffs[addr])
		p.acceptors[addr] = a
		p.order = append(p.order, a)
		go p.accept(a)
	}
	kept := p.order[:0]
	for _, a := range p.order {
		if p.acceptors[a.addr] == a {
			kept = append(kept, a)
		}
	}
	p.order = kept
	p.health.Start(s.groups, p.elog)
	if old != nil {
		p.retire(old, retireGrace)
	}
}

// Reload applies a new configuration without dropping a connection or a
// request (nginx's HUP). It is all or nothing: a config that cannot be put
// to work (an address in use, a log that cannot be opened, an invalid
// variable) leaves the running one untouched and returns the error.
// Upstream blocks that did not change keep their keepalive connections and
// health state.
func (p *Proxy) Reload(cfg *config.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen == nil {
		return errors.New("reload: the proxy is not running")
	}
	s, err := p.prepare(cfg, p.site.Load())
	if err != nil {
		return err
	}
	opened, err := p.listen(s)
	if err != nil {
		p.logs.release(s)
		return err
	}
	quicOpened, err := p.listenQUIC(s)
	if err != nil {
		for _, ln := range opened {
			_ = ln.Close()
		}
		p.logs.release(s)
		return err
	}
	undo := func() {
		for _, ln := range opened {
			_ = ln.Close()
		}
		for _, l := range quicOpened {
			l.close()
		}
		p.logs.release(s)
	}
	// A changed metrics.listen is opened before anything is swapped.
	var metricsNext *metricsServer
	oldAddr := ""
	if p.metrics != nil {
		oldAddr = p.metrics.addr
	}
	if cfg.MetricsListen != oldAddr && cfg.MetricsListen != "" {
		if metricsNext, err = p.startMetrics(cfg.MetricsListen); err != nil {
			undo()
			return err
		}
	}
	if err := p.elog.ReconfigureAll(cfg.AllErrorLogs()); err != nil {
		metricsNext.close()
		undo()
		return err
	}
	if cfg.MetricsListen != oldAddr {
		p.metrics.close()
		p.metrics = metricsNext
	}
	p.budget.SetLimit(cfg.BufferMemoryLimit)
	p.budget.SetTempLimit(cfg.TempFileLimit)
	p.installQUIC(s, quicOpened) // first: install points the QUIC listeners at s's generation
	p.install(s, opened)
	p.stats.prune(s)
	return nil
}

// retireGrace is how long a generation retired by a reload keeps its idle
// keepalive connections before it closes them.
//
// nginx's old worker closes them at once. A client that sent its next
// request on one just then loses it: the connection ends before any answer
// (FIN, or RST for the unread request), the idle-close race of a reload
// storm. During the grace a request on an old connection is still served,
// with "Connection: close" (closeIfRetired), so an active client learns to
// reconnect between two requests, where nothing can race; only a client
// idle for the whole grace is closed under it, as nginx would close it.
const retireGrace = time.Second

// closeIfRetired makes the response close the connection when s was
// retired while the request ran or before it came. A hijacked response
// closes it anyway.
func (s *site) closeIfRetired(ctx *fasthttp.RequestCtx) {
	if s.retired.Load() && !ctx.Hijacked() {
		ctx.Response.Header.SetConnectionClose()
	}
}

// retire shuts an old generation down in the background: no new
// connections; after grace (cut short by Shutdown) its requests finished
// and its keepalive connections closed. Then the upstream groups no later
// configuration kept have their idle connections closed and its access
// logs are released. p.mu is held.
func (p *Proxy) retire(g *generation, grace time.Duration) {
	g.site.retired.Store(true)
	for _, h := range g.handoffs {
		_ = h.Close()
	}
	for _, h2 := range g.h2 {
		h2.goAway() // GOAWAY now: open streams finish, no new ones (nginx)
	}
	for _, h3 := range g.h3 {
		h3.goAway() // the same on every QUIC connection
	}
	p.retiring.Add(1)
	go func() {
		defer p.retiring.Done()
		if grace > 0 {
			t := time.NewTimer(grace)
			select {
			case <-t.C:
			case <-p.stopping:
			case <-p.hardStop:
			}
			t.Stop()
		}
		p.drain(g)
		select {
		case <-p.hardStop: // cut short: its requests are still unwinding
			p.unwind()
		default:
		}
		p.mu.Lock()
		cur := p.site.Load()
		p.mu.Unlock()
		for name, grp := range g.site.groups {
			if cur.groups[name] != grp {
				grp.CloseIdle()
			}
		}
		p.logs.release(g.site)
	}()
}

// drain shuts g's servers down gracefully and waits for their Serve loops.
// A hard stop (Close, or Shutdown out of time) cuts it short.
func (p *Proxy) drain(g *generation) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.hardStop:
			cancel()
			g.clients.CloseAll()
		case <-ctx.Done():
		}
	}()
	sctx := ctx
	if t := g.site.cfg.WorkerShutdownTimeout; t > 0 {
		var c2 context.CancelFunc
		sctx, c2 = context.WithTimeout(ctx, t)
		defer c2()
	}
	for _, srv := range g.servers {
		if err := srv.shutdown(sctx.Done()); err != nil {
			// worker_shutdown_timeout: what is left is closed, as nginx
			// closes the connections of a worker that ran out of time.
			g.clients.CloseAll()
		}
	}
	for _, h3 := range g.h3 {
		h3.wait(sctx) // worker_shutdown_timeout: what is left is closed
	}
	// Tunnels left the loop's count at their hijack: an old nginx worker
	// keeps them until they end, or until worker_shutdown_timeout.
	if !g.site.tunnels.wait(sctx) {
		g.site.tunnels.conns.CloseAll()
		g.clients.CloseAll()
		g.site.tunnels.wait(context.Background()) // both sides closed: they unwind
	}
	g.wg.Wait()
}

// logSet holds the open access logs, shared by the generations that write
// to the same file with the same format: a reload that keeps a log keeps
// its file (and its buffer) open.
type logSet struct {
	mu   sync.Mutex
	logs map[logKey]*sharedLog
	// efiles are the files of the error_log of the http, server and
	// location levels, one per path (levellog.go).
	efiles errorlog.Files
}

// logKey names a shared log. maps is the configuration's map blocks as
// text: a log whose format is the same but whose maps changed is a new Log.
type logKey struct {
	path, format, maps, escape string
	buffer                     int64
	flush                      time.Duration
}

type sharedLog struct {
	log  *accesslog.Log
	refs int
}

// acquire opens (or shares) every access log of s, at the server and the
// location levels (an if block's too), and fills s.access. On failure nothing is held.
func (ls *logSet) acquire(s *site) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.logs == nil {
		ls.logs = map[logKey]*sharedLog{}
	}
	s.access = map[accessKey]accessOut{}
	var got []logKey
	mapsKey := ""
	if len(s.cfg.Maps) > 0 {
		mapsKey = fmt.Sprintf("%+v", s.cfg.Maps)
	}
	var all []config.AccessLog
	for _, sc := range s.cfg.Servers {
		all = append(all, sc.AllAccessLogs()...)
		for _, l := range sc.AllLocations() {
			all = append(all, l.AccessLogs...)
			for _, in := range l.IfLocations() { // "if in location": its own access_log
				all = append(all, in.AccessLogs...)
			}
		}
	}
	fail := func(err error) error {
		for _, k := range got {
			ls.unref(k)
		}
		s.access = nil
		return err
	}
	for i := range all {
		al := &all[i]
		ak := accessKeyOf(al)
		if _, ok := s.access[ak]; al.Off || ok {
			continue
		}
		var cond *accesslog.Condition
		if al.If != "" {
			var err error
			if cond, err = accesslog.CompileCondition(al.If, s.maps); err != nil {
				return fail(fmt.Errorf("access_log %s if=%s: %w", al.Path, al.If, err))
			}
		}
		k := logKey{al.Path, al.Format, mapsKey, al.Escape, al.Buffer, al.Flush}
		sl := ls.logs[k]
		if sl == nil {
			f, err := accesslog.CompileEscape(al.Format, al.Escape, s.maps)
			if err == nil {
				var l *accesslog.Log
				if l, err = accesslog.Open(al.Path, f, accesslog.Options{Buffer: int(al.Buffer), Flush: al.Flush}); err == nil {
					sl = &sharedLog{log: l}
					ls.logs[k] = sl
				}
			}
			if err != nil {
				return fail(fmt.Errorf("access_log %s: %w", al.Path, err))
			}
		}
		sl.refs++
		got = append(got, k)
		s.access[ak] = accessOut{log: sl.log, cond: cond}
	}
	if err := ls.acquireErrorLogs(s); err != nil {
		return fail(err)
	}
	s.logKeys = got
	return nil
}

// release drops s's hold on its logs, closing those no site holds.
func (ls *logSet) release(s *site) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, k := range s.logKeys {
		ls.unref(k)
	}
	s.logKeys = nil
	ls.releaseErrorLogs(s)
}

func (ls *logSet) unref(k logKey) {
	sl := ls.logs[k]
	if sl == nil {
		return
	}
	if sl.refs--; sl.refs <= 0 {
		_ = sl.log.Close()
		delete(ls.logs, k)
	}
}

// reopen reopens every access log (USR1). It returns the first error; the
// logs that failed keep their old file.
func (ls *logSet) reopen() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var first error
	for _, sl := range ls.logs {
		if err := sl.log.Reopen(); err != nil && first == nil {
			first = err
		}
	}
	if err := ls.efiles.Reopen(); err != nil && first == nil {
		first = err
	}
	return first
}

// closeAll closes every log (the proxy's stop).
func (ls *logSet) closeAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for k, sl := range ls.logs {
		_ = sl.log.Close()
		delete(ls.logs, k)
	}
	ls.efiles.CloseAll()
}
