package upstreamsim

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// act answers req according to b and says how the connection goes on.
// closeAfter is set when this must be the connection's last response.
func (s *session) act(b Behavior, req *request, closeAfter bool) ending {
	switch b.Kind {
	case KindReset:
		// Before any byte, and before reading the body: nginx sees
		// "recv() failed (104: Connection reset by peer) while reading
		// response header from upstream" (or writev() while still sending).
		return endReset
	case KindCloseBeforeHeader:
		return endLinger
	case KindKillAfter:
		return s.killAfter(b, req, closeAfter)
	}

	var body []byte
	if !b.SkipBody {
		var end ending
		var ok bool
		if body, end, ok = s.body(req, true); !ok {
			return end
		}
	} else if req.expect100 && req.hasBody() {
		// We answer without "100 Continue": a client may then never send
		// the body, so this connection cannot be reused.
		closeAfter = true
	}
	if !s.u.wait(b.Latency) {
		return endGone
	}

	end := s.respond(b, req, body, closeAfter)
	if end == keepOpen && b.SkipBody && req.hasBody() {
		if _, e, ok := s.body(req, true); !ok {
			return e
		}
	}
	return end
}

func (s *session) respond(b Behavior, req *request, body []byte, closeAfter bool) ending {
	isHead := req.method == "HEAD"
	cl := func(n int64) string { return "Content-Length: " + strconv.FormatInt(n, 10) }
	switch b.Kind {
	case KindOK, KindSlowHeader:
		if b.Kind == KindSlowHeader && !s.u.wait(b.D) {
			return endGone
		}
		return s.ok(b, req, body, 200, closeAfter)

	case KindStatus:
		return s.ok(b, req, body, b.Code, closeAfter)

	case KindResetAfterHeader:
		n := s.size(b, req, 3)
		s.head(200, req, false, cl(n), "Content-Type: application/octet-stream")
		return s.flushThen(endReset)

	case KindResetMidBody, KindCloseMidBody:
		n := s.size(b, req, 0)
		if n <= b.N {
			n = max(2*b.N, 1)
		}
		s.head(200, req, false, cl(n), "Content-Type: application/octet-stream")
		s.pattern(b.N)
		if b.Kind == KindResetMidBody {
			return s.flushThen(endReset)
		}
		return s.flushThen(endLinger)

	case KindLengthMismatch:
		extra := b.N
		if extra == 0 {
			extra = 10
		}
		n := s.size(b, req, 16)
		s.head(200, req, closeAfter, cl(n), "Content-Type: application/octet-stream")
		s.patternOneWrite(n + extra)
		return s.finish(closeAfter)

	case KindInvalidHeader:
		// A space inside a header name: nginx logs
		// upstream sent invalid header: "Bad\x20..." while reading response header from upstream.
		s.bw.WriteString("HTTP/1.1 200 OK\r\nServer: spillway-upstream\r\nContent-Length: 3\r\nBad Header: x\r\n\r\nok\n")
		return s.flushThen(endLinger)

	case KindNoValidHTTP:
		// nginx: upstream sent no valid HTTP/1.0 header, then passes the bytes through as HTTP/0.9.
		s.bw.WriteString("hello\n")
		return s.flushThen(endLinger)

	case KindHugeHeader:
		n := s.size(b, req, 3)
		base := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: spillway-upstream\r\n%s\r\n", cl(n))
		tail := "\r\n"
		if closeAfter {
			tail = "Connection: close\r\n\r\n"
		} else if req.http10 {
			tail = "Connection: keep-alive\r\n\r\n"
		}
		const name = "X-Huge: \r\n"
		pad := max(b.N-int64(len(base)+len(tail)+len(name)), 0)
		s.bw.WriteString(base)
		s.bw.WriteString("X-Huge: ")
		s.bw.WriteString(strings.Repeat("h", int(pad)))
		s.bw.WriteString("\r\n")
		s.bw.WriteString(tail)
		if !isHead {
			s.okBody(b, n)
		}
		return s.finish(closeAfter)

	case KindSlowBody:
		n := s.size(b, req, 3)
		s.head(200, req, closeAfter, cl(n), "Content-Type: application/octet-stream")
		if s.bw.Flush() != nil {
			return endGone
		}
		if isHead {
			return s.finish(closeAfter)
		}
		pieces := int64(max(b.Chunks, 1))
		pieces = max(min(pieces, n), 1)
		var sent int64
		for i := int64(1); i <= pieces; i++ {
			if !s.u.wait(b.D) {
				return endGone
			}
			upto := n * i / pieces
			if b.Size == 0 && n == 3 {
				s.bw.WriteString("ok\n"[sent:upto])
			} else {
				s.pattern(upto - sent)
			}
			sent = upto
			if s.bw.Flush() != nil {
				return endGone
			}
		}
		return s.finish(closeAfter)

	case KindPartialHeader:
		s.bw.WriteString("HTTP/1.1 200 OK\r\nServer: spillway-upstream\r\n")
		if s.bw.Flush() != nil {
			return endGone
		}
		_, _ = io.Copy(io.Discard, s.c) // silence until the proxy gives up
		return endClose

	case KindHeadersThenStall:
		n := s.size(b, req, 1024)
		s.head(200, req, false, cl(n), "Content-Type: application/octet-stream")
		if s.bw.Flush() != nil {
			return endGone
		}
		// Silence until the client gives up (or the upstream closes).
		_, _ = io.Copy(io.Discard, s.c)
		return endClose

	case KindChunkedTruncated:
		n := b.N
		if n == 0 {
			n = 1024
		}
		s.head(200, req, false, "Transfer-Encoding: chunked", "Content-Type: application/octet-stream")
		for _, part := range []int64{n / 2, n - n/2} {
			if part == 0 {
				continue
			}
			fmt.Fprintf(s.bw, "%x\r\n", part)
			s.pattern(part)
			s.bw.WriteString("\r\n")
		}
		return s.flushThen(endLinger) // no "0\r\n\r\n"

	case KindSwitch:
		// The connection leaves HTTP: a proxy must never send another
		// request on it (it would only be echoed back).
		s.bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nServer: spillway-upstream\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if s.bw.Flush() != nil {
			return endGone
		}
		_, _ = io.Copy(s.c, s.br)
		return endClose

	case KindWebSocket:
		return s.websocket(req)

	case KindBareLF:
		if b.Chunks > 1 && !isHead { // the body chunked, every line ending in a bare LF
			s.bw.WriteString("HTTP/1.1 200 OK\nServer: spillway-upstream\nTransfer-Encoding: chunked\n\n")
			for i := 0; i < b.Chunks; i++ {
				s.bw.WriteString("3\nok\n\n")
			}
			s.bw.WriteString("0\n\n")
			return s.finish(closeAfter)
		}
		if isHead {
			s.bw.WriteString("HTTP/1.1 200 OK\nServer: spillway-upstream\nContent-Length: 3\n\n")
		} else {
			s.bw.WriteString("HTTP/1.1 200 OK\nServer: spillway-upstream\nContent-Length: 3\n\nok\n")
		}
		return s.finish(closeAfter)
	case KindBadChunked:
		// nginx: upstream sent invalid chunked response while reading upstream.
		n := b.N
		if n == 0 {
			n = 1024
		}
		s.head(200, req, false, "Transfer-Encoding: chunked", "Content-Type: application/octet-stream")
		fmt.Fprintf(s.bw, "%x\r\n", n)
		s.pattern(n)
		s.bw.WriteString("\r\nzz\r\n")
		return s.flushThen(endLinger)
	}
	return s.ok(b, req, body, 200, closeAfter)
}

// ok writes a complete response: /size/N → N bytes, /echo → the request
// body, else size= bytes or "ok\n" (or "<code> <text>\n" for status).
func (s *session) ok(b Behavior, req *request, body []byte, code int, closeAfter bool) ending {
	bodiless := code < 200 || code == 204 || code == 304
	if bodiless {
		s.head(code, req, closeAfter, b.Header...)
		return s.finish(closeAfter)
	}
	if _, sized := sizeFromPath(req.path); !sized && b.Size == 0 && (req.path == "/echo" || strings.HasPrefix(req.path, "/echo/")) {
		s.head(code, req, closeAfter, append([]string{"Content-Length: " + strconv.Itoa(len(body)), "Content-Type: application/octet-stream"}, b.Header...)...)
		if req.method != "HEAD" {
			s.bw.Write(body)
		}
		return s.finish(closeAfter)
	}
	if code != 200 && b.Size == 0 {
		if _, sized := sizeFromPath(req.path); !sized {
			text := fmt.Sprintf("%d %s\n", code, statusText(code))
			extra := []string{"Content-Length: " + strconv.Itoa(len(text)), "Content-Type: text/plain"}
			if code == 401 { // RFC 9110 15.5.2: a 401 carries its challenges (an auth service's, for auth_request)
				extra = append(extra, `WWW-Authenticate: Bearer realm="spillway-upstream"`, `WWW-Authenticate: Basic realm="second"`)
			}
			extra = append(extra, b.Header...)
			s.head(code, req, closeAfter, extra...)
			if req.method != "HEAD" {
				s.bw.WriteString(text)
			}
			return s.finish(closeAfter)
		}
	}
	n := s.size(b, req, 3)
	s.head(code, req, closeAfter, append([]string{"Content-Length: " + strconv.FormatInt(n, 10), "Content-Type: application/octet-stream"}, b.Header...)...)
	if req.method != "HEAD" {
		s.okBody(b, n)
	}
	return s.finish(closeAfter)
}

// okBody writes n bytes: "ok\n" for the default size, the pattern otherwise.
func (s *session) okBody(b Behavior, n int64) {
	if n == 3 && b.Size == 0 {
		s.bw.WriteString("ok\n")
		return
	}
	s.pattern(n)
}

// size is the response body length: GET /size/N, else size=, else def.
func (s *session) size(b Behavior, req *request, def int64) int64 {
	if n, ok := sizeFromPath(req.path); ok {
		return n
	}
	if b.Size > 0 {
		return b.Size
	}
	return def
}

// sizeFromPath parses /size/N (N with nginx units).
func sizeFromPath(path string) (int64, bool) {
	rest, ok := strings.CutPrefix(path, "/size/")
	if !ok {
		return 0, false
	}
	n, err := parseSize(rest)
	return n, err == nil
}

// flushThen flushes what was written and ends the connection with end.
func (s *session) flushThen(end ending) ending {
	if s.bw.Flush() != nil {
		return endGone
	}
	return end
}

// killAfter runs a handler that takes Latency (forever when 0) and is cut
// off D after the request head arrived, like php-fpm's
// request_terminate_timeout: the worker is killed and the connection reset.
func (s *session) killAfter(b Behavior, req *request, closeAfter bool) ending {
	deadline := req.readAt.Add(b.D)
	_ = s.c.SetReadDeadline(deadline)
	body, end, ok := s.body(req, true)
	_ = s.c.SetReadDeadline(time.Time{})
	if !ok {
		return end
	}
	if b.Latency > 0 && time.Now().Add(b.Latency).Before(deadline) {
		if !s.u.wait(b.Latency) {
			return endGone
		}
		return s.ok(b, req, body, 200, closeAfter)
	}
	if !s.u.wait(time.Until(deadline)) {
		return endGone
	}
	return endReset
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status " + strconv.Itoa(code)
}
