// Package proxy is spillway's request path: the client side (fasthttp's
// server), the upstream exchange it drives phase by phase, retries, passive
// health, keepalive caches, and nginx's logs.
//
// Start reading at handler.go: Proxy.serve is a request's whole life.
//
//	accept, read request head        fasthttp.Server (proxy.go)
//	route: server block, location    vhostFor, vhost.match (site.go)
//	rewrite module: scripts, search  exchange.rewritePhases: server's script, location,
//	again after a rewrite            its script, again while $uri changed (rewrite.go)
//	buffer the request body          exchange.readBody (body.go)
//	build the upstream head once     exchange.buildHead, appendHead (request.go)
//	┌ pick upstream                  group.pick: smooth weighted RR, max_fails (upstream.go)
//	│ connect / reuse idle conn      idleCache.get probes FIN/RST first, retires past the
//	│                                server's learned idle timeout (keepalive.go, idlelearn)
//	│ send request                   attempt.send          "sending request to upstream"
//	│ read response header           attempt.readHeader    "reading response header from upstream"
//	└ failed? retry?                 decideRetry, the only retry decision (retry.go)
//	respond: head, then the body     exchange.respond      "reading upstream" (respond.go)
//	log                              exchange.finish: access log; errors logged where they happen
//
// Every upstream failure is one *UpstreamError carrying its Phase, Kind,
// peer, whether the connection was reused and the bytes each way
// (errors.go); the status (502/504), nginx's log message and the retry
// decision are all computed from it.
//
// proxy_set_header, fastcgi_param and the access log's format are values
// compiled once per site by proxy/vars; the exchange is their
// vars.Exchange (vars.go), so a variable reads the same request state
// wherever it is written.
package proxy
