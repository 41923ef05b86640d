package difftest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Response is what a client saw for one request.
type Response struct {
	// Status is the final status code, "HTTP/0.9" when bytes came without a
	// status line, or "none" when nothing came back.
	Status string
	Body   []byte // the body bytes received (chunked framing removed)
	// End is how the response ended: its framing ("length", "chunked",
	// "close-delimited", "bodiless" or "none"), then "complete keep-alive"
	// or "complete close" (framed and whole; the connection's fate as
	// announced), or, for a body cut short or unframed, "eof", "reset" or
	// "timeout".
	End string
	// Auth is the WWW-Authenticate header ("" for none): the access
	// control a client sees besides the status.
	Auth string
	// Lines are the header lines as received, "name: value" (for
	// Scenario.Headers), then a chunked body's trailer lines as
	// "trailer:name: value" (Scenario.Headers names them "trailer:name").
	Lines []string
	// Headers are the headers AspectHeaders compares, "name: value" lines
	// in a fixed order (Location without its port).
	Headers string
	// Err is the client-side error, for failure messages only.
	Err string
	// HeadBytes and BodyBytes are the bytes of the (first) response's
	// head and body as they came on the wire (a chunked body with its
	// framing): what Scenario.Sizes measures the access log against.
	HeadBytes, BodyBytes int
}

// countReader counts the bytes read from the connection; less what the
// bufio.Reader above it holds, that is what the client has consumed.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// clientTimeout bounds one request; every scenario's proxy gives up
// (proxy_read_timeout 1s) long before it.
const clientTimeout = 10 * time.Second

// spillWait bounds how long a SlowRead client waits for the spill line.
const spillWait = 5 * time.Second

// pattern returns n body bytes.
func pattern(n int) []byte {
	const p = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = p[i%len(p)]
	}
	return b
}

// wire is req as bytes.
func (req Request) wire() []byte {
	if req.Raw != "" {
		return []byte(req.Raw)
	}
	method, path := req.Method, req.Path
	if method == "" {
		method = "GET"
	}
	if path == "" {
		path = "/x"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, path)
	for _, h := range req.Header {
		b.WriteString(h + "\r\n")
	}
	body := pattern(req.Body)
	switch {
	case req.Chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 4096)
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
	case req.Body > 0 || method == "POST" || method == "PUT" || method == "PATCH":
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
	default:
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// abortWait bounds how long an Abort client waits for its request to reach
// an upstream.
const abortWait = 5 * time.Second

// send sends req on a new connection to addr and reads the answer. log
// returns the proxy's error log so far (SlowRead waits for a line in it);
// reached reports whether the request has reached an upstream (Abort waits
// for it).
func send(addr string, req Request, log func() string, reached func() bool) Response {
	d := net.Dialer{Timeout: clientTimeout}
	if req.SlowRead {
		// A small receive window, so that the proxy's socket blocks soon
		// and its buffers fill: the condition for spilling to a temp file.
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return Response{Status: "none", End: "connect", Err: err.Error()}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(clientTimeout))
	if req.Leave != "" {
		if req.Leave == AbortRST {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
		_ = c.Close()
		deadline := time.Now().Add(spillWait)
		for !strings.Contains(log(), "while waiting for request") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling the log: the event has no other signal
		}
		return Response{Status: "none", End: "closed by the client"}
	}
	// The request is written while the answer is read: a proxy may answer
	// (413) before it has read the whole body.
	data := req.wire()
	written := make(chan struct{})
	go func() {
		defer close(written)
		_, _ = c.Write(data)
	}()
	defer func() { <-written }()
	if req.Abort != "" {
		<-written
		deadline := time.Now().Add(abortWait)
		for !reached() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling the upstreams' counters: the event has no other signal
		}
		if !reached() {
			return Response{Status: "none", End: "abort: the request did not reach an upstream"}
		}
		if req.Abort == AbortRST {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
		_ = c.Close()
		return Response{Status: "none", End: "aborted by the client"}
	}
	if req.SlowRead {
		<-written
		deadline := time.Now().Add(spillWait)
		for !strings.Contains(log(), "an upstream response is buffered to a temporary file") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling the log: the event has no other signal
		}
	}
	cr := &countReader{r: c}
	br := bufio.NewReaderSize(cr, 64<<10)
	if req.ResetAfter > 0 {
		return readThenReset(c.(*net.TCPConn), br, cr, req.ResetAfter)
	}
	pos := func() int { return cr.n - br.Buffered() }
	r := readResponse(br, req.Method == "HEAD", pos)
	for i := 1; i < req.RawAnswers; i++ {
		n := readResponse(br, false, pos)
		r.Status += " " + n.Status
		r.Body = append(r.Body, n.Body...)
		r.End += "; " + n.End
	}
	return r
}

// readResponse reads one response (skipping 1xx interim responses).
// pos is how many bytes the client has consumed so far (HeadBytes,
// BodyBytes: a 1xx interim response counts in the head).
func readResponse(br *bufio.Reader, head bool, pos func() int) Response {
	var r Response
	start := pos()
	peek, err := br.Peek(5)
	if len(peek) == 0 {
		r.Status, r.End, r.Err = "none", endOf(err), errString(err)
		return r
	}
	if string(peek) != "HTTP/" {
		r.Status = "HTTP/0.9"
		r.Body, err = io.ReadAll(br)
		r.End, r.Err = endOf(err), errString(err)
		return r
	}
	for {
		code, hdr, lines, err := readHead(br)
		if err != nil {
			r.Status, r.End, r.Err = "none", endOf(err), err.Error()
			if code != "" {
				r.Status = code
			}
			return r
		}
		if code[0] == '1' && code != "101" {
			continue
		}
		r.Status = code
		r.Auth = hdr["www-authenticate"]
		r.Lines = lines
		r.Headers = staticHeaders(hdr)
		keep := "keep-alive"
		if strings.EqualFold(hdr["connection"], "close") {
			keep = "close"
		}
		at := pos()
		r.HeadBytes = at - start
		r.End = r.frame(head, code, hdr, br, keep)
		r.BodyBytes = pos() - at
		if strings.EqualFold(hdr["content-encoding"], "gzip") && len(r.Body) > 0 {
			// Compared decompressed: zlib and Go's compressor write other bytes.
			zr, err := gzip.NewReader(bytes.NewReader(r.Body))
			if err == nil {
				r.Body, err = io.ReadAll(zr)
			}
			if err != nil {
				r.Body = []byte("undecodable gzip body: " + err.Error())
			}
		}
		return r
	}
}

// readThenReset reads a response's head and n bytes of its body, then
// resets the connection (SO_LINGER 0): a client that leaves midway, once
// it has exactly those bytes.
func readThenReset(c *net.TCPConn, br *bufio.Reader, cr *countReader, n int) Response {
	code, _, lines, err := readHead(br)
	if err != nil {
		return Response{Status: "none", End: "reset-after: " + endOf(err), Err: errString(err)}
	}
	head := cr.n - br.Buffered()
	body := make([]byte, n)
	got, err := io.ReadFull(br, body)
	_ = c.SetLinger(0)
	_ = c.Close()
	r := Response{Status: code, Body: body[:got], Lines: lines, HeadBytes: head, BodyBytes: got, End: "reset by the client after the body's first bytes"}
	if err != nil {
		r.End, r.Err = "reset-after: "+endOf(err), err.Error()
	}
	return r
}

// staticHeaders are the headers of a static answer, in a fixed order.
func staticHeaders(hdr map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"content-type", "etag", "last-modified", "accept-ranges", "content-range", "location"} {
		v, ok := hdr[k]
		if !ok {
			continue
		}
		if k == "location" {
			v = portRE.ReplaceAllString(v, "$1")
		}
		b.WriteString(k + ": " + v + "\n")
	}
	return b.String()
}

var portRE = regexp.MustCompile(`^(https?://[^/:]+):\d+`)

// frame reads the body as the head frames it and says how the response
// ended: the framing, then "complete ..." or how it was cut.
func (r *Response) frame(head bool, code string, hdr map[string]string, br *bufio.Reader, keep string) string {
	var err error
	framing := "close-delimited"
	switch {
	case head || code == "204" || code == "304":
		return "bodiless: complete " + keep
	case strings.EqualFold(hdr["transfer-encoding"], "chunked"):
		framing = "chunked"
		var trailers []string
		r.Body, trailers, err = readChunked(br)
		for _, t := range trailers {
			r.Lines = append(r.Lines, "trailer:"+t)
		}
	case hdr["content-length"] != "":
		framing = "length"
		n, perr := strconv.ParseInt(hdr["content-length"], 10, 64)
		if perr != nil {
			r.Err = perr.Error()
			return "bad content-length"
		}
		r.Body = make([]byte, n)
		var got int
		got, err = io.ReadFull(br, r.Body)
		r.Body = r.Body[:got]
	default:
		r.Body, err = io.ReadAll(br)
		r.Err = errString(err)
		return framing + ": " + endOf(err)
	}
	if err != nil {
		r.Err = err.Error()
		return framing + ": " + endOf(err)
	}
	return framing + ": complete " + keep
}

// readHead reads a status line and headers; names are lower-cased.
func readHead(br *bufio.Reader) (code string, hdr map[string]string, lines []string, err error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", nil, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", nil, nil, fmt.Errorf("bad status line %q", line)
	}
	code, hdr = f[1], map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return code, nil, nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return code, hdr, lines, nil
		}
		k, v, _ := strings.Cut(line, ":")
		hdr[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		lines = append(lines, strings.TrimSpace(k)+": "+strings.TrimSpace(v))
	}
}

// readChunked decodes a chunked body and its trailer lines ("name: value");
// it returns what it got before an error.
func readChunked(br *bufio.Reader) (body []byte, trailers []string, err error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return body, trailers, err
		}
		sz, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sz, 16, 64)
		if err != nil {
			return body, trailers, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return body, trailers, err
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "" {
					return body, trailers, nil
				}
				k, v, _ := strings.Cut(l, ":")
				trailers = append(trailers, strings.TrimSpace(k)+": "+strings.TrimSpace(v))
			}
		}
		chunk := make([]byte, n+2)
		got, err := io.ReadFull(br, chunk)
		body = append(body, chunk[:min(int64(got), n)]...)
		if err != nil {
			return body, trailers, err
		}
	}
}

// endOf names how a read ended.
func endOf(err error) string {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error: " + err.Error()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
