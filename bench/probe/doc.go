// Package probe runs `spillway probe`: it characterises an HTTP/1.1 upstream
// from the outside (keepalive_requests, idle timeout and how the idle close
// is sent, header and body limits, pipelining, Expect: 100-continue) and
// explains each finding in nginx's vocabulary, with the proxy setting that
// fits it. Run is paced (Config.Rate) and bounded in time (Config.MaxTime);
// an unreachable or broken upstream is a finding, not an error.
//
// Its tests probe bench/upstreamsim upstreams, whose behaviour is known.
package probe
