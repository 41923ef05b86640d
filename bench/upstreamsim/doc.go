// Package upstreamsim is a misbehaving HTTP/1.1 origin on real sockets: it
// resets, closes early, stalls, lies about lengths, sends broken headers or
// enforces limits on purpose, so that a proxy's answer to each failure can be
// seen and compared with nginx's.
//
// A script of Behavior values (built with the constructors, ParseBehaviors or
// a scenario file) drives one Upstream; StartUpstream and UpstreamConfig.Start
// run it on TCP or a unix socket. The same code backs `spillway upstream`,
// `spillway demo`, the proxy's fault tests and the differential suite. It
// imports nothing of spillway's.
package upstreamsim
