package proxy

import (
	"net"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
)

// exchange is all per-request state (Pingora's CTX): where the request is
// going, what happened on each attempt, and what the client got. One
// exchange lives from the handler's start until the access-log line is
// written, which for a streamed body is after the handler returned. It is
// owned by one goroutine at a time and recycled through Proxy.exchanges.
type exchange struct {
	p    *Proxy
	site *site
	ctx  *fasthttp.RequestCtx
	vh   *vhost
	loc  *location

	conn       uint64 // nginx's *N for this client connection
	start      time.Time
	client     []byte // remote IP as text
	clientPort int
	serverPort int

	// Owned copies for the logs: ctx's slices are not valid once the
	// handler returns, and a streamed body is logged after that.
	reqLine []byte
	host    []byte
	referer []byte
	fields  errorlog.Fields
	ignored [][]byte // header names nginx ignores: not forwarded (namesInOrder)

	body  reqBody            // buffered request body, nil when the request has none
	uri   []byte             // request URI sent upstream
	head  []byte             // request head sent upstream (built once, replayed on retries)
	uresp *fasthttp.Response // kept across requests with its buffers (reset, not reallocated)

	tried       []*peer
	tries       int   // attempts that used a try
	freeUsed    bool  // the free stale-keepalive retry was used
	sameRetries int   // retries to a server already tried (proxy_next_upstream_backoff)
	freshNext   *peer // retry this peer on a fresh connection next
	attempts    []attemptRecord
	firstTry    time.Time
	cur         *attempt    // the attempt whose response is being relayed
	attemptBuf  attempt     // storage for the current attempt (one at a time)
	stream      bodyStream  // the body when proxy_buffering is off
	spooled     spoolStream // the body when it is buffered and larger than proxy_buffers
	status      int         // status sent to the client (for the access log)
	bodyBytes   int64       // body bytes handed to the client connection
	clientWDL   time.Time   // the client write deadline last set (sendDeadline)
	logged      bool
	fcgi        fcgiState // the FastCGI side of the exchange (fcgi.go)
}

// attemptRecord is one try as the access log lists it
// ($upstream_addr, $upstream_status, $upstream_response_time).
type attemptRecord struct {
	addr   string
	status int
	dur    time.Duration
	via    attemptVia    // $upstream_connection_reused
	idle   time.Duration // $upstream_idle_age, when reused
}

// attemptVia is how an attempt got its connection.
type attemptVia uint8

const (
	attemptNoConn attemptVia = iota // none: no live upstreams
	attemptFresh                    // dialled (or dialling failed)
	attemptReused                   // taken from the keepalive cache
)

func (x *exchange) reset() {
	x.uresp.Reset()
	*x = exchange{
		client: x.client[:0], reqLine: x.reqLine[:0], host: x.host[:0], referer: x.referer[:0],
		uri: x.uri[:0], head: x.head[:0], tried: x.tried[:0], attempts: x.attempts[:0],
		uresp: x.uresp, fcgi: x.fcgi.recycle(),
	}
}

// begin copies what the logs need out of ctx and routes the request.
func (x *exchange) begin(p *Proxy, s *site, ctx *fasthttp.RequestCtx, vhosts []*vhost) {
	x.p, x.site, x.ctx = p, s, ctx
	x.start = time.Now()
	x.conn = connID(ctx)
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		x.client = ap.Addr().Unmap().AppendTo(x.client[:0])
		x.clientPort = int(ap.Port())
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		x.serverPort = a.Port
	}
	h := &ctx.Request.Header
	x.reqLine = append(append(append(append(append(x.reqLine[:0], h.Method()...), ' '), h.RequestURI()...), ' '), h.Protocol()...)
	x.host = append(x.host[:0], h.Host()...)
	x.referer = append(x.referer[:0], h.Peek("Referer")...)
	x.vh = vhostFor(vhosts, x.host)
	x.fields = errorlog.Fields{
		Client: bstr(x.client), Server: x.vh.name, Request: bstr(x.reqLine),
		Host: bstr(x.host), Referrer: bstr(x.referer),
	}
	x.loc = x.vh.match(ctx.Path())
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
func (x *exchange) upstreamURL(hostport string) string {
	return x.loc.scheme + "://" + hostport + string(x.uri)
}

// logUpstream writes nginx's error line for a failed attempt.
func (x *exchange) logUpstream(lv errorlog.Level, e *UpstreamError, msg string, hostport string) {
	f := x.fields
	f.Upstream = x.upstreamURL(hostport)
	errno := e.Errno()
	if msg == "" {
		msg = e.Message()
	}
	x.p.elog.Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: msg, Errno: errno, Action: e.Phase.String(), Fields: &f})
}

// logf writes an error-log line with this request's fields and no upstream.
func (x *exchange) logf(lv errorlog.Level, msg string, errno uintptr, action string) {
	if !x.p.elog.Enabled(lv) {
		return
	}
	x.p.elog.Write(&errorlog.Entry{Level: lv, Conn: x.conn, Msg: msg, Errno: sysErrno(errno), Action: action, Fields: &x.fields})
}

// upstreamVars renders $upstream_addr, $upstream_status and
// $upstream_response_time as nginx lists them: one entry per attempt,
// ", "-separated.
func (x *exchange) upstreamVars() (addr, status, rtime string) {
	if len(x.attempts) == 0 {
		return "", "", ""
	}
	var a, s, t strings.Builder
	for i, r := range x.attempts {
		if i > 0 {
			a.WriteString(", ")
			s.WriteString(", ")
			t.WriteString(", ")
		}
		a.WriteString(r.addr)
		if r.status == 0 {
			s.WriteString("-")
		} else {
			s.WriteString(strconv.Itoa(r.status))
		}
		t.WriteString(strconv.FormatFloat(r.dur.Seconds(), 'f', 3, 64))
	}
	return a.String(), s.String(), t.String()
}

// connVars renders $upstream_connection_reused ("1" reused, "0" a new
// connection) and $upstream_idle_age (how long the reused connection had
// been idle, in seconds with milliseconds) the way upstreamVars renders
// nginx's lists: one entry per attempt, ", "-separated, "-" where an
// attempt has no value (no connection; a new connection has no idle age).
func (x *exchange) connVars() (reused, idle string) {
	if len(x.attempts) == 0 {
		return "", ""
	}
	var r, i []byte
	for n, a := range x.attempts {
		if n > 0 {
			r = append(r, ", "...)
			i = append(i, ", "...)
		}
		switch a.via {
		case attemptReused:
			r = append(r, '1')
			i = strconv.AppendFloat(i, a.idle.Seconds(), 'f', 3, 64)
		case attemptFresh:
			r = append(r, '0')
			i = append(i, '-')
		default:
			r = append(r, '-')
			i = append(i, '-')
		}
	}
	return string(r), string(i)
}
