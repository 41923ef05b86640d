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
// (SO_REUSEPORT) would not guarantee. Each stream is served by the
// configuration current when it arrives (its site and the address's
// servers), and the TLS handshake picks the certificate of the current
// configuration's ssl address of the same host:port (frontAddr.configFor).
// Shutdown (quit) sends GOAWAY (H3_NO_ERROR) and lets the open streams
// finish, bounded by worker_shutdown_timeout or the hard stop.

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
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

// h3Listener is one QUIC address: its UDP socket, quic-go's transport on
// it and the HTTP/3 server.
type h3Listener struct {
	p    *Proxy
	addr string // as configured: the key of site.listeners and site.tls
	pc   *net.UDPConn
	tr   *quic.Transport
	ln   *quic.EarlyListener
	srv  *http3.Server
	done chan struct{} // Serve returned
}

// quicConnKey carries a stream's quicConn in its context.
type quicConnKey struct{}

// listenQUIC opens the QUIC addresses of s that are not open yet. The
// settings are those of the address's default server when it opens.
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
	c := s.listeners[addr][0].conf.HTTP3
	l := &h3Listener{p: p, addr: addr, pc: pc, done: make(chan struct{})}
	l.tr = &quic.Transport{Conn: pc}
	if c.Retry {
		l.tr.VerifySourceAddress = func(net.Addr) bool { return true } // quic_retry on: every client
	}
	l.srv = &http3.Server{
		Handler:        http.HandlerFunc(l.serveStream),
		MaxHeaderBytes: c.MaxHeaderBytes,
		IdleTimeout:    c.IdleTimeout,
		ConnContext: func(ctx context.Context, qc *quic.Conn) context.Context {
			return context.WithValue(ctx, quicConnKey{}, &quicConn{c: qc, id: p.nextConnID()})
		},
	}
	fa := &frontAddr{p: p, addr: addr, server: addr}
	qconf := &quic.Config{
		MaxIncomingStreams:         int64(c.MaxConcurrentStreams),
		MaxIncomingUniStreams:      3, // HTTP/3's control and QPACK streams
		InitialStreamReceiveWindow: uint64(c.StreamBufferSize),
		MaxStreamReceiveWindow:     uint64(max(c.StreamBufferSize, 6<<20)),
		MaxIdleTimeout:             c.IdleTimeout,
		Allow0RTT:                  c.EarlyData, // ssl_early_data: off refuses 0-RTT (replayable)
	}
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
	go func() {
		defer close(l.done)
		_ = l.srv.ServeListener(l.ln)
	}()
	return l, nil
}

// serveStream runs one request stream with the configuration in force.
func (l *h3Listener) serveStream(w http.ResponseWriter, r *http.Request) {
	qc, _ := r.Context().Value(quicConnKey{}).(*quicConn)
	s := l.p.site.Load()
	vhosts := s.listeners[l.addr]
	if qc == nil || !quicAddress(vhosts, l.addr) {
		// A reload took "quic" off the address: no server for it.
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	ss := streamServer{p: l.p, s: s, vhosts: vhosts, chunk: h3Chunk, proto: "HTTP/3.0"}
	ss.serveStream(qc, w, r, false)
}

// shutdown sends GOAWAY (H3_NO_ERROR) to every connection and waits for
// their streams until ctx ends; then everything is closed.
func (l *h3Listener) shutdown(ctx context.Context) {
	_ = l.srv.Shutdown(ctx)
	l.close()
}

// close closes the connections (H3_NO_ERROR) and the socket at once.
func (l *h3Listener) close() {
	_ = l.srv.Close()
	_ = l.ln.Close()
	_ = l.tr.Close()
	_ = l.pc.Close()
	<-l.done // ServeListener returns once the listener is closed
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
// closes the ones s dropped. p.mu is held.
func (p *Proxy) installQUIC(s *site, opened map[string]*h3Listener) {
	keep := s.quicAddrs()
	for addr, l := range p.quic {
		if !slices.Contains(keep, addr) {
			go l.shutdown(p.quitContext(s.cfg))
			delete(p.quic, addr)
		}
	}
	for addr, l := range opened {
		p.quic[addr] = l
	}
}

// shutdownQUIC sends GOAWAY on every QUIC address and waits for the open
// streams, within worker_shutdown_timeout and until the hard stop.
// p.mu is held.
func (p *Proxy) shutdownQUIC(cfg *config.Config) {
	for addr, l := range p.quic {
		p.retiring.Add(1)
		go func() {
			defer p.retiring.Done()
			l.shutdown(p.quitContext(cfg))
		}()
		delete(p.quic, addr)
	}
}

// quitContext ends at the hard stop or after worker_shutdown_timeout.
func (p *Proxy) quitContext(cfg *config.Config) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	if t := cfg.WorkerShutdownTimeout; t > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), t)
	}
	go func() {
		select {
		case <-p.hardStop:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}
