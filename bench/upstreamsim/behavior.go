package upstreamsim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind names one way for the upstream to answer (or not answer) a request.
// Its String() is the name used on the command line and in scenario files.
type Kind int

// Response kinds decide how one request is answered; they can be scoped to a
// path prefix and a method. Connection kinds (IdleRST, IdleFIN, Refuse,
// HeaderLimit, KeepaliveRequests, BodyLimit, Expect) set upstream-wide
// policy and cannot be scoped.
const (
	KindOK                Kind = iota // 200, GET /size/N → N bytes, POST /echo echoes, keepalive on
	KindReset                         // RST (SetLinger(0)) right after the request head, before any byte
	KindResetAfterHeader              // full response header, then RST
	KindResetMidBody                  // header with Content-Length > N, N body bytes, then RST
	KindCloseBeforeHeader             // FIN right after the request head
	KindCloseMidBody                  // header with Content-Length > N, N body bytes, then FIN
	KindLengthMismatch                // N more body bytes than Content-Length says
	KindInvalidHeader                 // a header line nginx rejects ("Bad Header: x"), then FIN
	KindNoValidHTTP                   // "hello" instead of a status line, then FIN
	KindHugeHeader                    // a response header of N bytes
	KindSlowHeader                    // wait D before the response header
	KindSlowBody                      // header at once, then wait D before the body (or each of chunks=K pieces)
	KindStatus                        // answer with status CODE
	KindKillAfter                     // handler cut off after D (php-fpm request_terminate_timeout): RST
	KindFailRatio                     // apply Inner to a fraction P of the matching requests
	KindHeadersThenStall              // response header, then nothing until someone closes
	KindChunkedTruncated              // chunked body of N bytes without the final 0 chunk, then FIN
	KindIdleRST                       // keepalive connections idle for D are reset (IIS)
	KindIdleFIN                       // keepalive connections idle for D are closed with FIN (nginx, Apache)
	KindRefuse                        // the port is closed: connect() gets ECONNREFUSED
	KindHeaderLimit                   // request heads larger than N bytes get Reply (431, 400 or reset)
	KindKeepaliveRequests             // close after N requests on one connection (Connection: close)
	KindBodyLimit                     // request bodies larger than N get Reply (413 before reading, or reset)
	KindExpect                        // how Expect: 100-continue is answered (continue, ignore, reject)
	KindSwitch                        // 101 Switching Protocols, then echo what arrives until the peer closes
	KindBareLF                        // 200 with bare-LF line ends ("HTTP/1.1 200 OK\nContent-Length: 3\n\nok\n")
	KindBadChunked                    // chunked body: one chunk of N bytes, then a chunk-size line that is no hex number, then FIN
	KindPartialHeader                 // the status line and one header line, then nothing until someone closes
	KindWebSocket                     // a WebSocket (RFC 6455) handshake, then every message echoed (websocket.go)
	numKinds
)

var kindNames = [numKinds]string{
	KindOK:                "ok",
	KindReset:             "reset",
	KindResetAfterHeader:  "reset_after_header",
	KindResetMidBody:      "reset_mid_body",
	KindCloseBeforeHeader: "close_before_header",
	KindCloseMidBody:      "close_mid_body",
	KindLengthMismatch:    "length_mismatch",
	KindInvalidHeader:     "invalid_header",
	KindNoValidHTTP:       "no_valid_http",
	KindHugeHeader:        "huge_header",
	KindSlowHeader:        "slow_header",
	KindSlowBody:          "slow_body",
	KindStatus:            "status",
	KindKillAfter:         "kill_after",
	KindFailRatio:         "fail_ratio",
	KindHeadersThenStall:  "headers_then_stall",
	KindChunkedTruncated:  "chunked_truncated",
	KindIdleRST:           "idle_rst",
	KindIdleFIN:           "idle_fin",
	KindRefuse:            "refuse",
	KindHeaderLimit:       "header_limit",
	KindKeepaliveRequests: "keepalive_requests",
	KindBodyLimit:         "body_limit",
	KindExpect:            "expect",
	KindSwitch:            "switch",
	KindBareLF:            "bare_lf",
	KindBadChunked:        "bad_chunked",
	KindPartialHeader:     "partial_header",
	KindWebSocket:         "websocket",
}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// connectionLevel reports whether k is an upstream-wide policy rather than a
// way to answer one request.
func (k Kind) connectionLevel() bool {
	switch k {
	case KindIdleRST, KindIdleFIN, KindRefuse, KindHeaderLimit, KindKeepaliveRequests, KindBodyLimit, KindExpect:
		return true
	}
	return false
}

// Reply is what the upstream answers when a limit is exceeded.
type Reply int

const (
	ReplyDefault Reply = iota // 431 for header_limit, 413 for body_limit
	Reply400
	Reply413
	Reply431
	ReplyReset    // RST without any byte
	Reply413Close // 413, then close() with the body unread: the kernel turns the close into an RST
)

func (r Reply) String() string {
	switch r {
	case Reply400:
		return "400"
	case Reply413:
		return "413"
	case Reply431:
		return "431"
	case ReplyReset:
		return "reset"
	case Reply413Close:
		return "413close"
	}
	return ""
}

// ExpectMode is how the upstream treats "Expect: 100-continue".
type ExpectMode int

const (
	ExpectContinue ExpectMode = iota // send "100 Continue" before reading the body (Go, nginx)
	ExpectIgnore                     // say nothing, wait for the body (python http.server in HTTP/1.0 mode)
	ExpectReject                     // answer 417 and close
)

func (m ExpectMode) String() string {
	switch m {
	case ExpectIgnore:
		return "ignore"
	case ExpectReject:
		return "reject"
	}
	return "continue"
}

// Behavior is one entry of an upstream's script: a Kind plus its parameters.
// It is a plain value: copy it, compare it, build it with the constructors
// (OK, Reset, ResetMidBody, ...) or with ParseBehaviors. The zero value is OK().
// Counters (for fail_ratio) live in the Upstream, not here, so one Behavior
// can be passed to many upstreams.
type Behavior struct {
	Kind Kind

	// N is the kind's byte count or number: body bytes before the break
	// (reset_mid_body, close_mid_body, chunked_truncated), extra bytes
	// (length_mismatch), header bytes (huge_header), a limit (header_limit,
	// body_limit) or a request count (keepalive_requests).
	N int64
	// D is the kind's duration (slow_header, slow_body, kill_after, idle_rst, idle_fin).
	D time.Duration
	// Code is the status for status CODE.
	Code int
	// P and Inner describe fail_ratio: Inner is applied to a fraction P of the
	// requests this entry matches; the others fall through to the next entry.
	P     float64
	Inner *Behavior
	// Seed selects pseudo-random fail_ratio decisions. 0 (the default) spreads
	// them evenly and deterministically: with P=0.5, requests 1, 3, 5, ... fail.
	Seed uint64

	// Size is the response body length (Content-Length); 0 means the kind's
	// default. GET /size/N overrides it with N.
	Size int64
	// Latency is waited after the request was read, before answering.
	Latency time.Duration
	// Chunks splits slow_body's body into pieces, each preceded by D.
	Chunks int
	// Reply is the answer when header_limit or body_limit is exceeded.
	Reply Reply
	// Expect is the mode of an expect entry.
	Expect ExpectMode
	// Silent (idle_rst, idle_fin) makes the upstream forget idle connections
	// without telling, like a NAT or firewall dropping its state: nothing is
	// sent after D, and the next request on such a connection gets the RST
	// (or FIN) instead of an answer.
	Silent bool
	// Hint (idle_rst, idle_fin) makes every keepalive response say when the
	// connection will be closed, as Node does: "Keep-Alive: timeout=N",
	// N the idle time D in whole seconds, rounded up.
	Hint bool
	// Header holds extra response header lines ("Name: value") for ok and
	// status answers: a Location, Set-Cookie or Refresh for the proxy to
	// rewrite.
	Header []string
	// SkipBody makes the upstream act before reading the request body (it is
	// discarded afterwards if the connection stays open). reset and
	// close_before_header always act right after the head.
	SkipBody bool

	// Path and Method scope a response entry: it applies to requests whose
	// path starts with Path and, if Method is set, whose method is Method.
	// The entry with the longest matching Path wins; ties go to the earlier one.
	Path   string
	Method string
}

// Constructors, one per kind. Modifiers (At, For, WithSize, WithLatency) return changed copies.

func OK() Behavior                        { return Behavior{Kind: KindOK} }
func Reset() Behavior                     { return Behavior{Kind: KindReset} }
func ResetAfterHeader() Behavior          { return Behavior{Kind: KindResetAfterHeader} }
func ResetMidBody(n int64) Behavior       { return Behavior{Kind: KindResetMidBody, N: n} }
func CloseBeforeHeader() Behavior         { return Behavior{Kind: KindCloseBeforeHeader} }
func CloseMidBody(n int64) Behavior       { return Behavior{Kind: KindCloseMidBody, N: n} }
func LengthMismatch(extra int64) Behavior { return Behavior{Kind: KindLengthMismatch, N: extra} }
func InvalidHeader() Behavior             { return Behavior{Kind: KindInvalidHeader} }
func NoValidHTTP() Behavior               { return Behavior{Kind: KindNoValidHTTP} }
func HugeHeader(n int64) Behavior         { return Behavior{Kind: KindHugeHeader, N: n} }
func SlowHeader(d time.Duration) Behavior { return Behavior{Kind: KindSlowHeader, D: d} }
func SlowBody(d time.Duration) Behavior   { return Behavior{Kind: KindSlowBody, D: d} }
func Status(code int) Behavior            { return Behavior{Kind: KindStatus, Code: code} }
func KillAfter(d time.Duration) Behavior  { return Behavior{Kind: KindKillAfter, D: d} }
func HeadersThenStall() Behavior          { return Behavior{Kind: KindHeadersThenStall} }
func PartialHeader() Behavior             { return Behavior{Kind: KindPartialHeader} }
func ChunkedTruncated(n int64) Behavior   { return Behavior{Kind: KindChunkedTruncated, N: n} }
func Switch() Behavior                    { return Behavior{Kind: KindSwitch} }
func BareLF() Behavior                    { return Behavior{Kind: KindBareLF} }
func BadChunked(n int64) Behavior         { return Behavior{Kind: KindBadChunked, N: n} }
func WebSocket() Behavior                 { return Behavior{Kind: KindWebSocket} }
func IdleRST(d time.Duration) Behavior    { return Behavior{Kind: KindIdleRST, D: d} }

// IdleDrop is idle_rst D silent: idle connections are forgotten after d and
// the next request on one is answered with an RST.
func IdleDrop(d time.Duration) Behavior { return Behavior{Kind: KindIdleRST, D: d, Silent: true} }
func IdleFIN(d time.Duration) Behavior  { return Behavior{Kind: KindIdleFIN, D: d} }
func Refuse() Behavior                  { return Behavior{Kind: KindRefuse} }
func KeepaliveRequests(n int) Behavior  { return Behavior{Kind: KindKeepaliveRequests, N: int64(n)} }
func Expect(m ExpectMode) Behavior      { return Behavior{Kind: KindExpect, Expect: m} }

// FailRatio applies inner to a fraction p (0 < p <= 1) of the requests.
func FailRatio(p float64, inner Behavior) Behavior {
	return Behavior{Kind: KindFailRatio, P: p, Inner: &inner}
}

// HeaderLimit makes request heads (request line through the empty line) larger
// than n bytes get reply: Reply431 (default), Reply400 or ReplyReset.
func HeaderLimit(n int, reply Reply) Behavior {
	return Behavior{Kind: KindHeaderLimit, N: int64(n), Reply: reply}
}

// BodyLimit makes request bodies larger than n bytes get reply: Reply413
// (default; sent before reading the body, then a lingering close),
// Reply413Close (the same without draining: like many application servers,
// the unread body makes the close an RST) or ReplyReset.
func BodyLimit(n int64, reply Reply) Behavior {
	return Behavior{Kind: KindBodyLimit, N: n, Reply: reply}
}

// At scopes b to request paths starting with prefix.
func (b Behavior) At(prefix string) Behavior { b.Path = prefix; return b }

// For scopes b to one request method.
func (b Behavior) For(method string) Behavior { b.Method = strings.ToUpper(method); return b }

// WithSize sets the response body length.
func (b Behavior) WithSize(n int64) Behavior { b.Size = n; return b }

// WithLatency sets the wait before answering.
func (b Behavior) WithLatency(d time.Duration) Behavior { b.Latency = d; return b }

// String renders b in ParseBehaviors syntax.
func (b Behavior) String() string {
	var s strings.Builder
	s.WriteString(b.Kind.String())
	arg := func(v string) { s.WriteByte(' '); s.WriteString(v) }
	switch b.Kind {
	case KindResetMidBody, KindCloseMidBody, KindHugeHeader, KindKeepaliveRequests:
		arg(strconv.FormatInt(b.N, 10))
	case KindLengthMismatch, KindChunkedTruncated, KindBadChunked:
		if b.N != 0 {
			arg(strconv.FormatInt(b.N, 10))
		}
	case KindHeaderLimit, KindBodyLimit:
		arg(strconv.FormatInt(b.N, 10))
		if b.Reply != ReplyDefault {
			arg("reply=" + b.Reply.String())
		}
	case KindSlowHeader, KindSlowBody, KindKillAfter:
		arg(b.D.String())
	case KindIdleRST, KindIdleFIN:
		arg(b.D.String())
		if b.Silent {
			arg("silent")
		}
		if b.Hint {
			arg("hint")
		}
	case KindStatus:
		arg(strconv.Itoa(b.Code))
	case KindExpect:
		arg(b.Expect.String())
	case KindFailRatio:
		arg(strconv.FormatFloat(b.P, 'g', -1, 64))
		if b.Inner != nil {
			arg(b.Inner.String())
		}
		if b.Seed != 0 {
			arg("seed=" + strconv.FormatUint(b.Seed, 10))
		}
	}
	if b.Size != 0 {
		arg("size=" + strconv.FormatInt(b.Size, 10))
	}
	if b.Latency != 0 {
		arg("latency=" + b.Latency.String())
	}
	if b.Chunks > 1 {
		arg("chunks=" + strconv.Itoa(b.Chunks))
	}
	if b.SkipBody {
		arg("body=skip")
	}
	if b.Method != "" {
		arg("method=" + b.Method)
	}
	if b.Path != "" {
		arg("path=" + b.Path)
	}
	return s.String()
}

// Validate reports the first inconsistent parameter of b.
func (b Behavior) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", b.Kind, fmt.Sprintf(format, a...))
	}
	if b.Kind < 0 || b.Kind >= numKinds {
		return fmt.Errorf("unknown behavior kind %d", int(b.Kind))
	}
	if b.Kind.connectionLevel() && (b.Path != "" || b.Method != "") {
		return bad("applies to the whole upstream; path= and method= are not allowed")
	}
	if b.Size < 0 || b.N < 0 || b.D < 0 || b.Latency < 0 {
		return bad("negative value")
	}
	switch b.Kind {
	case KindResetMidBody, KindCloseMidBody:
		if b.Size != 0 && b.Size <= b.N {
			return bad("size=%d must be larger than the %d bytes sent", b.Size, b.N)
		}
	case KindHugeHeader, KindHeaderLimit, KindKeepaliveRequests, KindBodyLimit:
		if b.N <= 0 {
			return bad("needs a positive number")
		}
	case KindSlowHeader, KindSlowBody, KindKillAfter, KindIdleRST, KindIdleFIN:
		if b.D <= 0 {
			return bad("needs a positive duration")
		}
	case KindStatus:
		if b.Code < 100 || b.Code > 999 {
			return bad("status %d out of range", b.Code)
		}
	case KindFailRatio:
		if !(b.P > 0 && b.P <= 1) {
			return bad("ratio %v must be in (0, 1]", b.P)
		}
		if b.Inner == nil {
			return bad("needs a behavior to mix in")
		}
		if b.Inner.Kind.connectionLevel() || b.Inner.Kind == KindFailRatio {
			return bad("cannot mix in %s", b.Inner.Kind)
		}
		if err := b.Inner.Validate(); err != nil {
			return err
		}
	}
	switch b.Kind {
	case KindHeaderLimit:
		if b.Reply == Reply413 || b.Reply == Reply413Close {
			return bad("reply must be 431, 400 or reset")
		}
	case KindBodyLimit:
		if b.Reply == Reply400 || b.Reply == Reply431 {
			return bad("reply must be 413, 413close or reset")
		}
	}
	return nil
}

// kindSyntax documents each kind's CLI syntax; it drives the parser's
// argument count and the help text.
var kindSyntax = [numKinds]struct {
	args int // positional arguments (fail_ratio: 1, then a behavior)
	doc  string
}{
	KindOK:                {0, "200; GET /size/N answers N bytes, POST /echo echoes; keepalive (size=, latency=)"},
	KindReset:             {0, "RST (SetLinger(0)) right after the request head, before any byte"},
	KindResetAfterHeader:  {0, "complete response header, then RST"},
	KindResetMidBody:      {1, "N: Content-Length larger than N (size=, default 2N), N body bytes, then RST"},
	KindCloseBeforeHeader: {0, "FIN right after the request head"},
	KindCloseMidBody:      {1, "N: Content-Length larger than N, N body bytes, then FIN (premature close)"},
	KindLengthMismatch:    {-1, "[N]: N (default 10) more body bytes than Content-Length"},
	KindInvalidHeader:     {0, "a response header line nginx rejects (\"Bad Header: x\"), then FIN"},
	KindNoValidHTTP:       {0, "\"hello\" instead of a status line, then FIN"},
	KindHugeHeader:        {1, "N: a response header of N bytes"},
	KindSlowHeader:        {1, "D: wait D before the response header"},
	KindSlowBody:          {1, "D: header at once, wait D before the body (chunks=K: before each of K pieces)"},
	KindStatus:            {1, "CODE: answer with this status (401 with two WWW-Authenticate challenges)"},
	KindKillAfter:         {1, "D: the handler never finishes (or takes latency=) and is cut off after D with RST (php-fpm request_terminate_timeout)"},
	KindFailRatio:         {1, "P BEHAVIOR...: BEHAVIOR for a fraction P of the requests, the next matching entry for the rest (seed=N: random)"},
	KindHeadersThenStall:  {0, "response header, then silence until someone closes"},
	KindPartialHeader:     {0, "the status line and one header line (no end of the head), then silence until someone closes"},
	KindChunkedTruncated:  {-1, "[N]: chunked body of N bytes (default 1024) without the final 0 chunk, then FIN"},
	KindBadChunked:        {-1, "[N]: chunked body: a chunk of N bytes (default 1024), then the chunk-size line \"zz\" (no hex number), then FIN"},
	KindIdleRST:           {1, "D [silent] [hint]: keepalive connections idle for D are reset (IIS), counted from when the peer has acknowledged the whole last response; silent: the RST only answers the next request (NAT/firewall drop); hint: responses say Keep-Alive: timeout=D (whole seconds)"},
	KindIdleFIN:           {1, "D [silent] [hint]: keepalive connections idle for D (counted likewise) are closed with FIN; silent: only when the next request comes; hint: responses say Keep-Alive: timeout=D (whole seconds, as Node)"},
	KindRefuse:            {0, "the port is closed: connect() is refused"},
	KindHeaderLimit:       {1, "N: request heads over N bytes get reply=431|400|reset (default 431)"},
	KindKeepaliveRequests: {1, "N: the Nth response on a connection carries Connection: close, then FIN"},
	KindBodyLimit:         {1, "N: request bodies over N bytes get reply=413|413close|reset (413 before reading the body, then a lingering close; 413close: plain close, so unread bytes turn it into an RST)"},
	KindExpect:            {1, "continue|ignore|reject: the answer to Expect: 100-continue (default continue)"},
	KindSwitch:            {0, "101 Switching Protocols (Upgrade: echo), then echo whatever arrives until the peer closes"},
	KindBareLF:            {0, "200 whose head has bare-LF line ends (\"HTTP/1.1 200 OK\\nContent-Length: 3\\n\\nok\\n\"), keepalive (chunks=K: a chunked body of K \"ok\\n\" chunks, bare LF too)"},
	KindWebSocket:         {0, "a WebSocket handshake (RFC 6455), then every message echoed back, pings answered, until a close; a request without the handshake's headers gets 426 (or 400) and FIN"},
}

// BehaviorHelp returns one line per behaviour with its CLI syntax.
func BehaviorHelp() string {
	var s strings.Builder
	for k := Kind(0); k < numKinds; k++ {
		fmt.Fprintf(&s, "  %-20s %s\n", k.String(), kindSyntax[k].doc)
	}
	s.WriteString("  options for response behaviours: path=/prefix method=GET size=N latency=D body=skip\n")
	return s.String()
}

// ParseBehaviors parses the CLI syntax: comma-separated entries, each a name,
// its positional arguments and key=value options, e.g.
//
//	"reset_mid_body 1000,fail_ratio 0.5 reset path=/flaky,idle_rst 5s"
//
// Sizes accept nginx units (4k, 1m); durations accept Go syntax (250ms, 2s)
// or plain seconds. An empty spec means ok.
func ParseBehaviors(spec string) ([]Behavior, error) {
	var out []Behavior
	for _, item := range strings.Split(spec, ",") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			continue
		}
		b, err := parseBehavior(fields)
		if err != nil {
			return nil, fmt.Errorf("behavior %q: %w", strings.TrimSpace(item), err)
		}
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("behavior %q: %w", strings.TrimSpace(item), err)
		}
		out = append(out, b)
	}
	return out, nil
}

func kindByName(name string) (Kind, bool) {
	for k := Kind(0); k < numKinds; k++ {
		if kindNames[k] == name {
			return k, true
		}
	}
	return 0, false
}

func parseBehavior(fields []string) (Behavior, error) {
	k, ok := kindByName(strings.ToLower(fields[0]))
	if !ok {
		return Behavior{}, fmt.Errorf("unknown behavior %q", fields[0])
	}
	b := Behavior{Kind: k}
	rest := fields[1:]
	var pos []string
	if k == KindFailRatio {
		if len(rest) < 2 {
			return b, errors.New("usage: fail_ratio P BEHAVIOR")
		}
		p, err := strconv.ParseFloat(rest[0], 64)
		if err != nil {
			return b, fmt.Errorf("ratio: %w", err)
		}
		b.P = p
		// Scope and seed belong to the fail_ratio entry, wherever they are written.
		var innerFields []string
		for _, f := range rest[1:] {
			key, val, isOpt := strings.Cut(f, "=")
			switch {
			case isOpt && (key == "path" || key == "method"):
				if err := b.setOption(key, val); err != nil {
					return b, err
				}
			case isOpt && key == "seed":
				seed, err := strconv.ParseUint(val, 10, 64)
				if err != nil {
					return b, fmt.Errorf("seed: %w", err)
				}
				b.Seed = seed
			default:
				innerFields = append(innerFields, f)
			}
		}
		if len(innerFields) == 0 {
			return b, errors.New("usage: fail_ratio P BEHAVIOR")
		}
		inner, err := parseBehavior(innerFields)
		if err != nil {
			return b, err
		}
		b.Inner = &inner
		return b, nil
	}
	for _, f := range rest {
		if key, val, isOpt := strings.Cut(f, "="); isOpt {
			if err := b.setOption(strings.ToLower(key), val); err != nil {
				return b, err
			}
			continue
		}
		if (k == KindIdleRST || k == KindIdleFIN) && strings.EqualFold(f, "silent") {
			b.Silent = true
			continue
		}
		if (k == KindIdleRST || k == KindIdleFIN) && strings.EqualFold(f, "hint") {
			b.Hint = true
			continue
		}
		pos = append(pos, f)
	}
	want := kindSyntax[k].args
	switch {
	case want >= 0 && len(pos) != want:
		return b, fmt.Errorf("%s takes %d argument(s), got %d", k, want, len(pos))
	case want < 0 && len(pos) > 1:
		return b, fmt.Errorf("%s takes at most 1 argument, got %d", k, len(pos))
	}
	if len(pos) == 0 {
		return b, nil
	}
	arg := pos[0]
	var err error
	switch k {
	case KindResetMidBody, KindCloseMidBody, KindLengthMismatch, KindHugeHeader, KindChunkedTruncated, KindBadChunked,
		KindHeaderLimit, KindBodyLimit, KindKeepaliveRequests:
		b.N, err = parseSize(arg)
	case KindSlowHeader, KindSlowBody, KindKillAfter, KindIdleRST, KindIdleFIN:
		b.D, err = parseDuration(arg)
	case KindStatus:
		b.Code, err = strconv.Atoi(arg)
	case KindExpect:
		switch strings.ToLower(arg) {
		case "continue", "100":
			b.Expect = ExpectContinue
		case "ignore":
			b.Expect = ExpectIgnore
		case "reject", "417":
			b.Expect = ExpectReject
		default:
			err = fmt.Errorf("want continue, ignore or reject, got %q", arg)
		}
	}
	return b, err
}

func (b *Behavior) setOption(key, val string) error {
	var err error
	switch key {
	case "path":
		if !strings.HasPrefix(val, "/") {
			return fmt.Errorf("path=%q must start with /", val)
		}
		b.Path = val
	case "method":
		b.Method = strings.ToUpper(val)
	case "size":
		b.Size, err = parseSize(val)
	case "latency":
		b.Latency, err = parseDuration(val)
	case "chunks":
		b.Chunks, err = strconv.Atoi(val)
	case "body":
		switch val {
		case "skip":
			b.SkipBody = true
		case "read":
			b.SkipBody = false
		default:
			return fmt.Errorf("body=%q: want read or skip", val)
		}
	case "reply":
		switch strings.ToLower(val) {
		case "400":
			b.Reply = Reply400
		case "413":
			b.Reply = Reply413
		case "431":
			b.Reply = Reply431
		case "reset", "rst":
			b.Reply = ReplyReset
		case "413close":
			b.Reply = Reply413Close
		default:
			return fmt.Errorf("reply=%q: want 400, 413, 413close, 431 or reset", val)
		}
	default:
		return fmt.Errorf("unknown option %q", key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// parseSize accepts bytes with nginx's suffixes: 1000, 4k, 1m, 1g.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// parseDuration accepts Go durations and plain (fractional) seconds.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}
