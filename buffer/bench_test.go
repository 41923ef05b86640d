package buffer_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"spillway/buffer"
)

// BenchmarkBody is a request body's life on the steady-state path: fill it
// from the client, seal it, replay it to an upstream, reset it for the next
// request. Memory sizes stay in chunks; spill sizes go through a temp file.
// The Body is reused with Reset, as a connection would, so allocs/op is what
// the path costs per request (0 in memory).
func BenchmarkBody(b *testing.B) {
	for _, tc := range []struct {
		name  string
		size  int
		limit int64 // client_body_buffer_size
	}{
		{"mem-1k", 1 << 10, 16 << 10},
		{"mem-16k", 16 << 10, 16 << 10},
		{"spill-256k", 256 << 10, 16 << 10},
		{"spill-4m", 4 << 20, 16 << 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := randomBytes(tc.size, 1)
			budget := buffer.NewBudget(64 << 20)
			body := buffer.NewBody(buffer.BodyOptions{Pool: budget.Pool(4096), MemoryLimit: tc.limit, TempDir: b.TempDir()})
			defer body.Close()
			src := bytes.NewReader(data)
			var rd buffer.BodyReader
			b.ReportAllocs()
			b.SetBytes(int64(tc.size))
			b.ResetTimer()
			for b.Loop() {
				src.Reset(data)
				if _, err := body.ReadFrom(src); err != nil {
					b.Fatal(err)
				}
				if err := body.Seal(); err != nil {
					b.Fatal(err)
				}
				rd = *body.NewReader()
				if n, err := rd.WriteTo(io.Discard); err != nil || n != int64(tc.size) {
					b.Fatal(n, err)
				}
				if err := body.Reset(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSpool is an upstream response through a Spool with the producer
// and the consumer on two goroutines, memory only (the client keeps up) and
// with a 1 MiB temp-file allowance and a consumer that starts late.
func BenchmarkSpool(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, late := range []bool{false, true} {
			name := strconv.Itoa(size>>10) + "k"
			if late {
				name += "-spill"
			}
			b.Run(name, func(b *testing.B) {
				data := randomBytes(size, 2)
				budget := buffer.NewBudget(64 << 20)
				pool := budget.Pool(4096)
				dir := b.TempDir()
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					sp := buffer.NewSpool(buffer.SpoolOptions{Pool: pool, Buffers: 8, TempDir: dir, MaxTempFileSize: 1 << 30})
					done := make(chan error, 1)
					produce := func() {
						for off := 0; off < size; off += 32 << 10 {
							if _, err := sp.Write(data[off:min(off+32<<10, size)]); err != nil {
								done <- err
								return
							}
						}
						sp.CloseWrite(nil)
						done <- nil
					}
					if late {
						produce() // all of it before the client reads: spills
					} else {
						go produce()
					}
					if n, err := sp.WriteTo(io.Discard); err != nil || n != int64(size) {
						b.Fatal(n, err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
					_ = sp.Close()
				}
			})
		}
	}
}
