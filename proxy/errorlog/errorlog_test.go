package errorlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"spillway/proxy/config"
)

var fixed = Options{
	Now: func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) },
	PID: 4242,
}

const prefix = "2026/11/25 10:00:00 "

// req builds the usual fields of a proxied request.
func req(request, upstream string) *Fields {
	return &Fields{Client: "127.0.0.1", Server: "localhost", Request: request, Upstream: upstream, Host: "127.0.0.1:8080"}
}

// goldenCases are messages from the nginx reference's catalogue, one per line of
// testdata/golden.log, in order.
var goldenCases = []struct {
	name string
	e    Entry
}{
	{"reset while reading response header", Entry{Level: Error, Conn: 1, Msg: "recv() failed", Errno: syscall.ECONNRESET,
		Action: "reading response header from upstream", Fields: req("GET /reset HTTP/1.1", "http://127.0.0.1:9001/reset")}},
	{"refused while connecting", Entry{Level: Error, Conn: 3, Msg: "connect() failed", Errno: syscall.ECONNREFUSED,
		Action: "connecting to upstream", Fields: req("GET / HTTP/1.1", "http://127.0.0.1:9002/")}},
	{"connect timeout", Entry{Level: Error, Conn: 5, Msg: "upstream timed out", Errno: syscall.ETIMEDOUT,
		Action: "connecting to upstream", Fields: req("GET /slow HTTP/1.1", "http://10.255.255.1:80/slow")}},
	{"header timeout", Entry{Level: Error, Conn: 7, Msg: "upstream timed out", Errno: syscall.ETIMEDOUT,
		Action: "reading response header from upstream", Fields: req("GET /slow_header HTTP/1.1", "http://127.0.0.1:9001/slow_header")}},
	{"body timeout", Entry{Level: Error, Conn: 9, Msg: "upstream timed out", Errno: syscall.ETIMEDOUT,
		Action: "reading upstream", Fields: req("GET /slow_body HTTP/1.1", "http://127.0.0.1:9001/slow_body")}},
	{"no live upstreams names the group", Entry{Level: Error, Conn: 4, Msg: "no live upstreams",
		Action: "connecting to upstream", Fields: req("GET /reset HTTP/1.1", "http://bad_bad/reset")}},
	{"request body temp file: no action, no upstream", Entry{Level: Warn, Conn: 1,
		Msg:    "a client request body is buffered to a temporary file /usr/local/spillway/client_temp/0000000001",
		Fields: req("POST /upload HTTP/1.1", "")}},
	{"response temp file", Entry{Level: Warn, Conn: 1,
		Msg:    "an upstream response is buffered to a temporary file /usr/local/spillway/proxy_temp/1/00/0000000001",
		Action: "reading upstream", Fields: req("GET /big HTTP/1.1", "http://127.0.0.1:9001/big")}},
	{"too large body: no upstream", Entry{Level: Error, Conn: 1, Msg: "client intended to send too large body: 2097152 bytes",
		Fields: req("POST /upload HTTP/1.1", "")}},
	{"keepalive close: conn, no fields", Entry{Level: Info, Conn: 2, Msg: "client 127.0.0.1 closed keepalive connection"}},
	{"with referrer", Entry{Level: Error, Conn: 1, Msg: "recv() failed", Errno: syscall.ECONNRESET,
		Action: "reading response header from upstream",
		Fields: &Fields{Client: "127.0.0.1", Server: "localhost", Request: "GET /reset HTTP/1.1",
			Upstream: "http://127.0.0.1:9001/reset", Host: "127.0.0.1:8080", Referrer: "http://example.test/page?x=1"}}},
	{"without host", Entry{Level: Info, Conn: 1, Msg: `client sent HTTP/1.1 request without "Host" header`,
		Action: "reading client request headers", Fields: &Fields{Client: "127.0.0.1", Server: "localhost", Request: "GET / HTTP/1.1"}}},
	{"before a request: server is the listen address", Entry{Level: Info, Conn: 1, Msg: "client closed connection",
		Action: "waiting for request", Fields: &Fields{Client: "127.0.0.1", Server: "127.0.0.1:8080"}}},
	{"crit open", Entry{Level: Crit, Conn: 1, Msg: `open() "/usr/local/spillway/proxy_temp/0000000001" failed`, Errno: syscall.ENOTDIR,
		Action: "reading upstream", Fields: req("GET /big HTTP/1.1", "http://127.0.0.1:9001/big")}},
	{"errno after a message with text", Entry{Level: Info, Conn: 1,
		Msg:   "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too",
		Errno: syscall.ECONNRESET, Action: "sending request to upstream", Fields: req("GET /slow HTTP/1.1", "http://127.0.0.1:9001/slow")}},
	{"ENOTCONN", Entry{Level: Info, Conn: 1, Msg: "shutdown() failed", Errno: syscall.ENOTCONN,
		Action: "sending to client", Fields: req("GET /big HTTP/1.1", "http://127.0.0.1:9001/big")}},
	{"server disabled", Entry{Level: Warn, Conn: 3, Msg: "upstream server temporarily disabled",
		Action: "connecting to upstream", Fields: req("GET / HTTP/1.1", "http://127.0.0.1:9002/")}},
	{"caller-escaped message is kept", Entry{Level: Error, Conn: 1, Msg: `upstream sent invalid header: "Bad\x20..."`,
		Action: "reading response header from upstream", Fields: req("GET /invalid_header HTTP/1.1", "http://127.0.0.1:9001/invalid_header")}},
	{"lifecycle notice: no conn, no fields", Entry{Level: Notice, Msg: "signal 10 (SIGUSR1) received from 1234, reopening logs"}},
	{"lifecycle notice 2", Entry{Level: Notice, Msg: "reopening logs"}},
}

func TestGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.log")
	if err != nil {
		t.Fatal(err)
	}
	wantLines := strings.SplitAfter(string(want), "\n")
	if len(wantLines)-1 != len(goldenCases) {
		t.Fatalf("golden.log has %d lines, want %d", len(wantLines)-1, len(goldenCases))
	}
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	for i, c := range goldenCases {
		buf.Reset()
		l.Write(&c.e)
		if got := buf.String(); got != wantLines[i] {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, wantLines[i])
		}
	}
}

func TestLogf(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Notice, fixed)
	l.Logf(Notice, "signal %d (%s) received from %d, reopening logs", 10, "SIGUSR1", 1234)
	l.Logf(Info, "filtered %d", 1)
	want := prefix + "[notice] 4242#4242: signal 10 (SIGUSR1) received from 1234, reopening logs\n"
	if buf.String() != want {
		t.Errorf("got %q\nwant %q", buf.String(), want)
	}
}

// RawMsg writes a peer's bytes as nginx's %V does, a NUL raw, but CR and
// LF escaped so that the entry stays one line; without it every control
// byte is escaped.
func TestRawMsg(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Error, fixed)
	l.Write(&Entry{Level: Error, Conn: 3, Msg: "upstream sent invalid header: \"x: a\x00b\r\nc\"", Action: "reading response header from upstream", RawMsg: true})
	l.Write(&Entry{Level: Error, Conn: 3, Msg: "x\x00y"})
	want := prefix + "[error] 4242#4242: *3 upstream sent invalid header: \"x: a\x00b\\x0d\\x0ac\" while reading response header from upstream\n" +
		prefix + "[error] 4242#4242: *3 x\\x00y\n"
	if buf.String() != want {
		t.Errorf("got %q\nwant %q", buf.String(), want)
	}
}

func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Warn, fixed)
	for lv := Debug; lv <= Emerg; lv++ {
		if got, want := l.Enabled(lv), lv >= Warn; got != want {
			t.Errorf("Enabled(%d) = %v", lv, got)
		}
		l.Write(&Entry{Level: lv, Msg: "m"})
	}
	want := "" +
		prefix + "[warn] 4242#4242: m\n" +
		prefix + "[error] 4242#4242: m\n" +
		prefix + "[crit] 4242#4242: m\n" +
		prefix + "[alert] 4242#4242: m\n" +
		prefix + "[emerg] 4242#4242: m\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}

	var all bytes.Buffer
	New(&all, Debug, fixed).Write(&Entry{Level: Debug, Msg: "d"})
	New(&all, Debug, fixed).Write(&Entry{Level: Info, Msg: "i"})
	New(&all, Debug, fixed).Write(&Entry{Level: Notice, Msg: "n"})
	want = prefix + "[debug] 4242#4242: d\n" + prefix + "[info] 4242#4242: i\n" + prefix + "[notice] 4242#4242: n\n"
	if all.String() != want {
		t.Errorf("got\n%s\nwant\n%s", all.String(), want)
	}
}

// TestZapLevelsAvoidHooks: no nginx level may land on zap's DPanic/Panic/Fatal,
// whose hooks panic or exit, and the order must survive the mapping.
func TestZapLevelsAvoidHooks(t *testing.T) {
	for lv := Debug; lv <= Emerg; lv++ {
		zl := ZapLevel(lv)
		if zl >= 3 && zl <= 5 {
			t.Errorf("level %d maps to zap %v", lv, zl)
		}
		if lv > Debug && zl <= ZapLevel(lv-1) {
			t.Errorf("level %d maps to %v, not above level %d", lv, zl, lv-1)
		}
	}
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	l.Zap().Log(ZapLevel(Emerg), "still alive") // would exit/panic on zap's 4..5
	if !strings.Contains(buf.String(), "[emerg] 4242#4242: still alive\n") {
		t.Errorf("got %q", buf.String())
	}
}

func TestZapFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	z := l.Zap().With(zap.String("k", "v"))
	z.Warn("hello", zap.Int("n", 3), zap.Strings("xs", []string{"a", "b"}), zap.Error(errors.New("boom\nline")))
	z.Info("filtered by level? no: info is notice", zap.Namespace("ns"), zap.Bool("b", true), zap.Duration("d", 1500*time.Millisecond))
	z.Debug("as info")
	want := "" +
		prefix + "[warn] 4242#4242: hello, k: v, n: 3, xs: [a, b], error: boom\\x0aline\n" +
		prefix + "[notice] 4242#4242: filtered by level? no: info is notice, k: v, ns: {b: true, d: 1.5s}\n" +
		prefix + "[info] 4242#4242: as info, k: v\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}

	buf.Reset()
	New(&buf, Warn, fixed).Zap().Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("notice written at level warn: %q", buf.String())
	}
}

func TestEscaping(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	l.Write(&Entry{Level: Info, Conn: 1, Msg: "client sent invalid request", Action: "reading client request line",
		Fields: &Fields{Client: "127.0.0.1", Server: "localhost", Request: "GET /a\x01b\x7f\r\n\"q\"\\ \xc3\xa9 HTTP/1.1",
			Host: "h\tx", Referrer: "r\x00"}})
	want := prefix + `[info] 4242#4242: *1 client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, ` +
		`request: "GET /a\x01b\x7f\x0d\x0a"q"\ ` + "\xc3\xa9" + ` HTTP/1.1", host: "h\x09x", referrer: "r\x00"` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestCut2048(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	head := prefix + "[error] 4242#4242: *1 "

	l.Write(&Entry{Level: Error, Conn: 1, Msg: strings.Repeat("a", 3000), Action: "reading upstream",
		Fields: &Fields{Client: "127.0.0.1"}})
	want := (head + strings.Repeat("a", 3000))[:2047] + "\n"
	if buf.String() != want {
		t.Errorf("no errno: got %d bytes %q...", buf.Len(), buf.String()[2000:])
	}

	// ngx_log_errno: the message gives way 50 bytes before the end, "..."
	// marks the cut, and the errno is still printed; the rest is cut at 2047.
	buf.Reset()
	l.Write(&Entry{Level: Error, Conn: 1, Msg: strings.Repeat("a", 3000), Errno: syscall.ECONNRESET,
		Action: "reading upstream", Fields: &Fields{Client: "127.0.0.1"}})
	full := (head + strings.Repeat("a", 3000))[:2048-50] + "... (104: Connection reset by peer) while reading upstream, client: 127.0.0.1"
	want = full[:2047] + "\n"
	if buf.String() != want {
		t.Errorf("errno: got %q...\nwant %q...", buf.String()[1990:], want[1990:])
	}

	// A line that just fits is not touched.
	buf.Reset()
	msg := strings.Repeat("b", 2047-len(head))
	l.Write(&Entry{Level: Error, Conn: 1, Msg: msg})
	if buf.String() != head+msg+"\n" {
		t.Errorf("exact fit: got %d bytes", buf.Len())
	}
}

func TestStrError(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{
		0:   "Success",
		2:   "No such file or directory",
		13:  "Permission denied",
		20:  "Not a directory",
		24:  "Too many open files",
		28:  "No space left on device",
		32:  "Broken pipe",
		41:  "Unknown error",
		98:  "Address already in use",
		104: "Connection reset by peer",
		107: "Transport endpoint is not connected",
		110: "Connection timed out",
		111: "Connection refused",
		133: "Memory page has hardware error",
		134: "Unknown error",
		999: "Unknown error",
	} {
		if got := StrError(errno); got != want {
			t.Errorf("StrError(%d) = %q, want %q", errno, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = StrError(syscall.ECONNRESET) }); n != 0 {
		t.Errorf("StrError allocates %v times", n)
	}
}

func TestOpenMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "error.log")
	_, err := Open(path, Error, fixed)
	want := `open() "` + path + `" failed (2: No such file or directory)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Errno() != syscall.ENOENT || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err %#v: want *OpenError with ENOENT", err)
	}
}

// TestReopen follows logrotate's "create" mode: rename, then SIGUSR1.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "error.log")
	l, err := Open(path, Info, fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write := func(msg string) { l.Write(&Entry{Level: Error, Msg: msg}) }

	write("one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write("two") // still the renamed file, as in nginx before USR1
	// logrotate's "create": a new empty file at the old path, then SIGUSR1.
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	write("three")

	line := func(msg string) string { return prefix + "[error] 4242#4242: " + msg + "\n" }
	assertFile(t, path+".1", line("one")+line("two"))
	assertFile(t, path, line("three"))
	if fi, err := os.Stat(path + ".1"); err != nil || fi.Mode().Perm()&^0o022 != 0o644&^0o022 {
		t.Errorf("created with mode %v (%v), want 0644 less umask", fi.Mode(), err)
	}

	// A failed reopen keeps the old file.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	err = l.Reopen()
	if want := `open() "` + path + `" failed (2: No such file or directory)`; err == nil || err.Error() != want {
		t.Fatalf("Reopen: %v, want %s", err, want)
	}
	write("four")
	assertFile(t, filepath.Join(moved, "error.log"), line("three")+line("four"))

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	write("after close") // dropped, no panic
	assertFile(t, filepath.Join(moved, "error.log"), line("three")+line("four"))
}

func TestStderr(t *testing.T) {
	l, err := Open("stderr", Error, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stderr.Stat(); err != nil {
		t.Errorf("stderr closed: %v", err)
	}
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s:\n got %q\nwant %q", path, got, want)
	}
}

func TestWriteAllocs(t *testing.T) {
	file, err := Open(filepath.Join(t.TempDir(), "error.log"), Info, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, l := range map[string]*Log{"discard": New(io.Discard, Info, Options{}), "file": file} {
		// The Entry is built inside the loop, as a caller would: it must not
		// escape to the heap either.
		n := testing.AllocsPerRun(200, func() {
			l.Write(&Entry{Level: Error, Conn: 7, Msg: "recv() failed", Errno: syscall.ECONNRESET,
				Action: "reading response header from upstream",
				Fields: &Fields{Client: "127.0.0.1", Server: "localhost", Request: "GET /reset HTTP/1.1",
					Upstream: "http://127.0.0.1:9001/reset", Host: "127.0.0.1:8080"}})
		})
		if n != 0 {
			t.Errorf("%s: Write allocates %v times per line", name, n)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	e := &Entry{Level: Error, Conn: 7, Msg: "recv() failed", Errno: syscall.ECONNRESET,
		Action: "reading response header from upstream", Fields: req("GET /reset HTTP/1.1", "http://127.0.0.1:9001/reset")}
	b.Run("discard", func(b *testing.B) {
		l := New(io.Discard, Info, Options{})
		b.ReportAllocs()
		for b.Loop() {
			l.Write(e)
		}
	})
	b.Run("file", func(b *testing.B) {
		l, err := Open(filepath.Join(b.TempDir(), "error.log"), Info, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.ReportAllocs()
		for b.Loop() {
			l.Write(e)
		}
	})
	b.Run("file-parallel", func(b *testing.B) {
		l, err := Open(filepath.Join(b.TempDir(), "error.log"), Info, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Write(e)
			}
		})
	})
	b.Run("filtered", func(b *testing.B) {
		l := New(io.Discard, Crit, Options{})
		b.ReportAllocs()
		for b.Loop() {
			l.Write(e)
		}
	})
}

// TestConcurrentReopen: writers racing a reopen lose no line and tear none.
func TestConcurrentReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	l, err := Open(path, Info, fixed)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if err := l.Reopen(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				l.Write(&goldenCases[0].e)
			}
		})
	}
	wg.Wait()
	<-done
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden, _ := os.ReadFile("testdata/golden.log")
	first := strings.SplitAfter(string(golden), "\n")[0]
	if want := strings.Repeat(first, 800); string(got) != want {
		t.Errorf("got %d bytes, want %d", len(got), len(want))
	}
}

// A server block without server_name: nginx still writes the field, with
// the empty name ("server: , request:"), as real nginx 1.22 logs it.
func TestEmptyServerNameKept(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Debug, fixed)
	l.Write(&Entry{Level: Error, Conn: 1, Msg: "connect() failed", Errno: syscall.ECONNREFUSED, Action: "connecting to upstream",
		Fields: &Fields{Client: "127.0.0.1", Request: "GET /x HTTP/1.1", Upstream: "http://127.0.0.1:1/x", Host: "127.0.0.1:18477"}})
	want := prefix + `[error] 4242#4242: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET /x HTTP/1.1", upstream: "http://127.0.0.1:1/x", host: "127.0.0.1:18477"` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

// TestSeveralLogs is nginx's several error_log directives: each file gets
// exactly the lines at or above its own level, USR1 (Reopen) reopens every
// one, and a reload (ReconfigureAll) keeps a file that stays, opens a new
// one and closes one no longer named.
func TestSeveralLogs(t *testing.T) {
	dir := t.TempDir()
	errPath, noticePath, infoPath := filepath.Join(dir, "error.log"), filepath.Join(dir, "notice.log"), filepath.Join(dir, "info.log")
	l, err := OpenAll([]config.ErrorLog{{Path: errPath, Level: Error}, {Path: noticePath, Level: Notice}}, fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := func(lv, msg string) string { return prefix + "[" + lv + "] 4242#4242: " + msg + "\n" }
	for _, lv := range []Level{Debug, Info, Notice, Warn, Error, Crit} {
		l.Write(&Entry{Level: lv, Msg: "m"})
	}
	if !l.Enabled(Notice) || l.Enabled(Info) {
		t.Errorf("Enabled: notice %v, info %v; want the lowest level of the files", l.Enabled(Notice), l.Enabled(Info))
	}
	assertFile(t, errPath, line("error", "m")+line("crit", "m"))
	assertFile(t, noticePath, line("notice", "m")+line("warn", "m")+line("error", "m")+line("crit", "m"))

	// logrotate: both renamed, both recreated, one SIGUSR1.
	for _, p := range []string{errPath, noticePath} {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write(&Entry{Level: Error, Msg: "after"})
	assertFile(t, errPath, line("error", "after"))
	assertFile(t, noticePath, line("error", "after"))
	assertFile(t, errPath+".1", line("error", "m")+line("crit", "m"))

	// A reload: error.log stays at warn, notice.log goes, info.log comes.
	if err := l.ReconfigureAll([]config.ErrorLog{{Path: errPath, Level: Warn}, {Path: infoPath, Level: Info}}); err != nil {
		t.Fatal(err)
	}
	l.Write(&Entry{Level: Info, Msg: "reloaded"})
	l.Write(&Entry{Level: Warn, Msg: "reloaded"})
	assertFile(t, errPath, line("error", "after")+line("warn", "reloaded"))
	assertFile(t, infoPath, line("info", "reloaded")+line("warn", "reloaded"))
	assertFile(t, noticePath, line("error", "after"))

	// A reload whose new file cannot be opened changes nothing.
	err = l.ReconfigureAll([]config.ErrorLog{{Path: errPath, Level: Error}, {Path: filepath.Join(dir, "no", "such.log"), Level: Error}})
	if err == nil {
		t.Fatal("ReconfigureAll with a missing directory succeeded")
	}
	l.Write(&Entry{Level: Info, Msg: "kept"})
	assertFile(t, infoPath, line("info", "reloaded")+line("warn", "reloaded")+line("info", "kept"))
}
