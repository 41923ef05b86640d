package proxy

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// upstreamHeadNames are upstreamHead's fields by the name Peek was asked.
func upstreamHeadNames(s *upstreamHead) map[string][]byte {
	return map[string][]byte{
		"Connection": s.connection, "Keep-Alive": s.keepAlive,
		"X-Accel-Redirect": s.accelRedirect, "X-Accel-Buffering": s.accelBuffering,
		"X-Accel-Charset": s.accelCharset, "X-Accel-Limit-Rate": s.accelLimitRate,
	}
}

// checkNoteLikePeek parses head as the transport does (names as they
// came) and holds each noted value to what fasthttp's Peek gives for
// Connection and Keep-Alive, and to nginx's rule for the X-Accel-* names:
// the first header of that name in any case.
func checkNoteLikePeek(t *testing.T, head string) {
	t.Helper()
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.SetNoDefaultContentType(true)
	if err := h.Read(bufio.NewReader(bytes.NewReader([]byte(head)))); err != nil {
		return // not a head the transport would pass on
	}
	var s upstreamHead
	s.note(&h, false)
	if transportPasses(head) && !namesLookedUp(head) {
		// the transport says so (upstream.Attempt.PlainHead): the walk is
		// skipped, and must not be missed
		var plain upstreamHead
		plain.note(&h, true)
		if !reflect.DeepEqual(plain, s) {
			t.Errorf("%q: noted %+v without the walk, %+v with it", head, plain, s)
		}
	}
	for name, got := range upstreamHeadNames(&s) {
		want := h.Peek(name)
		if strings.HasPrefix(name, "X-Accel-") {
			want = firstAnyCase(&h, name)
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%q: noted %q (nil %v), want %q (nil %v)", name, got, got == nil, want, want == nil)
		}
	}
	if has := firstAnyCase(&h, "X-Accel-Redirect") != nil; s.hasAccelRedirect != has {
		t.Errorf("hasAccelRedirect %v, an X-Accel-Redirect came: %v", s.hasAccelRedirect, has)
	}
}

// transportPasses reports whether the transport would hand head to
// fasthttp as it came: its lines end in CRLF (a bare LF one is handed on
// as a copy, not checked here), and each header line's name, up to its
// first ':', is not empty and holds no control byte, space or DEL
// (nginx's rules, upstream's checkHeaderLine; it also refuses NUL in
// values).
func transportPasses(head string) bool {
	body, ok := strings.CutSuffix(head, "\r\n\r\n")
	if !ok || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") || strings.Contains(body, "\x00") {
		return false
	}
	lines := strings.Split(body, "\r\n")
	for _, line := range lines[1:] {
		name, _, found := strings.Cut(line, ":")
		if !found || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
			return false
		}
	}
	return true
}

// namesLookedUp reports whether a line of head is named, in any case, as
// a header note looks for (the transport's lookedUpName, in its own words:
// Connection, Keep-Alive, X-Accel-* of 15 bytes or more).
func namesLookedUp(head string) bool {
	_, rest, _ := strings.Cut(head, "\n")
	for line := range strings.Lines(rest) {
		name, _, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Connection") || strings.EqualFold(name, "Keep-Alive") ||
			len(name) >= len("X-Accel-Charset") && strings.EqualFold(name[:len("X-Accel-")], "X-Accel-") {
			return true
		}
	}
	return false
}

// firstAnyCase is the value of h's first header named name in any case
// (non-nil, maybe empty, when one came), nil when none did.
func firstAnyCase(h *fasthttp.ResponseHeader, name string) []byte {
	for k, v := range h.All() {
		if strings.EqualFold(string(k), name) {
			return append([]byte{}, v...)
		}
	}
	return nil
}

var upstreamHeadSeeds = []string{
	"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
	// the first of two wins, an empty first one too
	"HTTP/1.1 200 OK\r\nX-Accel-Buffering: no\r\nX-Accel-Buffering: yes\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Accel-Redirect:\r\nX-Accel-Redirect: /b\r\nContent-Length: 0\r\n\r\n",
	// Connection and Keep-Alive by their bytes, X-Accel-* in any case (nginx)
	"HTTP/1.1 200 OK\r\nx-accel-redirect: /a\r\nX-ACCEL-CHARSET: koi8-r\r\nkeep-alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Accel-Redirect: /a\r\nX-Accel-Limit-Rate: 1024\r\nX-Accel-Charset: utf-8\r\nKeep-Alive: timeout=5, max=9\r\nContent-Length: 0\r\n\r\n",
	// Connection: fasthttp keeps a "close" as a flag
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close, X-Foo\r\nX-Foo: 1\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: X-Foo\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nconnection: close\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection:\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection:\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nconnection: close, X-Foo\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	// HTTP/1.0 without keep-alive, and a body read until close
	"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Keep-Alive\r\nKeep-Alive: timeout=1\r\n\r\n",
}

// TestUpstreamHeadNoteLikePeek: one walk notes what Peek would give for
// each name respond looks up (upstreamhead.go).
func TestUpstreamHeadNoteLikePeek(t *testing.T) {
	for _, head := range upstreamHeadSeeds {
		checkNoteLikePeek(t, head)
	}
}

func FuzzUpstreamHeadNote(f *testing.F) {
	for _, head := range upstreamHeadSeeds {
		f.Add(head)
	}
	f.Fuzz(checkNoteLikePeek)
}

// BenchmarkUpstreamHeadNote: the walk of a small head (the 1 KiB GET's
// origin) allocates nothing.
func BenchmarkUpstreamHeadNote(b *testing.B) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	head := "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n"
	if err := h.Read(bufio.NewReader(bytes.NewReader([]byte(head)))); err != nil {
		b.Fatal(err)
	}
	var s upstreamHead
	b.ReportAllocs()
	for b.Loop() {
		s.note(&h, false)
	}
}
