package accesslog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func mustCompile(t testing.TB, format string) *Format {
	t.Helper()
	f, err := Compile(format, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func line(t testing.TB, format string, e *Entry) string {
	t.Helper()
	var buf bytes.Buffer
	New(&buf, mustCompile(t, format)).Write(e)
	return buf.String()
}

// The example from the nginx reference, logged for a reset upstream.
func TestCombined(t *testing.T) {
	e := &Entry{RemoteAddr: "127.0.0.1", Time: at, Line: "GET /reset HTTP/1.1", Status: 502,
		BodyBytesSent: 157, BytesSent: 314, UserAgent: "curl/7.88.1", Host: "127.0.0.1:8080"}
	want := `127.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /reset HTTP/1.1" 502 157 "-" "curl/7.88.1"` + "\n"
	if got := line(t, "combined", e); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := line(t, Combined, e); got != want {
		t.Errorf("Combined spelled out: got %q", got)
	}
	if f := mustCompile(t, "combined"); f.String() != "combined" {
		t.Errorf("String() = %q", f.String())
	}
}

func TestCustomFormat(t *testing.T) {
	const format = `$remote_addr [$time_iso8601] $msec "$request" $status $bytes_sent rt=$request_time ` +
		`ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time" uct="$upstream_connect_time" ` +
		`uht="$upstream_header_time" $host $server_name $request_method $uri $document_uri $request_uri $scheme ` +
		`$connection $connection_requests xff="$http_x_forwarded_for" h=$http_x_none ${status}x $Remote_User`
	e := &Entry{
		RemoteAddr: "127.0.0.1", Time: at.Add(123456789 * time.Nanosecond), Line: "POST /app/x?y=1 HTTP/1.1",
		Status: 200, BodyBytesSent: 5, BytesSent: 180, RequestTime: 1234567 * time.Microsecond,
		UpstreamAddr: "127.0.0.1:9001, 127.0.0.1:9002", UpstreamStatus: "502, 200",
		UpstreamResponseTime: "0.001, 0.004", UpstreamConnectTime: "0.000, 0.001", UpstreamHeaderTime: "-, 0.003",
		Host: "example.test", ServerName: "localhost", Method: "POST", URI: "/app/x", RequestURI: "/app/x?y=1",
		Scheme: "http", ConnID: 42, ConnRequests: 3,
		Headers: map[string]string{"X-Forwarded-For": "10.0.0.1, 10.0.0.2"},
	}
	want := `127.0.0.1 [2026-11-25T10:00:00+00:00] 1795600800.123 "POST /app/x?y=1 HTTP/1.1" 200 180 rt=1.234 ` +
		`ua="127.0.0.1:9001, 127.0.0.1:9002" us="502, 200" urt="0.001, 0.004" uct="0.000, 0.001" ` +
		`uht="-, 0.003" example.test localhost POST /app/x /app/x /app/x?y=1 http ` +
		`42 3 xff="10.0.0.1, 10.0.0.2" h=- 200x -` + "\n"
	if got := line(t, format, e); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// Before any upstream: every upstream variable is "-".
	got := line(t, `$upstream_addr $upstream_status $upstream_response_time $upstream_connect_time $upstream_header_time $http_x`, &Entry{})
	if got != "- - - - - -\n" {
		t.Errorf("no upstream: %q", got)
	}
}

func TestNumbersAndTime(t *testing.T) {
	zone := time.FixedZone("", -(3*3600 + 30*60))
	e := &Entry{Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, zone), Status: 9, BodyBytesSent: -1, RequestTime: -time.Second}
	got := line(t, `[$time_local] [$time_iso8601] $msec $status $body_bytes_sent $request_time $pid`, e)
	want := fmt.Sprintf("[02/Jan/2026:03:04:05 -0330] [2026-01-02T03:04:05-03:30] %d.006 009 0 0.000 %d\n",
		e.Time.Unix(), os.Getpid())
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := line(t, `$status $request_time`, &Entry{Status: 0, RequestTime: 3 * time.Millisecond}); got != "000 0.003\n" {
		t.Errorf("got %q", got)
	}
	// A zero Time is the time of writing.
	before := time.Now().Unix()
	got = line(t, `$msec`, &Entry{})
	sec, _ := strconv.ParseInt(strings.Split(got, ".")[0], 10, 64)
	if sec < before || sec > time.Now().Unix() {
		t.Errorf("zero Time logged as %q", got)
	}
}

func TestEscaping(t *testing.T) {
	e := &Entry{Line: "GET /a\"b\\c\x01\n\x7f\xc3\xa9 HTTP/1.1", UserAgent: `Mozilla "x"`, Referer: "-"}
	got := line(t, `"$request" "$http_user_agent" "$http_referer" "$remote_user"`, e)
	want := `"GET /a\x22b\x5Cc\x01\x0A\x7F\xC3\xA9 HTTP/1.1" "Mozilla \x22x\x22" "-" "-"` + "\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Literal text is not escaped, only variables.
	if got := line(t, `"\ $uri`, &Entry{URI: "/"}); got != "\"\\ /\n" {
		t.Errorf("literal: %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for format, want := range map[string]string{
		"$remote_addr $foo":  `unknown "foo" variable`,
		"${Foo_Bar}x":        `unknown "foo_bar" variable`,
		"$upstream_cache":    `unknown "upstream_cache" variable`,
		"${status":           `the closing bracket in "status" variable is missing`,
		"${status-x}":        `the closing bracket in "status" variable is missing`,
		"a $":                `invalid parameter "a $"`,
		"$-":                 `invalid parameter "$-"`,
		"":                   `empty log format`,
		"$remote_addr ${}  ": `invalid parameter "$remote_addr ${}  "`,
	} {
		_, err := Compile(format, nil)
		if err == nil || err.Error() != want {
			t.Errorf("Compile(%q) = %v, want %s", format, err, want)
		}
	}
	for _, ok := range []string{"$STATUS", "${status}", "$http_", "$status$status", "no variables"} {
		if _, err := Compile(ok, nil); err != nil {
			t.Errorf("Compile(%q): %v", ok, err)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := Open(path, mustCompile(t, `$status $uri`), buffered)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(&Entry{Status: 200, URI: "/one"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Write(&Entry{Status: 200, URI: "/two"}) // buffered: flushed to the old file by Reopen
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write(&Entry{Status: 200, URI: "/three"})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path+".1", "200 /one\n200 /two\n")
	assertFile(t, path, "200 /three\n")

	// A failed reopen keeps the old file.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	err = l.Reopen()
	if want := `open() "` + path + `" failed (2: No such file or directory)`; err == nil || err.Error() != want {
		t.Fatalf("Reopen = %v, want %s", err, want)
	}
	l.Write(&Entry{Status: 404, URI: "/four"})
	if err := l.Close(); err != nil { // Close flushes
		t.Fatal(err)
	}
	l.Write(&Entry{Status: 500, URI: "/after-close"})
	assertFile(t, filepath.Join(moved, "access.log"), "200 /three\n404 /four\n")
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "access.log")
	_, err := Open(path, mustCompile(t, "combined"), buffered)
	if want := `open() "` + path + `" failed (2: No such file or directory)`; err == nil || err.Error() != want {
		t.Fatalf("Open = %v, want %s", err, want)
	}
}

// TestBuffering: a line is never split between two write(2) calls, and one
// larger than the whole buffer goes out on its own, in order.
func TestBuffering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, mustCompile(t, `$uri`), buffered)
	if err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("x", 1000)
	huge := "/" + strings.Repeat("h", buffered.Buffer+10)
	var want strings.Builder
	for i := range 200 { // ~200 KiB: several flushes on the way
		uri := long
		if i == 100 {
			uri = huge
		}
		l.Write(&Entry{URI: uri})
		want.WriteString(uri + "\n")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("file has %d bytes, want %d", len(got), want.Len())
	}
}

func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, mustCompile(t, "combined"), buffered)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.Write(&Entry{RemoteAddr: "127.0.0.1", Time: at, Line: fmt.Sprintf("GET /%d/%d HTTP/1.1", g, i), Status: 200})
				if i == 250 && g == 0 {
					_ = l.Reopen()
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, ln := range lines {
		if !strings.HasPrefix(ln, `127.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /`) || !strings.HasSuffix(ln, `" 200 0 "-" "-"`) {
			t.Fatalf("torn line %q", ln)
		}
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

const mainFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" ` +
	`"$http_user_agent" "$http_x_forwarded_for" rt=$request_time ua="$upstream_addr" us="$upstream_status" ` +
	`urt="$upstream_response_time" uct="$upstream_connect_time" uht="$upstream_header_time"`

func TestWriteAllocs(t *testing.T) {
	file, err := Open(filepath.Join(t.TempDir(), "access.log"), mustCompile(t, mainFormat), buffered)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, l := range map[string]*Log{"discard": New(io.Discard, mustCompile(t, mainFormat)), "file": file} {
		e := &Entry{RemoteAddr: "127.0.0.1", Time: time.Now(), Line: "GET /reset HTTP/1.1", Status: 502,
			BodyBytesSent: 157, UserAgent: "curl/7.88.1", RequestTime: 3 * time.Millisecond,
			UpstreamAddr: "127.0.0.1:9001, 127.0.0.1:9002", UpstreamStatus: "502, 502",
			UpstreamResponseTime: "0.001, 0.002", Headers: map[string]string{"X-Forwarded-For": "10.0.0.1"}}
		l.Write(e) // builds e's head once
		n := testing.AllocsPerRun(1000, func() { l.Write(e) })
		if n != 0 {
			t.Errorf("%s: Write allocates %v times per line", name, n)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	e := &Entry{RemoteAddr: "127.0.0.1", Time: at, Line: "GET /reset HTTP/1.1", Status: 502,
		BodyBytesSent: 157, UserAgent: "curl/7.88.1", RequestTime: 3 * time.Millisecond,
		UpstreamAddr: "127.0.0.1:9001, 127.0.0.1:9002", UpstreamStatus: "502, 502",
		UpstreamResponseTime: "0.001, 0.002", Headers: map[string]string{"X-Forwarded-For": "10.0.0.1"}}
	for _, format := range []string{"combined", mainFormat} {
		name := "combined"
		if format != "combined" {
			name = "main+upstream"
		}
		f := mustCompile(b, format)
		b.Run(name+"/discard", func(b *testing.B) {
			l := New(io.Discard, f)
			b.ReportAllocs()
			for b.Loop() {
				l.Write(e)
			}
		})
		b.Run(name+"/file", func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "access.log"), f, buffered)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			for b.Loop() {
				l.Write(e)
			}
		})
		b.Run(name+"/file-parallel", func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "access.log"), f, buffered)
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
	}
}

// buffered is the buffer the tests of buffering use (access_log ... buffer=64k).
var buffered = Options{Buffer: 64 << 10}

// Without buffer= each line is in the file when Write returns, as nginx
// writes it when the request ends; with buffer= and flush= a line waits
// at most the flush time.
func TestUnbufferedAndFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, mustCompile(t, `$status $uri`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(&Entry{Status: 200, URI: "/now"})
	assertFile(t, path, "200 /now\n")

	path2 := filepath.Join(t.TempDir(), "access.log")
	l2, err := Open(path2, mustCompile(t, `$status $uri`), Options{Buffer: 4096, Flush: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	l2.Write(&Entry{Status: 200, URI: "/later"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path2)
		if string(b) == "200 /later\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flush=10ms: file %q after 10s", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// log_format escape=json and escape=none, as nginx 1.22 wrote the same
// values (measured): JSON string escapes, or the bytes as they are; a value
// not found is empty in both.
func TestEscapeModes(t *testing.T) {
	for _, c := range []struct {
		mode, want string
	}{
		{"default", `{"u":"/a\x22b\x5C\x0A\xC3\xA9","r":"-"}`},
		{"json", `{"u":"/a\"b\\\n\u0001é","r":""}`},
		{"none", "{\"u\":\"/a\"b\\\n\x01é\",\"r\":\"\"}"},
	} {
		f, err := CompileEscape(`{"u":"$uri","r":"$http_referer"}`, c.mode, nil)
		if err != nil {
			t.Fatal(err)
		}
		uri := "/a\"b\\\n"
		if c.mode != "default" {
			uri += "\x01"
		}
		uri += "é"
		var b strings.Builder
		New(&b, f).Write(&Entry{URI: uri})
		if got := strings.TrimSuffix(b.String(), "\n"); got != c.want {
			t.Errorf("escape=%s: %q, want %q", c.mode, got, c.want)
		}
	}
	if _, err := CompileEscape("$uri", "xml", nil); err == nil {
		t.Error("escape=xml accepted")
	}
}
