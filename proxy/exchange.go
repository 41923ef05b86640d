package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// exchange is all per-request state (Pingora's CTX): where the request is
// going, what happened on each attempt, and what the client got. One
// exchange lives from the handler's start until the access-log line is
// written, which for a streamed body is after the handler returned. It is
// owned by one goroutine at a time and recycled through Proxy.exchanges.
//
// Its fields are in two parts: exchangeState, what a request sets, is
// zeroed by reset; exchangeKept, buffers and state every request sets
// before it reads it, is kept for the next request (reset empties the
// buffers), so that reset does not zero and copy back some 2 KB per
// request.
type exchange struct {
	exchangeState
	exchangeKept
}

// exchangeKept is what an exchange keeps from one request to the next
// (reset).
type exchangeKept struct {
	// Buffers: reset empties them.
	client     []byte // remote IP as text: the real client's once realip replaced it
	realipFrom []byte // the connection's own address once realip replaced it (realip.go)
	ppAddr     []byte // $proxy_protocol_addr and _server_addr (proxyproto.go, fillConn)
	// Owned copies for the logs: ctx's slices are not valid once the
	// handler returns, and a streamed body is logged after that.
	reqLine []byte
	host    []byte
	referer []byte
	// $uri, normalised as nginx does (uri.go).
	path     []byte
	uri      []byte           // request URI sent upstream
	head     []byte           // request head sent upstream (built once, replayed on retries)
	tried    []*upstream.Peer // the peers tried
	attempts []vars.Attempt   // the tries, as $upstream_* list them
	mapCache [][]byte         // the maps' values once evaluated (vars.Request.MapCache)
	authVars [][]byte         // auth_request_set's and set's values by slot (vars.Request.Set): reset clears them
	authBuf  []byte           // their bytes

	uresp    *fasthttp.Response          // kept across requests with its buffers (reset, not reallocated)
	watch    *clientWatch                // notices the client's close while the upstream is awaited (clientabort.go)
	uninit   func(string)                // x.uninitialized, made once
	bodyFunc func([]byte) ([]byte, bool) // x.requestBody, made once
	fcgi     fcgiState                   // the FastCGI side of the exchange (fcgi.go): reset recycles it

	// Filled in whole before they are read, so not zeroed by reset:
	//
	// vars is what its variables read (vars.go): beginVars fills in the
	// request's, Conn and Response theirs as they are asked for; reset
	// says Conn and TLS are to be looked up again.
	vars exchangeVars
	// passLoc is the request's copy of a location whose proxy_pass has
	// variables, with the upstream they named (passvars.go); loc then
	// points to it. reset zeroes it when it was used, not to keep a
	// reloaded configuration's location alive.
	passLoc location
	// chead is what client.Check reads (clientHead, which fills it in),
	// kept here rather than allocated for every request.
	chead client.Head
	// fields are the error log's fields of the request: begin (and
	// beginSubrequest) assign them whole before anything reads them.
	fields errorlog.Fields
	// grpc is the HTTP/2 side of a grpc_pass exchange (grpc.go), assigned
	// whole by buildH2Head; reset zeroes it when it was used (its Req set),
	// as finish's EndBody reads it for every request and it holds the
	// stream's connection and response.
	grpc upstream.HTTP2
}

// exchangeState is this request's state: reset zeroes it.
type exchangeState struct {
	p    *Proxy
	site *site
	ctx  *fasthttp.RequestCtx
	vh   *vhost
	loc  *location

	conn       uint64 // nginx's *N for this client connection
	start      time.Time
	clientIP   netip.Addr // the client address (client's text); invalid on a connection that is not TCP
	clientPort int
	serverPort int
	// realip: the realip module replaced the client address (realip.go);
	// realipFrom and realipPort are then the connection's own.
	realip     bool
	realipPort int

	ignored [][]byte // header names nginx ignores: not forwarded (client.Check)

	// args is $args, a view of the request target (path, kept, is $uri);
	// quoted is nginx's r->quoted_uri; uriInvalid means nginx refuses the
	// target (400).
	args       []byte
	quoted     bool
	uriInvalid bool
	redirected bool // an internal redirect changed path (files.go), or a rewrite path or args (rewrite.go)

	// The rewrite module's state (rewrite.go): nginx's r->uri_changed (a
	// rewrite asks for the location to be searched again), the searches
	// so far (r->uri_changes), r->valid_location cleared by a rewrite's
	// break flag, r->internal (an internal location is reachable), and the
	// captures of the last regex matched.
	uriChanged   bool
	uriChanges   int
	rewriteBroke bool
	internal     bool // nginx's r->internal: a rewrite or an internal redirect changed $uri
	stickyProxy  bool // an if block's proxy_pass is the content handler whatever block matched after (noUpstream)
	caps         struct {
		src string
		loc []int
		// srvSrc, srv: the regex server_name's match, the captures a
		// location search starts from (rewrite.go)
		srvSrc string
		srv    []int
	}

	body reqBody // buffered request body, nil when the request has none
	// preread is body when the client's body came whole with its head
	// and stays in the connection's read buffer (body.go).
	preread prereadBody
	// split is body when its first bytes came with the head and stay
	// in the connection's read buffer, the rest in chunks (body.go).
	split splitBody
	// bodyMem is the size up to which nginx would have held the body in
	// memory (client_body_buffer_size, or the whole body when it came
	// with the head): past it nginx's $request_body is not found.
	bodyMem int64
	uhead   upstreamHead // uresp's head's values looked up by name (upstreamhead.go)

	bal         upstream.Balance // hash, ip_hash, random: the request's key and draws (handler.go)
	balSet      bool             // bal's key and address are filled in
	tries       int              // attempts that used a try
	freeUsed    bool             // the free stale-keepalive retry was used
	closeAsked  bool             // head has proxy_set_header's "Connection: close" (appendHead): not kept
	sameRetries int              // retries to a server already tried (proxy_next_upstream_backoff)
	freshNext   *upstream.Peer   // retry this peer on a fresh connection next
	firstTry    time.Time
	cur         *upstream.Attempt // the attempt whose response is being relayed
	attemptBuf  upstream.Attempt  // storage for the current attempt (one at a time)
	stream      bodyStream        // the body when proxy_buffering is off
	spooled     spoolStream       // the body when it is buffered and larger than proxy_buffers
	status      int               // status sent to the client (for the access log)
	gzipVary    bool              // nginx's r->gzip_vary: the answer may vary with Accept-Encoding (gzip.go)
	varied      bool              // "Vary: Accept-Encoding" has been added for it
	trailers    bool              // add_trailer: the answer is sent chunked, with trailers (headers.go)
	trailerSet  *respHeaders      // whose trailers putTrailers has yet to take; trailerSafe: the status's
	trailerSafe bool
	bodyBytes   int64             // body bytes handed to the client connection
	clientWDL   time.Time         // the client write deadline last set (sendDeadline)
	proto       upstream.Protocol // HTTP1, &fcgi or &grpc: set by buildHead
	connHeld    []connHold        // limit_conn counts held until finish (limitconn.go)
	errPage     errorPageState    // error_page between passes through the phases (errorpage.go)
	// headAt is the clock when cur's head came (the reading tryOnce
	// took for $upstream_header_time): a body that came with the head
	// is released at it (respond).
	headAt time.Time
	// accel are the headers an upstream's X-Accel-Redirect carries into
	// the answer; keepUpstreamHead keeps its head through the redirect,
	// for $upstream_http_NAME (xaccel.go).
	accel            []accelHeader
	keepUpstreamHead bool
	accelFrom        string // the upstream whose X-Accel-Redirect is being carried out: its lines name it

	// parent is set on an auth_request subrequest (authrequest.go): it
	// answers its parent, never the client.
	parent *exchange
	// subDone: a subrequest ran. nginx's connection log then says "while
	// sending to client" (the subrequest's last action) on the request's
	// lines that set no action of their own (measured).
	subDone bool
	// clientFailed: a write to the client failed and was logged where it
	// happened (clientWriteFailed), not again by the loop (clientwrite.go).
	clientFailed bool
	// sent and headSize are nginx's c->sent and r->header_size as the
	// request is logged (sentKnown), after its answer was written:
	// $bytes_sent, and $body_bytes_sent their difference (vars.go).
	sent, headSize int64
	sentKnown      bool
	unwritten      bool // logged before its answer is written (refusedPage): no figures
	// limitRateSet: the request's limit_rate ($limit_rate, in
	// x.vars.req.LimitRate) is taken: by set, by X-Accel-Limit-Rate, or
	// as the answer started (nginx's r->limit_rate_set; limitrate.go).
	limitRateSet bool

	// h2 is the HTTP/2 stream the request came on, nil for HTTP/1.x
	// (http2.go): the branches that need a client socket test it.
	h2 *h2Stream

	// rctx is the request's context (cancel.go): done when its client
	// goes away while the upstream is awaited or a stop may no longer
	// wait. Made by context on first use; reset cancels it.
	rctx    context.Context
	rcancel context.CancelCauseFunc
}

func (x *exchange) reset() {
	if x.rcancel != nil {
		x.rcancel(nil) // forgotten by the proxy's stop context
	}
	balKey := x.bal.Key[:0]
	x.exchangeState = exchangeState{}
	x.bal.Key = balKey
	k := &x.exchangeKept
	k.client, k.realipFrom, k.ppAddr, k.reqLine, k.host, k.referer, k.path = k.client[:0], k.realipFrom[:0], k.ppAddr[:0], k.reqLine[:0], k.host[:0], k.referer[:0], k.path[:0]
	k.uri, k.head, k.tried, k.attempts, k.mapCache, k.authBuf = k.uri[:0], k.head[:0], k.tried[:0], k.attempts[:0], k.mapCache[:0], k.authBuf[:0]
	clear(k.authVars) // every slot not set
	k.uresp.Reset()
	k.fcgi.recycle()
	k.vars.recycle()
	if k.passLoc.conf != nil {
		k.passLoc = location{}
	}
	if k.grpc.Req != nil {
		k.grpc = upstream.HTTP2{}
	}
}

// begin copies what the logs need out of ctx and routes the request.
func (x *exchange) begin(p *Proxy, s *site, ctx *fasthttp.RequestCtx, vhosts []*vhost) {
	x.p, x.site, x.ctx = p, s, ctx
	// The request's start: read by Init2 as the connection loop (or
	// HTTP/2's stream) took ctx for it, when its first bytes had come, as
	// nginx's r->start_msec is taken when the request is made; one clock
	// reading fewer per request.
	if x.start = ctx.Time(); x.start.IsZero() {
		x.start = time.Now()
	}
	x.conn = connID(ctx)
	x.h2, _ = ctx.Conn().(*h2Stream)
	if cc := clientConnOf(ctx.Conn()); cc != nil && cc.remote.IsValid() {
		x.clientIP, x.clientPort = cc.remote.Addr(), int(cc.remote.Port())
		x.client = append(x.client[:0], cc.remoteText...)
	} else if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok { // HTTP/2 and HTTP/3 streams
		ap := a.AddrPort()
		x.clientIP = ap.Addr().Unmap()
		x.client = x.clientIP.AppendTo(x.client[:0])
		x.clientPort = int(ap.Port())
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		x.serverPort = a.Port
	}
	h := &ctx.Request.Header
	x.reqLine = append(append(append(append(append(x.reqLine[:0], h.Method()...), ' '), h.RequestURI()...), ' '), h.Protocol()...)
	x.host = append(x.host[:0], h.Host()...)
	// Referer() is Peek("Referer") without its copy and normalisation of
	// the name (fasthttp's peek goes to the same lookup for this name).
	x.referer = append(x.referer[:0], h.Referer()...)
	routeHost := client.RouteHost(h.RequestURI(), x.host) // absolute form: the line's host (package client)
	x.vh = vhostFor(vhosts, routeHost)
	x.fields = errorlog.Fields{
		Client: bstr(x.client), Server: x.vh.name, Request: bstr(x.reqLine),
		Host: bstr(x.host), Referrer: bstr(x.referer),
	}
	x.parseURI(vhosts[0])
	x.loc = x.vh.match(x.path)
	x.beginVars()
	x.serverNameCaptures(routeHost)
}

// noteRemote takes the client's address and its text once for the
// connection's requests (begin), as begin took them from ctx.RemoteAddr()
// for each.
func (c *clientConn) noteRemote() {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		c.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		c.remoteText = c.remote.Addr().AppendTo(nil)
	}
}

// bstr views b as a string without copying. The exchange owns b and does not
// change it while the string is in use (until the exchange is recycled).
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// upstreamURL is nginx's "upstream:" field: scheme, peer, URI sent.
// nginx's grpc module sends its :path without setting the upstream URI,
// so a gRPC line names the server only ("grpc://127.0.0.1:50051").
func (x *exchange) upstreamURL(hostport string) string {
	if x.loc.grpc != nil {
		return upstream.PeerURL(x.loc.scheme, hostport, nil)
	}
	return upstream.PeerURL(x.loc.scheme, hostport, x.uri)
}

// logUpstream writes nginx's error line for a failed attempt: its
// message, errno and phase, about the server hostport.
func (x *exchange) logUpstream(lv errorlog.Level, e *upstream.Error, hostport string) {
	if e.Field != "" && x.log().Enabled(errorlog.Error) {
		// nginx's grpc module names the field (%V: its bytes raw)
		f := x.fields
		f.Upstream = x.upstreamURL(hostport)
		x.log().Write(&errorlog.Entry{Level: errorlog.Error, Conn: x.conn, Msg: `upstream sent invalid header: "` + e.Field + `"`,
			Action: e.Phase.String(), Fields: &f, RawMsg: true})
	}
	x.logPeer(lv, e.Phase, e.Message(), e.Errno(), hostport)
}

// logPeer writes an error-log line about the upstream server hostport:
// msg, while phase, with nginx's "upstream:" field.
func (x *exchange) logPeer(lv errorlog.Level, phase upstream.Phase, msg string, errno syscall.Errno, hostport string) {
	f := x.fields
	f.Upstream = x.upstreamURL(hostport)
	x.log().Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: msg, Errno: errno, Action: phase.String(), Fields: &f})
}

// logf writes an error-log line with this request's fields and no upstream.
func (x *exchange) logf(lv errorlog.Level, msg string, errno uintptr, action string) {
	if !x.log().Enabled(lv) {
		return
	}
	if action == "" && x.subDone {
		action = upstream.PhaseSendClient.String()
	}
	x.log().Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: msg, Errno: sysErrno(errno), Action: action, Fields: &x.fields})
}
