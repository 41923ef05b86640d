package proxy

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http2"

	"spillway/buffer"
	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
)

// gRPC (grpc_pass) is one more upstream protocol for the same pipeline:
// a location with grpc_pass has loc.grpc set, and the upstream side is
// HTTP/2 (upstream.HTTP2, proxy/upstream/http2.go). The pick, connect,
// retry decision, error log, error pages and access log are proxy_pass's.
// What differs:
//
//   - the request head is built once by appendHead with grpc_set_header
//     (nginx's grpc defaults: :authority is $proxy_host) and turned into
//     an HTTP/2 request: the method, the client's target as :path, the
//     header fields, "te: trailers" when the client sent it;
//   - the request body is never buffered (nginx's grpc module streams it,
//     readBody), so a bidi stream flows both ways at once;
//   - the response is never buffered either (grpc_buffer_size is the one
//     buffer) and is read from the HTTP/2 stream (upstream.HTTP2.Body), its
//     trailers passed on to an HTTP/2 or HTTP/3 client after the body
//     (h2Stream.trailer), to an HTTP/1.1 one after the last chunk
//     (grpcChunkedTrailers); a response whose head already has grpc-status
//     (gRPC's trailers-only answer) goes out as one HEADERS frame;
//   - the connection is kept only with the upstream's keepalive, as in
//     nginx (a literal address keeps none), for one call at a time;
//   - a call is not retried once any of it was sent (retryInput): nginx's
//     request_body_no_buffering; only a REFUSED_STREAM replays the body.

// grpcLocation is a location's gRPC settings, compiled once per site.
type grpcLocation struct {
	//lint:ignore SA1019 upstream.HTTP2 runs x/net/http2's client on a connection spillway dialled (proxy/upstream/http2.go)
	t      *http2.Transport
	scheme string // "http" or "https": the :scheme pseudo-header
}

func newGrpcLocation(tls bool, headerMax int64) *grpcLocation {
	g := &grpcLocation{t: upstream.NewH2Transport(headerMax), scheme: "http"}
	if tls {
		g.scheme = "https"
	}
	return g
}

// withTLS is g for a grpc_pass with variables whose value said grpc:// or
// grpcs:// (passvars.go): the same transport, the :scheme it implies.
func (g *grpcLocation) withTLS(tls bool) *grpcLocation {
	c := *g
	c.scheme = "http"
	if tls {
		c.scheme = "https"
	}
	return &c
}

// buildGrpcHead renders the request once (retries resend it) as
// upstream.HTTP2's template. x.head stays empty: Attempt.Send has nothing
// to write, HTTP/2 writes the request itself.
func (x *exchange) buildGrpcHead() { x.buildH2Head(x.loc.grpc, true, 0, false) }

// buildH2Head is buildGrpcHead for g's :scheme: grpc_pass's (grpc: the
// client's "te: trailers" passed on, the client's Content-Length as the
// length) or proxy_pass's with proxy_http_version 2 (the head's
// Content-Length, which proxy_set_header and the buffered body decide).
// Host is :authority; the connection-specific fields (Connection: close,
// Keep-Alive, Upgrade, Transfer-Encoding) are never sent on HTTP/2.
// bodyLen and hasBody are appendHead's.
func (x *exchange) buildH2Head(g *grpcLocation, grpc bool, bodyLen int64, hasBody bool) {
	x.uri = x.upstreamURI(x.uri[:0])
	head := x.appendHead(x.head[:0], x.uri, bodyLen, hasBody)
	h := make(http.Header)
	authority := ""
	headCL := int64(-1)
	lines := bytes.Split(head, []byte("\r\n"))
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(": "))
		if !ok || len(name) == 0 {
			continue
		}
		if bytes.EqualFold(name, []byte("Host")) {
			authority = string(value)
			continue
		}
		if bytes.EqualFold(name, []byte("Content-Length")) {
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
				headCL = n
			}
		}
		if connectionSpecific(string(name)) {
			continue // never on HTTP/2 (grpc_set_header's defaults clear most)
		}
		k := http.CanonicalHeaderKey(string(name))
		h[k] = append(h[k], string(value))
	}
	if authority == "" {
		authority = x.loc.conf.ProxyPass.Host // grpc_set_header Host "": nginx's ctx->host
		if authority == "" {
			authority = x.vars.req.ProxyHost // grpc_pass with variables: the evaluated host
		}
	}
	cl := headCL
	if grpc {
		for k, v := range x.ctx.Request.Header.All() {
			// nginx's $grpc_internal_trailers; names are as the client sent
			// them (HTTP/2: "Te"), not normalised
			if bytes.EqualFold(k, []byte("TE")) && bytes.Contains(bytes.ToLower(v), []byte("trailers")) {
				h["Te"] = []string{"trailers"}
			}
		}
		cl = -1
		if n := x.ctx.Request.Header.ContentLength(); n >= 0 {
			cl = int64(n)
		}
	}
	method := string(x.ctx.Request.Header.Method())
	x.grpc = upstream.HTTP2{T: g.t, BufSize: int(x.loc.conf.Upstream.BufferSize), Req: &http.Request{
		Method: method, Host: authority, Header: h, ContentLength: cl,
		URL:        &url.URL{Scheme: g.scheme, Host: authority, Opaque: string(x.uri)},
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
	}}
	x.head = x.head[:0]
	x.proto = &x.grpc
}

// grpcRelay prepares the client side of a relayed gRPC response: its
// trailers after the body, and the head at once unless it is a
// trailers-only answer (HTTP/2 and HTTP/3 clients; an HTTP/1.1 client's
// trailers are grpcChunkedTrailers').
func (x *exchange) grpcRelay() {
	if x.h2 == nil {
		return
	}
	resp := x.grpc.Response() // not x's: the exchange may be recycled before the stream asks
	x.h2.trailer = func() http.Header { return resp.Trailer }
	x.h2.flushHead = len(x.uresp.Header.Peek("Grpc-Status")) == 0
}

// grpcBodyTooLarge is nginx's check of a streamed request body against
// client_max_body_size (ngx_http_v2_process_request_body, the chunked
// parser's for HTTP/1.1): past it, "client intended to send too large
// chunked body: N bytes" while sending the request to the upstream (N:
// what had been received by then, its read boundaries those of the
// client's DATA frames). It reports whether the body went past the limit;
// the caller answers 413 before the response head, or cuts the
// response after it.
func (x *exchange) grpcBodyTooLarge(addr string) bool {
	gb, ok := x.body.(*grpcBody)
	if !ok {
		return false
	}
	gb.mu.Lock()
	n, last := gb.tooLarge, gb.lastRead
	gb.mu.Unlock()
	if n == 0 {
		return false
	}
	size := strconv.FormatInt(n, 10)
	if gb.shared {
		// HTTP/1.x: nginx's chunked parser logs what came before the
		// chunk and the chunk (measured, nginx 1.22: "1024+512 bytes")
		size = strconv.FormatInt(n-last, 10) + "+" + strconv.FormatInt(last, 10)
	}
	x.logPeer(errorlog.Error, upstream.PhaseSend, "client intended to send too large chunked body: "+size+" bytes", 0, addr)
	return true
}

// grpcChunkedTrailers is nginx's chunked filter for a gRPC answer to an
// HTTP/1.1 client: the upstream's trailers (grpc-status, grpc-message,
// custom metadata) follow the last chunk, with their HTTP/2 (lower-case)
// names and no Trailer header in the head, as nginx sends them. It runs
// when the body has reached its end, on the goroutine fasthttp writes the
// response with, before fasthttp writes the trailer section; a body that is
// not chunked (Content-Length, HTTP/1.0) has no trailers.
func (x *exchange) grpcChunkedTrailers() {
	resp := x.grpc.Response()
	out := &x.ctx.Response.Header
	if x.h2 != nil || resp == nil || len(resp.Trailer) == 0 || out.ContentLength() != -1 || !client.HTTP11(&x.ctx.Request.Header) {
		return
	}
	// http2 keeps trailers in a map: grpc-status and grpc-message first,
	// as gRPC servers send them, then the rest by name.
	names := slices.SortedFunc(maps.Keys(resp.Trailer), func(a, b string) int {
		ra, rb := grpcTrailerRank(a), grpcTrailerRank(b)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		lower := strings.ToLower(name)
		out.Del(lower) // a value the head had went out with it
		if out.AddTrailer(lower) != nil {
			continue // a name that may not be a trailer (Content-Length, ...)
		}
		for _, v := range resp.Trailer[name] {
			out.Add(lower, v)
		}
	}
}

func grpcTrailerRank(name string) int {
	switch name {
	case "Grpc-Status":
		return 0
	case "Grpc-Message":
		return 1
	}
	return 2
}

// grpcBody is a gRPC request body: streamed as it comes (nginx never
// buffers one), with its first bytes kept, up to client_body_buffer_size,
// so that a try the upstream refused unprocessed (REFUSED_STREAM) can send
// it again: replayable while everything read so far is kept.
//
// http2 reads a try's body in a goroutine of its own that may still be in
// a Read when the try fails, so each try reads through a grpcTry: a new
// try revokes the previous one, replays the kept bytes, and reads the
// client only once the previous reader's Read has returned (its bytes are
// kept for the new try, in order).
type grpcBody struct {
	src  clientReader
	size int64
	max  int

	mu       sync.Mutex
	cond     sync.Cond
	kept     []byte
	overflow bool // bytes were read past max: no replay
	reading  bool // a try is in src.Read
	cur      *grpcTry
	// shared: the source is the client connection's (HTTP/1.x), which
	// reads the next request once this one is done.
	shared bool
	// preread: the whole body came with the head (HTTP/1.x), so nginx
	// retries the call as any request (retryInput).
	preread bool
	// limit is client_max_body_size (0: none), checked as the body comes
	// (a gRPC client declares no length); tooLarge is what had been
	// received when a read went past it, 0 before; lastRead the size of
	// that read (nginx's chunked parser logs "before+chunk" for HTTP/1.1).
	limit, received, tooLarge, lastRead int64
}

// errBodyTooLarge ends a try's body past client_max_body_size.
var errBodyTooLarge = errors.New("request body larger than client_max_body_size")

func newGrpcBody(src clientReader, size, max, limit int64, shared bool) *grpcBody {
	b := &grpcBody{src: src, size: size, max: int(min(max, 1<<20)), shared: shared, limit: limit}
	b.cond.L = &b.mu
	return b
}

func (b *grpcBody) Size() int64 { return b.size }

// Close ends the last try's reading (the exchange is over). On an HTTP/1.x
// connection it also waits for a Read http2 still has under way, which
// client_body_timeout bounds: the connection's next request must not be
// read from two goroutines. An HTTP/2 or HTTP/3 stream's body is its own.
func (b *grpcBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.cur.dead = true
	}
	for b.shared && b.reading {
		b.cond.Wait()
	}
	return nil
}

func (b *grpcBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow
}

func (b *grpcBody) reader() io.Reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.cur.dead = true
	}
	b.cur = &grpcTry{b: b}
	return b.cur
}

// grpcTry is one try's view of a grpcBody.
type grpcTry struct {
	b    *grpcBody
	off  int
	dead bool // a later try took over: http2's late reads get an error
}

var errTryOver = errors.New("request body taken by the next try")

// Revoke ends t (upstream.HTTP2 calls it when the try failed): a Read
// http2 makes later gets an error, one under way keeps its bytes.
func (t *grpcTry) Revoke() {
	t.b.mu.Lock()
	t.dead = true
	t.b.mu.Unlock()
}

func (t *grpcTry) Read(p []byte) (int, error) {
	b := t.b
	b.mu.Lock()
	for {
		if t.dead {
			b.mu.Unlock()
			return 0, errTryOver
		}
		if t.off < len(b.kept) {
			n := copy(p, b.kept[t.off:])
			t.off += n
			b.mu.Unlock()
			return n, nil
		}
		if !b.reading {
			break
		}
		b.cond.Wait() // a revoked try is still reading the client
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.src.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	b.cond.Broadcast()
	b.received += int64(n)
	var le *buffer.LimitError
	if errors.As(err, &le) && b.tooLarge == 0 {
		// HTTP/1.x chunked: the loop's reader refused the chunk-size
		// line that passes the limit (clientbody.go), before its data.
		b.tooLarge, b.lastRead = le.Size, le.Size-b.received
	}
	if b.limit > 0 && b.received > b.limit && b.tooLarge == 0 {
		b.tooLarge, b.lastRead = b.received, int64(n)
	}
	if b.tooLarge > 0 {
		// nginx checks each read before it passes it on: nothing of it
		// goes upstream, and the stream is cut.
		b.overflow, b.kept = true, nil
		return 0, errBodyTooLarge
	}
	if n > 0 {
		if !b.overflow && len(b.kept)+n <= b.max {
			b.kept = append(b.kept, p[:n]...)
		} else {
			b.overflow, b.kept = true, nil
		}
	}
	if t.dead {
		// Kept for the next try to replay, or, past max, lost with this
		// one: overflow then says no try may follow.
		return 0, errTryOver
	}
	t.off += n
	return n, err
}
