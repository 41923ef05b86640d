package buffer_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"spillway/buffer"
)

// maxFuzzLen bounds the fuzzers' inputs: with one-byte chunks every byte is
// a syscall, and longer inputs find nothing new.
const maxFuzzLen = 8 << 10

// pieces splits n bytes into random lengths from 0 to 2*unit, reproducibly.
func pieces(n, unit int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []int
	for n > 0 {
		k := min(n, r.IntN(2*unit+1))
		out = append(out, k)
		n -= k
	}
	return out
}

// FuzzBodyRoundTrip writes random-sized pieces (by Write and by ReadFrom)
// across the memory/disk boundary, with a small budget that may refuse
// chunks, and checks that every way of reading, twice, gives back the same
// bytes, and that Close leaves nothing behind.
func FuzzBodyRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(4), uint16(8), uint8(0), uint16(0), uint64(1))
	f.Add(bytes.Repeat([]byte("0123456789"), 100), uint8(16), uint16(100), uint8(7), uint16(64), uint64(2))
	f.Add(bytes.Repeat([]byte{0xff}, 4096), uint8(64), uint16(4096), uint8(30), uint16(200), uint64(3)) // exactly the memory limit
	f.Add([]byte{}, uint8(1), uint16(0), uint8(1), uint16(1), uint64(4))
	f.Add(make([]byte, 3000), uint8(255), uint16(1), uint8(255), uint16(65535), uint64(5))
	f.Fuzz(runBodyCase)
}

func runBodyCase(t *testing.T, data []byte, chunk uint8, memLimit uint16, writeSize uint8, budgetLimit uint16, seed uint64) {
	data = data[:min(len(data), maxFuzzLen)]
	{
		dir := t.TempDir()
		budget := buffer.NewBudget(int64(budgetLimit))
		cs := 1 + int(chunk)%64
		spills := 0
		body := buffer.NewBody(buffer.BodyOptions{
			Pool:              budget.Pool(cs),
			MemoryLimit:       int64(memLimit),
			TempDir:           dir,
			TempFileWriteSize: int(writeSize) % 50,
			OnSpill:           func(string) { spills++ },
		})
		off := 0
		for i, n := range pieces(len(data), cs, seed) {
			p := data[off : off+n]
			off += n
			var err error
			if i%3 == 2 {
				_, err = body.ReadFrom(iotest.HalfReader(bytes.NewReader(p)))
			} else {
				_, err = body.Write(p)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := body.Seal(); err != nil {
			t.Fatal(err)
		}
		memMax := int64(memLimit)
		if memMax == 0 {
			memMax = int64(cs)
		}
		if int64(len(data)) > memMax && !body.Spilled() {
			t.Fatalf("%d bytes with MemoryLimit %d did not spill", len(data), memMax)
		}
		if spills > 1 || body.Spilled() != (spills == 1) {
			t.Fatalf("OnSpill called %d times, Spilled() = %v", spills, body.Spilled())
		}
		readAllWays(t, body, data)
		readAllWays(t, body, data)
		if len(data) > 0 { // random ReadAt
			r := rand.New(rand.NewPCG(seed, 1))
			for range 10 {
				a := r.IntN(len(data))
				b := a + r.IntN(len(data)-a+1)
				p := make([]byte, b-a)
				n, err := body.ReadAt(p, int64(a))
				if n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, data[a:b]) {
					t.Fatalf("ReadAt(%d..%d) = %d, %v", a, b, n, err)
				}
			}
		}
		if st := budget.Stats(); st.PeakBytesInUse > max(int64(budgetLimit), 0)+int64(max(cs, int(writeSize)%50)) {
			t.Fatalf("peak %d over budget %d + one chunk", st.PeakBytesInUse, budgetLimit)
		}
		if err := body.Close(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	}
}

// FuzzSpoolRoundTrip runs a producer and a concurrent consumer through a
// small spool, with random write and read sizes, spilling or blocking, and
// checks the consumer gets the producer's bytes in order and then its error.
func FuzzSpoolRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(4), uint8(2), uint16(0), uint8(0), uint64(1), uint8(0), false)
	f.Add(bytes.Repeat([]byte("0123456789"), 500), uint8(16), uint8(3), uint16(1000), uint8(7), uint64(2), uint8(1), true)
	f.Add(randomBytes(20000, 3), uint8(64), uint8(8), uint16(65535), uint8(100), uint64(3), uint8(2), false)
	f.Add(randomBytes(9000, 4), uint8(1), uint8(1), uint16(3), uint8(1), uint64(4), uint8(3), true)
	f.Fuzz(runSpoolCase)
}

func runSpoolCase(t *testing.T, data []byte, chunk, nbuf uint8, maxTemp uint16, writeSize uint8, seed uint64, mode uint8, fail bool) {
	data = data[:min(len(data), maxFuzzLen)]
	{
		dir := t.TempDir()
		budget := buffer.NewBudget(256)
		cs := 1 + int(chunk)%64
		spills := 0
		sp := buffer.NewSpool(buffer.SpoolOptions{
			Pool:              budget.Pool(cs),
			Buffers:           int(nbuf) % 10,
			TempDir:           dir,
			MaxTempFileSize:   int64(maxTemp),
			TempFileWriteSize: int(writeSize) % 50,
			OnSpill:           func(string) { spills++ },
		})
		var wantErr error
		if fail {
			wantErr = errUpstream
		}
		produced := make(chan error, 1)
		go func() {
			off := 0
			for _, n := range pieces(len(data), cs, seed) {
				if _, err := sp.Write(data[off : off+n]); err != nil {
					sp.CloseWrite(err)
					produced <- err
					return
				}
				off += n
			}
			sp.CloseWrite(wantErr)
			produced <- nil
		}()
		var got bytes.Buffer
		var err error
		switch mode % 4 {
		case 0:
			_, err = sp.WriteTo(&got) // ReaderFrom: sendfile path
		case 1:
			_, err = sp.WriteTo(onlyWriter{&got})
		case 2:
			_, err = io.Copy(&got, struct{ io.Reader }{sp})
		case 3:
			_, err = io.Copy(&got, iotest.OneByteReader(sp))
		}
		if perr := <-produced; perr != nil {
			t.Fatal(perr)
		}
		if !errors.Is(err, wantErr) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("consumer got %d of %d bytes (identical %v), err %v, want %v",
				got.Len(), len(data), bytes.Equal(got.Bytes(), data), err, wantErr)
		}
		if spills > 1 || sp.Spilled() != (spills == 1) {
			t.Fatalf("OnSpill called %d times, Spilled() = %v", spills, sp.Spilled())
		}
		if st := budget.Stats(); st.BytesSpilled > int64(maxTemp) {
			t.Fatalf("spilled %d bytes, MaxTempFileSize %d", st.BytesSpilled, maxTemp)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		assertClean(t, budget, dir)
	}
}
