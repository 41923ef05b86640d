package proxy

// HTTP/3 to clients: "listen 443 quic reuseport" beside "listen 443 ssl",
// "http3 on|off", http3_max_concurrent_streams, http3_stream_buffer_size,
// quic_retry, ssl_early_data (nginx 1.25).
//
// github.com/quic-go/quic-go serves QUIC and HTTP/3 (its http3 package)
// and hands each request stream to a net/http Handler, as x/net/http2
// does: the stream runs through streamServer.serveStream (http2.go), the
// same adapter as an HTTP/2 stream, with "HTTP/3.0" as its protocol and a
// quicConn as the stream's connection (addresses, TLS state, number).
//
// A QUIC address is a UDP socket that outlives reloads, like the TCP
// acceptors: the packets of an open QUIC connection must keep reaching the
// state that knows it, which a second socket bound by the next generation
// (SO_REUSEPORT) would not guarantee, and quic-go's Transport takes one
// listener. So one socket, one transport and one listener per address
// (h3Listener), and the generations take turns behind it as they do
// behind a TCP acceptor: the accept loop hands each new connection to the
// current generation's h3Server, which serves it with an http3.Server of
// its own (ServeQUICConn) and that generation's site, to its end. A reload
// sends GOAWAY (H3_NO_ERROR) on every connection of the old generation
// (http3.Server.Shutdown): their open streams finish under the old
// configuration, a stream opened after it is rejected (H3_REQUEST_REJECTED,
// which a client retries), and new connections get the new configuration,
// as nginx's old and new workers do. keepalive_requests sends the same
// GOAWAY on one connection. A new connection's TLS certificate (the
// current configuration's ssl address of the same host:port,
// frontAddr.configFor), QUIC settings (streams, windows, idle timeout,
// 0-RTT: quic.Config.GetConfigForClient) and quic_retry are the current
// configuration's too.
// Shutdown (quit) stops accepting, sends GOAWAY and lets the open streams
// finish, bounded by worker_shutdown_timeout or the hard stop; the socket
// closes after its last connection.

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spillway/proxy/config"
)

// h3Chunk is the largest DATA frame of a response body on HTTP/3 (nginx
// has no http3_chunk_size; its output goes in 16k frames).
const h3Chunk = 16 << 10

// quicAddress reports whether some server lists addr as QUIC.
func quicAddress(vhosts []*vhost, addr string) bool {
	for _, vh := range vhosts {
		if slices.Contains(vh.conf.ListenQUIC, addr) {
			return true
		}
	}
	return false
}

// quicAddrs are the configured QUIC addresses of s.
func (s *site) quicAddrs() []string {
	var out []string
	for addr, vhosts := range s.listeners {
		if quicAddress(vhosts, addr) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

// h3Listener is one QUIC address, kept across reloads: its UDP socket,
// quic-go's transport and listener on it, and the accept loop that hands
// each new connection to the current generation's h3Server (cur), as an
// acceptor hands a TCP connection to the current generation's handoff.
type h3Listener struct {
	p     *Proxy
	addr  string // as configured: the key of site.listeners and site.tls
	pc    *net.UDPConn
	tr    *quic.Transport
	ln    *quic.EarlyListener
	cur   atomic.Pointer[h3Server]
	start sync.Once
	done  chan struct{}  // the accept loop returned (or never ran: close)
	conns sync.WaitGroup // connections being served, of every generation
}

// listenQUIC opens the QUIC addresses of s that are not open yet.
func (p *Proxy) listenQUIC(s *site) (map[string]*h3Listener, error) {
	opened := map[string]*h3Listener{}
	for _, addr := range s.quicAddrs() {
		if p.quic[addr] != nil {
			continue
		}
		l, err := p.newH3Listener(s, addr)
		if err != nil {
			for _, o := range opened {
				o.close()
			}
			return nil, bindError(addr, err)
		}
		opened[addr] = l
	}
	return opened, nil
}

func (p *Proxy) newH3Listener(s *site, addr string) (*h3Listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	l := &h3Listener{p: p, addr: addr, pc: pc, done: make(chan struct{})}
	first := p.newH3Server(s, addr) // the settings until install points l at a generation
	l.tr = &quic.Transport{Conn: pc, VerifySourceAddress: func(net.Addr) bool { return l.server(first).quic.Retry }}
	fa := &frontAddr{p: p, addr: addr, server: addr}
	qconf := &quic.Config{GetConfigForClient: func(*quic.ClientInfo) (*quic.Config, error) {
		return l.server(first).qconf, nil
	}}
	tconf := http3.ConfigureTLSConfig(&tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		conf, err := fa.configFor(h)
		if err != nil {
			return nil, err
		}
		conf = conf.Clone()
		conf.MinVersion = tls.VersionTLS13 // QUIC is TLS 1.3 only
		conf.MaxVersion = 0
		conf.ClientAuth = tls.NoClientCert // no client certificates on HTTP/3 (yet): ssl_verify_client on is 496 there (tls_client.go)
		return conf, nil
	}})
	if l.ln, err = l.tr.ListenEarly(tconf, qconf); err != nil {
		_ = pc.Close()
		return nil, err
	}
	return l, nil
}

// server is the current generation's server for l.addr, or def before
// there is one.
func (l *h3Listener) server(def *h3Server) *h3Server {
	if h := l.cur.Load(); h != nil {
		return h
	}
	return def
}

// serve points l at h, the current generation's server for l.addr, and
// starts the accept loop the first time.
func (l *h3Listener) serve(h *h3Server) {
	l.cur.Store(h)
	l.start.Do(func() { go l.accept() })
}

// accept hands each new connection to the current generation until the
// listener is closed. A generation retired between the load and the hand
// over is replaced: the connection goes to the next one, or is closed
// when none replaced it (the proxy is stopping).
func (l *h3Listener) accept() {
	defer close(l.done)
	for {
		qc, err := l.ln.Accept(context.Background())
		if err != nil {
			return // closed (quic.ErrServerClosed)
		}
		for {
			h := l.cur.Load()
			if h.serve(l, qc) {
				break
			}
			if l.cur.Load() == h {
				_ = qc.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
				break
			}
		}
	}
}

// h3Server is one generation's HTTP/3 on one QUIC address: its site and
// the address's servers, the http3 settings of its default server, and
// its open connections, each served by an http3.Server of its own so that
// one connection can be sent GOAWAY (keepalive_requests) as well as all
// of them (reload, quit).
type h3Server struct {
	streamServer
	maxHeaderBytes int
	idleTimeout    time.Duration
	maxRequests    int // keepalive_requests: the streams one connection serves
	quic           config.HTTP3
	qconf          *quic.Config // a new connection's QUIC settings
	// ctx bounds the graceful close of the connections: it ends when the
	// generation's drain runs out of time (wait).
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	gone   bool // goAway ran: no new connection
	conns  map[*h3Conn]struct{}
	wg     sync.WaitGroup // the connections' ServeQUICConn
}

func (p *Proxy) newH3Server(s *site, addr string) *h3Server {
	vhosts := s.listeners[addr]
	c := vhosts[0].conf
	h := &h3Server{streamServer: streamServer{p: p, s: s, vhosts: vhosts, chunk: h3Chunk, proto: "HTTP/3.0"},
		maxHeaderBytes: c.HTTP3.MaxHeaderBytes, idleTimeout: c.HTTP3.IdleTimeout, maxRequests: max(c.Keepalive.Requests, 1),
		quic: c.HTTP3, conns: map[*h3Conn]struct{}{}}
	h.qconf = &quic.Config{
		MaxIncomingStreams:         int64(c.HTTP3.MaxConcurrentStreams),
		MaxIncomingUniStreams:      3, // HTTP/3's control and QPACK streams
		InitialStreamReceiveWindow: uint64(c.HTTP3.StreamBufferSize),
		MaxStreamReceiveWindow:     uint64(max(c.HTTP3.StreamBufferSize, 6<<20)),
		MaxIdleTimeout:             c.HTTP3.IdleTimeout,
		Allow0RTT:                  c.HTTP3.EarlyData, // ssl_early_data: off refuses 0-RTT (replayable)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// serveQUIC makes s's generation serve the QUIC addresses (p.quic, which
// installQUIC made s's): it returns their h3Servers, each listener
// pointed at its own. p.mu is held.
func (p *Proxy) serveQUIC(s *site) []*h3Server {
	var out []*h3Server
	for _, addr := range slices.Sorted(maps.Keys(p.quic)) {
		h := p.newH3Server(s, addr)
		p.quic[addr].serve(h)
		out = append(out, h)
	}
	return out
}

// h3Conn is one QUIC connection of an h3Server.
type h3Conn struct {
	h       *h3Server
	qc      *quicConn
	srv     *http3.Server
	streams atomic.Int64
}

// serve serves qc until it closes; false when h was retired (goAway).
func (h *h3Server) serve(l *h3Listener, qc *quic.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone {
		return false
	}
	c := &h3Conn{h: h, qc: &quicConn{c: qc, id: h.p.nextConnID()}}
	c.srv = &http3.Server{Handler: http.HandlerFunc(c.serveStream), MaxHeaderBytes: h.maxHeaderBytes, IdleTimeout: h.idleTimeout}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	l.conns.Add(1)
	go func() {
		defer l.conns.Done()
		defer h.wg.Done()
		// Until the connection is closed: by the client (after a GOAWAY
		// once its streams are done), the idle timeout, or Close.
		_ = c.srv.ServeQUICConn(qc)
		_ = qc.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "") // ServeQUICConn refused it (closed first)
		_ = c.srv.Close()
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	}()
	return true
}

// serveStream runs one request stream with the generation's
// configuration. The keepalive_requests-th stream of a connection sends
// GOAWAY as it starts (nginx: the GOAWAY's stream ID is the next one's) and
// the streams after it are rejected (H3_REQUEST_REJECTED: the client may
// retry them on a new connection). The client closes the connection once
// its streams are done (RFC 9114 5.2), or the idle timeout does.
func (c *h3Conn) serveStream(w http.ResponseWriter, r *http.Request) {
	n := c.streams.Add(1)
	if n > int64(c.h.maxRequests) {
		if str, err := w.(http3.HTTPStreamer).HTTPStream(); err == nil {
			str.CancelRead(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
			str.CancelWrite(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
		}
		return
	}
	if n == int64(c.h.maxRequests) {
		c.goAway()
	}
	c.h.serveStream(c.qc, w, r, false)
}

// goAway sends GOAWAY (H3_NO_ERROR) on the connection and lets its open
// streams finish; the connection ends when the client closes it, at the
// idle timeout, or when h.ctx ends (then at once).
func (c *h3Conn) goAway() {
	go func() { _ = c.srv.Shutdown(c.h.ctx) }()
}

// goAway retires h: GOAWAY on every connection, whose open streams finish
// under this generation's configuration; a new connection goes to the
// next generation (h3Listener.accept).
func (h *h3Server) goAway() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone {
		return
	}
	h.gone = true
	for c := range h.conns {
		c.goAway()
	}
}

// wait waits for h's connections to close; when ctx ends first (the
// generation's worker_shutdown_timeout, a hard stop), they are closed.
func (h *h3Server) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.cancel() // Shutdown closes what is left
		<-done
	}
	h.cancel()
}

// close closes the socket at once, with whatever connections it has
// (CONNECTION_CLOSE or none): for a listener never put to work, or after
// its connections are done (shutdown).
func (l *h3Listener) close() {
	_ = l.ln.Close()
	_ = l.tr.Close()
	_ = l.pc.Close()
	l.start.Do(func() { close(l.done) }) // no accept loop ever ran
	<-l.done
}

// shutdown stops accepting connections and closes the socket once the
// open ones are done: each belongs to a generation that sent it GOAWAY
// and bounds it (h3Server.wait).
func (l *h3Listener) shutdown() {
	_ = l.ln.Close()
	l.start.Do(func() { close(l.done) })
	<-l.done
	l.conns.Wait()
	l.close()
}

// quicConn is the connection of an HTTP/3 stream (h2Stream.conn): its
// addresses, TLS state and number; it is never read or written.
type quicConn struct {
	c  *quic.Conn
	id uint64
}

var errQUICConn = errors.New("a QUIC connection is not read as a socket")

func (q *quicConn) Read([]byte) (int, error)         { return 0, errQUICConn }
func (q *quicConn) Write([]byte) (int, error)        { return 0, errQUICConn }
func (q *quicConn) Close() error                     { return nil }
func (q *quicConn) LocalAddr() net.Addr              { return q.c.LocalAddr() }
func (q *quicConn) RemoteAddr() net.Addr             { return q.c.RemoteAddr() }
func (q *quicConn) SetDeadline(time.Time) error      { return nil }
func (q *quicConn) SetReadDeadline(time.Time) error  { return nil }
func (q *quicConn) SetWriteDeadline(time.Time) error { return nil }

// QUICAddrs returns the bound QUIC (UDP) addresses (useful with port 0).
func (p *Proxy) QUICAddrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, addr := range slices.Sorted(maps.Keys(p.quic)) {
		out = append(out, p.quic[addr].pc.LocalAddr().String())
	}
	return out
}

// installQUIC keeps the QUIC listeners s still lists, adds opened and
// stops the ones s dropped (their connections are the retiring
// generation's). install then points them at s's generation (serveQUIC).
// p.mu is held.
func (p *Proxy) installQUIC(s *site, opened map[string]*h3Listener) {
	keep := s.quicAddrs()
	for addr, l := range p.quic {
		if !slices.Contains(keep, addr) {
			p.retiring.Add(1)
			go func() {
				defer p.retiring.Done()
				l.shutdown()
			}()
			delete(p.quic, addr)
		}
	}
	for addr, l := range opened {
		p.quic[addr] = l
	}
}

// shutdownQUIC stops accepting on every QUIC address; each socket closes
// once its connections are done (the generations' GOAWAY and drain,
// within worker_shutdown_timeout and until the hard stop). p.mu is held.
func (p *Proxy) shutdownQUIC() {
	for addr, l := range p.quic {
		p.retiring.Add(1)
		go func() {
			defer p.retiring.Done()
			l.shutdown()
		}()
		delete(p.quic, addr)
	}
}
