package difftest

import (
	"fmt"
	"strings"
)

// The gRPC differential cases (TestGrpcDifferential, grpc_test.go): the
// same calls from a real gRPC client (h2c with prior knowledge on "listen
// ... http2") through real nginx and spillway, the same location
// (grpc_pass grpc://app) in front of fresh upstreams per side: real gRPC
// servers, and raw HTTP/2 ones (x/net/http2's Framer) where an upstream
// must misbehave. Here, not in the test file, so that docs/differential.md
// lists them (GrpcMarkdown).

// Aspects a gRPC case compares.
const (
	AspectTranscript Aspect = "transcript" // what the client saw: gRPC code and message, messages, header and trailer metadata
)

// grpcAspects are compared in this order: hits holds the calls and the
// TCP connections each upstream server received.
var grpcAspects = []Aspect{AspectTranscript, AspectHits, AspectAccess, AspectLog}

// grpcAccessFormat adds $upstream_status: it shows the tries.
const grpcAccessFormat = `$status "$request" $upstream_status`

// Upstream kinds of a gRPC case.
const (
	grpcEcho    = "echo"    // a gRPC server: the echo service (grpc_test.go)
	grpcRefuse  = "refuse"  // a port no one listens on
	grpcReset   = "reset"   // reads the whole request, then resets the TCP connection
	grpcRST2    = "rst2"    // answers RST_STREAM INTERNAL_ERROR (2) before a response
	grpcRST7    = "rst7"    // answers RST_STREAM REFUSED_STREAM (7) before a response
	grpcSilent  = "silent"  // takes the stream and never answers
	grpcBadHead = "badhead" // answers a head with a NUL in a field's value
	grpcMidRST  = "midrst"  // answers a head and one message, then RST_STREAM INTERNAL_ERROR (2)
	grpc503     = "503"     // answers HTTP 503 with a text/plain body (a gateway in front of the gRPC server)
)

// grpcServer is one server of the group "app".
type grpcServer struct {
	kind   string
	params string // nginx's server parameters
}

// grpcCase is one gRPC differential case: calls made one after the other
// on one client connection.
type grpcCase struct {
	name       string
	servers    []grpcServer
	directives []Directive // the gRPC location's, after grpc_pass
	calls      []string    // "unary:IN" or "stream:IN"
	keepalive  int         // the upstream block's keepalive
	// http1 makes the calls as HTTP/1.1 requests on a raw socket (the
	// response compared byte for byte but for Date and Server).
	http1 bool
	// diff documents the aspects that differ (grpcAspects) and why; the
	// case fails when another aspect differs or a documented one no
	// longer does.
	diff *Difference
}

// grpcCases are the cases, in docs/grpc.md's order.
var grpcCases = []grpcCase{
	// Custom metadata both ways, the upstream's header and trailer
	// metadata, and what the upstream saw of the request (its metadata,
	// :authority included).
	{name: "unary-ok", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"unary:hi", "unary:again"}},
	{name: "server-streaming", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"stream:three"}},
	{name: "bidi-streaming", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"bidi:one,two,three"}},
	// Request streams past client_max_body_size (1m), two 640 KiB
	// messages: before the response head (a client stream) 413, after it
	// (a bidi stream in lock step) the client's stream reset; nginx's line.
	{name: "bidi-upload-over-max-body", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"bidi:BIG,BIG"}},
	{name: "client-stream", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"collect:a,b,c"}},
	// A request stream past client_max_body_size before the response head: 413.
	{name: "client-stream-over-max-body", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"collect:BIG,BIG"}},
	{name: "unary-1mib", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"unary:big"}},
	// A non-gRPC answer (an HTTP gateway's 503) is passed on as it is.
	{name: "http-503", servers: []grpcServer{{kind: grpc503}}, calls: []string{"unary:x"}},
	// grpc-status 5 in trailers after a head with metadata, and gRPC's
	// trailers-only answer (one HEADERS frame with grpc-status).
	{name: "status-5-trailers", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"unary:fail-late"}},
	{name: "trailers-only", servers: []grpcServer{{kind: grpcEcho}}, calls: []string{"unary:fail"}},
	// A refused connect: the next server (default grpc_next_upstream
	// error timeout); the refused one is marked failed for the second call.
	{name: "refused-next", servers: []grpcServer{{kind: grpcRefuse}, {kind: grpcEcho}}, calls: []string{"unary:a", "unary:b"}},
	// A TCP reset once the request was sent: a POST, not retried.
	{name: "reset-502", servers: []grpcServer{{kind: grpcReset}, {kind: grpcEcho}}, calls: []string{"unary:r"}},
	{name: "reset-non-idempotent", servers: []grpcServer{{kind: grpcReset}, {kind: grpcEcho}},
		directives: dirs("grpc_next_upstream", "error timeout non_idempotent"), calls: []string{"unary:r"}},
	// RST_STREAM before the response: "upstream rejected request with
	// error N", an invalid header for grpc_next_upstream.
	{name: "rst-stream-2", servers: []grpcServer{{kind: grpcRST2}, {kind: grpcEcho}}, calls: []string{"unary:s"}},
	{name: "rst-stream-7", servers: []grpcServer{{kind: grpcRST7}, {kind: grpcEcho}}, calls: []string{"unary:s"}},
	{name: "rst-stream-7-invalid-header", servers: []grpcServer{{kind: grpcRST7}, {kind: grpcEcho}},
		directives: dirs("grpc_next_upstream", "error timeout invalid_header"), calls: []string{"unary:s"},
		diff: &Difference{Aspects: []Aspect{AspectTranscript, AspectHits, AspectAccess}, Reason: grpcRefusedStreamRetry}},
	{name: "rst-stream-2-invalid-header", servers: []grpcServer{{kind: grpcRST2}, {kind: grpcEcho}},
		directives: dirs("grpc_next_upstream", "error timeout invalid_header"), calls: []string{"unary:s"}},
	// An HTTP/1.1 client: the upstream's trailers in the chunked trailer.
	{name: "http1-client-trailers", servers: []grpcServer{{kind: grpcEcho}}, http1: true, calls: []string{"unary:hi", "unary-note:hi", "unary:fail", "unary:fail-late"}},
	{name: "http1-reset-non-idempotent", servers: []grpcServer{{kind: grpcReset}, {kind: grpcEcho}}, http1: true,
		directives: dirs("grpc_next_upstream", "error timeout non_idempotent"), calls: []string{"unary:r"}},
	// A head with a NUL in a value: 502, "upstream sent invalid header:
	// "NAME: VALUE"" (the NUL raw), then "upstream sent invalid header".
	{name: "invalid-header", servers: []grpcServer{{kind: grpcBadHead}}, calls: []string{"unary:b"}},
	// The response began: a RST_STREAM or a timeout ends the client's
	// stream (the status was sent), with nginx's line "while reading upstream".
	{name: "rst-stream-mid-response", servers: []grpcServer{{kind: grpcMidRST}}, calls: []string{"stream:m"},
		diff: &Difference{Aspects: []Aspect{AspectTranscript, AspectLog}, Reason: grpcMidReset}},
	{name: "read-timeout-mid-stream", servers: []grpcServer{{kind: grpcEcho}}, directives: dirs("grpc_read_timeout", "1s"),
		calls: []string{"stream:stall"}},
	// keepalive in the upstream block: both calls on one connection.
	{name: "keepalive", servers: []grpcServer{{kind: grpcEcho}}, keepalive: 2, calls: []string{"unary:k1", "stream:k2", "unary:k3"}},
	// A timeout once the request was sent: not retried (the body is
	// not buffered), though grpc_next_upstream's default lists timeout.
	{name: "read-timeout-not-retried", servers: []grpcServer{{kind: grpcSilent}, {kind: grpcEcho}}, directives: dirs("grpc_read_timeout", "1s"),
		calls: []string{"unary:t"}},
	// grpc_read_timeout: 504 and "upstream timed out".
	{name: "read-timeout", servers: []grpcServer{{kind: grpcSilent}}, directives: dirs("grpc_read_timeout", "1s"), calls: []string{"unary:t"}},
}

// grpcRefusedStreamRetry: README, "Where spillway differs", and docs/grpc.md.
const grpcRefusedStreamRetry = "REFUSED_STREAM before the response, with invalid_header listed: nginx ends the call " +
	"(the request was sent and its body is not buffered); spillway sends it to the next server, the body " +
	"replayed from memory: RFC 9113 8.7 says the server processed none of it"

// grpcMidReset: a head, a message and RST_STREAM in one read.
const grpcMidReset = "a head, a message and RST_STREAM read at once: nginx handles the message and the reset " +
	"before it relays anything but the head (the message is dropped, the line says \"while reading response " +
	"header from upstream\"); spillway relays the message, then resets the client's stream (\"while reading " +
	"upstream\"). Both reset the client's stream with INTERNAL_ERROR; the bytes before the break are the " +
	"upstream's, as for a broken chunked body (README)"

// grpcMarkdown is docs/differential.md's gRPC section.
func grpcMarkdown() string {
	var b strings.Builder
	ident := 0
	for _, c := range grpcCases {
		if c.diff == nil {
			ident++
		}
	}
	fmt.Fprintf(&b, `
## gRPC

`+"`TestGrpcDifferential`"+` makes the same gRPC calls (google.golang.org/grpc's client, h2c with prior
knowledge on `+"`listen ... http2`"+`; an HTTP/1.1 client on a raw socket where a case says so) through
both, to `+"`location /test. { grpc_pass grpc://app; }`"+` in front of fresh upstreams per side: real gRPC
servers (an echo service: metadata, trailers, statuses, streams) and raw HTTP/2 ones (x/net/http2's
Framer) for the misbehaving kinds. Compared: the client's transcript (gRPC code and message, the
messages, header and trailer metadata, Date dropped and Server normalised; for HTTP/1.1 the response
byte for byte but for the head's name case and order), the calls and TCP connections each upstream
server received, the access-log lines (`+"`$status \"$request\" $upstream_status`"+`) and the
normalised error-log lines (nginx's `+"`[info]`"+` line about the client closing its HTTP/2
connection dropped: the client's race, not the proxy's).

`+"`%d/%d identical, %d documented differences`"+`.

| case | upstreams | directives | calls | result | reason |
|---|---|---|---|---|---|
`, ident, len(grpcCases), len(grpcCases)-ident)
	for _, c := range grpcCases {
		var ups, ds []string
		for _, sv := range c.servers {
			ups = append(ups, strings.TrimSpace(sv.kind+" "+sv.params))
		}
		if c.keepalive > 0 {
			ups = append(ups, fmt.Sprintf("keepalive %d", c.keepalive))
		}
		for _, d := range c.directives {
			ds = append(ds, d.Name+" "+d.Value)
		}
		calls := strings.Join(c.calls, ", ")
		if c.http1 {
			calls = "HTTP/1.1: " + calls
		}
		result, reason := "identical", ""
		if c.diff != nil {
			kind := "deliberate"
			if c.diff.Bug {
				kind = "bug"
			}
			var as []string
			for _, a := range c.diff.Aspects {
				as = append(as, string(a))
			}
			result, reason = kind+": "+strings.Join(as, ", "), c.diff.Reason
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", c.name, cell(strings.Join(ups, ", ")), cell(strings.Join(ds, "; ")), cell(calls), result, cell(reason))
	}
	return b.String()
}
