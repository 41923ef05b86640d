package buffer_test

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"spillway/buffer"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	p := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(p)
	return p
}

// onlyWriter hides every method but Write, such as fasthttp's chunked body
// writer: WriteTo must then copy file ranges through memory.
type onlyWriter struct{ io.Writer }

// readFromRecorder is an io.ReaderFrom that records what it was handed, to
// check that file ranges reach ReadFrom in the shape sendfile needs.
type readFromRecorder struct {
	buf     []byte
	readers []io.Reader
}

func (w *readFromRecorder) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *readFromRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.readers = append(w.readers, r)
	b, err := io.ReadAll(r)
	w.buf = append(w.buf, b...)
	return int64(len(b)), err
}

// assertSendfileShape fails unless every reader handed to ReadFrom was an
// *io.LimitedReader directly over an *os.File, which is what net.TCPConn's
// ReadFrom turns into sendfile(2).
func assertSendfileShape(t *testing.T, readers []io.Reader) {
	t.Helper()
	if len(readers) == 0 {
		t.Fatal("ReadFrom was never called for the file part")
	}
	for _, r := range readers {
		lr, ok := r.(*io.LimitedReader)
		if !ok {
			t.Fatalf("ReadFrom got %T, want *io.LimitedReader", r)
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Fatalf("LimitedReader wraps %T, want *os.File", lr.R)
		}
	}
}

// assertClean fails if b still counts chunks or open files, or if dir holds
// files or this process holds descriptors to (deleted) files that were in dir.
func assertClean(t testing.TB, b *buffer.Budget, dir string) {
	t.Helper()
	st := b.Stats()
	if st.ChunksInUse != 0 || st.BytesInUse != 0 || st.FilesOpen != 0 || st.TempBytes != 0 {
		t.Fatalf("leak: %d chunks, %d bytes in use, %d files open holding %d bytes", st.ChunksInUse, st.BytesInUse, st.FilesOpen, st.TempBytes)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("temp dir not empty: %d entries, first %s", len(ents), ents[0].Name())
	}
	if n := openFilesUnder(t, dir); n != 0 {
		t.Fatalf("leak: %d descriptors still open on files in %s", n, dir)
	}
}

// openFilesUnder counts this process's descriptors on files in dir
// (Linux: /proc/self/fd links read "dir/0000000001 (deleted)").
func openFilesUnder(t testing.TB, dir string) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds, failing after 10s: a wait on an
// observable state (a producer that blocked), never a sleep standing in
// for one.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
