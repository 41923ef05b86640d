package buffer_test

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"

	"spillway/buffer"
)

var errClientGone = errors.New("writev() failed (32: Broken pipe)")

// failAfter is a client connection that breaks after n bytes.
type failAfter struct{ n int }

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errClientGone
	}
	w.n -= len(p)
	return len(p), nil
}

func TestNoLeaksAfterAbortedBodies(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(64 << 10)
	buffer.SetWriteHook(budget, enospcAfter(1<<20)) // the disk fills up along the way
	data := randomBytes(40_000, 12)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			opts := buffer.BodyOptions{Pool: budget.Pool(1024), MemoryLimit: 8192, TempDir: dir, Limit: 30_000}
			body := buffer.NewBody(opts)
			var outcome string
			switch i % 6 {
			case 0: // the client went away before sending anything
				outcome = "closed empty"
			case 1: // ... in the middle, in memory
				_, _ = body.Write(data[:5000])
				outcome = "closed in memory"
			case 2: // ... in the middle, spilled
				_, _ = body.Write(data[:20_000])
				outcome = "closed spilled"
			case 3: // too large
				_, err := body.ReadFrom(bytes.NewReader(data))
				var le *buffer.LimitError
				var te *buffer.TempFileError
				switch {
				case errors.As(err, &le):
					outcome = "limit"
				case errors.As(err, &te): // the simulated disk filled up first
					outcome = "disk full"
				default:
					t.Errorf("ReadFrom = %v, want *LimitError or *TempFileError", err)
				}
			default: // sealed, then a try broke off mid-body
				_, err := body.Write(data[:(i%2+1)*12_000])
				if err == nil {
					err = body.Seal()
				}
				if err == nil {
					_, err = body.NewReader().WriteTo(&failAfter{n: 9000})
					if !errors.Is(err, errClientGone) {
						t.Errorf("WriteTo = %v", err)
					}
					outcome = "replay aborted"
				} else {
					outcome = "disk full"
				}
			}
			if err := body.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("outcomes: %v, stats %+v", counts, budget.Stats())
	if counts["disk full"] == 0 {
		t.Error("the simulated disk never filled up")
	}
	assertClean(t, budget, dir)
}

// blockingWriter is a client whose first Write (or ReadFrom) signals entered
// and then waits for release, so a test can act while the consumer is busy
// outside the spool's lock.
type blockingWriter struct {
	entered, release chan struct{}
	once             sync.Once
}

func (w *blockingWriter) wait() {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
}

func (w *blockingWriter) Write(p []byte) (int, error) { w.wait(); return len(p), nil }

type blockingReaderFrom struct{ *blockingWriter }

func (w blockingReaderFrom) ReadFrom(r io.Reader) (int64, error) {
	w.wait()
	return io.Copy(io.Discard, r)
}

func TestNoLeaksAfterAbortedSpools(t *testing.T) {
	dir := t.TempDir()
	budget := buffer.NewBudget(128 << 10)
	data := randomBytes(200_000, 13)
	var wg sync.WaitGroup
	for i := range 240 {
		wg.Go(func() {
			maxTemp := int64(1 << 20)
			if i%2 == 1 {
				maxTemp = 0 // the producer blocks instead of spilling
			}
			sp := buffer.NewSpool(buffer.SpoolOptions{Pool: budget.Pool(4096), Buffers: 4, TempDir: dir, MaxTempFileSize: maxTemp})
			producerErr := make(chan error, 1)
			produce := func(upstreamErr error, n int) {
				for off := 0; off < n; off += 10_000 {
					if _, err := sp.Write(data[off:min(off+10_000, n)]); err != nil {
						producerErr <- err
						return
					}
				}
				sp.CloseWrite(upstreamErr)
				producerErr <- nil
			}
			switch i % 10 / 2 {
			case 0: // the client is gone before the upstream sent anything
				_ = sp.Close()
				produce(nil, len(data))
				if err := <-producerErr; !errors.Is(err, buffer.ErrConsumerClosed) {
					t.Errorf("Write after Close = %v", err)
				}
			case 1: // the upstream fails mid-way
				go produce(errUpstream, 150_000)
				_, err := sp.WriteTo(io.Discard)
				if !errors.Is(err, errUpstream) || <-producerErr != nil {
					t.Errorf("consumer got %v, want the upstream error", err)
				}
				_ = sp.Close()
			case 2: // the client goes away mid-way
				go produce(nil, len(data))
				if _, err := sp.WriteTo(&failAfter{n: 50_000}); !errors.Is(err, errClientGone) {
					t.Errorf("WriteTo = %v", err)
				}
				_ = sp.Close()
				if err := <-producerErr; err != nil && !errors.Is(err, buffer.ErrConsumerClosed) {
					t.Errorf("producer got %v", err)
				}
			case 3, 4: // Close from the other side while the consumer is busy
				// writing a memory chunk (3) or sending a file range (4)
				w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
				var dst io.Writer = w
				if i%10/2 == 4 {
					dst = blockingReaderFrom{w}
				}
				// With spilling off the producer may block once the budget
				// is spent (each spool is then guaranteed only one chunk),
				// so it runs on its own and may see the consumer's Close.
				go produce(nil, 100_000)
				consumerErr := make(chan error, 1)
				go func() {
					_, err := sp.WriteTo(dst)
					consumerErr <- err
				}()
				<-w.entered
				_ = sp.Close()
				close(w.release)
				if err := <-consumerErr; !errors.Is(err, buffer.ErrClosed) {
					t.Errorf("WriteTo after Close = %v", err)
				}
				if err := <-producerErr; err != nil && !errors.Is(err, buffer.ErrConsumerClosed) {
					t.Errorf("producer: %v", err)
				}
			}
			_ = sp.Close() // idempotent
		})
	}
	wg.Wait()
	assertClean(t, budget, dir)
}

// TestBudgetUnderLoad runs 200 concurrent 10 MiB responses through spools whose
// clients start late and then read slowly, and checks the budget's promise:
// memory never exceeds the limit plus one chunk per spool.
func TestBudgetUnderLoad(t *testing.T) {
	const (
		spools    = 200
		size      = 10 << 20
		chunkSize = 16 << 10
		limit     = 4 << 20
	)
	if testing.Short() {
		t.Skip("moves 2 GiB")
	}
	dir := t.TempDir()
	budget := buffer.NewBudget(limit)
	src := randomBytes(1<<20, 14)
	var wg sync.WaitGroup
	errs := make(chan error, spools)
	// No client reads before every upstream has sent 512 KiB: all spools
	// want memory at once, so the budget is under pressure however the
	// goroutines are scheduled.
	var ready sync.WaitGroup
	ready.Add(spools)
	for i := range spools {
		wg.Go(func() {
			sp := buffer.NewSpool(buffer.SpoolOptions{
				Pool: budget.Pool(chunkSize), Buffers: 8, TempDir: dir,
				// Spill up to 1 MiB, then relay at client speed, as nginx does.
				MaxTempFileSize: 1 << 20, TempFileWriteSize: 32 << 10,
			})
			defer sp.Close()
			sum := crc32.NewIEEE()
			go func() {
				for off := 0; off < size; off += 32 << 10 {
					if off == 512<<10 {
						ready.Done()
					}
					p := src[(off/(32<<10)*4099)%(len(src)-32<<10):][:32<<10]
					_, _ = sum.Write(p)
					if _, err := sp.Write(p); err != nil {
						if off < 512<<10 {
							ready.Done() // never leave the others waiting
						}
						sp.CloseWrite(err)
						return
					}
				}
				sp.CloseWrite(nil)
			}()
			ready.Wait()
			// A slow client: small reads, or WriteTo through a plain writer.
			check := crc32.NewIEEE()
			var n int64
			var err error
			if i%2 == 0 {
				n, err = io.CopyBuffer(check, struct{ io.Reader }{sp}, make([]byte, 4096))
			} else {
				n, err = sp.WriteTo(onlyWriter{check})
			}
			if err == nil && (n != size || check.Sum32() != sum.Sum32()) {
				err = fmt.Errorf("spool %d: got %d bytes, checksum mismatch %v", i, n, check.Sum32() != sum.Sum32())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := budget.Stats()
	t.Logf("stats %+v", st)
	if st.PeakBytesInUse > limit+spools*chunkSize {
		t.Fatalf("peak %d bytes exceeds limit %d + one chunk per spool (%d)", st.PeakBytesInUse, limit, spools*chunkSize)
	}
	if st.PeakBytesInUse < limit || st.Denied == 0 || st.BytesSpilled == 0 {
		t.Fatalf("the budget was never under pressure: %+v", st)
	}
	assertClean(t, budget, dir)
}
