package buffer_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"

	"spillway/buffer"
)

// readAllWays reads a sealed body through every reading API and fails unless
// each one returns want.
func readAllWays(t *testing.T, body *buffer.Body, want []byte) {
	t.Helper()
	if body.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", body.Size(), len(want))
	}
	got, err := io.ReadAll(body.NewReader())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Read: %d bytes, err %v; want %d identical bytes", len(got), err, len(want))
	}
	var bb bytes.Buffer // has ReadFrom
	if n, err := body.NewReader().WriteTo(&bb); err != nil || n != int64(len(want)) || !bytes.Equal(bb.Bytes(), want) {
		t.Fatalf("WriteTo(ReaderFrom) = %d, %v; identical %v", n, err, bytes.Equal(bb.Bytes(), want))
	}
	var pw bytes.Buffer
	if n, err := body.NewReader().WriteTo(onlyWriter{&pw}); err != nil || n != int64(len(want)) || !bytes.Equal(pw.Bytes(), want) {
		t.Fatalf("WriteTo(Writer) = %d, %v; identical %v", n, err, bytes.Equal(pw.Bytes(), want))
	}
	sr := io.NewSectionReader(body, 0, body.Size())
	if len(want) > 4096 {
		// iotest.TestReader makes many tiny reads, each a pread(2) once
		// spilled: keep big bodies to one plain pass.
		got, err := io.ReadAll(sr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("SectionReader: %d bytes, %v", len(got), err)
		}
		return
	}
	if err := iotest.TestReader(sr, want); err != nil {
		t.Fatalf("SectionReader: %v", err)
	}
	if err := iotest.TestReader(body.NewReader(), want); err != nil {
		t.Fatalf("BodyReader: %v", err)
	}
}

func TestBodyInMemory(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	body := buffer.NewBody(buffer.BodyOptions{
		Pool: budget.Pool(1024), MemoryLimit: 8192, TempDir: dir,
		OnSpill: func(string) { t.Error("OnSpill called for a body that fits in memory") },
	})
	want := randomBytes(8192, 1) // exactly MemoryLimit: stays in memory
	if _, err := body.ReadFrom(iotest.HalfReader(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if _, err := body.NewReader().Read(make([]byte, 1)); !errors.Is(err, buffer.ErrNotSealed) {
		t.Fatalf("Read before Seal: %v, want ErrNotSealed", err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	if body.Spilled() || body.TempPath() != "" {
		t.Fatalf("Spilled() = %v, TempPath() = %q for an 8k body with 8k memory", body.Spilled(), body.TempPath())
	}
	if st := budget.Stats(); st.ChunksInUse != 8 || st.BytesInUse != 8192 {
		t.Fatalf("stats %+v, want 8 chunks / 8192 bytes", st)
	}
	readAllWays(t, body, want)
	readAllWays(t, body, want) // replay
	if _, err := body.Write([]byte("x")); !errors.Is(err, buffer.ErrSealed) {
		t.Fatalf("Write after Seal: %v, want ErrSealed", err)
	}
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	if err := body.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := body.NewReader().Read(make([]byte, 1)); !errors.Is(err, buffer.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	assertClean(t, budget, dir)
}

func TestBodySpillsPastMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	var spills []string
	body := buffer.NewBody(buffer.BodyOptions{
		Pool: budget.Pool(1024), MemoryLimit: 8192, TempDir: dir,
		OnSpill: func(path string) { spills = append(spills, path) },
	})
	want := randomBytes(8193, 2) // one byte over MemoryLimit
	for i := 0; i < len(want); i += 1000 {
		if _, err := body.Write(want[i:min(i+1000, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	wantPath := filepath.Join(dir, "0000000001")
	if len(spills) != 1 || spills[0] != wantPath || body.TempPath() != wantPath || !body.Spilled() {
		t.Fatalf("OnSpill calls %q, TempPath %q; want exactly [%q]", spills, body.TempPath(), wantPath)
	}
	if _, err := os.Lstat(wantPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still linked after spill: %v", err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	// The whole body moved to the file, as nginx does: no memory is pinned
	// for the rest of the request.
	st := budget.Stats()
	if st.ChunksInUse != 0 || st.FilesOpen != 1 || st.FilesCreated != 1 || st.BytesSpilled != int64(len(want)) {
		t.Fatalf("stats after Seal %+v", st)
	}
	readAllWays(t, body, want)
	rec := &readFromRecorder{}
	if _, err := body.NewReader().WriteTo(rec); err != nil || !bytes.Equal(rec.buf, want) {
		t.Fatalf("WriteTo: %v", err)
	}
	assertSendfileShape(t, rec.readers)
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

func TestBodyConcurrentReplay(t *testing.T) {
	for _, size := range []int{5000, 100_000} { // in memory, spilled
		dir := t.TempDir()
		budget := buffer.NewBudget(1 << 20)
		body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 16384, TempDir: dir})
		want := randomBytes(size, 3)
		if _, err := body.Write(want); err != nil {
			t.Fatal(err)
		}
		if err := body.Seal(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				var got bytes.Buffer
				var err error
				switch i % 3 {
				case 0:
					_, err = body.NewReader().WriteTo(&got)
				case 1:
					_, err = body.NewReader().WriteTo(onlyWriter{&got})
				default:
					_, err = io.Copy(onlyWriter{&got}, iotest.OneByteReader(body.NewReader()))
				}
				if err == nil && !bytes.Equal(got.Bytes(), want) {
					err = errors.New("replayed bytes differ")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
		}
		if err := body.Close(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	}
}

func TestBodyLimit(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	opts := buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 2048, TempDir: dir, Limit: 4096}

	t.Run("exactly the limit", func(t *testing.T) {
		body := buffer.NewBody(opts)
		defer body.Close()
		if _, err := body.ReadFrom(bytes.NewReader(make([]byte, 4096))); err != nil {
			t.Fatal(err)
		}
		if err := body.Seal(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Write", func(t *testing.T) {
		body := buffer.NewBody(opts)
		if _, err := body.Write(make([]byte, 4000)); err != nil {
			t.Fatal(err)
		}
		_, err := body.Write(make([]byte, 100))
		var le *buffer.LimitError
		if !errors.As(err, &le) || le.Limit != 4096 || le.Size != 4100 {
			t.Fatalf("err = %v, want *LimitError{4096, 4100}", err)
		}
		// Failed bodies release everything at once and stay failed.
		if st := budget.Stats(); st.ChunksInUse != 0 || st.FilesOpen != 0 {
			t.Fatalf("failed body still holds resources: %+v", st)
		}
		if _, err2 := body.Write([]byte("x")); err2 != err {
			t.Fatalf("Write after LimitError: %v", err2)
		}
		if err2 := body.Seal(); err2 != err {
			t.Fatalf("Seal after LimitError: %v", err2)
		}
		if err := body.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ReadFrom stops one byte past the limit", func(t *testing.T) {
		body := buffer.NewBody(opts)
		defer body.Close()
		src := bytes.NewReader(make([]byte, 1<<20))
		_, err := body.ReadFrom(src)
		var le *buffer.LimitError
		if !errors.As(err, &le) || le.Size != 4097 {
			t.Fatalf("err = %v, want *LimitError with Size 4097", err)
		}
		if read := int64(1<<20) - int64(src.Len()); read != 4097 {
			t.Fatalf("ReadFrom read %d bytes from the client, want 4097", read)
		}
	})
	assertClean(t, budget, dir)
}

func TestBodyTempDirUnusable(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unwritable := filepath.Join(base, "ro")
	if err := os.Mkdir(unwritable, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		dir   string
		errno syscall.Errno
	}{
		{"missing", filepath.Join(base, "missing"), syscall.ENOENT},
		{"not a directory", notDir, syscall.ENOTDIR},
		{"unwritable", unwritable, syscall.EACCES},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errno == syscall.EACCES && os.Geteuid() == 0 {
				t.Skip("root ignores directory permissions")
			}
			budget := buffer.NewBudget(1 << 20)
			body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 1024, TempDir: tc.dir})
			_, err := body.Write(make([]byte, 3000))
			var pe *os.PathError
			var errno syscall.Errno
			var tfe *buffer.TempFileError
			if !errors.As(err, &pe) || !errors.As(err, &errno) || !errors.As(err, &tfe) {
				t.Fatalf("err = %v (%T), want *TempFileError wrapping *os.PathError with errno", err, err)
			}
			if errno != tc.errno || pe.Op != "open" || pe.Path != filepath.Join(tc.dir, "0000000001") || tfe.Op != "create" {
				t.Fatalf("errno %d, Op %q, Path %q", errno, pe.Op, pe.Path)
			}
			if err := body.Close(); err != nil {
				t.Fatal(err)
			}
			if st := budget.Stats(); st.ChunksInUse != 0 || st.FilesOpen != 0 || st.FilesCreated != 0 {
				t.Fatalf("leak: %+v", st)
			}
		})
	}
	ents, _ := os.ReadDir(unwritable)
	if len(ents) != 0 {
		t.Fatalf("files left in %s", unwritable)
	}
}

// enospcAfter makes temp file writes fail with ENOSPC once limit bytes were
// written in total, like a filling disk.
func enospcAfter(limit int64) func(f *os.File, p []byte, off int64) (int, error) {
	var mu sync.Mutex
	var total int64
	return func(f *os.File, p []byte, off int64) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		room := max(limit-total, 0)
		if int64(len(p)) <= room {
			total += int64(len(p))
			return f.WriteAt(p, off)
		}
		n, _ := f.WriteAt(p[:room], off)
		total += int64(n)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
}

// The temp-file limit fails a request body as a full disk does (the proxy
// answers 500 with nginx's ENOSPC line), and gives its bytes back at once.
func TestBodyTempFileLimit(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	budget.SetTempLimit(10_000)
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 4096, TempDir: dir, TempFileWriteSize: 2048})
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = body.Write(make([]byte, 700))
	}
	var errno syscall.Errno
	if !errors.Is(err, buffer.ErrTempFileLimit) || !errors.As(err, &errno) || errno != syscall.ENOSPC || !buffer.DiskFull(err) {
		t.Fatalf("err = %v, want ErrTempFileLimit reading as ENOSPC", err)
	}
	if st := budget.Stats(); st.TempBytes != 0 || st.PeakTempBytes != 10_000 || st.FilesOpen != 0 {
		t.Fatalf("budget after the refusal: %+v", st)
	}
	_ = body.Close()
	assertClean(t, budget, dir)
}

func TestBodyDiskFull(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	buffer.SetWriteHook(budget, enospcAfter(10_000))
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 4096, TempDir: dir, TempFileWriteSize: 2048})
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = body.Write(make([]byte, 700))
	}
	var errno syscall.Errno
	var tfe *buffer.TempFileError
	if !errors.As(err, &errno) || errno != syscall.ENOSPC || !errors.As(err, &tfe) || tfe.Op != "write" {
		t.Fatalf("err = %v, want a write *TempFileError with ENOSPC", err)
	}
	// Released at once, before Close: the disk gets its blocks back.
	if st := budget.Stats(); st.ChunksInUse != 0 || st.FilesOpen != 0 {
		t.Fatalf("resources held after ENOSPC: %+v", st)
	}
	if err2 := body.Seal(); err2 != err {
		t.Fatalf("Seal = %v, want the sticky write error", err2)
	}
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

func TestBodyTempFileWriteSize(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	var sizes []int
	buffer.SetWriteHook(budget, func(f *os.File, p []byte, off int64) (int, error) {
		sizes = append(sizes, len(p))
		return f.WriteAt(p, off)
	})
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 1024, TempDir: dir, TempFileWriteSize: 3000})
	want := randomBytes(20_000, 4)
	for i := 0; i < len(want); i += 77 { // small writes are collected into 3000-byte steps
		if _, err := body.Write(want[i:min(i+77, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	// The first write moves the 1024 bytes held in memory; then full steps,
	// then the remainder at Seal.
	if sizes[0] != 1024 {
		t.Fatalf("first write %d bytes, want the 1024 held in memory", sizes[0])
	}
	for _, n := range sizes[1 : len(sizes)-1] {
		if n != 3000 {
			t.Fatalf("write sizes %v, want steps of 3000", sizes)
		}
	}
	readAllWays(t, body, want)
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

func TestBodyBudgetExhaustedSpills(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(4096) // four chunks
	opts := buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 1 << 20, TempDir: dir}
	hog := buffer.NewBody(opts)
	if _, err := hog.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if hog.Spilled() {
		t.Fatal("first body spilled within budget")
	}
	// The budget is spent, but a body always gets one chunk.
	small := buffer.NewBody(opts)
	if _, err := small.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if small.Spilled() {
		t.Fatal("a one-chunk body spilled: the one-chunk guarantee is broken")
	}
	if _, err := small.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if !small.Spilled() {
		t.Fatal("body did not spill with the budget exhausted")
	}
	st := budget.Stats()
	if st.Denied == 0 || st.Forced == 0 || st.PeakBytesInUse > 4096+1024 {
		t.Fatalf("stats %+v: want denials, a forced chunk and peak <= limit + one chunk", st)
	}
	_ = hog.Close()
	_ = small.Close()
	assertClean(t, budget, dir)
}

func TestBodyTempFileNames(t *testing.T) {
	dir := t.TempDir()
	// A stale file with the first name: nginx takes the next number.
	if err := os.WriteFile(filepath.Join(dir, "0000000001"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	budget := buffer.NewBudget(1 << 20)
	var paths []string
	for range 2 {
		body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(64), TempDir: dir,
			OnSpill: func(p string) { paths = append(paths, p) }})
		if _, err := body.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		defer body.Close()
	}
	want := []string{filepath.Join(dir, "0000000002"), filepath.Join(dir, "0000000003")}
	if len(paths) != 2 || paths[0] != want[0] || paths[1] != want[1] {
		t.Fatalf("temp files %q, want %q", paths, want)
	}
	name := regexp.MustCompile(`/\d{10}$`)
	for _, p := range paths {
		if !name.MatchString(p) {
			t.Fatalf("%q is not nginx-style", p)
		}
	}
}

func TestBodyReset(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 4096, TempDir: dir})
	for i, size := range []int{100, 10_000, 0, 4096} {
		want := randomBytes(size, uint64(i))
		if _, err := body.Write(want); err != nil {
			t.Fatal(err)
		}
		if err := body.Seal(); err != nil {
			t.Fatal(err)
		}
		readAllWays(t, body, want)
		if err := body.Reset(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	}
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
}

// buffersRecorder is a buffer.BuffersWriter that records each call, and
// writes at most limit bytes per call when limit > 0 (a short write).
type buffersRecorder struct {
	buf    []byte
	writes int     // Write calls
	vecs   [][]int // WriteBuffers calls: the slice lengths of each
	limit  int
}

func (w *buffersRecorder) Write(p []byte) (int, error) {
	w.writes++
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *buffersRecorder) WriteBuffers(v [][]byte) (int64, error) {
	var lens []int
	var n int64
	for _, p := range v {
		lens = append(lens, len(p))
		if w.limit > 0 && n+int64(len(p)) > int64(w.limit) {
			p = p[:int64(w.limit)-n]
		}
		w.buf = append(w.buf, p...)
		n += int64(len(p))
	}
	w.vecs = append(w.vecs, lens)
	return n, nil
}

// TestBodyWriteToBuffersWriter: an in-memory body of more than one chunk
// reaches a BuffersWriter in one WriteBuffers call (one writev(2) to the
// upstream), from any offset; the rest of a single chunk is one Write; a
// short WriteBuffers is io.ErrShortWrite with the offset where it stopped.
func TestBodyWriteToBuffersWriter(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 1 << 20, TempDir: dir})
	want := randomBytes(10000, 7) // chunks of 4096, 4096, 1808
	if _, err := body.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from   int64
		vecs   [][]int
		writes int
	}{
		{0, [][]int{{4096, 4096, 1808}}, 0},
		{5000, [][]int{{3192, 1808}}, 0},
		{4096, [][]int{{4096, 1808}}, 0},
		{9000, nil, 1}, // within the last chunk
	} {
		r := body.NewReader()
		if _, err := r.Seek(tc.from, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var w buffersRecorder
		n, err := r.WriteTo(&w)
		if err != nil || n != int64(len(want))-tc.from || !bytes.Equal(w.buf, want[tc.from:]) {
			t.Fatalf("from %d: WriteTo = %d, %v; bytes equal: %v", tc.from, n, err, bytes.Equal(w.buf, want[tc.from:]))
		}
		if !reflect.DeepEqual(w.vecs, tc.vecs) || w.writes != tc.writes {
			t.Fatalf("from %d: WriteBuffers calls %v and %d Writes, want %v and %d", tc.from, w.vecs, w.writes, tc.vecs, tc.writes)
		}
	}
	r := body.NewReader()
	w := buffersRecorder{limit: 6000}
	n, err := r.WriteTo(&w)
	if n != 6000 || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short WriteBuffers: WriteTo = %d, %v; want 6000, io.ErrShortWrite", n, err)
	}
	w = buffersRecorder{}
	if n, err := r.WriteTo(&w); err != nil || n != 4000 || !bytes.Equal(w.buf, want[6000:]) {
		t.Fatalf("WriteTo after the short write = %d, %v; want the last 4000 bytes", n, err)
	}
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

// countingBuffers is a BuffersWriter that only counts: it allocates
// nothing, so AllocsPerRun sees the reader's own allocations.
type countingBuffers struct{ n int64 }

func (w *countingBuffers) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *countingBuffers) WriteBuffers(v [][]byte) (int64, error) {
	var n int64
	for _, p := range v {
		n += int64(len(p))
	}
	w.n += n
	return n, nil
}

// TestBodyReaderReset: a reader Reset to its body reads it again from byte
// 0, after a whole send or halfway through one, and a body of several
// chunks is sent again without an allocation (a retry, or the next request
// of a pooled body).
func TestBodyReaderReset(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 1 << 20, TempDir: dir})
	want := randomBytes(20000, 9) // five chunks
	if _, err := body.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	var r buffer.BodyReader
	r.Reset(body)
	var w buffersRecorder
	if n, err := r.WriteTo(&w); err != nil || n != int64(len(want)) || !bytes.Equal(w.buf, want) {
		t.Fatalf("first send: %d, %v, equal %v", n, err, bytes.Equal(w.buf, want))
	}
	r.Reset(body)
	half := make([]byte, 7000)
	if _, err := io.ReadFull(&r, half); err != nil || !bytes.Equal(half, want[:7000]) {
		t.Fatalf("read after Reset: %v, equal %v", err, bytes.Equal(half, want[:7000]))
	}
	r.Reset(body)
	w = buffersRecorder{}
	if n, err := r.WriteTo(&w); err != nil || n != int64(len(want)) || !bytes.Equal(w.buf, want) || len(w.vecs) != 1 {
		t.Fatalf("send after a partial read and Reset: %d, %v, equal %v, %d WriteBuffers calls", n, err, bytes.Equal(w.buf, want), len(w.vecs))
	}
	var cw countingBuffers
	if allocs := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		if _, err := r.WriteTo(&cw); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("a send after Reset allocates %.0f times, want 0", allocs)
	}
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

// TestBodyInit: a closed Body made new with other options (a pooled body
// taken again) holds nothing of its last life, spills by its new limit, and
// gives everything back when closed.
func TestBodyInit(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	var body buffer.Body
	body.Init(buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 8192, TempDir: dir})
	first := randomBytes(5000, 3)
	if _, err := body.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	readAllWays(t, &body, first)
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	spilled := ""
	body.Init(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 4096, TempDir: dir,
		OnSpill: func(path string) { spilled = path }})
	if body.Size() != 0 || body.Spilled() {
		t.Fatalf("after Init: Size %d Spilled %v, want an empty body", body.Size(), body.Spilled())
	}
	second := randomBytes(6000, 4)
	if _, err := body.Write(second); err != nil {
		t.Fatal(err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	if spilled == "" || !body.Spilled() {
		t.Fatal("a 6000-byte body with MemoryLimit 4096 did not spill after Init")
	}
	readAllWays(t, &body, second)
	if err := body.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

// AppendBuffers hands the in-memory body's chunks from the reader's offset
// as slices behind the caller's, without moving the offset; a spilled or
// closed body appends nothing and reports false.
func TestBodyAppendBuffers(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 1 << 20, TempDir: dir})
	want := randomBytes(10000, 8) // chunks of 4096, 4096, 1808
	if _, err := body.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := body.Seal(); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{0, 4096, 5000, 9999, 10000} {
		r := body.NewReader()
		if _, err := r.Seek(from, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		v, ok := r.AppendBuffers([][]byte{[]byte("pre")})
		if !ok || string(v[0]) != "pre" || !bytes.Equal(bytes.Join(v[1:], nil), want[from:]) {
			t.Fatalf("from %d: AppendBuffers = %d slices, %v; bytes equal: %v", from, len(v), ok, bytes.Equal(bytes.Join(v[1:], nil), want[from:]))
		}
		if off, _ := r.Seek(0, io.SeekCurrent); off != from {
			t.Fatalf("from %d: the offset moved to %d", from, off)
		}
	}

	spilled := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: 4096, TempDir: dir})
	if _, err := spilled.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := spilled.Seal(); err != nil {
		t.Fatal(err)
	}
	if v, ok := spilled.NewReader().AppendBuffers(nil); ok || len(v) != 0 {
		t.Fatalf("spilled: AppendBuffers = %d slices, %v; want none, false", len(v), ok)
	}
	_ = spilled.Close()
	r := body.NewReader()
	_ = body.Close()
	if v, ok := r.AppendBuffers(nil); ok || len(v) != 0 {
		t.Fatalf("closed: AppendBuffers = %d slices, %v; want none, false", len(v), ok)
	}
}
