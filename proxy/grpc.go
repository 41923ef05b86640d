package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"golang.org/x/net/http2"

	"spillway/proxy/upstream"
)

// gRPC (grpc_pass) is one more upstream protocol for the same pipeline:
// a location with grpc_pass has loc.grpc set, and the upstream side is
// HTTP/2 (upstream.GRPC, proxy/upstream/grpc.go). The pick, connect,
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
//     buffer) and is read from the HTTP/2 stream (upstream.GRPC.Body), its
//     trailers passed on to an HTTP/2 or HTTP/3 client after the body
//     (h2Stream.trailer); a response whose head already has grpc-status
//     (gRPC's trailers-only answer) goes out as one HEADERS frame;
//   - the connection is kept only with the upstream's keepalive, as in
//     nginx (a literal address keeps none), for one call at a time.

// grpcLocation is a location's gRPC settings, compiled once per site.
type grpcLocation struct {
	//lint:ignore SA1019 upstream.GRPC runs x/net/http2's client on a connection spillway dialled (proxy/upstream/grpc.go)
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
// upstream.GRPC's template. x.head stays empty: Attempt.Send has nothing
// to write, HTTP/2 writes the request itself.
func (x *exchange) buildGrpcHead() {
	x.uri = x.upstreamURI(x.uri[:0])
	head := x.appendHead(x.head[:0], x.uri, 0, false)
	h := make(http.Header)
	authority := ""
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
	for k, v := range x.ctx.Request.Header.All() {
		// nginx's $grpc_internal_trailers; names are as the client sent
		// them (HTTP/2: "Te"), not normalised
		if bytes.EqualFold(k, []byte("TE")) && bytes.Contains(bytes.ToLower(v), []byte("trailers")) {
			h["Te"] = []string{"trailers"}
		}
	}
	cl := int64(-1)
	if n := x.ctx.Request.Header.ContentLength(); n >= 0 {
		cl = int64(n)
	}
	method := string(x.ctx.Request.Header.Method())
	x.grpc = upstream.GRPC{T: x.loc.grpc.t, BufSize: int(x.loc.conf.Upstream.BufferSize), Req: &http.Request{
		Method: method, Host: authority, Header: h, ContentLength: cl,
		URL:        &url.URL{Scheme: x.loc.grpc.scheme, Host: authority, Opaque: string(x.uri)},
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
	}}
	x.head = x.head[:0]
	x.proto = &x.grpc
}

// grpcRelay prepares the client side of a relayed gRPC response: its
// trailers after the body, and the head at once unless it is a
// trailers-only answer (HTTP/2 and HTTP/3 clients; an HTTP/1.x client gets
// no trailers).
func (x *exchange) grpcRelay() {
	if x.h2 == nil {
		return
	}
	resp := x.grpc.Response() // not x's: the exchange may be recycled before the stream asks
	x.h2.trailer = func() http.Header { return resp.Trailer }
	x.h2.flushHead = len(x.uresp.Header.Peek("Grpc-Status")) == 0
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
	// limit is client_max_body_size (0: none), for a body of no declared
	// length (a declared one over it was refused before): read counts
	// what came, and the read that goes past it fails with bodyTooLarge,
	// its bytes not sent (nginx: 413, the upstream's stream reset).
	limit, read int64

	mu       sync.Mutex
	cond     sync.Cond
	kept     []byte
	overflow bool // bytes were read past max: no replay
	reading  bool // a try is in src.Read
	cur      *grpcTry
	// shared: the source is the client connection's (HTTP/1.x), which
	// reads the next request once this one is done.
	shared bool
}

func newGrpcBody(src clientReader, size, max, limit int64, shared bool) *grpcBody {
	b := &grpcBody{src: src, size: size, max: int(min(max, 1<<20)), limit: limit, shared: shared}
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

// bodyTooLarge is a streamed body that went past client_max_body_size:
// prev bytes had come before the read of n that did.
type bodyTooLarge struct {
	prev, n int64
	chunked bool // HTTP/1.x: nginx's chunked filter counts "prev+n"
}

func (e *bodyTooLarge) Error() string {
	if e.chunked {
		return "client intended to send too large chunked body: " + strconv.FormatInt(e.prev, 10) + "+" + strconv.FormatInt(e.n, 10) + " bytes"
	}
	// HTTP/2 and HTTP/3: nginx counts what was received in all
	return "client intended to send too large chunked body: " + strconv.FormatInt(e.prev+e.n, 10) + " bytes"
}

// Revoke ends t (upstream.GRPC calls it when the try failed): a Read
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
	b.read += int64(n)
	if b.limit > 0 && b.read > b.limit {
		b.overflow, b.kept = true, nil
		return 0, &clientReadError{&bodyTooLarge{prev: b.read - int64(n), n: int64(n), chunked: b.shared}}
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
