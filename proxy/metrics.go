package proxy

// Metrics: what the proxy counts, in Prometheus's text format on the
// metrics.listen address, and nginx's stub_status page.
//
// The hot path only adds to atomics (and one histogram per request); the
// exposition is written from those counters and from live state (buffer
// budget, keepalive caches, passive and active health) when it is scraped.
// Each Proxy has its own metrics.Set: no process-global registry.

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

const numKinds = int(KindNoLive) + 1

// stats is the proxy's counters.
type stats struct {
	set *metrics.Set

	requests   atomic.Int64                                // requests read (stub_status "requests")
	status     [600]atomic.Int64                           // finished requests by status (0..599)
	attempts   atomic.Int64                                // upstream attempts (tries, retries included)
	failures   [PhaseSendClient + 1][numKinds]atomic.Int64 // upstream failures by phase and kind
	dials      atomic.Int64                                // upstream connections opened
	tempErrors atomic.Int64                                // temp files that could not be created, written or read
	waiting    atomic.Int64                                // client connections idle between requests (stub_status "Waiting")

	requestTime  *metrics.PrometheusHistogram // $request_time
	upHeaderTime *metrics.PrometheusHistogram // $upstream_header_time of answered attempts
}

func newStats(p *Proxy) *stats {
	st := &stats{set: metrics.NewSet()}
	st.requestTime = st.set.NewPrometheusHistogram("spillway_request_duration_seconds")
	st.upHeaderTime = st.set.NewPrometheusHistogram("spillway_upstream_header_duration_seconds")
	st.set.RegisterMetricsWriter(func(w io.Writer) { p.writeMetrics(w) })
	return st
}

// request counts a finished request.
func (st *stats) request(status int, d time.Duration) {
	if status < 0 || status >= len(st.status) {
		status = 0
	}
	st.status[status].Add(1)
	st.requestTime.Update(d.Seconds())
}

// attempt counts one upstream attempt up to its response header: ue nil
// means the header came.
func (st *stats) attempt(ue *UpstreamError, start time.Time) {
	st.attempts.Add(1)
	if ue == nil {
		st.upHeaderTime.Update(time.Since(start).Seconds())
		return
	}
	st.failure(ue)
}

// failure counts an upstream failure by phase and kind (the header phases
// through attempt, the body phase where the body breaks off).
func (st *stats) failure(ue *UpstreamError) {
	if int(ue.Phase) < len(st.failures) && int(ue.Kind) < numKinds {
		st.failures[ue.Phase][ue.Kind].Add(1)
	}
}

// decision counts a retry decision by its reason (failures only: not the
// hot path, so a labelled counter looked up by name is fine).
func (st *stats) decision(v retryVerdict) {
	name := "spillway_upstream_not_retried_total"
	if v.Retry {
		name = "spillway_upstream_retries_total"
	}
	st.set.GetOrCreateCounter(name + `{reason=` + strconv.Quote(v.Why) + `}`).Inc()
}

// writeMetrics writes everything that is not a registered metric of the
// set: the counter arrays and live state.
func (p *Proxy) writeMetrics(w io.Writer) {
	st := p.stats
	for code := range st.status {
		if n := st.status[code].Load(); n > 0 {
			metrics.WriteCounterUint64(w, `spillway_requests_total{status="`+strconv.Itoa(code)+`"}`, uint64(n))
		}
	}
	metrics.WriteCounterUint64(w, `spillway_upstream_attempts_total`, uint64(st.attempts.Load()))
	for ph := range st.failures {
		for k := range st.failures[ph] {
			if n := st.failures[ph][k].Load(); n > 0 {
				metrics.WriteCounterUint64(w, fmt.Sprintf(`spillway_upstream_failures_total{kind=%q,phase=%q}`,
					Kind(k).String(), Phase(ph).String()), uint64(n))
			}
		}
	}
	metrics.WriteCounterUint64(w, `spillway_upstream_stale_connections_total{closed_by="fin"}`, uint64(p.stale.FIN.Load()))
	metrics.WriteCounterUint64(w, `spillway_upstream_stale_connections_total{closed_by="rst"}`, uint64(p.stale.RST.Load()))
	metrics.WriteCounterUint64(w, `spillway_upstream_stale_connections_total{closed_by="keepalive_timeout"}`, uint64(p.stale.Expired.Load()))
	metrics.WriteCounterUint64(w, `spillway_upstream_stale_connections_total{closed_by="learned_timeout"}`, uint64(p.stale.Learned.Load()))
	reused, dials := p.stale.Reused.Load(), st.dials.Load()
	metrics.WriteCounterUint64(w, `spillway_upstream_connections_total{source="keepalive"}`, uint64(reused))
	metrics.WriteCounterUint64(w, `spillway_upstream_connections_total{source="new"}`, uint64(dials))
	ratio := 0.0
	if reused+dials > 0 {
		ratio = float64(reused) / float64(reused+dials)
	}
	metrics.WriteGaugeFloat64(w, `spillway_upstream_keepalive_reuse_ratio`, ratio)

	b := p.budget.Stats()
	metrics.WriteGaugeUint64(w, `spillway_buffer_limit_bytes`, uint64(b.Limit))
	metrics.WriteGaugeUint64(w, `spillway_buffer_bytes_in_use`, uint64(b.BytesInUse))
	metrics.WriteGaugeUint64(w, `spillway_buffer_chunks_in_use`, uint64(b.ChunksInUse))
	metrics.WriteGaugeUint64(w, `spillway_buffer_peak_bytes_in_use`, uint64(b.PeakBytesInUse))
	metrics.WriteCounterUint64(w, `spillway_buffer_spilled_bytes_total`, uint64(b.BytesSpilled))
	metrics.WriteCounterUint64(w, `spillway_buffer_temp_files_total`, uint64(b.FilesCreated))
	metrics.WriteGaugeUint64(w, `spillway_buffer_temp_files_open`, uint64(b.FilesOpen))
	metrics.WriteCounterUint64(w, `spillway_buffer_temp_file_errors_total`, uint64(st.tempErrors.Load()))
	p.writeDiskFull(w, &b) // diskfull.go

	c := p.connCounts()
	metrics.WriteGaugeUint64(w, `spillway_connections_active`, uint64(c.active))
	metrics.WriteGaugeUint64(w, `spillway_connections_reading`, uint64(c.reading))
	metrics.WriteGaugeUint64(w, `spillway_connections_writing`, uint64(c.writing))
	metrics.WriteGaugeUint64(w, `spillway_connections_waiting`, uint64(c.waiting))
	metrics.WriteCounterUint64(w, `spillway_connections_accepted_total`, uint64(c.accepts))
	metrics.WriteCounterUint64(w, `spillway_connections_handled_total`, uint64(c.handled))

	p.writeHealth(w)
}

// writeHealth writes each upstream server's state: 1 when it may take
// requests, 0 when it is down, failed (max_fails within fail_timeout) or
// found unhealthy by health_check; and its failure count.
func (p *Proxy) writeHealth(w io.Writer) {
	s := p.site.Load()
	if s == nil {
		return
	}
	names := make([]string, 0, len(s.groups))
	for name, g := range s.groups {
		if !g.literal {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		g := s.groups[name]
		now := g.clock()
		g.mu.Lock()
		for _, pr := range append(slices.Clip(g.peers), g.backup...) {
			up := uint64(1)
			if pr.skip(nil, now) {
				up = 0
			}
			labels := fmt.Sprintf(`{upstream=%q,server=%q}`, name, pr.addr)
			metrics.WriteGaugeUint64(w, `spillway_upstream_server_up`+labels, up)
			metrics.WriteGaugeUint64(w, `spillway_upstream_server_fails`+labels, uint64(pr.fails))
			p.writeIdleLearned(w, labels, pr) // keepalive.go
		}
		g.mu.Unlock()
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
	c := connCounts{active: int64(p.clients.len()), waiting: p.stats.waiting.Load(),
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
}

// metricsServer serves /metrics on metrics.listen.
type metricsServer struct {
	addr string
	ln   net.Listener
	srv  *fasthttp.Server
	done chan struct{}
}

func (p *Proxy) startMetrics(addr string) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
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
			p.stats.set.WritePrometheus(ctx)
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
