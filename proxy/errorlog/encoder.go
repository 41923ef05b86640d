package errorlog

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"spillway/proxy/internal/numfmt"
)

// maxLine is NGX_MAX_ERROR_STR: nginx formats a line into a 2048-byte array and
// puts the "\n" in its last byte when the text fills it.
const maxLine = 2048

// encoder is a zapcore.Encoder that writes nginx's error-log line:
//
//	2026/11/25 10:00:00 [error] 4242#4242: *5 MESSAGE (104: ...) while ACTION, client: ..., ...
//
// zap fields (from zap.Logger.With or a call site) are appended after nginx's own
// fields as ", key: value"; nested objects print as {k: v, ...} and arrays as [a, b].
//
// As an ObjectEncoder it serves two roles: a With() clone renders its context
// fields into buf once, and EncodeEntry uses a short-lived copy whose buf is the
// line being built.
type encoder struct {
	pool   buffer.Pool
	prefix string // "PID#PID: ", fixed for the process

	buf    []byte // rendered context fields, or the line under construction
	depth  int    // how many objects/arrays/namespaces are open
	first  bool   // the next element at depth > 0 is the first one: no ", "
	keyed  bool   // "key: " was just written; the value that follows needs no separator
	openNS int    // namespaces opened by OpenNamespace, closed at the end of the line
}

func newEncoder(pid int) *encoder {
	p := strconv.Itoa(pid)
	return &encoder{pool: buffer.NewPool(), prefix: p + "#" + p + ": "}
}

// Clone implements zapcore.Encoder.
func (e *encoder) Clone() zapcore.Encoder { return e.clone() }

func (e *encoder) clone() *encoder {
	c := *e
	c.buf = append([]byte(nil), e.buf...)
	return &c
}

// EncodeEntry implements zapcore.Encoder for entries that come through zap's API
// (Log.Zap): they have no connection number, errno, action or request fields.
func (e *encoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	buf := e.pool.Get()
	// Format into the pooled buffer's spare capacity, then hand the bytes back:
	// when the line fits (the usual case) AppendBytes copies it onto itself, and
	// when it did not, the buffer grows so that the next long line fits.
	buf.AppendBytes(e.appendLine(buf.Bytes(), ent, nil, fields))
	return buf, nil
}

// appendLine appends one complete line, "\n" included, cut at maxLine bytes.
// x carries what zap's Entry cannot (connection, errno, action, request fields);
// x and fields may both be given, x's parts come first.
func (e *encoder) appendLine(b []byte, ent zapcore.Entry, x *Entry, fields []zapcore.Field) []byte {
	start := len(b)
	limit := start + maxLine // nginx's "last"
	b = appendTime(b, ent.Time)
	b = append(b, " ["...)
	b = append(b, levelName(ent.Level)...)
	b = append(b, "] "...)
	b = append(b, e.prefix...)
	if x != nil && x.Conn != 0 {
		b = append(b, '*')
		b = strconv.AppendUint(b, x.Conn, 10)
		b = append(b, ' ')
	}
	if x != nil && x.RawMsg {
		b = appendRaw(b, ent.Message, limit)
	} else {
		b = appendClipped(b, ent.Message, limit)
	}
	if len(b) > limit {
		b = b[:limit]
	}
	if x != nil {
		if x.Errno != 0 {
			// ngx_log_errno: a message that filled the line gives way so that
			// the errno is still seen, "...(104: Connection reset by peer)".
			if len(b) > limit-50 {
				b = append(b[:limit-50], "..."...)
			}
			b = appendErrno(b, x.Errno)
		}
		b = x.appendContext(b, limit)
	}
	if len(e.buf) > 0 && len(b) < limit {
		b = append(b, e.buf...)
	}
	openNS := e.openNS
	if len(fields) > 0 && len(b) < limit {
		// Call-site fields go through zap's ObjectEncoder interface, so this
		// copy escapes: one allocation, on the zap path only.
		fe := &encoder{buf: b, depth: e.depth, first: e.first, openNS: e.openNS}
		for i := range fields {
			fields[i].AddTo(fe)
		}
		b, openNS = fe.buf, fe.openNS
	}
	for range openNS {
		b = append(b, '}')
	}
	if len(b) > limit-1 {
		b = b[:limit-1]
	}
	return append(b, '\n')
}

// appendContext appends nginx's ngx_http_log_error part: " while ACTION" and
// the request fields, in nginx's order.
func (x *Entry) appendContext(b []byte, limit int) []byte {
	if x.Action != "" && len(b) < limit {
		b = append(b, " while "...)
		b = appendClipped(b, x.Action, limit)
	}
	f := x.Fields
	if f == nil || f.Client == "" {
		return b
	}
	b = appendField(b, ", client: ", f.Client, false, limit)
	// nginx prints the server name even when it is empty (a server block
	// without server_name logs "server: , request: ...").
	if len(b) < limit {
		b = append(b, ", server: "...)
		b = appendClipped(b, f.Server, limit)
	}
	b = appendField(b, ", request: ", f.Request, true, limit)
	b = appendField(b, ", subrequest: ", f.Subrequest, true, limit)
	b = appendField(b, ", upstream: ", f.Upstream, true, limit)
	if f.HostEmpty && f.Host == "" && len(b) < limit {
		b = append(b, `, host: ""`...)
	}
	b = appendField(b, ", host: ", f.Host, true, limit)
	b = appendField(b, ", referrer: ", f.Referrer, true, limit)
	return b
}

func appendField(b []byte, name, v string, quote bool, limit int) []byte {
	if v == "" || len(b) >= limit {
		return b
	}
	b = append(b, name...)
	if quote {
		b = append(b, '"')
	}
	b = appendClipped(b, v, limit)
	if quote {
		b = append(b, '"')
	}
	return b
}

// appendClipped appends s with control bytes escaped, taking no more of s than
// could still fit before limit (the line is cut there anyway; this keeps a huge
// message from growing the pooled buffers).
func appendClipped(b []byte, s string, limit int) []byte {
	if room := limit - len(b); len(s) > room {
		s = s[:max(room, 0)]
	}
	return appendSafe(b, s)
}

// appendRaw is appendClipped for Entry.RawMsg: only CR and LF escaped.
func appendRaw(b []byte, s string, limit int) []byte {
	if room := limit - len(b); len(s) > room {
		s = s[:max(room, 0)]
	}
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(b, s...)
		}
		b = appendSafe(append(b, s[:i]...), s[i:i+1])
		s = s[i+1:]
	}
}

// appendSafe appends s, writing bytes below 0x20 and 0x7f as \xHH (lower-case, as
// nginx's own "\x%02xd" in "client sent invalid header line") so that one entry is
// always one line.
//
// nginx itself prints the request line, host and referrer raw (%V in
// ngx_http_log_error_handler): its parser never lets CR, LF or NUL into them, but
// it would print a TAB raw where we print \x09. Bytes >= 0x80, '"' and '\' are
// written raw, as nginx does.
func appendSafe(b []byte, s string) []byte {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] != 0x7f {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	b = append(b, s[:i]...)
	const hex = "0123456789abcdef"
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// appendTime appends t as nginx's ngx_cached_err_log_time, "%4d/%02d/%02d
// %02d:%02d:%02d", in t's own location (time.Now is local time, like nginx's).
func appendTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = numfmt.AppendDigits(b, y, 4)
	b = append(b, '/')
	b = numfmt.AppendDigits(b, int(mo), 2)
	b = append(b, '/')
	b = numfmt.AppendDigits(b, d, 2)
	b = append(b, ' ')
	b = numfmt.AppendDigits(b, h, 2)
	b = append(b, ':')
	b = numfmt.AppendDigits(b, mi, 2)
	b = append(b, ':')
	return numfmt.AppendDigits(b, s, 2)
}

// --- zapcore.ObjectEncoder and ArrayEncoder, for zap fields ---

// sep starts a new key or array element: top-level fields always follow
// something (", k: v"); inside {} and [] the first element has no separator.
func (e *encoder) sep() {
	if e.depth == 0 || !e.first {
		e.buf = append(e.buf, ", "...)
	}
	e.first = false
}

func (e *encoder) key(k string) {
	e.sep()
	e.buf = appendSafe(e.buf, k)
	e.buf = append(e.buf, ": "...)
	e.keyed = true
}

// elem starts a value: right after its key, or as the next array element.
func (e *encoder) elem() {
	if e.keyed {
		e.keyed = false
		return
	}
	e.sep()
}

func (e *encoder) open(c byte) {
	e.buf = append(e.buf, c)
	e.depth++
	e.first = true
}

func (e *encoder) close(c byte) {
	e.buf = append(e.buf, c)
	e.depth--
	e.first = false
}

func (e *encoder) AddArray(k string, m zapcore.ArrayMarshaler) error {
	e.key(k)
	return e.AppendArray(m)
}

func (e *encoder) AddObject(k string, m zapcore.ObjectMarshaler) error {
	e.key(k)
	return e.AppendObject(m)
}

func (e *encoder) AddBinary(k string, v []byte)         { e.key(k); e.elem(); e.appendBinary(v) }
func (e *encoder) AddByteString(k string, v []byte)     { e.key(k); e.AppendByteString(v) }
func (e *encoder) AddBool(k string, v bool)             { e.key(k); e.AppendBool(v) }
func (e *encoder) AddComplex128(k string, v complex128) { e.key(k); e.AppendComplex128(v) }
func (e *encoder) AddComplex64(k string, v complex64)   { e.key(k); e.AppendComplex64(v) }
func (e *encoder) AddDuration(k string, v time.Duration) {
	e.key(k)
	e.AppendDuration(v)
}
func (e *encoder) AddFloat64(k string, v float64) { e.key(k); e.AppendFloat64(v) }
func (e *encoder) AddFloat32(k string, v float32) { e.key(k); e.AppendFloat32(v) }
func (e *encoder) AddInt(k string, v int)         { e.key(k); e.AppendInt64(int64(v)) }
func (e *encoder) AddInt64(k string, v int64)     { e.key(k); e.AppendInt64(v) }
func (e *encoder) AddInt32(k string, v int32)     { e.key(k); e.AppendInt64(int64(v)) }
func (e *encoder) AddInt16(k string, v int16)     { e.key(k); e.AppendInt64(int64(v)) }
func (e *encoder) AddInt8(k string, v int8)       { e.key(k); e.AppendInt64(int64(v)) }
func (e *encoder) AddString(k, v string)          { e.key(k); e.AppendString(v) }
func (e *encoder) AddTime(k string, v time.Time)  { e.key(k); e.AppendTime(v) }
func (e *encoder) AddUint(k string, v uint)       { e.key(k); e.AppendUint64(uint64(v)) }
func (e *encoder) AddUint64(k string, v uint64)   { e.key(k); e.AppendUint64(v) }
func (e *encoder) AddUint32(k string, v uint32)   { e.key(k); e.AppendUint64(uint64(v)) }
func (e *encoder) AddUint16(k string, v uint16)   { e.key(k); e.AppendUint64(uint64(v)) }
func (e *encoder) AddUint8(k string, v uint8)     { e.key(k); e.AppendUint64(uint64(v)) }
func (e *encoder) AddUintptr(k string, v uintptr) { e.key(k); e.AppendUint64(uint64(v)) }

func (e *encoder) AddReflected(k string, v any) error {
	e.key(k)
	return e.AppendReflected(v)
}

// OpenNamespace puts the following fields inside "k: {...}", closed at the end
// of the line.
func (e *encoder) OpenNamespace(k string) {
	e.key(k)
	e.keyed = false
	e.open('{')
	e.openNS++
}

func (e *encoder) AppendArray(m zapcore.ArrayMarshaler) error {
	e.elem()
	e.open('[')
	err := m.MarshalLogArray(e)
	e.close(']')
	return err
}

func (e *encoder) AppendObject(m zapcore.ObjectMarshaler) error {
	e.elem()
	e.open('{')
	err := m.MarshalLogObject(e)
	e.close('}')
	return err
}

func (e *encoder) appendBinary(v []byte) {
	e.buf = base64.StdEncoding.AppendEncode(e.buf, v)
}

func (e *encoder) AppendBool(v bool) { e.elem(); e.buf = strconv.AppendBool(e.buf, v) }
func (e *encoder) AppendByteString(v []byte) {
	e.elem()
	e.buf = appendSafe(e.buf, string(v))
}
func (e *encoder) AppendComplex128(v complex128) {
	e.elem()
	e.buf = append(e.buf, strconv.FormatComplex(v, 'g', -1, 128)...)
}
func (e *encoder) AppendComplex64(v complex64) {
	e.elem()
	e.buf = append(e.buf, strconv.FormatComplex(complex128(v), 'g', -1, 64)...)
}
func (e *encoder) AppendFloat64(v float64) { e.elem(); e.buf = appendFloat(e.buf, v, 64) }
func (e *encoder) AppendFloat32(v float32) { e.elem(); e.buf = appendFloat(e.buf, float64(v), 32) }
func (e *encoder) AppendInt(v int)         { e.AppendInt64(int64(v)) }
func (e *encoder) AppendInt64(v int64)     { e.elem(); e.buf = strconv.AppendInt(e.buf, v, 10) }
func (e *encoder) AppendInt32(v int32)     { e.AppendInt64(int64(v)) }
func (e *encoder) AppendInt16(v int16)     { e.AppendInt64(int64(v)) }
func (e *encoder) AppendInt8(v int8)       { e.AppendInt64(int64(v)) }
func (e *encoder) AppendString(v string)   { e.elem(); e.buf = appendSafe(e.buf, v) }
func (e *encoder) AppendUint(v uint)       { e.AppendUint64(uint64(v)) }
func (e *encoder) AppendUint64(v uint64)   { e.elem(); e.buf = strconv.AppendUint(e.buf, v, 10) }
func (e *encoder) AppendUint32(v uint32)   { e.AppendUint64(uint64(v)) }
func (e *encoder) AppendUint16(v uint16)   { e.AppendUint64(uint64(v)) }
func (e *encoder) AppendUint8(v uint8)     { e.AppendUint64(uint64(v)) }
func (e *encoder) AppendUintptr(v uintptr) { e.AppendUint64(uint64(v)) }
func (e *encoder) AppendDuration(v time.Duration) {
	e.elem()
	e.buf = append(e.buf, v.String()...)
}
func (e *encoder) AppendTime(v time.Time) { e.elem(); e.buf = appendTime(e.buf, v) }
func (e *encoder) AppendReflected(v any) error {
	e.elem()
	e.buf = appendSafe(e.buf, fmt.Sprint(v))
	return nil
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

var (
	_ zapcore.Encoder      = (*encoder)(nil)
	_ zapcore.ArrayEncoder = (*encoder)(nil)
	_ zapcore.Core         = (*core)(nil)
	_ zapcore.WriteSyncer  = (*File)(nil)
)
