package accesslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/internal/numfmt"
)

// Combined is nginx's predefined "combined" format (ngx_http_combined_fmt).
const Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// Format is a compiled log_format string. It is immutable and safe to share
// between Logs and goroutines.
type Format struct {
	src string
	ops []op
}

type op struct {
	kind varKind
	arg  string // the literal text, or NAME for $http_NAME
}

type varKind uint8

const (
	literal varKind = iota
	varRemoteAddr
	varRemoteUser
	varTimeLocal
	varTimeISO8601
	varMsec
	varRequest
	varStatus
	varBodyBytesSent
	varBytesSent
	varHTTPReferer
	varHTTPUserAgent
	varHTTP // any other $http_NAME, through Entry.Header
	varHost
	varServerName
	varRequestMethod
	varURI
	varRequestURI
	varScheme
	varRequestTime
	varUpstreamAddr
	varUpstreamStatus
	varUpstreamResponseTime
	varUpstreamConnectTime
	varUpstreamHeaderTime
	varUpstreamConnectionReused
	varUpstreamIdleAge
	varConnection
	varConnectionRequests
	varPID
)

// variables are the names Compile knows (nginx's, lower case). A constant table.
var variables = map[string]varKind{
	"remote_addr":            varRemoteAddr,
	"remote_user":            varRemoteUser,
	"time_local":             varTimeLocal,
	"time_iso8601":           varTimeISO8601,
	"msec":                   varMsec,
	"request":                varRequest,
	"status":                 varStatus,
	"body_bytes_sent":        varBodyBytesSent,
	"bytes_sent":             varBytesSent,
	"http_referer":           varHTTPReferer,
	"http_user_agent":        varHTTPUserAgent,
	"host":                   varHost,
	"server_name":            varServerName,
	"request_method":         varRequestMethod,
	"uri":                    varURI,
	"document_uri":           varURI, // nginx's alias
	"request_uri":            varRequestURI,
	"scheme":                 varScheme,
	"request_time":           varRequestTime,
	"upstream_addr":          varUpstreamAddr,
	"upstream_status":        varUpstreamStatus,
	"upstream_response_time": varUpstreamResponseTime,
	"upstream_connect_time":  varUpstreamConnectTime,
	"upstream_header_time":   varUpstreamHeaderTime,
	// spillway's own: reuse races graphed from logs (HAProxy's bc_reused)
	"upstream_connection_reused": varUpstreamConnectionReused,
	"upstream_idle_age":          varUpstreamIdleAge,
	"connection":                 varConnection,
	"connection_requests":        varConnectionRequests,
	"pid":                        varPID,
}

// Compile parses a log_format string: literal text with $name or ${name}
// variables (names are letters, digits and '_', case-insensitive, as in nginx).
// "combined" stands for nginx's combined format. Errors use nginx's wording:
// `unknown "foo" variable`.
//
// Known variables: $remote_addr $remote_user $time_local $time_iso8601 $msec
// $request $status $body_bytes_sent $bytes_sent $http_referer $http_user_agent
// $http_NAME $host $server_name $request_method $uri $document_uri $request_uri
// $scheme $request_time $upstream_addr $upstream_status $upstream_response_time
// $upstream_connect_time $upstream_header_time $connection $connection_requests
// $pid, and spillway's own $upstream_connection_reused and $upstream_idle_age.
func Compile(format string) (*Format, error) {
	src := format
	if format == "combined" {
		format = Combined
	}
	if format == "" {
		return nil, errors.New("empty log format")
	}
	f := &Format{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, op{kind: literal, arg: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		if format[i] != '$' {
			lit.WriteByte(format[i])
			i++
			continue
		}
		// ngx_http_log_compile: "$name" or "${name}".
		i++
		bracket := i < len(format) && format[i] == '{'
		if bracket {
			i++
		}
		j := i
		for j < len(format) && isNameByte(format[j]) {
			j++
		}
		name := strings.ToLower(format[i:j])
		if bracket {
			if j == len(format) || format[j] != '}' {
				return nil, fmt.Errorf("the closing bracket in %q variable is missing", name)
			}
			j++
		}
		if name == "" {
			return nil, fmt.Errorf("invalid parameter %q", format)
		}
		o := op{kind: variables[name]}
		if o.kind == literal {
			rest, ok := strings.CutPrefix(name, "http_")
			if !ok {
				return nil, fmt.Errorf("unknown %q variable", name)
			}
			o = op{kind: varHTTP, arg: rest}
		}
		flush()
		f.ops = append(f.ops, o)
		i = j
	}
	flush()
	return f, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// String returns the format as given to Compile.
func (f *Format) String() string { return f.src }

// appendLine appends e formatted by f, and "\n"; t stands for e.Time.
func (f *Format) appendLine(b []byte, e *Entry, t time.Time, pid int) []byte {
	for i := range f.ops {
		o := &f.ops[i]
		switch o.kind {
		case literal:
			b = append(b, o.arg...)
		case varRemoteAddr:
			b = appendValue(b, e.RemoteAddr)
		case varRemoteUser:
			b = appendValue(b, e.RemoteUser)
		case varTimeLocal:
			b = appendTimeLocal(b, t)
		case varTimeISO8601:
			b = appendTimeISO8601(b, t)
		case varMsec:
			b = strconv.AppendInt(b, t.Unix(), 10)
			b = append(b, '.')
			b = numfmt.AppendDigits(b, t.Nanosecond()/1e6, 3)
		case varRequest:
			b = appendValue(b, e.Request)
		case varStatus:
			// "%03ui": an HTTP/0.9 response is logged as 009.
			b = numfmt.AppendDigits(b, max(e.Status, 0), 3)
		case varBodyBytesSent:
			b = strconv.AppendInt(b, max(e.BodyBytesSent, 0), 10)
		case varBytesSent:
			b = strconv.AppendInt(b, max(e.BytesSent, 0), 10)
		case varHTTPReferer:
			b = appendValue(b, e.Referer)
		case varHTTPUserAgent:
			b = appendValue(b, e.UserAgent)
		case varHTTP:
			var v []byte
			if e.Header != nil {
				v = e.Header(o.arg)
			}
			b = appendValue(b, v)
		case varHost:
			b = appendValue(b, e.Host)
		case varServerName:
			b = appendValue(b, e.ServerName)
		case varRequestMethod:
			b = appendValue(b, e.Method)
		case varURI:
			b = appendValue(b, e.URI)
		case varRequestURI:
			b = appendValue(b, e.RequestURI)
		case varScheme:
			b = appendValue(b, e.Scheme)
		case varRequestTime:
			// "%T.%03M": whole milliseconds, never negative.
			ms := max(e.RequestTime.Milliseconds(), 0)
			b = strconv.AppendInt(b, ms/1000, 10)
			b = append(b, '.')
			b = numfmt.AppendDigits(b, int(ms%1000), 3)
		case varUpstreamAddr:
			b = appendValue(b, e.UpstreamAddr)
		case varUpstreamStatus:
			b = appendValue(b, e.UpstreamStatus)
		case varUpstreamResponseTime:
			b = appendValue(b, e.UpstreamResponseTime)
		case varUpstreamConnectTime:
			b = appendValue(b, e.UpstreamConnectTime)
		case varUpstreamHeaderTime:
			b = appendValue(b, e.UpstreamHeaderTime)
		case varUpstreamConnectionReused:
			b = appendValue(b, e.UpstreamConnectionReused)
		case varUpstreamIdleAge:
			b = appendValue(b, e.UpstreamIdleAge)
		case varConnection:
			b = strconv.AppendUint(b, e.Conn, 10)
		case varConnectionRequests:
			b = strconv.AppendUint(b, e.ConnRequests, 10)
		case varPID:
			b = strconv.AppendInt(b, int64(pid), 10)
		}
	}
	return append(b, '\n')
}

// appendValue appends a variable's value with nginx's default escaping
// (ngx_http_log_escape): '"', '\', bytes below 0x20 and from 0x7f up become
// \xHH in upper-case hex. An empty value is "-" (nginx's not_found).
func appendValue[T string | []byte](b []byte, v T) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			continue
		}
		b = append(b, v[start:i]...)
		b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		start = i + 1
	}
	return append(b, v[start:]...)
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
