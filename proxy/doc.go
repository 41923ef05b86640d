// Package proxy is spillway's request path: the client side (its own
// connection loop, conn.go, on fasthttp's head parser), the lifecycle of a request (the exchange) that drives the
// upstream side phase by phase, the one retry decision, the response relay
// (respond, spool), pages, nginx's logs and the metrics. The upstream side
// itself (groups and peer selection, health checks, connections, the
// keepalive cache, upstream TLS, the typed upstream.Error) is package
// proxy/upstream; nginx's rules for the client itself (the request-head
// checks and their lines, bare LFs, the TLS front's configuration and
// handshake lines, the socket writer, lingering close) are package
// proxy/client.
//
// Start reading at handler.go: Proxy.serve is a request's whole life.
//
//	accept, read request head        h1Server, h1Loop (conn.go): fasthttp.RequestHeader parses it
//	check it: 400/405/414/494/501/505 client.Check, from exchange.requestValid
//	route: server block, location    vhostFor, vhost.match (site.go)
//	rewrite module: scripts, search  exchange.rewritePhases: server's script, location,
//	again after a rewrite            its script, again while $uri changed (rewrite.go)
//	buffer the request body          exchange.readBody (body.go), read by the loop's clientBody (clientbody.go)
//	build the upstream head once     exchange.buildHead, appendHead (request.go); picks the
//	                                 upstream.Protocol: HTTP1, or FastCGI (fcgi.go)
//	┌ pick upstream                  upstream.Group.PickFor: smooth weighted RR, least_conn, hash, ip_hash, random, max_fails
//	│ connect / reuse idle conn      upstream.Transport.Open: the keepalive cache probes FIN/RST
//	│                                first, retires past the learned idle timeout (idlelearn)
//	│ send request                   upstream.Attempt.Send  "sending request to upstream"
//	│ read response header           Protocol.ReadHeader    "reading response header from upstream"
//	└ failed or listed status? retry decideRetry, the only retry decision (retry.go)
//	intercepted? (proxy_intercept_errors)  exchange.interceptErrors (errorpage.go)
//	respond: head, then the body     exchange.respond       "reading upstream" (respond.go)
//	log                              exchange.finish, then exchange.logged once the answer was
//	                                 written (h1Loop.answered): access log with $bytes_sent;
//	                                 errors logged where they happen
//
// An error spillway answers itself goes through exchange.page; when
// error_page has a page for it, serve's loop carries it out instead
// (takeErrorPage: a redirect, a named location, or internalRedirect) and runs
// the phases again (process), as nginx's internal redirect (errorpage.go).
//
// Every upstream failure is one *upstream.Error carrying its Phase, Kind,
// peer, whether the connection was reused and the bytes each way; the
// status (502/504), nginx's log message and the retry decision are all
// computed from it, with no type assertion on the way.
//
// A request's waits (the dial, the backoff pause, limit_req's delay) end
// with its context, which the client's going away and a hard stop cancel
// (cancel.go); a send or a header read ends with its socket, closed by the
// same two. Shutdown waits for the requests it canceled on a counter and a
// channel (shutdown.go).
//
// proxy_set_header, fastcgi_param and the access log's format are values
// compiled once per site by proxy/vars; the exchange is their
// vars.Exchange (vars.go), so a variable reads the same request state
// wherever it is written.
package proxy
