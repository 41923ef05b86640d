package buffer_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"spillway/buffer"
)

var errUpstream = errors.New("upstream prematurely closed connection")

func TestSpoolStreamsBeforeCloseWrite(t *testing.T) {
	budget := buffer.NewBudget(1 << 20)
	sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(64), Buffers: 4, TempDir: t.TempDir()})
	defer sp.Close()
	for _, msg := range []string{"HTTP body ", "arrives in ", "pieces"} {
		if _, err := sp.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		// The consumer sees each piece while the producer is still open.
		got := make([]byte, 100)
		n, err := sp.Read(got)
		if err != nil || string(got[:n]) != msg {
			t.Fatalf("Read = %q, %v; want %q", got[:n], err, msg)
		}
	}
	sp.CloseWrite(nil)
	if n, err := sp.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after clean CloseWrite = %d, %v; want io.EOF", n, err)
	}
}

func TestSpoolSpillsWhenMemoryIsFull(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	var spills []string
	sp := buffer.NewSpool(buffer.SpoolOptions{
		Pool: budget.Pool(16), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20, TempFileWriteSize: 32,
		OnSpill: func(p string) { spills = append(spills, p) },
	})
	want := randomBytes(1000, 5)
	// Nobody reads: a blocking Write would hang here.
	for i := 0; i < 500; i += 50 {
		if _, err := sp.Write(want[i : i+50]); err != nil {
			t.Fatal(err)
		}
	}
	wantPath := filepath.Join(dir, "0000000001")
	if !sp.Spilled() || sp.TempPath() != wantPath || len(spills) != 1 || spills[0] != wantPath {
		t.Fatalf("Spilled %v, TempPath %q, OnSpill %q", sp.Spilled(), sp.TempPath(), spills)
	}
	if st := budget.Stats(); st.ChunksInUse != 2 || st.BytesSpilled != 500-32 || st.FilesOpen != 1 {
		t.Fatalf("stats %+v: want 2 chunks in memory and the rest (468 bytes) spilled", st)
	}
	// The client catches up: freed chunks take new data again, after the
	// file range, so the FIFO is memory, file, memory.
	got := make([]byte, 0, 1000)
	buf := make([]byte, 7)
	for len(got) < 500 {
		n, err := sp.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	spilledBefore := budget.Stats().BytesSpilled
	if _, err := sp.Write(want[500:520]); err != nil {
		t.Fatal(err)
	}
	if budget.Stats().BytesSpilled != spilledBefore {
		t.Fatal("wrote to the file although memory was free again")
	}
	if _, err := sp.Write(want[520:]); err != nil {
		t.Fatal(err)
	}
	if sp.BytesWritten() != 1000 || sp.BufferedBytes() != 500 {
		t.Fatalf("BytesWritten %d, BufferedBytes %d", sp.BytesWritten(), sp.BufferedBytes())
	}
	sp.CloseWrite(nil)
	rest, err := io.ReadAll(sp)
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, rest...); !bytes.Equal(got, want) {
		t.Fatal("bytes differ or out of order")
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, budget, dir)
}

func TestSpoolWriteToSendfileShape(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	for _, rf := range []bool{true, false} {
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(1024), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20})
		want := randomBytes(10_000, 6)
		if _, err := sp.Write(want); err != nil {
			t.Fatal(err)
		}
		sp.CloseWrite(nil)
		var got []byte
		if rf {
			rec := &readFromRecorder{}
			if _, err := sp.WriteTo(rec); err != nil {
				t.Fatal(err)
			}
			assertSendfileShape(t, rec.readers)
			got = rec.buf
		} else {
			var bb bytes.Buffer
			if _, err := sp.WriteTo(onlyWriter{&bb}); err != nil {
				t.Fatal(err)
			}
			got = bb.Bytes()
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("ReaderFrom=%v: bytes differ", rf)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	assertClean(t, budget, dir)
}

func TestSpoolCloseWriteError(t *testing.T) {
	budget := buffer.NewBudget(1 << 20)
	for _, useWriteTo := range []bool{false, true} {
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 2, TempDir: t.TempDir(), MaxTempFileSize: 100})
		if _, err := sp.Write([]byte("partial response body")); err != nil {
			t.Fatal(err)
		}
		sp.CloseWrite(errUpstream)
		sp.CloseWrite(nil) // only the first call counts
		var got bytes.Buffer
		var err error
		if useWriteTo {
			_, err = sp.WriteTo(&got)
		} else {
			_, err = io.Copy(onlyWriter{&got}, struct{ io.Reader }{sp})
		}
		// Drained first, then the producer's error, never io.EOF.
		if got.String() != "partial response body" || !errors.Is(err, errUpstream) {
			t.Fatalf("WriteTo=%v: got %q, %v", useWriteTo, got.String(), err)
		}
		if _, err := sp.Read(make([]byte, 1)); !errors.Is(err, errUpstream) {
			t.Fatalf("Read after drain: %v", err)
		}
		if _, err := sp.Write([]byte("x")); !errors.Is(err, buffer.ErrWriteClosed) {
			t.Fatalf("Write after CloseWrite: %v", err)
		}
		_ = sp.Close()
	}
	assertClean(t, budget, t.TempDir())
}

// With MaxTempFileSize 0 the upstream is read only as fast as the client
// drains: Write blocks while all buffers are full.
func TestSpoolNoTempFileBlocksProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := buffer.NewBudget(1 << 20)
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 2, TempDir: t.TempDir()})
		defer sp.Close()
		want := randomBytes(40, 7)
		if _, err := sp.Write(want[:16]); err != nil { // fills both buffers
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, err := sp.Write(want[16:])
			done <- err
		}()
		synctest.Wait() // the producer is durably blocked
		select {
		case err := <-done:
			t.Fatalf("Write returned (%v) with all buffers full", err)
		default:
		}
		if sp.BufferedBytes() != 16 || sp.Spilled() {
			t.Fatalf("BufferedBytes %d, Spilled %v", sp.BufferedBytes(), sp.Spilled())
		}
		got := make([]byte, 8)
		if _, err := io.ReadFull(sp, got); err != nil { // frees one buffer
			t.Fatal(err)
		}
		synctest.Wait()
		if sp.BufferedBytes() != 16 {
			t.Fatalf("after freeing one 8-byte buffer: BufferedBytes %d, want 16", sp.BufferedBytes())
		}
		rest := make([]byte, 32)
		if _, err := io.ReadFull(sp, rest); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(got, rest...), want) {
			t.Fatal("bytes differ")
		}
		if st := budget.Stats(); st.FilesCreated != 0 || st.ChunksInUse > 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Once MaxTempFileSize bytes went to the file, the spool stops spilling and
// relays at client speed, as nginx does.
func TestSpoolMaxTempFileSizeReached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		budget := buffer.NewBudget(1 << 20)
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 1, TempDir: dir, MaxTempFileSize: 20})
		want := randomBytes(100, 8)
		done := make(chan error)
		go func() {
			_, err := sp.Write(want)
			sp.CloseWrite(err)
			done <- err
		}()
		synctest.Wait()
		if st := budget.Stats(); sp.BufferedBytes() != 28 || st.BytesSpilled != 20 {
			t.Fatalf("BufferedBytes %d, spilled %d; want 8 in memory + 20 in the file", sp.BufferedBytes(), st.BytesSpilled)
		}
		got, err := io.ReadAll(sp)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadAll: %v, identical %v", err, bytes.Equal(got, want))
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		_ = sp.Close()
		assertClean(t, budget, dir)
	})
}

func TestSpoolConsumerCloseUnblocksProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		budget := buffer.NewBudget(1 << 20)
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 2, TempDir: dir})
		done := make(chan error)
		go func() {
			_, err := sp.Write(make([]byte, 1000))
			done <- err
		}()
		synctest.Wait()
		if err := sp.Close(); err != nil { // the client went away
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, buffer.ErrConsumerClosed) {
			t.Fatalf("blocked Write returned %v, want ErrConsumerClosed", err)
		}
		if _, err := sp.Write([]byte("x")); !errors.Is(err, buffer.ErrConsumerClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		sp.CloseWrite(nil) // harmless after Close
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	})
}

func TestSpoolCloseWakesWaitingConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := buffer.NewBudget(1 << 20)
		sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 2})
		done := make(chan error)
		go func() {
			_, err := sp.WriteTo(io.Discard)
			done <- err
		}()
		synctest.Wait()
		_ = sp.Close() // from the producer's side
		if err := <-done; !errors.Is(err, buffer.ErrClosed) {
			t.Fatalf("WriteTo = %v, want ErrClosed", err)
		}
	})
}

// CloseWrite must not wait for the client: the proxy releases the upstream
// connection as soon as it returns.
func TestSpoolCloseWriteDoesNotWaitForConsumer(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(64), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20})
	want := randomBytes(5000, 9)
	if _, err := sp.Write(want); err != nil {
		t.Fatal(err)
	}
	sp.CloseWrite(nil) // nobody has read anything
	if sp.BufferedBytes() != 5000 {
		t.Fatalf("BufferedBytes %d", sp.BufferedBytes())
	}
	got, err := io.ReadAll(sp)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadAll: %v", err)
	}
	_ = sp.Close()
	assertClean(t, budget, dir)
}

func TestSpoolTempDirUnusable(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	budget := buffer.NewBudget(1 << 20)
	var spilled bool
	sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(8), Buffers: 2, TempDir: notDir, MaxTempFileSize: 1 << 20,
		OnSpill: func(string) { spilled = true }})
	want := randomBytes(40, 10)
	n, err := sp.Write(want)
	var pe *os.PathError
	var errno syscall.Errno
	if n != 16 || !errors.As(err, &pe) || !errors.As(err, &errno) || errno != syscall.ENOTDIR || pe.Op != "open" {
		t.Fatalf("Write = %d, %v; want 16 bytes in memory then open ENOTDIR", n, err)
	}
	if spilled {
		t.Fatal("OnSpill called although no file was created")
	}
	if _, err2 := sp.Write([]byte("x")); err2 != err {
		t.Fatalf("second Write = %v, want the sticky error", err2)
	}
	// nginx: [crit] open() ... failed, and the client gets a truncated body.
	sp.CloseWrite(err)
	got, rerr := io.ReadAll(sp)
	if !bytes.Equal(got, want[:16]) || rerr != err {
		t.Fatalf("consumer got %d bytes, %v", len(got), rerr)
	}
	_ = sp.Close()
	if st := budget.Stats(); st.ChunksInUse != 0 || st.FilesOpen != 0 || st.FilesCreated != 0 {
		t.Fatalf("leak: %+v", st)
	}
}

// A disk that fills up (ENOSPC) does not fail the response: the spool
// keeps what the file holds, stops spilling, and the producer goes on at
// the consumer's pace (nginx would truncate the response). OnFull says so
// once.
func TestSpoolDiskFull(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	buffer.SetWriteHook(budget, enospcAfter(300))
	var fulls []error
	sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(64), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20, TempFileWriteSize: 100,
		OnFull: func(err error) { fulls = append(fulls, err) }})
	want := randomBytes(1000, 11)
	produced := make(chan error, 1)
	go func() {
		_, err := sp.Write(want)
		sp.CloseWrite(err)
		produced <- err
	}()
	// The producer fills 2 buffers and 300 bytes of file, then waits.
	eventually(t, "the spool to hold 2 buffers and 300 bytes on disk", func() bool { return sp.BufferedBytes() == 128+300 })
	var got bytes.Buffer
	if _, rerr := sp.WriteTo(&got); rerr != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("consumer: %v, %d bytes, identical %v", rerr, got.Len(), bytes.Equal(got.Bytes(), want))
	}
	if err := <-produced; err != nil {
		t.Fatalf("Write = %v, want the whole body accepted", err)
	}
	var errno syscall.Errno
	if len(fulls) != 1 || !errors.As(fulls[0], &errno) || errno != syscall.ENOSPC {
		t.Fatalf("OnFull calls %v, want one with ENOSPC", fulls)
	}
	_ = sp.Close()
	assertClean(t, budget, dir)
}

// The Budget's temp-file limit: files together never hold more than it;
// a spool that meets it stops spilling like one on a full disk (OnFull
// with ErrTempFileLimit, read as ENOSPC), and the bytes are released when
// the file is closed. A spool that finds it used up creates no file.
func TestSpoolTempFileLimit(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(1 << 20)
	budget.SetTempLimit(1000)
	newSpool := func(full *[]error) *buffer.Spool {
		return buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(64), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20, TempFileWriteSize: 300,
			OnFull: func(err error) { *full = append(*full, err) }})
	}
	var full1, full2 []error
	a, b := newSpool(&full1), newSpool(&full2)
	want := randomBytes(5000, 12)
	produce := func(sp *buffer.Spool) chan error {
		done := make(chan error, 1)
		go func() { _, err := sp.Write(want); sp.CloseWrite(err); done <- err }()
		return done
	}
	da := produce(a)
	eventually(t, "the first spool to fill the limit", func() bool { return a.BufferedBytes() == 128+1000 })
	db := produce(b)
	eventually(t, "the second spool to fill its memory", func() bool { return b.BufferedBytes() == 128 })
	if st := budget.Stats(); st.TempBytes != 1000 || st.PeakTempBytes != 1000 || st.FilesCreated != 1 {
		t.Fatalf("budget %+v: want 1000 bytes in one file", st)
	}
	for _, sp := range []*buffer.Spool{a, b} {
		var got bytes.Buffer
		if _, err := sp.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("consumer: %v, %d bytes", err, got.Len())
		}
		_ = sp.Close()
	}
	for _, d := range []chan error{da, db} {
		if err := <-d; err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if len(full1) != 1 || !errors.Is(full1[0], buffer.ErrTempFileLimit) || !buffer.DiskFull(full1[0]) ||
		len(full2) != 1 || !errors.Is(full2[0], buffer.ErrTempFileLimit) {
		t.Fatalf("OnFull: %v and %v, want one ErrTempFileLimit each", full1, full2)
	}
	if st := budget.Stats(); st.TempBytes != 0 || st.PeakTempBytes != 1000 || st.TempDenied < 2 {
		t.Fatalf("budget after Close: %+v", st)
	}
	assertClean(t, budget, dir)
}

// With SpillOnlyWhenStalled and a StallGrace, a producer that finds memory
// full waits on a stalled consumer for the grace in all, across stalls,
// before it spills (proxy_spill_grace); waits while the consumer keeps up
// do not count. Fake time (synctest) makes the boundaries exact.
func TestSpoolStallGraceIsCumulative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		budget := buffer.NewBudget(1 << 20)
		sp := buffer.NewSpool(buffer.SpoolOptions{
			Pool: budget.Pool(8), Buffers: 2, TempDir: dir, MaxTempFileSize: 1 << 20,
			SpillOnlyWhenStalled: true, StallGrace: 50 * time.Millisecond,
		})
		want := randomBytes(48, 9)
		if _, err := sp.Write(want[:16]); err != nil { // memory is full
			t.Fatal(err)
		}
		sp.SetStalled(true)
		done := make(chan error)
		go func() {
			_, err := sp.Write(want[16:])
			done <- err
		}()
		wait := func(d time.Duration) {
			time.Sleep(d)
			synctest.Wait()
		}
		wait(30 * time.Millisecond)
		if sp.Spilled() {
			t.Fatal("spilled 30ms into a 50ms grace")
		}
		// The client takes 8 bytes: the producer fills the freed chunk.
		got := make([]byte, 8)
		if _, err := io.ReadFull(sp, got); err != nil {
			t.Fatal(err)
		}
		sp.SetStalled(false)
		wait(time.Hour) // memory full, consumer keeping up: no grace is used
		if sp.Spilled() || sp.BufferedBytes() != 16 {
			t.Fatalf("Spilled %v, BufferedBytes %d: want no spill while the consumer keeps up", sp.Spilled(), sp.BufferedBytes())
		}
		sp.SetStalled(true) // 20ms of grace are left
		wait(19 * time.Millisecond)
		if sp.Spilled() {
			t.Fatal("spilled after 49ms of waiting on a stalled consumer")
		}
		wait(2 * time.Millisecond)
		if !sp.Spilled() {
			t.Fatal("did not spill after the 50ms grace was used up")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sp.CloseWrite(nil)
		rest, err := io.ReadAll(sp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(got, rest...), want) {
			t.Fatal("bytes differ or out of order")
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	})
}

// Passthrough takes the producer's bytes only while the consumer is idle in
// WriteTo with nothing buffered: never before WriteTo (the proxy's response
// head is not written yet then), and what it does not take is buffered and
// written after, in order. The destination is a plain bytes.Buffer, so the
// race detector checks that Passthrough and the consumer never write at once.
func TestSpoolPassthrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := buffer.NewBudget(1 << 20)
		var dst bytes.Buffer
		limit, passes := -1, 0
		sp := buffer.NewSpool(buffer.SpoolOptions{
			Pool: budget.Pool(8), Buffers: 2, TempDir: t.TempDir(),
			Passthrough: func(p []byte) int {
				passes++
				k := len(p)
				if limit >= 0 {
					k = min(k, limit)
				}
				dst.Write(p[:k])
				return k
			},
		})
		want := randomBytes(45, 11)
		if _, err := sp.Write(want[:5]); err != nil {
			t.Fatal(err)
		}
		if passes != 0 || sp.BufferedBytes() != 5 {
			t.Fatalf("before WriteTo: %d passes, %d bytes buffered; want 0 and 5", passes, sp.BufferedBytes())
		}
		type result struct {
			n   int64
			err error
		}
		done := make(chan result)
		go func() {
			n, err := sp.WriteTo(&dst)
			done <- result{n, err}
		}()
		synctest.Wait() // the consumer wrote the 5 bytes and waits
		if _, err := sp.Write(want[5:30]); err != nil {
			t.Fatal(err)
		}
		if passes != 1 || sp.BufferedBytes() != 0 || !bytes.Equal(dst.Bytes(), want[:30]) {
			t.Fatalf("idle consumer: %d passes, %d buffered, dst %d bytes; want 1, 0, 30", passes, sp.BufferedBytes(), dst.Len())
		}
		limit = 4 // the destination fills up: 4 bytes pass, 11 are buffered
		if _, err := sp.Write(want[30:45]); err != nil {
			t.Fatal(err)
		}
		passed := passes
		sp.CloseWrite(nil)
		r := <-done
		if passed != 2 {
			t.Fatalf("%d passes, want 2 (none once bytes are buffered)", passed)
		}
		if r.err != nil || r.n != 45 {
			t.Fatalf("WriteTo = %d, %v; want 45 (passed bytes included), nil", r.n, r.err)
		}
		if !bytes.Equal(dst.Bytes(), want) {
			t.Fatal("bytes differ or out of order")
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if st := budget.Stats(); st.ChunksInUse != 0 || st.FilesCreated != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}
