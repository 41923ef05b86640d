package upstreamsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start runs an upstream for the test and stops it at the end.
func start(t *testing.T, behaviors ...Behavior) *Upstream {
	t.Helper()
	u, err := StartUpstream("127.0.0.1:0", behaviors...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// client is a raw TCP client: it writes bytes and reports exactly what came back.
type client struct {
	t  *testing.T
	c  *net.TCPConn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// A safety net only: every read below returns on its own.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (cl *client) send(s string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, s); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *client) get(path string) { cl.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n") }

// response reads one response head (not the body).
func (cl *client) response() *http.Response {
	cl.t.Helper()
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		cl.t.Fatalf("reading response: %v", err)
	}
	return resp
}

// rest reads until the connection ends and returns the bytes and how it ended.
func (cl *client) rest() ([]byte, string) {
	b, err := io.ReadAll(cl.br)
	return b, closeKindOf(err)
}

// closeKindOf names how a read ended: "fin" (EOF), "rst" (ECONNRESET), or the error.
func closeKindOf(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "fin"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		// EPIPE: a write after the RST was already reported.
		return "rst"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

func within(t *testing.T, what string, got, want, slack time.Duration) {
	t.Helper()
	// Timers never fire early, but the client's clock starts before the server's.
	if got < want-20*time.Millisecond || got > want+slack {
		t.Errorf("%s after %v, want %v (+%v)", what, got, want, slack)
	}
}

func TestOKSizeEchoKeepalive(t *testing.T) {
	u := start(t)
	cl := dial(t, u.Addr())
	cl.get("/size/100000")
	resp := cl.response()
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 100000 || resp.ContentLength != 100000 || resp.Close {
		t.Fatalf("GET /size/100000: %d bytes, CL %d, close %v, %v", len(body), resp.ContentLength, resp.Close, err)
	}
	// Same connection: keepalive.
	cl.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
	resp = cl.response()
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "hello" {
		t.Fatalf("echo: %q", body)
	}
	cl.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	resp = cl.response()
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "abcde" {
		t.Fatalf("chunked echo: %q", body)
	}
	if got := u.Hits("POST", "/echo"); got != 2 {
		t.Errorf("Hits(POST /echo) = %d", got)
	}
	if bs := u.Bodies("POST", "/echo"); len(bs) != 2 || string(bs[0]) != "hello" || string(bs[1]) != "abcde" {
		t.Errorf("Bodies = %q", bs)
	}
	if u.Total() != 3 || u.Conns() != 1 {
		t.Errorf("Total %d Conns %d, want 3 1", u.Total(), u.Conns())
	}
	// HTTP/1.0 without keep-alive: answered, then FIN.
	cl = dial(t, u.Addr())
	cl.send("GET /x HTTP/1.0\r\n\r\n")
	raw, kind := cl.rest()
	if !bytes.HasSuffix(raw, []byte("\r\n\r\nok\n")) || !bytes.Contains(raw, []byte("Connection: close")) || kind != "fin" {
		t.Errorf("HTTP/1.0: %q %s", raw, kind)
	}
}

func TestStatsEndpoint(t *testing.T) {
	u := start(t)
	cl := dial(t, u.Addr())
	cl.get("/a?q=1")
	io.Copy(io.Discard, cl.response().Body)
	cl.get("/__stats")
	var st Stats
	if err := json.NewDecoder(cl.response().Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Total != 1 || st.Hits["GET /a"] != 1 || st.Connections != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPipelined(t *testing.T) {
	u := start(t)
	cl := dial(t, u.Addr())
	cl.send("GET /size/10 HTTP/1.1\r\nHost: t\r\n\r\nGET /size/20 HTTP/1.1\r\nHost: t\r\n\r\n")
	for _, want := range []int64{10, 20} {
		resp := cl.response()
		n, _ := io.Copy(io.Discard, resp.Body)
		if n != want {
			t.Errorf("pipelined response: %d bytes, want %d", n, want)
		}
	}
}

func TestReset(t *testing.T) {
	u := start(t, Reset())
	cl := dial(t, u.Addr())
	cl.send("POST /r HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
	raw, kind := cl.rest()
	if len(raw) != 0 || kind != "rst" {
		t.Errorf("got %q then %s, want nothing then rst", raw, kind)
	}
	if u.Hits("POST", "/r") != 1 {
		t.Errorf("Hits = %d", u.Hits("POST", "/r"))
	}
	if len(u.Bodies("POST", "/r")) != 0 {
		t.Error("reset must not read the body")
	}
}

func TestResetAfterHeader(t *testing.T) {
	u := start(t, ResetAfterHeader().WithSize(500))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, err := io.ReadAll(resp.Body)
	if resp.ContentLength != 500 || len(body) != 0 || closeKindOf(err) != "rst" {
		t.Errorf("CL %d, %d body bytes, end %s; want 500, 0, rst", resp.ContentLength, len(body), closeKindOf(err))
	}
}

func TestResetMidBody(t *testing.T) {
	// 1 MiB is more than a loopback socket buffer holds at once: the RST must
	// wait until every byte was delivered.
	const n = 1 << 20
	u := start(t, ResetMidBody(n))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, err := io.ReadAll(resp.Body)
	if resp.ContentLength != 2*n || len(body) != n || closeKindOf(err) != "rst" {
		t.Errorf("CL %d, %d body bytes, end %s; want %d, %d, rst", resp.ContentLength, len(body), closeKindOf(err), 2*n, n)
	}
}

func TestCloseBeforeHeader(t *testing.T) {
	u := start(t, CloseBeforeHeader())
	cl := dial(t, u.Addr())
	// An unread body must not turn the FIN into an RST.
	body := strings.Repeat("b", 100000)
	cl.send("POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + body)
	raw, kind := cl.rest()
	if len(raw) != 0 || kind != "fin" {
		t.Errorf("got %q then %s, want nothing then fin", raw, kind)
	}
}

func TestCloseMidBody(t *testing.T) {
	u := start(t, CloseMidBody(1000).WithSize(5000))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, err := io.ReadAll(resp.Body)
	if resp.ContentLength != 5000 || len(body) != 1000 || closeKindOf(err) != "fin" {
		t.Errorf("CL %d, %d body bytes, end %s (%v); want 5000, 1000, fin", resp.ContentLength, len(body), closeKindOf(err), err)
	}
}

func TestLengthMismatch(t *testing.T) {
	u := start(t, LengthMismatch(7))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, _ := io.ReadAll(resp.Body)
	if len(body) != 16 || resp.ContentLength != 16 {
		t.Fatalf("CL %d body %d", resp.ContentLength, len(body))
	}
	// The 7 extra bytes come before the next response on the connection.
	cl.get("/")
	line, err := cl.br.ReadString('\n')
	if err != nil || !strings.HasSuffix(line, "HTTP/1.1 200 OK\r\n") || len(line)-len("HTTP/1.1 200 OK\r\n") != 7 {
		t.Errorf("next line %q (%v): want 7 extra bytes then the status line", line, err)
	}
}

func TestInvalidHeaderAndNoValidHTTP(t *testing.T) {
	for _, tc := range []struct {
		b    Behavior
		want string
	}{
		{InvalidHeader(), "HTTP/1.1 200 OK\r\nServer: spillway-upstream\r\nContent-Length: 3\r\nBad Header: x\r\n\r\nok\n"},
		{NoValidHTTP(), "hello\n"},
	} {
		u := start(t, tc.b)
		cl := dial(t, u.Addr())
		cl.get("/")
		raw, kind := cl.rest()
		if string(raw) != tc.want || kind != "fin" {
			t.Errorf("%s: %q then %s", tc.b, raw, kind)
		}
	}
}

func TestHugeHeader(t *testing.T) {
	u := start(t, HugeHeader(20000))
	cl := dial(t, u.Addr())
	cl.get("/")
	head, err := cl.br.ReadString('\n')
	for err == nil && !strings.HasSuffix(head, "\r\n\r\n") {
		var line string
		line, err = cl.br.ReadString('\n')
		head += line
	}
	if err != nil || len(head) != 20000 {
		t.Errorf("response head %d bytes (%v), want 20000", len(head), err)
	}
}

func TestSlowHeader(t *testing.T) {
	u := start(t, SlowHeader(300*time.Millisecond))
	cl := dial(t, u.Addr())
	t0 := time.Now()
	cl.get("/")
	resp := cl.response()
	within(t, "header", time.Since(t0), 300*time.Millisecond, 2*time.Second)
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestSlowBody(t *testing.T) {
	b := SlowBody(150 * time.Millisecond).WithSize(300)
	b.Chunks = 2
	u := start(t, b)
	cl := dial(t, u.Addr())
	t0 := time.Now()
	cl.get("/")
	resp := cl.response()
	if h := time.Since(t0); h > 140*time.Millisecond {
		t.Errorf("header after %v, want at once", h)
	}
	body, err := io.ReadAll(resp.Body)
	within(t, "body", time.Since(t0), 300*time.Millisecond, 2*time.Second)
	if len(body) != 300 || err != nil {
		t.Errorf("body %d bytes, %v", len(body), err)
	}
}

func TestStatus(t *testing.T) {
	u := start(t, Status(503))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(body) != "503 Service Unavailable\n" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

func TestIdleCloseKinds(t *testing.T) {
	for _, tc := range []struct {
		b    Behavior
		kind string
	}{
		{IdleRST(200 * time.Millisecond), "rst"},
		{IdleFIN(200 * time.Millisecond), "fin"},
	} {
		t.Run(tc.b.String(), func(t *testing.T) {
			t.Parallel()
			u := start(t, tc.b)
			cl := dial(t, u.Addr())
			cl.get("/")
			io.Copy(io.Discard, cl.response().Body)
			t0 := time.Now()
			raw, kind := cl.rest() // blocks until the upstream's idle timer closes it
			within(t, "idle close", time.Since(t0), 200*time.Millisecond, 2*time.Second)
			if len(raw) != 0 || kind != tc.kind {
				t.Errorf("idle close: %q then %s, want %s", raw, kind, tc.kind)
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	u := start(t, Refuse())
	_, err := net.Dial("tcp", u.Addr())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want ECONNREFUSED", u.Addr(), err)
	}
	addr := RefusedAddr(t)
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("RefusedAddr: %v", err)
	}
}

func TestKillAfter(t *testing.T) {
	t.Run("killed", func(t *testing.T) {
		t.Parallel()
		u := start(t, KillAfter(300*time.Millisecond))
		cl := dial(t, u.Addr())
		t0 := time.Now()
		cl.get("/")
		raw, kind := cl.rest()
		within(t, "kill", time.Since(t0), 300*time.Millisecond, 2*time.Second)
		if len(raw) != 0 || kind != "rst" {
			t.Errorf("%q then %s, want nothing then rst", raw, kind)
		}
	})
	t.Run("finishes in time", func(t *testing.T) {
		t.Parallel()
		u := start(t, KillAfter(2*time.Second).WithLatency(50*time.Millisecond))
		cl := dial(t, u.Addr())
		cl.get("/")
		if resp := cl.response(); resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestFailRatioAndPaths(t *testing.T) {
	u := start(t,
		OK(),
		FailRatio(0.5, Reset()).At("/flaky"),
		Status(404).At("/flaky/gone"),
	)
	var got []string
	for _, path := range []string{"/flaky/1", "/flaky/2", "/flaky/3", "/flaky/4", "/other", "/flaky/gone"} {
		cl := dial(t, u.Addr())
		cl.get(path)
		resp, err := http.ReadResponse(cl.br, nil)
		if err != nil {
			got = append(got, closeKindOf(err))
			continue
		}
		got = append(got, strconv.Itoa(resp.StatusCode))
	}
	want := "rst 200 rst 200 200 404"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestHeadersThenStallCloseReturns(t *testing.T) {
	u, err := StartUpstream("127.0.0.1:0", HeadersThenStall())
	if err != nil {
		t.Fatal(err)
	}
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	if resp.ContentLength != 1024 {
		t.Errorf("CL %d", resp.ContentLength)
	}
	_ = cl.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if n, err := resp.Body.Read(make([]byte, 10)); n != 0 || closeKindOf(err) != "timeout" {
		t.Errorf("stall: %d bytes, %v", n, err)
	}
	// The stall never ends by itself: the client's FIN can only come from
	// Close, and Close must return after sending it, not wait on the stall.
	_ = cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	closed := make(chan error, 1)
	go func() { closed <- u.Close() }()
	if _, kind := cl.rest(); kind != "fin" {
		t.Fatalf("after Close: %s", kind)
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
}

func TestChunkedTruncated(t *testing.T) {
	u := start(t, ChunkedTruncated(1000))
	cl := dial(t, u.Addr())
	cl.get("/")
	resp := cl.response()
	body, err := io.ReadAll(resp.Body)
	if !slicesEqual(resp.TransferEncoding, []string{"chunked"}) || len(body) != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("TE %v, %d bytes, %v; want chunked, 1000, unexpected EOF", resp.TransferEncoding, len(body), err)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// headOfSize builds a GET head of exactly n bytes.
func headOfSize(n int) string {
	const pre, post = "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ", "\r\n\r\n"
	return pre + strings.Repeat("p", n-len(pre)-len(post)) + post
}

func TestHeaderLimit(t *testing.T) {
	for _, tc := range []struct {
		reply Reply
		want  string
	}{
		{ReplyDefault, "431"}, {Reply400, "400"}, {ReplyReset, "rst"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			u := start(t, HeaderLimit(2000, tc.reply))
			cl := dial(t, u.Addr())
			cl.send(headOfSize(2000))
			if resp := cl.response(); resp.StatusCode != 200 {
				t.Fatalf("2000-byte head: %d", resp.StatusCode)
			}
			cl = dial(t, u.Addr())
			cl.send(headOfSize(2001))
			got := ""
			if resp, err := http.ReadResponse(cl.br, nil); err != nil {
				got = closeKindOf(err)
			} else {
				got = strconv.Itoa(resp.StatusCode)
			}
			if got != tc.want {
				t.Errorf("2001-byte head: %s, want %s", got, tc.want)
			}
		})
	}
}

func TestKeepaliveRequests(t *testing.T) {
	u := start(t, KeepaliveRequests(3))
	cl := dial(t, u.Addr())
	for i := 1; i <= 3; i++ {
		cl.get("/")
		resp := cl.response()
		io.Copy(io.Discard, resp.Body)
		if resp.Close != (i == 3) {
			t.Errorf("response %d: Connection: close = %v", i, resp.Close)
		}
	}
	if raw, kind := cl.rest(); len(raw) != 0 || kind != "fin" {
		t.Errorf("after the 3rd: %q %s", raw, kind)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Run("413 before reading", func(t *testing.T) {
		u := start(t, BodyLimit(1000, ReplyDefault))
		cl := dial(t, u.Addr())
		// Only the head is sent: the answer cannot depend on the body.
		cl.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
		resp := cl.response()
		if resp.StatusCode != 413 || !resp.Close {
			t.Errorf("%d close=%v", resp.StatusCode, resp.Close)
		}
	})
	t.Run("reset", func(t *testing.T) {
		u := start(t, BodyLimit(1000, ReplyReset))
		cl := dial(t, u.Addr())
		cl.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
		if raw, kind := cl.rest(); len(raw) != 0 || kind != "rst" {
			t.Errorf("%q %s", raw, kind)
		}
	})
	t.Run("chunked over the limit", func(t *testing.T) {
		u := start(t, BodyLimit(4, ReplyDefault))
		cl := dial(t, u.Addr())
		cl.send("POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n")
		if resp := cl.response(); resp.StatusCode != 413 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

func TestExpect(t *testing.T) {
	const head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
	t.Run("continue", func(t *testing.T) {
		u := start(t)
		cl := dial(t, u.Addr())
		cl.send(head)
		if resp := cl.response(); resp.StatusCode != 100 {
			t.Fatalf("%d, want 100 before the body", resp.StatusCode)
		}
		cl.send("hi")
		resp := cl.response()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "hi" {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("ignore", func(t *testing.T) {
		u := start(t, Expect(ExpectIgnore))
		cl := dial(t, u.Addr())
		cl.send(head)
		_ = cl.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		if _, err := cl.br.Peek(1); closeKindOf(err) != "timeout" {
			t.Fatalf("something arrived before the body: %v", err)
		}
		_ = cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		cl.send("hi")
		if resp := cl.response(); resp.StatusCode != 200 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("reject", func(t *testing.T) {
		u := start(t, Expect(ExpectReject))
		cl := dial(t, u.Addr())
		cl.send(head)
		if resp := cl.response(); resp.StatusCode != 417 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

func TestSkipBodyAnswersFirst(t *testing.T) {
	b := Status(403)
	b.SkipBody = true
	u := start(t, b)
	cl := dial(t, u.Addr())
	cl.send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
	resp := cl.response()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 403 {
		t.Fatalf("%d", resp.StatusCode)
	}
	// The body still arrives afterwards and the connection stays usable.
	cl.send("body")
	cl.get("/p")
	if resp := cl.response(); resp.StatusCode != 403 {
		t.Errorf("second: %d", resp.StatusCode)
	}
	if bs := u.Bodies("POST", "/p"); len(bs) != 1 || string(bs[0]) != "body" {
		t.Errorf("bodies %q", bs)
	}
}

func TestStartErrors(t *testing.T) {
	for _, bs := range [][]Behavior{
		{IdleRST(time.Second), IdleFIN(time.Second)},
		{Refuse(), OK()},
		{IdleRST(time.Second).At("/x")},
		{FailRatio(2, Reset())},
	} {
		if u, err := StartUpstream("127.0.0.1:0", bs...); err == nil {
			u.Close()
			t.Errorf("%v: no error", bs)
		}
	}
}

func ExampleParseBehaviors() {
	bs, _ := ParseBehaviors("reset_mid_body 1000,fail_ratio 0.5 reset path=/flaky,idle_rst 5s,header_limit 8k reply=400")
	for _, b := range bs {
		fmt.Println(b)
	}
	// Output:
	// reset_mid_body 1000
	// fail_ratio 0.5 reset path=/flaky
	// idle_rst 5s
	// header_limit 8192 reply=400
}

func TestBodyLimit413CloseVsLinger(t *testing.T) {
	for _, tc := range []struct {
		reply Reply
		write string // how sending the whole body ends
	}{
		{ReplyDefault, "fin"},  // lingering close: the body is drained, the write completes
		{Reply413Close, "rst"}, // closed with the body unread: the sender meets an RST
	} {
		t.Run(tc.reply.String(), func(t *testing.T) {
			t.Parallel()
			u := start(t, BodyLimit(10, tc.reply))
			cl := dial(t, u.Addr())
			// Larger than the upstream's buffers and the socket buffers take in.
			const size = 8 << 20
			cl.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
			wrote := make(chan error, 1)
			go func() {
				_, err := cl.c.Write(make([]byte, size))
				wrote <- err
			}()
			resp := cl.response()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 413 {
				t.Fatalf("%d", resp.StatusCode)
			}
			if err := <-wrote; closeKindOf(err) != tc.write {
				t.Errorf("sending the body: %v, want %s", err, tc.write)
			}
		})
	}
}

func TestOKSizeLatencyHead(t *testing.T) {
	u := start(t, OK().WithSize(5000).WithLatency(200*time.Millisecond))
	cl := dial(t, u.Addr())
	t0 := time.Now()
	cl.get("/")
	resp := cl.response()
	within(t, "header", time.Since(t0), 200*time.Millisecond, 2*time.Second)
	body, err := io.ReadAll(resp.Body)
	if resp.ContentLength != 5000 || len(body) != 5000 || err != nil || resp.Close {
		t.Fatalf("size=5000: CL %d, %d bytes, close %v, %v", resp.ContentLength, len(body), resp.Close, err)
	}
	// HEAD: the same Content-Length, no body bytes; the connection stays in
	// step, so the next status line comes right after the head.
	cl.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
	head, err := http.ReadResponse(cl.br, &http.Request{Method: "HEAD"})
	if err != nil || head.ContentLength != 5000 {
		t.Fatalf("HEAD: %v, CL %d", err, head.ContentLength)
	}
	cl.get("/size/7")
	resp = cl.response()
	if body, _ := io.ReadAll(resp.Body); len(body) != 7 {
		t.Errorf("after HEAD: %d bytes, want 7 (/size/N wins over size=)", len(body))
	}
}

// idle_rst / idle_fin silent send nothing when the idle time is up; the
// next request on the connection gets the RST (or FIN) instead of an answer
// and never reaches the application.
func TestIdleSilent(t *testing.T) {
	for _, tc := range []struct {
		b    Behavior
		kind string
	}{
		{IdleDrop(200 * time.Millisecond), "rst"},
		{Behavior{Kind: KindIdleFIN, D: 200 * time.Millisecond, Silent: true}, "fin"},
	} {
		t.Run(tc.b.String(), func(t *testing.T) {
			t.Parallel()
			u := start(t, tc.b)
			cl := dial(t, u.Addr())
			cl.get("/a")
			io.Copy(io.Discard, cl.response().Body)
			// Answered at once while the connection is fresh.
			cl.get("/a")
			io.Copy(io.Discard, cl.response().Body)
			// Silence well past D: nothing arrives, not even a FIN.
			_ = cl.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := cl.br.Peek(1); closeKindOf(err) != "timeout" {
				t.Fatalf("idle connection: %v, want silence", err)
			}
			_ = cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			cl.get("/b")
			if raw, kind := cl.rest(); len(raw) != 0 || kind != tc.kind {
				t.Errorf("request after the drop: %q then %s, want nothing then %s", raw, kind, tc.kind)
			}
			if u.Hits("GET", "/a") != 2 || u.Hits("GET", "/b") != 0 {
				t.Errorf("hits /a %d /b %d, want 2 0", u.Hits("GET", "/a"), u.Hits("GET", "/b"))
			}
		})
	}
}

func TestStatsPerMethodAndPath(t *testing.T) {
	u := start(t, Reset().At("/r"))
	cl := dial(t, u.Addr())
	cl.send("POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
	io.Copy(io.Discard, cl.response().Body)
	cl.send("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n")
	if _, err := http.ReadResponse(cl.br, &http.Request{Method: "HEAD"}); err != nil {
		t.Fatal(err)
	}
	cl.get("/__stats") // not counted itself
	io.Copy(io.Discard, cl.response().Body)
	// A request the upstream resets still reached it and is counted.
	r := dial(t, u.Addr())
	r.get("/r")
	if _, kind := r.rest(); kind != "rst" {
		t.Fatalf("/r: %s", kind)
	}
	cl.get("/__stats")
	resp := cl.response()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"POST /echo": 1, "HEAD /echo": 1, "GET /r": 1}
	if st.Total != 3 || st.Connections != 2 || len(st.Hits) != len(want) {
		t.Errorf("stats %+v, want total 3 on 2 connections, hits %v", st, want)
	}
	for k, n := range want {
		if st.Hits[k] != n {
			t.Errorf("hits[%q] = %d, want %d", k, st.Hits[k], n)
		}
	}
}

func TestFailRatioSeed(t *testing.T) {
	run := func(seed uint64) string {
		b := FailRatio(0.3, Reset())
		b.Seed = seed
		u := start(t, b)
		var s strings.Builder
		for range 40 {
			cl := dial(t, u.Addr())
			cl.get("/")
			if _, err := http.ReadResponse(cl.br, nil); err != nil {
				s.WriteString(closeKindOf(err)[:1]) // "r" for rst
			} else {
				s.WriteByte('.')
			}
			_ = cl.c.Close()
		}
		return s.String()
	}
	a, b := run(7), run(7)
	if a != b {
		t.Errorf("seed=7 twice: %s vs %s", a, b)
	}
	if n := strings.Count(a, "r"); n < 4 || n > 24 || strings.Count(a, ".") != 40-n {
		t.Errorf("seed=7 with P=0.3: %s (%d resets in 40)", a, n)
	}
	if even := run(0); even == a {
		t.Errorf("seed=7 gives the evenly spread sequence %s", even)
	}
}

func TestScenario(t *testing.T) {
	cfgs, err := ParseScenario([]byte(`
upstreams:
  - name: flaky
    listen: 127.0.0.1:0
    behaviors: "fail_ratio 0.5 reset, idle_rst 5s"
  - listen: 127.0.0.1:0
    behaviors:
      - reset path=/reset
      - slow_header 2s path=/slow
  - listen: 127.0.0.1:0
    behaviors: refuse
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cfgs {
		var bs []string
		for _, b := range c.Behaviors {
			bs = append(bs, b.String())
		}
		got = append(got, c.Name+"@"+c.Addr+": "+strings.Join(bs, ", "))
	}
	want := []string{
		"flaky@127.0.0.1:0: fail_ratio 0.5 reset, idle_rst 5s",
		"@127.0.0.1:0: reset path=/reset, slow_header 2s path=/slow",
		"@127.0.0.1:0: refuse",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{
		"upstreams: []",
		"upstreams:\n  - behaviors: reset\n",
		"upstreams:\n  - listen: 127.0.0.1:0\n    behaviors: frobnicate\n",
		"upstreams:\n  - listen: 127.0.0.1:0\n    behaviour: reset\n", // unknown key
		"upstreams:\n  - listen: 127.0.0.1:0\n    behaviors: {a: b}\n",
	} {
		if _, err := ParseScenario([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
