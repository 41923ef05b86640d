package proxy

// Metrics: what the proxy counts, in Prometheus's text format on the
// metrics.listen address, and nginx's stub_status page.
//
// The hot path only adds to atomics (and one histogram per request); the
// exposition is written from those counters and from live state (buffer
// budget, keepalive caches, passive and active health) when it is scraped.
// Each Proxy has its own metrics.Set: no process-global registry.

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"spillway/proxy/upstream"
)

const numKinds = int(upstream.KindNoLive) + 1

// stats is the proxy's counters.
type stats struct {
	requests   atomic.Int64      // requests read (stub_status "requests")
	status     [600]atomic.Int64 // finished requests by status (0..599)
	dials      atomic.Int64      // upstream connections opened
	tempErrors atomic.Int64      // temp files that could not be created, written or read
	waiting    atomic.Int64      // client connections idle between requests (stub_status "Waiting")
	tunnels    atomic.Int64      // open upgraded connections (tunnel.go)
	build      string            // spillway_build_info's labels, read once
	reqSet     *metrics.Set      // holds requestTime alone
	mu         sync.Mutex        // guards servers and passed
	servers    map[serverKey]*serverStats
	// passed are the servers a proxy_pass with variables reached that no
	// upstream of the configuration lists (an address, a name the
	// resolver answered, a unix socket), at most maxPassedServers.
	passed map[serverKey]*serverStats

	requestTime *metrics.PrometheusHistogram // $request_time
}

// serverKey names one upstream server: the label pair of its series.
type serverKey struct{ upstream, server string }

// serverStats is one upstream server's counters. The site maps each peer
// to its entry (site.counters), so the hot path adds to atomics after one
// read of an immutable map; the entry outlives a reload that keeps the
// server (same upstream name and address), so its counters do not restart.
type serverStats struct {
	attempts atomic.Int64                                         // attempts, retries included
	failures [upstream.PhaseSendClient + 1][numKinds]atomic.Int64 // by phase and kind

	set        *metrics.Set                 // holds headerTime alone, labelled
	headerTime *metrics.PrometheusHistogram // $upstream_header_time of answered attempts

	mu         sync.Mutex
	retries    map[string]int64 // retry decisions by reason
	notRetried map[string]int64 // failures not retried, by reason
}

func newStats() *stats {
	st := &stats{reqSet: metrics.NewSet(), servers: map[serverKey]*serverStats{}, passed: map[serverKey]*serverStats{}, build: buildLabels()}
	st.requestTime = st.reqSet.NewPrometheusHistogram("spillway_request_duration_seconds")
	return st
}

func newServerStats(k serverKey) *serverStats {
	s := &serverStats{set: metrics.NewSet(), retries: map[string]int64{}, notRetried: map[string]int64{}}
	s.headerTime = s.set.NewPrometheusHistogram("spillway_upstream_header_duration_seconds" + k.labels())
	return s
}

func (k serverKey) labels() string {
	return `{upstream="` + labelValue(k.upstream) + `",server="` + labelValue(k.server) + `"}`
}

// bind gives every peer of s its counters (s.counters), before s serves:
// the entry of the same upstream and server when one exists (a reload
// keeps counting), a new one otherwise.
func (st *stats) bind(s *site) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.counters = map[*upstream.Peer]*serverStats{}
	for name, g := range s.groups {
		for _, pr := range g.Peers() {
			k := serverKey{name, pr.Addr()}
			m := st.servers[k]
			if m == nil {
				m = newServerStats(k)
				st.servers[k] = m
			}
			s.counters[pr] = m
		}
	}
}

// prune forgets the servers the installed site s no longer has, so that
// series of servers removed by a reload go away and the number of series
// stays bounded by the configuration. A removed server's requests still in
// flight count into the forgotten entry, which nobody exposes.
func (st *stats) prune(s *site) {
	st.mu.Lock()
	defer st.mu.Unlock()
	keep := map[serverKey]bool{}
	for name, g := range s.groups {
		for _, pr := range g.Peers() {
			keep[serverKey{name, pr.Addr()}] = true
		}
	}
	for k := range st.servers {
		if !keep[k] {
			delete(st.servers, k)
		}
	}
}

// maxPassedServers bounds the series of servers reached by a proxy_pass
// with variables: its value may come from the request ($arg_host), and each
// distinct server would be a series of its own for the process's life.
const maxPassedServers = 1024

// passedServer is the entry of a server that a proxy_pass with variables
// reached outside the configuration's upstreams (upstream: the group's
// name, nginx's: the address as written, or the name resolved), made on
// first use; nil once maxPassedServers others have one.
func (st *stats) passedServer(upstream, addr string) *serverStats {
	k := serverKey{upstream, addr}
	st.mu.Lock()
	defer st.mu.Unlock()
	m := cmp.Or(st.servers[k], st.passed[k]) // an upstream's own server keeps its one series
	if m == nil && len(st.passed) < maxPassedServers {
		m = newServerStats(k)
		st.passed[k] = m
	}
	return m
}

// counters are the counters of server pr: the site's entry for a server
// of its configuration, else, for a server a proxy_pass with variables
// reached (an address, a resolved name: a group made for this request),
// the proxy's entry for the group's name and the address.
func (x *exchange) counters(pr *upstream.Peer) *serverStats {
	if m := x.site.counters[pr]; m != nil || x.loc != &x.passLoc {
		return m
	}
	return x.p.stats.passedServer(x.loc.group.Name(), pr.Addr())
}

// request counts a finished request.
func (st *stats) request(status int, d time.Duration) {
	if status < 0 || status >= len(st.status) {
		status = 0
	}
	st.status[status].Add(1)
	st.requestTime.Update(d.Seconds())
}

// attempt counts one attempt against a server (m, its counters) up to its
// response header: ue nil means the header came.
func (m *serverStats) attempt(ue *upstream.Error, took time.Duration) {
	if m == nil {
		return // a peer of a site not built by prepare (tests)
	}
	m.attempts.Add(1)
	if ue == nil {
		m.headerTime.Update(took.Seconds())
		return
	}
	m.failure(ue)
}

// abandoned counts an attempt the client's going away or a hard stop cut
// short: neither a header nor a failure of the server (nginx counts none).
func (m *serverStats) abandoned() {
	if m != nil {
		m.attempts.Add(1)
	}
}

// failure counts a failure of a server by phase and kind (the header
// phases through attempt, the body phase where the body breaks off).
func (m *serverStats) failure(ue *upstream.Error) {
	if m == nil {
		return
	}
	if int(ue.Phase) < len(m.failures) && int(ue.Kind) < numKinds {
		m.failures[ue.Phase][ue.Kind].Add(1)
	}
}

// decision counts a retry decision about a failure of a server by its
// reason (failures only: not the hot path, so a map under a lock is fine;
// the reasons are decideRetry's fixed texts).
func (m *serverStats) decision(v retryVerdict) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if v.Retry {
		m.retries[v.Why]++
	} else {
		m.notRetried[v.Why]++
	}
	m.mu.Unlock()
}

// buildLabels is spillway_build_info's label set, from the binary's build
// information: the main module's version, the VCS revision ("-dirty" when
// built from a modified tree) and the Go version.
func buildLabels() string {
	version, revision, goversion := "unknown", "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goversion = bi.GoVersion
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && revision != "unknown" {
			revision += "-dirty"
		}
	}
	return `{version="` + labelValue(version) + `",revision="` + labelValue(revision) +
		`",goversion="` + labelValue(goversion) + `"}`
}

// labelValue escapes a label value for the text format: backslash, double
// quote and newline.
func labelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// expo writes the text exposition format: every family gets its # HELP
// and # TYPE lines, then its samples, so that promtool and the client
// libraries read the types (the metrics library writes metadata only
// behind a process-wide switch, and then with empty help texts).
type expo struct{ w io.Writer }

func (e expo) family(name, typ, help string) {
	fmt.Fprintf(e.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (e expo) sample(series string, v uint64) {
	fmt.Fprintf(e.w, "%s %d\n", series, v)
}

func (e expo) sampleFloat(series string, v float64) {
	fmt.Fprintf(e.w, "%s %s\n", series, strconv.FormatFloat(v, 'g', -1, 64))
}

func (e expo) one(name, typ, help string, v uint64) {
	e.family(name, typ, help)
	e.sample(name, v)
}

// servedPeer is one exposed upstream server.
type servedPeer struct {
	key serverKey
	m   *serverStats
}

// servedPeers lists the running site's servers with their counters, and
// those proxy_pass with variables reached, by upstream and address.
func (p *Proxy) servedPeers() []servedPeer {
	s := p.site.Load()
	if s == nil {
		return nil
	}
	var out []servedPeer
	for name, g := range s.groups {
		for _, pr := range g.Peers() {
			if m := s.counters[pr]; m != nil {
				out = append(out, servedPeer{serverKey{name, pr.Addr()}, m})
			}
		}
	}
	p.stats.mu.Lock()
	for k, m := range p.stats.passed {
		out = append(out, servedPeer{k, m})
	}
	p.stats.mu.Unlock()
	slices.SortFunc(out, func(a, b servedPeer) int {
		return cmp.Or(cmp.Compare(a.key.upstream, b.key.upstream), cmp.Compare(a.key.server, b.key.server))
	})
	// An address listed twice in one upstream is one server (one entry,
	// bind gave both peers the same): one series, not a duplicate.
	return slices.CompactFunc(out, func(a, b servedPeer) bool { return a.key == b.key })
}

// writeMetrics writes the whole exposition: the counters, the histograms,
// live state, then the Go runtime's and the process's collectors.
func (p *Proxy) writeMetrics(w io.Writer) {
	st := p.stats
	e := expo{w}
	e.family("spillway_build_info", "gauge", "Always 1; the labels say which build runs: main module version, VCS revision, Go version.")
	e.sample("spillway_build_info"+st.build, 1)
	e.family("spillway_requests_total", "counter", "Finished requests by the status sent (499: the client closed the connection first).")
	for code := range st.status {
		if n := st.status[code].Load(); n > 0 {
			e.sample(`spillway_requests_total{status="`+strconv.Itoa(code)+`"}`, uint64(n))
		}
	}
	e.family("spillway_request_duration_seconds", "histogram", "Request time ($request_time): from the first byte read from the client to the last byte sent.")
	st.reqSet.WritePrometheus(w)

	peers := p.servedPeers()
	e.family("spillway_upstream_attempts_total", "counter", "Attempts to get a response from an upstream server, retries included.")
	for _, sp := range peers {
		e.sample("spillway_upstream_attempts_total"+sp.key.labels(), uint64(sp.m.attempts.Load()))
	}
	e.family("spillway_upstream_failures_total", "counter", "Upstream failures by server, kind and nginx's phase.")
	for _, sp := range peers {
		lb := sp.key.labels()
		for ph := range sp.m.failures {
			for k := range sp.m.failures[ph] {
				if n := sp.m.failures[ph][k].Load(); n > 0 {
					e.sample(fmt.Sprintf(`spillway_upstream_failures_total%s,kind="%s",phase="%s"}`,
						lb[:len(lb)-1], upstream.Kind(k), upstream.Phase(ph)), uint64(n))
				}
			}
		}
	}
	writeDecisions(e, peers, "spillway_upstream_retries_total", "Failures, and answers with a status proxy_next_upstream lists, retried, by server and reason.",
		func(m *serverStats) map[string]int64 { return m.retries })
	writeDecisions(e, peers, "spillway_upstream_not_retried_total", "Failures, and answers with a status proxy_next_upstream lists, not retried, by server and the reason the error log's \"not retried:\" line gives.",
		func(m *serverStats) map[string]int64 { return m.notRetried })
	e.family("spillway_upstream_header_duration_seconds", "histogram", "Time from the start of an attempt to the upstream's response header ($upstream_header_time), per answered attempt.")
	for _, sp := range peers {
		sp.m.set.WritePrometheus(w)
	}

	e.family("spillway_upstream_stale_connections_total", "counter", "Idle keepalive connections found dead before reuse, by who closed them.")
	e.sample(`spillway_upstream_stale_connections_total{closed_by="fin"}`, uint64(p.stale.FIN.Load()))
	e.sample(`spillway_upstream_stale_connections_total{closed_by="rst"}`, uint64(p.stale.RST.Load()))
	e.sample(`spillway_upstream_stale_connections_total{closed_by="keepalive_timeout"}`, uint64(p.stale.Expired.Load()))
	e.sample(`spillway_upstream_stale_connections_total{closed_by="learned_timeout"}`, uint64(p.stale.Learned.Load()))
	e.family("spillway_upstream_connections_total", "counter", "Upstream connections used: new (dialled) or keepalive (reused from the cache).")
	e.sample(`spillway_upstream_connections_total{source="keepalive"}`, uint64(p.stale.Reused.Load()))
	e.sample(`spillway_upstream_connections_total{source="new"}`, uint64(st.dials.Load()))

	b := p.budget.Stats()
	e.one("spillway_buffer_limit_bytes", "gauge", "The buffer memory budget (buffer_memory_limit); 0 means unlimited.", uint64(b.Limit))
	e.one("spillway_buffer_bytes_in_use", "gauge", "Buffer memory in use now.", uint64(b.BytesInUse))
	e.one("spillway_buffer_chunks_in_use", "gauge", "Buffer chunks in use now.", uint64(b.ChunksInUse))
	e.one("spillway_buffer_peak_bytes_in_use", "gauge", "The most buffer memory in use at once since the start.", uint64(b.PeakBytesInUse))
	e.one("spillway_buffer_spilled_bytes_total", "counter", "Bytes written to temp files because the memory buffers were full.", uint64(b.BytesSpilled))
	e.one("spillway_buffer_temp_files_total", "counter", "Temp files created.", uint64(b.FilesCreated))
	e.one("spillway_buffer_temp_files_open", "gauge", "Temp files open now.", uint64(b.FilesOpen))
	e.one("spillway_buffer_temp_file_errors_total", "counter", "Temp files that could not be created, written or read.", uint64(st.tempErrors.Load()))
	p.writeDiskFull(e, &b) // diskfull.go

	c := p.connCounts()
	e.one("spillway_connections_active", "gauge", "Open client connections (stub_status Active).", uint64(c.active))
	e.one("spillway_connections_reading", "gauge", "Client connections reading a request head (stub_status Reading).", uint64(c.reading))
	e.one("spillway_connections_writing", "gauge", "Requests being processed (stub_status Writing).", uint64(c.writing))
	e.one("spillway_connections_waiting", "gauge", "Idle keepalive client connections (stub_status Waiting).", uint64(c.waiting))
	e.one("spillway_connections_accepted_total", "counter", "Client connections accepted (stub_status accepts).", uint64(c.accepts))
	e.one("spillway_connections_handled_total", "counter", "Client connections handled (stub_status handled).", uint64(c.handled))
	e.one("spillway_tunnels_open", "gauge", "Upgraded connections (WebSocket) tunnelled now.", uint64(max(p.stats.tunnels.Load(), 0)))

	p.writeHealth(e)
	writeRuntimeMetrics(w)
}

func writeDecisions(e expo, peers []servedPeer, name, help string, of func(*serverStats) map[string]int64) {
	e.family(name, "counter", help)
	for _, sp := range peers {
		sp.m.mu.Lock()
		reasons := slices.Sorted(maps.Keys(of(sp.m)))
		lb := sp.key.labels()
		for _, r := range reasons {
			e.sample(name+lb[:len(lb)-1]+`,reason="`+labelValue(r)+`"}`, uint64(of(sp.m)[r]))
		}
		sp.m.mu.Unlock()
	}
}

// writeHealth writes each upstream server's state: 1 when it may take
// requests, 0 when it is down, failed (max_fails within fail_timeout) or
// found unhealthy by health_check; and its failure count. An address listed
// twice in one upstream is one series: up when either entry is, with the
// larger failure count.
func (p *Proxy) writeHealth(e expo) {
	type health struct {
		labels string
		up     uint64
		fails  int
		// the learned idle timeout and how long idle connections are kept
		// (keepalive.go), in seconds; 0: unknown, no limit
		learned, keep float64
	}
	var hs []health
	if s := p.site.Load(); s != nil {
		names := make([]string, 0, len(s.groups))
		for name, g := range s.groups {
			if !g.Literal() {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			first := len(hs)
			for _, ps := range s.groups[name].States() {
				h := health{labels: serverKey{name, ps.Peer.Addr()}.labels(), up: 1, fails: ps.Fails}
				h.learned, h.keep = ps.Peer.IdleSeconds()
				if !ps.Up {
					h.up = 0
				}
				if i := slices.IndexFunc(hs[first:], func(o health) bool { return o.labels == h.labels }); i >= 0 {
					hs[first+i].up, hs[first+i].fails = max(hs[first+i].up, h.up), max(hs[first+i].fails, h.fails)
					continue
				}
				hs = append(hs, h)
			}
		}
	}
	e.family("spillway_upstream_server_up", "gauge", "1 when the upstream server may take requests; 0 when down, failed (max_fails within fail_timeout) or unhealthy by health_check.")
	for _, h := range hs {
		e.sample("spillway_upstream_server_up"+h.labels, h.up)
	}
	e.family("spillway_upstream_server_fails", "gauge", "Failures counted against max_fails within fail_timeout.")
	for _, h := range hs {
		e.sample("spillway_upstream_server_fails"+h.labels, uint64(h.fails))
	}
	e.family("spillway_upstream_idle_timeout_learned_seconds", "gauge", "The idle timeout learned for the upstream server (Keep-Alive header, or the idle age its closed connections were found at); 0 while unknown.")
	for _, h := range hs {
		e.sampleFloat("spillway_upstream_idle_timeout_learned_seconds"+h.labels, h.learned)
	}
	e.family("spillway_upstream_idle_keep_seconds", "gauge", "How long idle keepalive connections to the server are kept: a margin under the learned timeout, at most keepalive_timeout; 0: no limit.")
	for _, h := range hs {
		e.sampleFloat("spillway_upstream_idle_keep_seconds"+h.labels, h.keep)
	}
}

// connCounts are stub_status's numbers.
type connCounts struct {
	active, reading, writing, waiting int64
	accepts, handled, requests        int64
}

// connCounts reads the connection counters. nginx's Writing counts the
// requests being processed (the status request included), Waiting the idle
// keepalive connections, Reading the rest: connections reading a request
// head.
func (p *Proxy) connCounts() connCounts {
	c := connCounts{active: int64(p.clients.Len()), waiting: p.stats.waiting.Load(),
		writing: p.requests.n.Load(), accepts: p.accepts.Load(), handled: p.handled.Load(),
		requests: p.stats.requests.Load()}
	c.reading = max(c.active-c.waiting-c.writing, 0)
	return c
}

// connState keeps the Waiting count: a connection is waiting from the end
// of one request until the next one starts arriving.
func (p *Proxy) connState(nc net.Conn, state fasthttp.ConnState) {
	c := clientConnOf(nc) // through TLS too (tls.go)
	if c == nil {
		return
	}
	if state == fasthttp.StateActive {
		c.active.Store(true)
	}
	idle := state == fasthttp.StateIdle
	if c.idle.Swap(idle) != idle {
		if idle {
			p.stats.waiting.Add(1)
		} else {
			p.stats.waiting.Add(-1)
		}
	}
}

// stubStatus answers a stub_status location with nginx's page, byte for
// byte (the trailing spaces included).
func (x *exchange) stubStatus() {
	c := x.p.connCounts()
	ctx := x.ctx
	ctx.Response.Header.SetContentType("text/plain")
	b := make([]byte, 0, 128)
	b = append(b, "Active connections: "...)
	b = strconv.AppendInt(b, c.active, 10)
	b = append(b, " \nserver accepts handled requests\n "...)
	b = strconv.AppendInt(b, c.accepts, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, c.handled, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, c.requests, 10)
	b = append(b, " \nReading: "...)
	b = strconv.AppendInt(b, c.reading, 10)
	b = append(b, " Writing: "...)
	b = strconv.AppendInt(b, c.writing, 10)
	b = append(b, " Waiting: "...)
	b = strconv.AppendInt(b, c.waiting, 10)
	b = append(b, " \n"...)
	ctx.Response.SetBodyRaw(b)
	x.status = fasthttp.StatusOK
	x.bodyBytes = int64(len(b))
	x.addHeaders(x.status)
	x.charsetFilter(x.status, nil)
}

// metricsServer serves /metrics on metrics.listen.
type metricsServer struct {
	addr string
	ln   net.Listener
	srv  *fasthttp.Server
	done chan struct{}
}

func (p *Proxy) startMetrics(addr string) (*metricsServer, error) {
	ln, err := p.listenTCP(addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	m := &metricsServer{addr: addr, ln: ln, done: make(chan struct{})}
	m.srv = &fasthttp.Server{
		Name:   ServerName,
		Logger: fasthttpLogger{p},
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) != "/metrics" {
				ctx.Error("not found\n", fasthttp.StatusNotFound)
				return
			}
			ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
			p.writeMetrics(ctx)
		},
	}
	go func() { defer close(m.done); _ = m.srv.Serve(ln) }()
	return m, nil
}

func (m *metricsServer) close() {
	if m == nil {
		return
	}
	_ = m.srv.Shutdown()
	<-m.done
}

// MetricsAddr is the bound metrics address, "" without a metrics listener.
func (p *Proxy) MetricsAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.metrics == nil {
		return ""
	}
	return p.metrics.ln.Addr().String()
}
