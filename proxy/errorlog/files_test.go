package errorlog

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two levels naming the same path share one File; each Log keeps its own
// level per output; Release closes the file only when the last holder
// lets go.
func TestFilesShareOnePathPerLevel(t *testing.T) {
	dir := t.TempDir()
	shared, own := filepath.Join(dir, "shared.log"), filepath.Join(dir, "own.log")
	var fs Files
	a, err := fs.Acquire(shared)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.Acquire(shared)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("two Acquire of %s gave two Files", shared)
	}
	o, err := fs.Acquire(own)
	if err != nil {
		t.Fatal(err)
	}
	loud := Compose([]Output{{File: a, Level: Info}, {File: o, Level: Info}}, fixed)
	quiet := Compose([]Output{{File: b, Level: Error}}, fixed)
	loud.Infof("from loud")
	quiet.Infof("from quiet, below its level")
	quiet.Errorf("from quiet")

	want := prefix + "[info] 4242#4242: from loud\n" + prefix + "[error] 4242#4242: from quiet\n"
	if got := readFile(t, shared); got != want {
		t.Errorf("shared file:\n%s\nwant:\n%s", got, want)
	}
	if got, want := readFile(t, own), prefix+"[info] 4242#4242: from loud\n"; got != want {
		t.Errorf("own file:\n%s\nwant:\n%s", got, want)
	}

	// A composed Log's Close leaves the shared files alone.
	if err := quiet.Close(); err != nil {
		t.Fatal(err)
	}
	loud.Errorf("after quiet's Close")
	fs.Release(b)
	loud.Errorf("after one Release")
	if got := readFile(t, shared); got != want+prefix+"[error] 4242#4242: after quiet's Close\n"+prefix+"[error] 4242#4242: after one Release\n" {
		t.Errorf("the file closed while a level still held it:\n%s", got)
	}
	fs.Release(a)
	if _, err := a.Write([]byte("x\n")); err == nil {
		t.Error("the file is still open after its last Release")
	}
	fs.CloseAll()
	if _, err := o.Write([]byte("x\n")); err == nil {
		t.Error("CloseAll left a file open")
	}
}

// Files.Reopen follows logrotate's rename: lines after it go to a new file
// at the path, for every Log on it.
func TestFilesReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loc.log")
	var fs Files
	defer fs.CloseAll()
	f, err := fs.Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	l := Compose([]Output{{File: f, Level: Error}}, fixed)
	l.Errorf("before")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil { // a composed Log's Reopen does nothing...
		t.Fatal(err)
	}
	l.Errorf("renamed")
	if err := fs.Reopen(); err != nil { // ...its Files reopens
		t.Fatal(err)
	}
	l.Errorf("after")
	if got, want := readFile(t, path+".1"), prefix+"[error] 4242#4242: before\n"+prefix+"[error] 4242#4242: renamed\n"; got != want {
		t.Errorf("rotated file:\n%s\nwant:\n%s", got, want)
	}
	if got, want := readFile(t, path), prefix+"[error] 4242#4242: after\n"; got != want {
		t.Errorf("new file:\n%s\nwant:\n%s", got, want)
	}
}

func TestFilesAcquireMissingDir(t *testing.T) {
	var fs Files
	_, err := fs.Acquire(filepath.Join(t.TempDir(), "nodir", "e.log"))
	var oe *OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v (%T), want an *OpenError", err, err)
	}
}

// A composed Log writes a line without allocating, as Open's does
// (TestWriteAllocs).
func TestComposeWriteAllocs(t *testing.T) {
	var fs Files
	defer fs.CloseAll()
	f, err := fs.Acquire(filepath.Join(t.TempDir(), "loc.log"))
	if err != nil {
		t.Fatal(err)
	}
	l := Compose([]Output{{File: f, Level: Info}, {File: f, Level: Error}}, Options{})
	n := testing.AllocsPerRun(200, func() {
		l.Write(&Entry{Level: Error, Conn: 7, Msg: "recv() failed", Errno: syscall.ECONNRESET,
			Action: "reading response header from upstream",
			Fields: &Fields{Client: "127.0.0.1", Server: "localhost", Request: "GET /reset HTTP/1.1",
				Upstream: "http://127.0.0.1:9001/reset", Host: "127.0.0.1:8080"}})
	})
	if n != 0 {
		t.Errorf("Write allocates %v times per line", n)
	}
}
