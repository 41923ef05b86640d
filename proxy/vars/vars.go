// Package vars owns nginx's variables for all of spillway: the one table of
// names, the compiler that turns a value with $name or ${name} into parts
// once at load time, the evaluator that appends a value for one request, and
// nginx's map (map.go). proxy_set_header, fastcgi_param and log_format go
// through it (and later return, rewrite and if), so a variable means the
// same thing wherever it is written and an unknown one is refused wherever
// it is written.
//
// Evaluation reads an Exchange: the request head, what spillway made of the
// request, the client connection, the response and the upstream attempts.
// The common variables append without allocating.
//
// Names resolve in one place (lookup): the table, then the map variables,
// then auth_request_set's variables, then the NAME families ($http_,
// $sent_http_, $cookie_, $arg_, $upstream_http_, $upstream_cookie_).
// auth_request_set's variables are a slot each, numbered at compile time
// (CompileScope), that the request carries (Request.Set); nginx's set
// (rewrite module, not implemented yet) fits the same way.
package vars

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/numfmt"
)

// Version is $nginx_version: the nginx release whose behaviour spillway
// reproduces. The stock fastcgi_params send "SERVER_SOFTWARE
// nginx/$nginx_version", and applications compare it as nginx's version, so
// it is nginx's number, not spillway's (docs/config.md).
const Version = "1.22.1"

// Exchange is what variables read of one request. The proxy's exchange
// implements it; so does the stand-in for a request the parser refused.
// Every method returns something that stays valid while the value is
// appended, and Request may be written to ($request_id is made on first use).
type Exchange interface {
	Header() *fasthttp.RequestHeader // the client's request head; nil when there is none
	Request() *Request               // what spillway made of the request
	Conn() *Conn                     // the client connection and the process
	TLS() *tls.ConnectionState       // the client's TLS; nil on a plain connection
	Response() *Response             // what the client got; zero before the response
	Attempts() []Attempt             // the upstream tries, in order
}

// Request is what spillway made of a request beyond its head. Strings may
// view the exchange's buffers.
type Request struct {
	Start time.Time // $msec, $time_local, $time_iso8601; zero = now
	Line  string    // $request: the request line as received
	URI   string    // $uri, $document_uri: the normalised path (always found, maybe empty)
	Args  string    // $args, $query_string: the raw part of the target after '?'
	// RequestURI is $request_uri: the target in origin form (an absolute
	// URI's path and query), as sent.
	RequestURI string
	// InvalidTarget: the target was refused before nginx set $request_uri,
	// which is then not found ("-" in the log).
	InvalidTarget bool
	Host          string // the host as the request named it (Host header or absolute URI), port and all; "" = none
	ServerName    string // $server_name
	Scheme        string // $scheme: "http" or "https"
	Root          string // $document_root, $realpath_root
	Filename      string // $request_filename when a location serves files (alias included); "" = Root + URI
	ProxyHost     string // $proxy_host: proxy_pass's host as written
	ProxyPort     string // $proxy_port: its port, the scheme's default without one, "" for a unix socket
	Length        int64  // $request_length: head and body bytes read
	// BodyLength is $content_length when it is known from the buffered
	// body (a chunked body has one then); -1 = the header as sent.
	BodyLength int64
	// Body appends $request_body to dst; false (or a nil Body) = not
	// found: nginx has the value only for a body read whole into memory.
	Body       func(dst []byte) ([]byte, bool)
	ScriptName string // $fastcgi_script_name
	PathInfo   string // $fastcgi_path_info
	// Set are the values auth_request_set and set assigned, by slot
	// (Maps.SetIndex); a nil entry, or a slot past the end, is not set.
	// A set variable not set reads as "" after Uninit is told its name
	// (nginx's uninitialized_variable_warn), once while its slot exists.
	Set    [][]byte
	Uninit func(name string)
	// MapCache keeps the value of each map (by its place in the
	// configuration) once the request has evaluated it, as nginx caches a
	// variable for the request: a later read, after a rewrite or an
	// internal redirect changed its source, gets the same value; nil
	// entries are not evaluated yet, a volatile map is never kept, and a
	// nil MapCache keeps nothing. The owner sizes it (Maps.Len) and clears
	// it per request.
	MapCache [][]byte

	// LimitReqStatus and LimitConnStatus are $limit_req_status and
	// $limit_conn_status: PASSED, DELAYED, REJECTED, DELAYED_DRY_RUN,
	// REJECTED_DRY_RUN; "" (not found) when no limit applied.
	LimitReqStatus, LimitConnStatus string
	// LimitRate is $limit_rate: the request's limit_rate in bytes per
	// second once taken (set, X-Accel-Limit-Rate, or as the answer
	// started); 0 before.
	LimitRate int64

	id    [16]byte // $request_id once made
	idSet bool
}

// appendSet appends a set variable's value (Request.Set): an
// auth_request_set variable not set is not found; a set variable not set
// is "" (reported to Uninit, and then kept as ""), or, named like a family
// ($http_NAME), the family's value.
func (m *Maps) appendSet(dst []byte, p *part, x Exchange) ([]byte, bool) {
	r := x.Request()
	if p.n < len(r.Set) && r.Set[p.n] != nil {
		return append(dst, r.Set[p.n]...), true
	}
	sl := m.slot(p.n)
	switch {
	case sl == nil || !sl.rewrite:
		return dst, false
	case sl.fallback.k != kLiteral:
		// set $http_x_forwarded_proto ...: until it is set the variable
		// is the header's, as nginx reads a prefixed name set defines.
		return appendVar(dst, &sl.fallback, x)
	}
	if r.Uninit != nil {
		r.Uninit(sl.name)
	}
	if p.n < len(r.Set) {
		r.Set[p.n] = []byte{} // nginx keeps the empty value: one warning
	}
	return dst, true
}

// Conn is the client connection ($remote_addr, $server_port, $ssl_*) and
// the process ($pid, $hostname), which vars does not look up itself.
type Conn struct {
	ID         uint64     // $connection
	Requests   uint64     // $connection_requests
	Start      time.Time  // when the connection was accepted: $connection_time
	RemoteAddr string     // $remote_addr as text
	Remote     netip.Addr // for $binary_remote_addr
	RemotePort int        // $remote_port
	ServerAddr netip.Addr // $server_addr
	ServerPort int        // $server_port
	PID        int        // $pid
	Hostname   string     // $hostname
	// RealIPRemoteAddr and RealIPRemotePort are $realip_remote_addr and
	// $realip_remote_port: the connection's own address when the realip
	// module replaced RemoteAddr; "" = not replaced (RemoteAddr then).
	RealIPRemoteAddr string
	RealIPRemotePort int
	// ProxyProtocolAddr and ProxyProtocolPort are $proxy_protocol_addr and
	// _port, from a "listen ... proxy_protocol" header; "" = none.
	ProxyProtocolAddr string
	ProxyProtocolPort int
	// ProxyProtocolServerAddr and ProxyProtocolServerPort are
	// $proxy_protocol_server_addr and _port, the header's destination.
	ProxyProtocolServerAddr string
	ProxyProtocolServerPort int
	// ProxyProtocolTLVs is a v2 header's TLV vector, as sent, which
	// $proxy_protocol_tlv_NAME reads (proxyproto.go); nil for none.
	ProxyProtocolTLVs []byte
	// SSLClientVerify is $ssl_client_verify on a TLS connection: SUCCESS,
	// FAILED:reason, NONE ("" = NONE).
	SSLClientVerify string
	// SSLHandshake is what the handshake said beyond the connection state
	// ($ssl_ciphers, $ssl_curves, $ssl_session_id: ssl.go); nil for none.
	SSLHandshake *Handshake
}

// Response is what the client got.
type Response struct {
	Status        int // printed with 3 digits ("009" for HTTP/0.9)
	BodyBytesSent int64
	BytesSent     int64
	RequestTime   time.Duration
	Header        *fasthttp.ResponseHeader // $sent_http_NAME; nil = none
	// Upstream is the last upstream response's header, for
	// $upstream_http_NAME; nil before one arrived.
	Upstream *fasthttp.ResponseHeader
	// ContentLength is $sent_http_content_length (fasthttp sets the header
	// only as it writes it); < 0 = none, as for a chunked body.
	ContentLength int64
}

// Attempt is one upstream try, as $upstream_* list them.
type Attempt struct {
	Addr         string
	Status       int           // 0 = no status ("-")
	ResponseTime time.Duration // $upstream_response_time
	ConnectTime  time.Duration // $upstream_connect_time; < 0 = not measured ("-")
	HeaderTime   time.Duration // $upstream_header_time; < 0 = not measured ("-")
	Via          Via           // $upstream_connection_reused
	IdleAge      time.Duration // $upstream_idle_age, when Via is ViaReused
	// Redirect marks the first try after an internal redirect (error_page)
	// when tries came before it: nginx lists it after " : ", not ", ".
	Redirect bool
}

// Via is how an attempt got its upstream connection.
type Via uint8

// The connections an attempt can have.
const (
	ViaNone   Via = iota // no connection ("-"): refused, no live upstream
	ViaFresh             // a new connection ("0")
	ViaReused            // from the keepalive cache ("1")
)

// kind is one variable of the table.
type kind uint8

const (
	kLiteral kind = iota
	kHost
	kRemoteAddr
	kRemotePort
	kBinaryRemoteAddr
	kRealIPRemoteAddr
	kRealIPRemotePort
	kProxyProtocolAddr
	kProxyProtocolPort
	kProxyProtocolServerAddr
	kProxyProtocolServerPort
	kRemoteUser
	kServerAddr
	kServerPort
	kServerName
	kServerProtocol
	kScheme
	kHTTPS
	kHTTP3
	kRequest
	kRequestMethod
	kRequestURI
	kURI
	kArgs
	kIsArgs
	kRequestLength
	kRequestID
	kContentType
	kContentLength
	kDocumentRoot
	kRequestFilename
	kProxyHost
	kProxyPort
	kLimitReqStatus
	kLimitConnStatus
	kLimitRate
	kProxyAddXForwardedFor
	kFastCGIScriptName
	kFastCGIPathInfo
	kStatus
	kBodyBytesSent
	kBytesSent
	kRequestTime
	kMsec
	kTimeLocal
	kTimeISO8601
	kConnection
	kConnectionRequests
	kConnectionTime
	kPID
	kHostname
	kNginxVersion
	kSSLProtocol
	kSSLCipher
	kSSLServerName
	kSSLSessionReused
	kRequestBody
	kSSLClientVerify // the $ssl_client_ variables (sslclient.go)
	kSSLClientSDN
	kSSLClientIDN
	kSSLClientSerial
	kSSLClientFingerprint
	kSSLClientCert
	kSSLClientRawCert
	kSSLClientEscapedCert
	kSSLClientVStart
	kSSLClientVEnd
	kSSLClientVRemain
	kSSLClientSDNLegacy
	kSSLClientIDNLegacy
	kSSLCiphers // the handshake's (ssl.go)
	kSSLCurves
	kSSLCurve
	kSSLSessionID
	kUpstreamAddr
	kUpstreamStatus
	kUpstreamResponseTime
	kUpstreamConnectTime
	kUpstreamHeaderTime
	kUpstreamConnectionReused // spillway's own: "1" a keepalive connection, "0" a new one
	kUpstreamIdleAge          // spillway's own: a reused connection's idle age
	// With a NAME (part.arg):
	kHTTP         // $http_NAME: a request header
	kSentHTTP     // $sent_http_NAME: a response header
	kUpstreamHTTP // $upstream_http_NAME: the last upstream response's header
	kCookie       // $cookie_NAME
	kArg          // $arg_NAME
	kMap          // a map's variable (part.n: its index in Maps)
	kCapture      // $1..$9 inside a map's value (part.n)
	kSet          // an auth_request_set or set variable (part.n: its slot, Request.Set)

	kUpstreamCookie   // $upstream_cookie_NAME: a cookie the last upstream response set
	kProxyProtocolTLV // $proxy_protocol_tlv_NAME: a TLV of the PROXY protocol v2 header (proxyproto.go)
)

// names is the table: every variable spillway knows, by nginx's name.
var names = map[string]kind{
	"host": kHost, "remote_addr": kRemoteAddr, "remote_port": kRemotePort,
	"binary_remote_addr": kBinaryRemoteAddr, "remote_user": kRemoteUser,
	"realip_remote_addr": kRealIPRemoteAddr, "realip_remote_port": kRealIPRemotePort,
	"proxy_protocol_addr": kProxyProtocolAddr, "proxy_protocol_port": kProxyProtocolPort,
	"proxy_protocol_server_addr": kProxyProtocolServerAddr, "proxy_protocol_server_port": kProxyProtocolServerPort,
	"server_addr": kServerAddr, "server_port": kServerPort, "server_name": kServerName,
	"server_protocol": kServerProtocol, "scheme": kScheme, "https": kHTTPS, "http3": kHTTP3,
	"request": kRequest, "request_method": kRequestMethod, "request_uri": kRequestURI,
	"uri": kURI, "document_uri": kURI, "args": kArgs, "query_string": kArgs, "is_args": kIsArgs,
	"request_length": kRequestLength, "request_body": kRequestBody, "request_id": kRequestID,
	"content_type": kContentType, "content_length": kContentLength,
	"document_root": kDocumentRoot, "realpath_root": kDocumentRoot, "request_filename": kRequestFilename,
	"proxy_host": kProxyHost, "proxy_port": kProxyPort, "limit_req_status": kLimitReqStatus, "limit_conn_status": kLimitConnStatus, "limit_rate": kLimitRate, "proxy_add_x_forwarded_for": kProxyAddXForwardedFor,
	"fastcgi_script_name": kFastCGIScriptName, "fastcgi_path_info": kFastCGIPathInfo,
	"status": kStatus, "body_bytes_sent": kBodyBytesSent, "bytes_sent": kBytesSent,
	"request_time": kRequestTime, "msec": kMsec, "time_local": kTimeLocal, "time_iso8601": kTimeISO8601,
	"connection": kConnection, "connection_requests": kConnectionRequests, "connection_time": kConnectionTime,
	"pid": kPID, "hostname": kHostname, "nginx_version": kNginxVersion,
	"ssl_protocol": kSSLProtocol, "ssl_cipher": kSSLCipher, "ssl_server_name": kSSLServerName,
	"ssl_session_reused": kSSLSessionReused,
	"ssl_client_verify":  kSSLClientVerify, "ssl_client_s_dn": kSSLClientSDN, "ssl_client_i_dn": kSSLClientIDN,
	"ssl_client_serial": kSSLClientSerial, "ssl_client_fingerprint": kSSLClientFingerprint,
	"ssl_client_cert": kSSLClientCert, "ssl_client_raw_cert": kSSLClientRawCert,
	"ssl_client_escaped_cert": kSSLClientEscapedCert, "ssl_client_v_start": kSSLClientVStart,
	"ssl_client_v_end": kSSLClientVEnd, "ssl_client_v_remain": kSSLClientVRemain,
	"ssl_client_s_dn_legacy": kSSLClientSDNLegacy, "ssl_client_i_dn_legacy": kSSLClientIDNLegacy,
	"ssl_ciphers": kSSLCiphers, "ssl_curves": kSSLCurves, "ssl_curve": kSSLCurve, "ssl_session_id": kSSLSessionID,
	"upstream_addr": kUpstreamAddr, "upstream_status": kUpstreamStatus,
	"upstream_response_time": kUpstreamResponseTime, "upstream_connect_time": kUpstreamConnectTime,
	"upstream_header_time": kUpstreamHeaderTime,
	// spillway's own, listed per attempt like nginx's: reuse races graphed
	// from logs (HAProxy's bc_reused)
	"upstream_connection_reused": kUpstreamConnectionReused, "upstream_idle_age": kUpstreamIdleAge,
}

// prefixes are the variables with a NAME part, longest prefix first.
var prefixes = [...]struct {
	prefix string
	k      kind
}{{"proxy_protocol_tlv_", kProxyProtocolTLV}, {"upstream_cookie_", kUpstreamCookie}, {"upstream_http_", kUpstreamHTTP}, {"sent_http_", kSentHTTP}, {"cookie_", kCookie}, {"http_", kHTTP}, {"arg_", kArg}}

// Names returns every variable name of the table, and the prefixed
// families as "http_NAME" and so on (for docs and their test).
func Names() []string {
	out := make([]string, 0, len(names)+len(prefixes))
	for n := range names {
		out = append(out, n)
	}
	for _, p := range prefixes {
		out = append(out, p.prefix+"NAME")
	}
	return out
}

// Builtin reports whether name (without '$') is a variable of the table,
// which auth_request_set and set may not assign (nginx: "the duplicate
// variable"). A name of a family ($http_NAME, $arg_NAME...) is not: set
// then shadows it for the request.
func Builtin(name string) bool {
	_, ok := names[strings.ToLower(name)]
	return ok
}

// part is one piece of a compiled value.
type part struct {
	k   kind
	n   int    // kMap: the map's index; kCapture: the capture's number
	arg string // kLiteral: the text; kHTTP etc.: the name as nginx maps it
}

// Value is a compiled value: literal text and variables. The zero Value is
// empty. It is immutable and safe to share.
type Value struct {
	src   string
	parts []part
	maps  *Maps
}

// String returns the value as written.
func (v *Value) String() string { return v.src }

// Literal reports whether the value has no variables.
func (v *Value) Literal() bool {
	for _, p := range v.parts {
		if p.k != kLiteral {
			return false
		}
	}
	return true
}

// ProxyHostOnly reports whether the value is $proxy_host and nothing
// else (nginx's default proxy_set_header Host), which appendHead takes
// from the request's ProxyHost without Append's lookup: the same bytes.
func (v *Value) ProxyHostOnly() bool {
	return len(v.parts) == 1 && v.parts[0].k == kProxyHost
}

// Compile parses s: literal text with $name or ${name} variables (names are
// letters, digits and '_', case-insensitive, as in nginx). maps are the
// map variables in scope; nil for none. Errors use nginx's wording:
// `unknown "foo" variable`.
func Compile(s string, maps *Maps) (*Value, error) {
	return compile(s, maps, false)
}

func compile(s string, maps *Maps, captures bool) (*Value, error) {
	v := &Value{src: s, maps: maps}
	lit := 0 // start of the pending literal
	for i := 0; i < len(s); {
		if s[i] != '$' {
			i++
			continue
		}
		start := i
		i++
		bracket := i < len(s) && s[i] == '{'
		if bracket {
			i++
		}
		j := i
		if !bracket && j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++ // $1: a capture is one digit, "$1abc" is $1 then "abc" (nginx)
		} else {
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
		}
		name := strings.ToLower(s[i:j])
		if bracket {
			if j == len(s) || s[j] != '}' {
				return nil, fmt.Errorf("the closing bracket in %q variable is missing", name)
			}
			j++
		}
		if name == "" {
			return nil, &NameError{Value: s}
		}
		p, err := lookup(name, maps, captures)
		if err != nil {
			return nil, err
		}
		if start > lit {
			v.parts = append(v.parts, part{arg: s[lit:start]})
		}
		v.parts = append(v.parts, p)
		i, lit = j, j
	}
	if lit < len(s) {
		v.parts = append(v.parts, part{arg: s[lit:]})
	}
	return v, nil
}

func lookup(name string, maps *Maps, captures bool) (part, error) {
	if k, ok := names[name]; ok {
		return part{k: k}, nil
	}
	if i, ok := maps.index(name); ok {
		return part{k: kMap, n: i}, nil
	}
	if i, ok := maps.SetIndex(name); ok {
		return part{k: kSet, n: i}, nil
	}
	if len(name) == 1 && name[0] >= '0' && name[0] <= '9' {
		if !captures {
			return part{}, errors.New(`capture variable "$` + name + `" is only set by a map's regular expression`)
		}
		return part{k: kCapture, n: int(name[0] - '0')}, nil
	}
	if p, ok := prefixPart(name); ok {
		return p, nil
	}
	return part{}, &UnknownError{Name: name}
}

// prefixPart is name as one of the NAME families.
func prefixPart(name string) (part, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok { // "$http_" too, never found (nginx)
			if p.k != kCookie && p.k != kArg && p.k != kUpstreamCookie && p.k != kProxyProtocolTLV {
				rest = strings.ReplaceAll(rest, "_", "-")
			}
			return part{k: p.k, arg: rest}, true
		}
	}
	return part{}, false
}

// UnknownError is a variable spillway does not know.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string { return fmt.Sprintf("unknown %q variable", e.Name) }

// NameError is a '$' without a variable name after it.
type NameError struct{ Value string }

func (e *NameError) Error() string { return fmt.Sprintf("invalid variable name in %q", e.Value) }

// Check reports the first unknown variable in s, with the map variables
// named in mapNames in scope (config's check, before maps are compiled).
func Check(s string, mapNames []string) error {
	m := &Maps{byName: map[string]int{}}
	for i, n := range mapNames {
		m.byName[strings.ToLower(strings.TrimPrefix(n, "$"))] = i
	}
	_, err := Compile(s, m)
	return err
}

// CheckCaptures is Check for a value that may also use a regex's captures
// ($1..$9), as CompileCaptures compiles it.
func CheckCaptures(s string, mapNames []string) error {
	m := &Maps{byName: map[string]int{}}
	for i, n := range mapNames {
		m.byName[strings.ToLower(strings.TrimPrefix(n, "$"))] = i
	}
	_, err := CompileCaptures(s, m)
	return err
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Append appends v's value for x.
func (v *Value) Append(dst []byte, x Exchange) []byte {
	return v.append(dst, x, nil, nil, 0)
}

// Escape is how a log writes one variable's value: it gets the value
// appended at dst[start:] and may rewrite it there; found is false for a
// variable nginx calls not found.
type Escape func(dst []byte, start int, found bool) []byte

// AppendEscaped appends v's value for x, passing each variable's value
// through esc (log_format's escaping; literal text is not escaped).
func (v *Value) AppendEscaped(dst []byte, x Exchange, esc Escape) []byte {
	return v.append(dst, x, esc, nil, 0)
}

// maxDepth bounds maps that use maps (nginx: "cycle while evaluating
// variable").
const maxDepth = 16

func (v *Value) append(dst []byte, x Exchange, esc Escape, caps *captures, depth int) []byte {
	for i := range v.parts {
		p := &v.parts[i]
		if p.k == kLiteral {
			dst = append(dst, p.arg...)
			continue
		}
		start := len(dst)
		var found bool
		switch p.k {
		case kMap:
			if depth < maxDepth {
				dst = v.maps.appendMap(dst, p.n, x, depth+1)
			}
			found = len(dst) > start
		case kCapture:
			dst = caps.append(dst, p.n)
			found = len(dst) > start
		case kSet:
			// found even when empty: nginx logs a value set to "" as
			// nothing, and one never set by auth_request_set as "-"
			dst, found = v.maps.appendSet(dst, p, x)
		default:
			dst, found = appendVar(dst, p, x)
		}
		if esc != nil {
			dst = esc(dst, start, found)
		}
	}
	return dst
}

// appendVar appends one variable of the table; found is false where nginx
// says not_found (and logs "-").
func appendVar(dst []byte, p *part, x Exchange) ([]byte, bool) {
	start := len(dst)
	switch p.k {
	case kHost:
		// nginx: the request's host, lower case, without port; else
		// the server's name.
		r := x.Request()
		if h := hostOnly(r.Host); h != "" {
			dst = appendLower(dst, h)
		} else {
			dst = append(dst, r.ServerName...)
		}
	case kRemoteAddr:
		dst = append(dst, x.Conn().RemoteAddr...)
	case kRemotePort:
		// nginx: found, and empty when the address has no port (one the
		// realip module took from a header without one)
		if c := x.Conn(); c.RemotePort > 0 {
			dst = strconv.AppendInt(dst, int64(c.RemotePort), 10)
		}
		return dst, true
	case kRealIPRemoteAddr:
		c := x.Conn()
		if c.RealIPRemoteAddr == "" {
			dst = append(dst, c.RemoteAddr...)
		} else {
			dst = append(dst, c.RealIPRemoteAddr...)
		}
	case kRealIPRemotePort:
		c := x.Conn()
		port := c.RemotePort
		if c.RealIPRemoteAddr != "" {
			port = c.RealIPRemotePort
		}
		if port > 0 {
			dst = strconv.AppendInt(dst, int64(port), 10)
		}
		return dst, true
	case kProxyProtocolAddr:
		dst = append(dst, x.Conn().ProxyProtocolAddr...)
	case kProxyProtocolPort:
		if c := x.Conn(); c.ProxyProtocolAddr != "" {
			dst = strconv.AppendInt(dst, int64(c.ProxyProtocolPort), 10)
		}
	case kProxyProtocolServerAddr:
		dst = append(dst, x.Conn().ProxyProtocolServerAddr...)
	case kProxyProtocolServerPort:
		if c := x.Conn(); c.ProxyProtocolServerAddr != "" {
			dst = strconv.AppendInt(dst, int64(c.ProxyProtocolServerPort), 10)
		}
	case kProxyProtocolTLV:
		if v, ok := proxyProtocolTLV(x.Conn().ProxyProtocolTLVs, p.arg); ok {
			dst = append(dst, v...)
		}
	case kBinaryRemoteAddr:
		if a := x.Conn().Remote; a.Is4() {
			b := a.As4()
			dst = append(dst, b[:]...)
		} else if a.IsValid() {
			b := a.As16()
			dst = append(dst, b[:]...)
		}
	case kRemoteUser:
		// nginx: the user of a Basic Authorization header, with or
		// without auth_basic (ngx_http_auth_basic_user)
		if h := x.Header(); h != nil {
			if user, _, ok := BasicCredentials(h.Peek("Authorization")); ok {
				dst = append(dst, user...)
			}
		}
	case kServerAddr:
		if a := x.Conn().ServerAddr; a.IsValid() {
			dst = a.AppendTo(dst)
		}
	case kServerPort:
		if c := x.Conn(); c.ServerPort > 0 {
			dst = strconv.AppendInt(dst, int64(c.ServerPort), 10)
		}
	case kServerName:
		dst = append(dst, x.Request().ServerName...)
	case kServerProtocol:
		if h := x.Header(); h != nil {
			dst = append(dst, h.Protocol()...)
		}
	case kScheme:
		dst = append(dst, x.Request().Scheme...)
	case kHTTP3:
		if h := x.Header(); h != nil && string(h.Protocol()) == "HTTP/3.0" {
			dst = append(dst, "h3"...)
		}
		return dst, true // "" for HTTP/1.x and HTTP/2, as nginx
	case kHTTPS:
		if x.Request().Scheme == "https" {
			dst = append(dst, "on"...)
		}
		return dst, true // "" when plain, and found
	case kRequest:
		dst = append(dst, x.Request().Line...)
	case kRequestMethod:
		if h := x.Header(); h != nil {
			dst = append(dst, h.Method()...)
		}
	case kRequestURI:
		if r := x.Request(); !r.InvalidTarget {
			dst = append(dst, r.RequestURI...)
		}
	case kURI:
		// nginx always has $uri: empty (a refused target) prints
		// nothing, not "-".
		dst = append(dst, x.Request().URI...)
		return dst, true
	case kArgs:
		dst = append(dst, args(x)...)
	case kIsArgs:
		if len(args(x)) > 0 {
			dst = append(dst, '?')
		}
		return dst, true
	case kRequestLength:
		dst = strconv.AppendInt(dst, x.Request().Length, 10)
	case kRequestID:
		r := x.Request()
		if !r.idSet {
			_, _ = rand.Read(r.id[:])
			r.idSet = true
		}
		dst = hex.AppendEncode(dst, r.id[:])
	case kContentType:
		if h := x.Header(); h != nil {
			dst = append(dst, header(h, "content-type")...)
		}
	case kContentLength:
		if r := x.Request(); r.BodyLength >= 0 {
			dst = strconv.AppendInt(dst, r.BodyLength, 10)
		} else if h := x.Header(); h != nil {
			dst = append(dst, header(h, "content-length")...)
		}
	case kRequestBody:
		if r := x.Request(); r.Body != nil {
			return r.Body(dst)
		}
		return dst, false
	case kDocumentRoot:
		dst = append(dst, x.Request().Root...)
	case kRequestFilename:
		r := x.Request()
		if r.Filename != "" {
			return append(dst, r.Filename...), true
		}
		dst = append(append(dst, r.Root...), r.URI...)
	case kProxyHost:
		dst = append(dst, x.Request().ProxyHost...)
	case kProxyPort:
		dst = append(dst, x.Request().ProxyPort...)
	case kLimitReqStatus:
		dst = append(dst, x.Request().LimitReqStatus...)
	case kLimitConnStatus:
		dst = append(dst, x.Request().LimitConnStatus...)
	case kLimitRate:
		dst = strconv.AppendInt(dst, x.Request().LimitRate, 10)
	case kProxyAddXForwardedFor:
		if h := x.Header(); h != nil {
			n := len(dst)
			if dst = appendHeader(dst, h, "x-forwarded-for"); len(dst) > n {
				dst = append(dst, ", "...)
			}
		}
		dst = append(dst, x.Conn().RemoteAddr...)
	case kFastCGIScriptName:
		dst = append(dst, x.Request().ScriptName...)
	case kFastCGIPathInfo:
		dst = append(dst, x.Request().PathInfo...)
		return dst, true
	case kStatus:
		// "%03ui": an HTTP/0.9 response is logged as 009.
		dst = numfmt.AppendDigits(dst, max(x.Response().Status, 0), 3)
	case kBodyBytesSent:
		dst = strconv.AppendInt(dst, max(x.Response().BodyBytesSent, 0), 10)
	case kBytesSent:
		dst = strconv.AppendInt(dst, max(x.Response().BytesSent, 0), 10)
	case kRequestTime:
		// "%T.%03M": whole milliseconds, never negative.
		ms := max(x.Response().RequestTime.Milliseconds(), 0)
		dst = strconv.AppendInt(dst, ms/1000, 10)
		dst = append(dst, '.')
		dst = numfmt.AppendDigits(dst, int(ms%1000), 3)
	case kMsec:
		t := now(x)
		dst = strconv.AppendInt(dst, t.Unix(), 10)
		dst = append(dst, '.')
		dst = numfmt.AppendDigits(dst, t.Nanosecond()/1e6, 3)
	case kTimeLocal:
		dst = appendTimeLocal(dst, now(x))
	case kTimeISO8601:
		dst = appendTimeISO8601(dst, now(x))
	case kConnection:
		dst = strconv.AppendUint(dst, x.Conn().ID, 10)
	case kConnectionRequests:
		dst = strconv.AppendUint(dst, x.Conn().Requests, 10)
	case kConnectionTime:
		// "%T.%03M" as $request_time: the connection's age now.
		ms := int64(0)
		if st := x.Conn().Start; !st.IsZero() {
			ms = max(now(x).Sub(st).Milliseconds(), 0)
		}
		dst = strconv.AppendInt(dst, ms/1000, 10)
		dst = append(dst, '.')
		dst = numfmt.AppendDigits(dst, int(ms%1000), 3)
	case kPID:
		dst = strconv.AppendInt(dst, int64(x.Conn().PID), 10)
	case kHostname:
		dst = append(dst, x.Conn().Hostname...)
	case kNginxVersion:
		dst = append(dst, Version...)
	case kSSLProtocol:
		if t := x.TLS(); t != nil {
			dst = append(dst, tlsVersion(t.Version)...)
		}
	case kSSLCipher:
		if t := x.TLS(); t != nil {
			dst = append(dst, cipherName(t.CipherSuite)...)
		}
	case kSSLServerName:
		if t := x.TLS(); t != nil {
			dst = append(dst, t.ServerName...)
		}
	case kSSLSessionReused: // nginx: "r" when the session was resumed, else "."
		if t := x.TLS(); t != nil {
			if t.DidResume {
				dst = append(dst, 'r')
			} else {
				dst = append(dst, '.')
			}
		}
	case kSSLClientVerify, kSSLClientSDN, kSSLClientIDN, kSSLClientSerial, kSSLClientFingerprint, kSSLClientCert,
		kSSLClientRawCert, kSSLClientEscapedCert, kSSLClientVStart, kSSLClientVEnd, kSSLClientVRemain,
		kSSLClientSDNLegacy, kSSLClientIDNLegacy:
		dst = appendSSLClient(dst, p.k, x)
	case kSSLCiphers, kSSLCurves, kSSLCurve, kSSLSessionID:
		dst = appendSSLHandshake(dst, p.k, x)
	case kUpstreamAddr, kUpstreamStatus, kUpstreamResponseTime, kUpstreamConnectTime, kUpstreamHeaderTime,
		kUpstreamConnectionReused, kUpstreamIdleAge:
		dst = appendAttempts(dst, p.k, x.Attempts())
	case kHTTP:
		if h := x.Header(); h != nil {
			dst = appendHeader(dst, h, p.arg)
		}
	case kSentHTTP:
		if h := x.Response().Header; h != nil {
			if p.arg == "content-length" {
				if n := x.Response().ContentLength; n >= 0 {
					dst = strconv.AppendInt(dst, n, 10)
				}
				break
			}
			// nginx 1.22 joins every Cache-Control and Link it sends
			// (ngx_http_variable_headers); other names are the first.
			joined := p.arg == "cache-control" || p.arg == "link"
			n := 0
			for k, v := range h.All() {
				if nameIs(k, p.arg) {
					if n++; n > 1 {
						dst = append(dst, ", "...)
					}
					dst = append(dst, v...)
					if !joined {
						break
					}
				}
			}
		}
	case kUpstreamHTTP:
		if h := x.Response().Upstream; h != nil {
			for k, v := range h.All() {
				if nameIs(k, p.arg) {
					dst = append(dst, v...)
					break
				}
			}
		}
	case kUpstreamCookie:
		if h := x.Response().Upstream; h != nil {
			dst = appendSetCookie(dst, h, p.arg)
		}
	case kCookie:
		if h := x.Header(); h != nil {
			dst = appendCookie(dst, h, p.arg)
		}
	case kArg:
		dst = appendArg(dst, args(x), p.arg)
	}
	return dst, len(dst) > start
}

// hostOnly strips the port from a host ("[::1]:8080" is "[::1]"), and a
// trailing dot, as nginx's host validation does.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

func now(x Exchange) time.Time {
	if t := x.Request().Start; !t.IsZero() {
		return t
	}
	return time.Now()
}

// args is $args: the query string.
func args(x Exchange) string { return x.Request().Args }

// nameIs compares a header name with a variable's NAME: case-insensitive,
// and '-' in NAME stands for '-' or '_' in the header (nginx compares
// lower-cased names with '-' turned to '_').
func nameIs(k []byte, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c, n := k[i], name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if c != n {
			return false
		}
	}
	return true
}

// header returns the first value of the header with that (lower-case,
// '-') name, nil if absent.
func header(h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.All() {
		if nameIs(k, name) {
			return v
		}
	}
	return nil
}

// appendHeader appends $http_NAME: the first header of that name, or for
// the two nginx 1.22 joins, every one: Cookie with "; ", X-Forwarded-For
// with ", ".
func appendHeader(dst []byte, h *fasthttp.RequestHeader, name string) []byte {
	var sep byte
	switch name {
	case "cookie":
		sep = ';'
	case "x-forwarded-for":
		sep = ','
	}
	start, n := len(dst), 0
	for k, v := range h.All() {
		if !nameIs(k, name) {
			continue
		}
		if n > 0 && len(dst) > start {
			dst = append(dst, sep, ' ')
		}
		dst = append(dst, v...)
		if n++; sep == 0 {
			break
		}
	}
	return dst
}

// appendCookie appends the value of cookie name from the Cookie headers
// (nginx: the name case-insensitively, the value up to ';').
func appendCookie(dst []byte, h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.All() {
		if !nameIs(k, "cookie") {
			continue
		}
		for len(v) > 0 {
			var c []byte
			c, v, _ = bytes.Cut(v, []byte(";"))
			c = bytes.TrimLeft(c, " \t")
			if len(c) > len(name) && c[len(name)] == '=' && strings.EqualFold(string(c[:len(name)]), name) {
				return append(dst, bytes.TrimRight(c[len(name)+1:], " \t")...)
			}
		}
	}
	return dst
}

// appendSetCookie appends the value of the cookie name that a Set-Cookie
// header of h sets, as nginx's ngx_http_parse_set_cookie_lines finds it:
// the first header that starts with the name (case-insensitively), then
// spaces, '=' and spaces; the value runs to ';'. Tabs are not skipped.
func appendSetCookie(dst []byte, h *fasthttp.ResponseHeader, name string) []byte {
	for k, v := range h.All() {
		if !nameIs(k, "set-cookie") || len(v) <= len(name) || !strings.EqualFold(string(v[:len(name)]), name) {
			continue
		}
		v = bytes.TrimLeft(v[len(name):], " ")
		if len(v) == 0 || v[0] != '=' {
			continue // not this cookie, or not a cookie at all
		}
		v = bytes.TrimLeft(v[1:], " ")
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			v = v[:i]
		}
		return append(dst, v...)
	}
	return dst
}

// appendArg appends the value of argument name in the query string, as
// sent (not decoded); the name matches case-insensitively, as in nginx.
func appendArg(dst []byte, q, name string) []byte {
	for len(q) > 0 {
		var a string
		a, q, _ = strings.Cut(q, "&")
		if len(a) >= len(name) && strings.EqualFold(a[:len(name)], name) {
			if len(a) == len(name) {
				return dst
			}
			if a[len(name)] == '=' {
				return append(dst, a[len(name)+1:]...)
			}
		}
	}
	return dst
}

// appendAttempts appends one $upstream_* variable: an entry per attempt,
// ", "-separated, as nginx lists them.
func appendAttempts(dst []byte, k kind, as []Attempt) []byte {
	if k == kUpstreamConnectTime || k == kUpstreamHeaderTime {
		measured := false
		for i := range as {
			if k == kUpstreamConnectTime && as[i].ConnectTime >= 0 || k == kUpstreamHeaderTime && as[i].HeaderTime >= 0 {
				measured = true
			}
		}
		if !measured {
			return dst
		}
	}
	for i := range as {
		a := &as[i]
		switch {
		case i > 0 && a.Redirect:
			dst = append(dst, " : "...)
		case i > 0:
			dst = append(dst, ", "...)
		}
		switch k {
		case kUpstreamAddr:
			dst = append(dst, a.Addr...)
		case kUpstreamStatus:
			if a.Status == 0 {
				dst = append(dst, '-')
			} else {
				dst = strconv.AppendInt(dst, int64(a.Status), 10)
			}
		case kUpstreamResponseTime:
			dst = appendSeconds(dst, a.ResponseTime)
		case kUpstreamConnectTime:
			dst = appendSeconds(dst, a.ConnectTime)
		case kUpstreamHeaderTime:
			dst = appendSeconds(dst, a.HeaderTime)
		case kUpstreamConnectionReused:
			switch a.Via {
			case ViaReused:
				dst = append(dst, '1')
			case ViaFresh:
				dst = append(dst, '0')
			default:
				dst = append(dst, '-')
			}
		case kUpstreamIdleAge:
			if a.Via == ViaReused {
				dst = appendSeconds(dst, a.IdleAge)
			} else {
				dst = append(dst, '-')
			}
		}
	}
	return dst
}

// appendSeconds appends d as seconds with milliseconds ("0.003"); a
// negative d is "-".
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		return append(dst, '-')
	}
	ms := d.Milliseconds()
	dst = strconv.AppendInt(dst, ms/1000, 10)
	dst = append(dst, '.')
	return numfmt.AppendDigits(dst, int(ms%1000), 3)
}

// tlsVersion is OpenSSL's name of a protocol version ($ssl_protocol).
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// cipherName is OpenSSL's name of a cipher suite ($ssl_cipher): the TLS
// 1.3 suites keep their IANA names in OpenSSL, the others have OpenSSL's
// own.
func cipherName(id uint16) string {
	switch id {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-RSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-ECDSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-RSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-RSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:
		return "ECDHE-ECDSA-AES128-SHA"
	case tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:
		return "ECDHE-RSA-AES128-SHA"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:
		return "ECDHE-ECDSA-AES256-SHA"
	case tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:
		return "ECDHE-RSA-AES256-SHA"
	case tls.TLS_RSA_WITH_AES_128_GCM_SHA256:
		return "AES128-GCM-SHA256"
	case tls.TLS_RSA_WITH_AES_256_GCM_SHA384:
		return "AES256-GCM-SHA384"
	case tls.TLS_RSA_WITH_AES_128_CBC_SHA:
		return "AES128-SHA"
	case tls.TLS_RSA_WITH_AES_256_CBC_SHA:
		return "AES256-SHA"
	}
	return tls.CipherSuiteName(id) // TLS 1.3: TLS_AES_128_GCM_SHA256, as OpenSSL
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendTimeLocal appends "25/Nov/2026:10:00:00 +0000" in t's location.
func appendTimeLocal(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	b = numfmt.AppendDigits(b, d, 2)
	b = append(b, '/')
	b = append(b, months[mo-1]...)
	b = append(b, '/')
	b = numfmt.AppendDigits(b, y, 4)
	b = append(b, ':')
	b = appendClock(b, t)
	b = append(b, ' ')
	return appendOffset(b, t, false)
}

// appendTimeISO8601 appends "2026-11-25T10:00:00+00:00" in t's location.
func appendTimeISO8601(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	b = numfmt.AppendDigits(b, y, 4)
	b = append(b, '-')
	b = numfmt.AppendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = numfmt.AppendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendClock(b, t)
	return appendOffset(b, t, true)
}

func appendClock(b []byte, t time.Time) []byte {
	h, mi, s := t.Clock()
	b = numfmt.AppendDigits(b, h, 2)
	b = append(b, ':')
	b = numfmt.AppendDigits(b, mi, 2)
	b = append(b, ':')
	return numfmt.AppendDigits(b, s, 2)
}

func appendOffset(b []byte, t time.Time, colon bool) []byte {
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	off /= 60
	b = append(b, sign)
	b = numfmt.AppendDigits(b, off/60, 2)
	if colon {
		b = append(b, ':')
	}
	return numfmt.AppendDigits(b, off%60, 2)
}

// CompileCaptures is Compile for a value that may also use the captures
// $0..$9 of a regular expression matched before it is evaluated (a regex
// location's, for return): AppendCaptures supplies them, Append leaves them
// empty (nginx's value when no regex matched).
func CompileCaptures(s string, maps *Maps) (*Value, error) {
	return compile(s, maps, true)
}

// AppendCaptures appends v's value for x, with $n being
// src[loc[2n]:loc[2n+1]] (loc as regexp's FindSubmatchIndex; nil for no
// match).
func (v *Value) AppendCaptures(dst []byte, x Exchange, src string, loc []int) []byte {
	return v.append(dst, x, nil, &captures{src: src, loc: loc}, 0)
}

// AppendCapturesEscaped is AppendCaptures with esc applied to the value of
// each capture only (nginx escapes a rewrite redirect's captures, not its
// other variables): esc gets the capture appended at dst[start:].
func (v *Value) AppendCapturesEscaped(dst []byte, x Exchange, src string, loc []int, esc func(dst []byte, start int) []byte) []byte {
	caps := &captures{src: src, loc: loc}
	for i := range v.parts {
		p := &v.parts[i]
		if p.k == kCapture {
			start := len(dst)
			dst = esc(caps.append(dst, p.n), start)
			continue
		}
		one := Value{parts: v.parts[i : i+1], maps: v.maps}
		dst = one.append(dst, x, nil, caps, 0)
	}
	return dst
}
