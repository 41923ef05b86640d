package proxy

import (
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/idlelearn"
	"spillway/proxy/upstream"
)

// The proxy side of the keepalive cache (proxy/upstream): its notices in
// the error log, and what it learned, for callers and metrics.

// idleLog is the keepalive caches' LearnLog: p's error log.
type idleLog struct{ p *Proxy }

// IdleLearned logs, once per change, what a server's idle timeout was
// learned to be: "upstream 127.0.0.1:9001 closes idle connections after
// 5.0s (FIN); keeping them at most 4.5s" (notice).
func (l idleLog) IdleLearned(addr string, ev idlelearn.Event) {
	lv := errorlog.Level(config.LevelNotice)
	if l.p.elog.Enabled(lv) {
		l.p.elog.Write(&errorlog.Entry{Level: lv, Msg: ev.Message(addr)})
	}
}

// staleReuse is the learner's other observation: a reused connection that
// failed before any response byte, with an RST or a FIN, was closed by the
// upstream while idle (the race the peek cannot see). It counts the free
// retry that follows.
func (p *Proxy) staleReuse(pr *upstream.Peer, a *upstream.Attempt, ue *upstream.Error) {
	p.stale.Retried.Add(1)
	switch ue.Kind {
	case upstream.KindReset:
		pr.Idle().Closed(a.Idle, idlelearn.RST, a.Start, idleLog{p})
	case upstream.KindClosed:
		pr.Idle().Closed(a.Idle, idlelearn.FIN, a.Start, idleLog{p})
	}
}

// StaleRetries reports the free fresh-connection retries made after a
// reused connection failed: the stale keepalive races the peek missed.
func (p *Proxy) StaleRetries() int64 { return p.stale.Retried.Load() }

// IdleTimeout reports what spillway believes about an upstream server's
// idle timeout (0: unknown), what that rests on ("FIN", "RST", "Keep-Alive
// header", "none") and how long its idle connections are kept (0: no
// limit). ok is false when no group of the running configuration has the
// server.
func (p *Proxy) IdleTimeout(server string) (timeout time.Duration, how string, keep time.Duration, ok bool) {
	for _, g := range p.site.Load().groups {
		for _, pr := range g.Peers() {
			if pr.Addr() == server {
				t, h, keep := pr.Idle().Learned()
				return t, h, keep, true
			}
		}
	}
	return 0, "", 0, false
}
