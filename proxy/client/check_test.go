package client_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// head parses raw as fasthttp's server would and describes it as the
// proxy does: the default server "dflt", the server Host chose "chosen",
// each with its error log (at info) writing to its buffer.
func head(t *testing.T, raw string, chosen *config.Server, dfltLog, chosenLog *bytes.Buffer) *client.Head {
	t.Helper()
	// Read through a HeadLF, as the connection loop reads a head: Check
	// reads what its scan noted.
	lf := &client.HeadLF{}
	src := strings.NewReader(raw)
	h := &fasthttp.RequestHeader{}
	if err := h.Read(bufio.NewReader(readFunc(func(p []byte) (int, error) { return lf.Read(src.Read, p) }))); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	line := string(h.Method()) + " " + string(h.RequestURI()) + " " + string(h.Protocol())
	dflt := &config.Server{ClientHeaderBufferSize: 1024, LargeClientHeaderBuffers: config.Buffers{N: 4, Size: 8192}}
	return &client.Head{
		Header: h, Conn: 7, LF: lf,
		Fields:  &errorlog.Fields{Client: "127.0.0.1", Server: "chosen", Request: line, Host: string(h.Host()), Referrer: string(h.Peek("Referer"))},
		Default: client.Server{Name: "dflt", Conf: dflt, Log: errorlog.New(dfltLog, errorlog.Info, errorlog.Options{PID: 1})},
		Chosen:  client.Server{Name: "chosen", Conf: chosen, Log: errorlog.New(chosenLog, errorlog.Info, errorlog.Options{PID: 1})},
	}
}

// readFunc is a Read method.
type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// Check answers each head nginx refuses with nginx's status and info line
// (the fields as nginx has them at that point) in the error log of the
// server nginx had chosen by then (measured, nginx 1.22: the default
// server's for the request line and the header lines before Host, the
// Host's server's after it), and lets the rest through.
func TestCheckLikeNginx(t *testing.T) {
	std := &config.Server{ClientHeaderBufferSize: 1024, LargeClientHeaderBuffers: config.Buffers{N: 4, Size: 8192}}
	small := &config.Server{ClientHeaderBufferSize: 64, LargeClientHeaderBuffers: config.Buffers{N: 4, Size: 64}}
	long := strings.Repeat("a", 80)
	for _, c := range []struct {
		name, raw  string
		conf       *config.Server
		uriInvalid bool
		want       client.Refusal
		line       string // the error-log line's tail, "" for none
		in         string // the server whose error log has the line: "dflt" or "chosen"
		ignored    string
	}{
		{name: "valid", raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "lowercase method", in: "dflt", raw: "get / HTTP/1.1\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent invalid method while reading client request line, client: 127.0.0.1, server: dflt, request: "get / HTTP/1.1"`},
		{name: "asterisk", in: "dflt", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 400, AtLine: true},
			line: `*7 client sent invalid request while reading client request line, client: 127.0.0.1, server: dflt, request: "OPTIONS * HTTP/1.1"`},
		{name: "space in a name", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent invalid header line: "Bad\x20..." while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a"`},
		{name: "underscore ignored", in: "dflt", raw: "GET / HTTP/1.1\r\nX_Under: 1\r\nHost: a\r\n\r\n", ignored: "X_Under",
			line: `*7 client sent invalid header line: "X_Under: 1" while reading client request headers, client: 127.0.0.1, server: dflt, request: "GET / HTTP/1.1"`},
		{name: "length and chunked", in: "chosen", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", want: client.Refusal{Status: 400},
			line: `client sent "Content-Length" and "Transfer-Encoding" headers at the same time while reading client request headers, client: 127.0.0.1, server: chosen, request: "POST / HTTP/1.1", host: "a"`},
		{name: "version 2 in a line", in: "dflt", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 505},
			line: `client sent invalid version while reading client request line, client: 127.0.0.1, server: dflt, request: "GET / HTTP/2.0"`},
		{name: "uri", in: "dflt", raw: "GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", uriInvalid: true, want: client.Refusal{Status: 400},
			line: `client sent invalid request while reading client request line, client: 127.0.0.1, server: dflt, request: "GET /../x HTTP/1.1"`},
		{name: "long URI", in: "dflt", raw: "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", conf: small,
			want: client.Refusal{Status: 414, Request: ("GET /" + long + " HTTP/1.1\r\n")[:64]},
			line: `client sent too long URI while reading client request line, client: 127.0.0.1, server: dflt, request: "GET /` + long[:59] + `"`},
		{name: "long header line", in: "dflt", raw: "GET / HTTP/1.1\r\nX-Long: " + long + "\r\nHost: a\r\n\r\n", conf: small, want: client.Refusal{Status: 494},
			line: `client sent too long header line: "X-Long: ` + long[:56] + `..." while reading client request headers, client: 127.0.0.1, server: dflt, request: "GET / HTTP/1.1"`},
		{name: "long header line after host", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + long + "\r\n\r\n", conf: small, want: client.Refusal{Status: 494},
			line: `client sent too long header line: "X-Long: ` + long[:56] + `..." while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a"`},
		{name: "underscore after host", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\n\r\n", ignored: "X_Under",
			line: `*7 client sent invalid header line: "X_Under: 1" while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a"`},
		{name: "space in a name before host", in: "dflt", raw: "GET / HTTP/1.1\r\nBad Name: 1\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent invalid header line: "Bad\x20..." while reading client request headers, client: 127.0.0.1, server: dflt, request: "GET / HTTP/1.1"` + "\n"},
		{name: "TRACE", in: "chosen", raw: "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 405, Close: true},
			line: `client sent TRACE method while reading client request headers, client: 127.0.0.1, server: chosen, request: "TRACE / HTTP/1.1", host: "a"`},
		{name: "identity coding", in: "chosen", raw: "GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\nHost: a\r\nReferer: r\r\n\r\n", want: client.Refusal{Status: 501, Close: true},
			line: `client sent unknown "Transfer-Encoding": "identity" while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a", referrer: "r"`},
		{name: "identity coding, name in lower case", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n", want: client.Refusal{Status: 501, Close: true},
			line: `client sent unknown "Transfer-Encoding": "identity" while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a"`},
		{name: "version 1.9 without host", in: "dflt", raw: "GET / HTTP/1.9\r\nReferer: r\r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent HTTP/1.1 request without "Host" header while reading client request headers, client: 127.0.0.1, server: dflt, request: "GET / HTTP/1.9"` + "\n"},
		{name: "version 1.9", raw: "GET / HTTP/1.9\r\nHost: a\r\n\r\n"},
		// headers nginx 1.22 takes once (measured): the second line is 400,
		// quoted as sent without the value's spaces, logged by the server
		// chosen so far.
		{name: "duplicate If-Match", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\nIf-Match: foo\r\nX-A: 1\r\nif-match:  bar \r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent duplicate header line: "if-match: bar", previous value: "If-Match: foo" while reading client request headers, client: 127.0.0.1, server: chosen, request: "GET / HTTP/1.1", host: "a"` + "\n"},
		{name: "duplicate Authorization before host", in: "dflt", raw: "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\nHost: a\r\n\r\n", want: client.Refusal{Status: 400},
			line: `*7 client sent duplicate header line: "Authorization: b", previous value: "Authorization: a" while reading client request headers, client: 127.0.0.1, server: dflt, request: "GET / HTTP/1.1"` + "\n"},
		{name: "duplicate Expect", in: "chosen", raw: "GET / HTTP/1.1\r\nHost: a\r\nExpect: a\r\nExpect: b\r\n\r\n", want: client.Refusal{Status: 400},
			line: `client sent duplicate header line: "Expect: b", previous value: "Expect: a"`},
		{name: "repeated headers nginx joins", raw: "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\nX-Forwarded-For: x\r\nX-Forwarded-For: y\r\nVia: 1\r\nVia: 2\r\n\r\n"},
		{name: "chunked in capitals", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := c.conf
			if conf == nil {
				conf = std
			}
			var dflt, chosen bytes.Buffer
			h := head(t, c.raw, conf, &dflt, &chosen)
			h.URIInvalid = c.uriInvalid
			got, ignored := client.Check(h, nil)
			if got != c.want {
				t.Errorf("refusal %+v, want %+v", got, c.want)
			}
			out, other := &chosen, &dflt
			if c.in == "dflt" {
				out, other = &dflt, &chosen
			}
			if c.line == "" && out.Len() != 0 || !strings.Contains(out.String(), c.line) {
				t.Errorf("%s's log %q, want a line with %q", c.in, out.String(), c.line)
			}
			if other.Len() != 0 {
				t.Errorf("the other server's log has %q, want nothing", other.String())
			}
			if got := string(bytes.Join(ignored, []byte(","))); got != c.ignored {
				t.Errorf("ignored %q, want %q", ignored, c.ignored)
			}
		})
	}
}

// An absolute-form target names the server; anything but origin or
// absolute form is refused.
func TestTargetHost(t *testing.T) {
	for target, want := range map[string]string{
		"/a":                       "",
		"http://Example.com:80/a":  "Example.com",
		"http://[::1]:8080?q":      "[::1]",
		"example.com:443":          "refused",
		"*":                        "refused",
		"http://u@h/":              "refused",
		"http://under_score.com/a": "refused",
	} {
		host, ok := client.TargetHost([]byte(target))
		got := string(host)
		if !ok {
			got = "refused"
		}
		if got != want {
			t.Errorf("%q: %q, want %q", target, got, want)
		}
	}
	if h := client.RouteHost([]byte("http://b/x"), []byte("a")); string(h) != "b" {
		t.Errorf("RouteHost: %q, want the line's host", h)
	}
	if h := client.RouteHost([]byte("/x"), []byte("a")); string(h) != "a" {
		t.Errorf("RouteHost: %q, want the Host header", h)
	}
}

// A "//" target with a "://" further on goes through fasthttp's parser as
// a path ("/ /..." between the hooks) and comes back as sent; other
// targets are left alone.
func TestMaskTargetRoundTrip(t *testing.T) {
	for _, target := range []string{"//:://", "//a:b:c://admin/x?q=1", "//plain", "/a://b", "/"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetRequestURI(target)
		client.MaskTarget(&ctx.Request.Header)
		masked := string(ctx.Request.Header.RequestURI())
		if want := strings.HasPrefix(target, "//") && strings.Contains(target, "://"); strings.HasPrefix(masked, "/ /") != want {
			t.Errorf("%q masked as %q", target, masked)
		}
		client.UnmaskTarget(&ctx)
		if got := string(ctx.Request.Header.RequestURI()); got != target {
			t.Errorf("%q came back as %q", target, got)
		}
	}
}

// HTTP/1.9 is HTTP/1.1 to fasthttp between the hooks (kept alive unless
// "Connection: close") and comes back as sent, with its target; HTTP/1.0
// and HTTP/1.1 are left alone.
func TestHeadReceivedVersion(t *testing.T) {
	for _, c := range []struct {
		raw, target, proto string
		http11, close      bool
	}{
		{"GET //:://?q HTTP/1.9\r\nHost: a\r\n\r\n", "//:://?q", "HTTP/1.9", true, false},
		{"GET /x HTTP/1.2\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", "/x", "HTTP/1.2", true, true},
		{"GET /x HTTP/1.0\r\nHost: a\r\n\r\n", "/x", "HTTP/1.0", false, true},
		{"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "/x", "HTTP/1.1", true, false},
	} {
		var ctx fasthttp.RequestCtx
		h := &ctx.Request.Header
		if err := h.Read(bufio.NewReader(strings.NewReader(c.raw))); err != nil {
			t.Fatalf("%q: %v", c.raw, err)
		}
		client.HeadReceived(h, nil)
		// What fasthttp decides on after the hook: keep-alive and framing.
		if h.IsHTTP11() != c.http11 || h.ConnectionClose() != c.close {
			t.Errorf("%q: HTTP/1.1 %v, close %v for fasthttp; want %v, %v", c.raw, h.IsHTTP11(), h.ConnectionClose(), c.http11, c.close)
		}
		client.UnmaskTarget(&ctx)
		if got, proto := string(h.RequestURI()), string(h.Protocol()); got != c.target || proto != c.proto {
			t.Errorf("%q came back as %q %q", c.raw, got, proto)
		}
		if client.HTTP11(h) != c.http11 {
			t.Errorf("%q: HTTP11 %v, want %v", c.raw, client.HTTP11(h), c.http11)
		}
	}
}

// A head fasthttp refuses for its transfer coding gets nginx's status and
// line: an unknown coding is 501 once every header is in (host and
// referrer known), a coding in an HTTP/1.0 request or a repeated
// Transfer-Encoding line (whatever its coding) is 400.
func TestParseErrorTransferEncoding(t *testing.T) {
	nameOf := func(host []byte) string { return "srv-" + string(host) }
	for _, c := range []struct {
		raw    string
		status int
		line   string
	}{
		{"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\nReferer: http://r/\r\nHost: a\r\n\r\n", 501,
			`*7 client sent unknown "Transfer-Encoding": "gzip" while reading client request headers, client: 127.0.0.1, server: srv-a, request: "POST /x HTTP/1.1", host: "a", referrer: "http://r/"`},
		{"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
			`client sent unknown "Transfer-Encoding": "gzip, chunked" while reading client request headers, client: 127.0.0.1, server: srv-a, request: "POST /x HTTP/1.1", host: "a"`},
		{"POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
			`client sent HTTP/1.0 request with "Transfer-Encoding" header while reading client request headers, client: 127.0.0.1, server: srv-a, request: "POST /x HTTP/1.0", host: "a"`},
		{"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: bar\r\n\r\n", 400,
			`client sent duplicate header line: "Transfer-Encoding: bar", previous value: "Transfer-Encoding: foo" while reading client request headers, client: 127.0.0.1, server: srv-a, request: "POST /x HTTP/1.1", host: "a"`},
		{"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n", 400,
			`client sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked" while reading client request headers, client: 127.0.0.1, server: dflt, request: "POST /x HTTP/1.1"`},
	} {
		var h fasthttp.RequestHeader
		err := h.Read(bufio.NewReader(strings.NewReader(c.raw)))
		if err == nil {
			t.Fatalf("%q: fasthttp took the head", c.raw)
		}
		if got := client.ParseErrorStatus(err); got != c.status {
			t.Errorf("%q: status %d, want %d", c.raw, got, c.status)
		}
		var out bytes.Buffer
		errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}).Write(
			client.ParseErrorEntry(err, nameOf, errorlog.Fields{Client: "127.0.0.1", Server: "dflt"}, 7))
		if !strings.HasSuffix(strings.TrimSpace(out.String()), c.line) {
			t.Errorf("%q: log %q, want it to end with %q", c.raw, out.String(), c.line)
		}
	}
}

// A later HTTP/1.x request line is made HTTP/1.1 in the read buffer before
// fasthttp reads it (which refuses "HTTP/1.10", and chunked outside
// HTTP/1.1), whatever came before it in the buffer and however the line
// arrives; HeadReceived and RestoreVersion give the version as sent back.
func TestVersionAsHTTP11(t *testing.T) {
	for _, c := range []struct {
		in, want, sent string
	}{
		{"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"GET /x HTTP/1.0\r\n\r\n", "GET /x HTTP/1.0\r\n\r\n", ""},
		{"POST /x HTTP/1.9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.9"},
		{"\r\nGET /x HTTP/1.10\r\nHost: a\r\n\r\nGET /y HTTP/1.10\r\n", "\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.10\r\n", "HTTP/1.10"},
		{"GET /x HTTP/1.999\r\n\r\n", "GET /x HTTP/1.1\r\n\r\n", "HTTP/1.999"},
		{"GET /x HTTP/1.1000\r\n\r\n", "GET /x HTTP/1.1000\r\n\r\n", ""},
		{"GET /x HTTP/1.01\r\n\r\n", "GET /x HTTP/1.01\r\n\r\n", ""},
		{"GET /x HTTP/1.10", "GET /x HTTP/1.10", ""}, // no whole line: fasthttp meets the end
	} {
		for _, max := range []int{1, 5, 1 << 10} {
			br := bufio.NewReaderSize(&trickle{b: []byte(c.in), max: max}, 64)
			var sent [10]byte
			n := client.VersionAsHTTP11(br, &sent)
			got, _ := io.ReadAll(br)
			if string(got) != c.want || string(sent[:n]) != c.sent {
				t.Errorf("%q in reads of %d: %q, sent %q; want %q, %q", c.in, max, got, sent[:n], c.want, c.sent)
			}
			if back := client.RestoreVersion(got, sent[:n]); n > 0 && string(back) != c.in {
				t.Errorf("%q restored as %q", c.in, back)
			}
		}
	}
	var ctx fasthttp.RequestCtx
	h := &ctx.Request.Header
	if err := h.Read(bufio.NewReader(strings.NewReader("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"))); err != nil {
		t.Fatal(err)
	}
	client.HeadReceived(h, []byte("HTTP/1.10"))
	client.UnmaskTarget(&ctx)
	if string(h.RequestURI()) != "/x" || string(h.Protocol()) != "HTTP/1.10" || !client.HTTP11(h) {
		t.Errorf("came back as %q %q (HTTP11 %v)", h.RequestURI(), h.Protocol(), client.HTTP11(h))
	}
}

// trickle hands out its bytes at most max at a time.
type trickle struct {
	b   []byte
	max int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), t.max, len(t.b))
	copy(p, t.b[:n])
	t.b = t.b[n:]
	return n, nil
}
