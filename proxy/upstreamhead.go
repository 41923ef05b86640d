package proxy

import (
	"github.com/valyala/fasthttp"

	"spillway/proxy/internal/httphead"
)

// upstreamHead is what the exchange looks up by name in the upstream's
// response head (x.uresp.Header), noted by one walk over its headers as
// the head comes (exchangeHead), instead of one fasthttp Peek per name:
// each Peek copies and checks the name, then walks every header again
// (about 260 instructions each, six per answer: docs/measured/respond-head-2026-12-07.md).
//
// Connection and Keep-Alive are what Peek gave: the first header whose name
// is byte for byte the one asked for (the head is read with fasthttp's
// normalizing off), nil when none came. The X-Accel-* values are nginx's:
// the first header of that name in any case ("x-accel-redirect" too:
// nginx finds upstream headers by their lowercased name), measured by the
// differential suite's x-accel-redirect-name-case and charset_map-proxied. The values point into the header's storage: they hold while the
// head is not read again or reset, which is until the next attempt's head
// (its note replaces them) or the exchange's reset (which zeroes them).
type upstreamHead struct {
	// connection is Peek("Connection"): the first Connection header's
	// value, or, when that is empty or none came, "close" when fasthttp
	// keeps only its flag (a "Connection: close", an HTTP/1.0 answer
	// without keep-alive).
	connection []byte
	keepAlive  []byte // Keep-Alive: timeout=N (releaseAt)

	// nginx's X-Accel-* headers (xaccel.go, respond.go, limitrate.go,
	// charset.go), which proxy_ignore_headers may tell it to ignore.
	accelRedirect, accelBuffering, accelCharset, accelLimitRate []byte
	// hasAccelRedirect: an X-Accel-Redirect came, even an empty one,
	// which nginx carries out as a redirect to "" (unsafe: 404).
	hasAccelRedirect bool
}

// note walks h's headers once and keeps the values respond and its
// helpers look up (upstreamHead). plain says h names none of them, in any
// case (upstream.Attempt.PlainHead: the transport saw its raw lines): then
// there is nothing to walk for, and only Connection's flag is looked at.
func (s *upstreamHead) note(h *fasthttp.ResponseHeader, plain bool) {
	*s = upstreamHead{}
	if !plain {
		s.walk(h)
	}
	// All ends with a made-up "Connection: close" when only the flag
	// holds it; Peek's answer is the flag's whenever the first real one
	// is empty or missing.
	if len(s.connection) == 0 {
		s.connection = nil
		if h.ConnectionClose() {
			s.connection = h.Peek("Connection") // fasthttp's own "close": no allocation
		}
	}
}

// walk is note's walk over h's headers.
func (s *upstreamHead) walk(h *fasthttp.ResponseHeader) {
	var seen uint8 // which names were met: an empty first value still wins, as with Peek
	for k, v := range h.All() {
		var dst *[]byte
		var bit uint8
		switch {
		case string(k) == "Connection":
			dst, bit = &s.connection, 1<<0
		case string(k) == "Keep-Alive":
			dst, bit = &s.keepAlive, 1<<1
		case len(k) < len("X-Accel-Charset") || !httphead.NameIs(k[:len("X-Accel-")], "X-Accel-"):
			continue
		case httphead.NameIs(k, "X-Accel-Redirect"):
			dst, bit = &s.accelRedirect, 1<<2
			s.hasAccelRedirect = true
		case httphead.NameIs(k, "X-Accel-Buffering"):
			dst, bit = &s.accelBuffering, 1<<3
		case httphead.NameIs(k, "X-Accel-Charset"):
			dst, bit = &s.accelCharset, 1<<4
		case httphead.NameIs(k, "X-Accel-Limit-Rate"):
			dst, bit = &s.accelLimitRate, 1<<5
		default:
			continue
		}
		if seen&bit == 0 {
			seen |= bit
			*dst = v
		}
	}
}
