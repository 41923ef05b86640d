package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// loadResult is what the load generator saw in one cell.
type loadResult struct {
	hist     *hdrhistogram.Histogram // request latency, µs
	ok       int64
	errors   int64
	aborted  int64 // in flight when the cell's hard stop came
	firstErr string
	elapsed  time.Duration
}

// runLoad runs w.Concurrency clients against addr for d, each on its own
// keepalive connection. Clients start no request after d; requests in
// flight may finish until d+grace, when their connections are closed and
// the requests counted as aborted (not as errors).
func runLoad(addr string, w Workload, d, grace time.Duration) loadResult {
	start := time.Now()
	soft, hard := start.Add(d), start.Add(d+grace)
	req := []byte("GET /size/" + strconv.FormatInt(w.Size, 10) + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	results := make([]loadResult, w.Concurrency)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = client(addr, req, w, soft, hard)
		}()
	}
	wg.Wait()
	total := loadResult{hist: newHist(), elapsed: time.Since(start)}
	for _, r := range results {
		total.hist.Merge(r.hist)
		total.ok += r.ok
		total.errors += r.errors
		total.aborted += r.aborted
		if total.firstErr == "" {
			total.firstErr = r.firstErr
		}
	}
	return total
}

// client is one load-generator connection; it redials after an error.
func client(addr string, req []byte, w Workload, soft, hard time.Time) loadResult {
	r := loadResult{hist: newHist()}
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	fail := func(err error) {
		if c != nil {
			_ = c.Close()
			c = nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(hard) {
			r.aborted++
			return
		}
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	}
	for time.Now().Before(soft) {
		if c == nil {
			d := net.Dialer{Timeout: time.Until(hard)}
			if w.Client.Slow() {
				d.Control = setSlowSockopts
			}
			var err error
			if c, err = d.Dial("tcp", addr); err != nil {
				fail(err)
				continue
			}
			_ = c.SetDeadline(hard)
			br = bufio.NewReaderSize(c, 4096)
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			fail(err)
			continue
		}
		n, keep, err := readResponseHead(br)
		if err == nil && n != w.Size {
			err = fmt.Errorf("Content-Length %d, want %d", n, w.Size)
		}
		if err == nil {
			err = readBody(br, n, w.Client.Rate, t0)
		}
		if err != nil {
			fail(err)
			continue
		}
		r.ok++
		_ = r.hist.RecordValue(max(time.Since(t0).Microseconds(), 1))
		if !keep {
			_ = c.Close()
			c = nil
		}
	}
	return r
}

// readResponseHead reads a response head; anything but 200 with a
// Content-Length is an error.
func readResponseHead(br *bufio.Reader) (n int64, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, false, fmt.Errorf("status line %q", bytes.TrimSpace(line))
	}
	n, keep = -1, true
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(bytes.TrimSpace(h)) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		k, v = bytes.TrimSpace(k), bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, false, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			keep = false
		}
	}
	if n < 0 {
		return 0, false, errors.New("response without Content-Length")
	}
	return n, keep, nil
}

// readBody reads n body bytes. With rate > 0 it paces its reads so that the
// body arrives no faster than rate bytes/s since t0: it reads a slice, then
// waits until the slice is due. The waits are pacing, not synchronisation.
func readBody(br *bufio.Reader, n, rate int64, t0 time.Time) error {
	if rate <= 0 {
		_, err := io.CopyN(io.Discard, br, n)
		return err
	}
	chunk := min(max(rate/50, 512), 16<<10) // about 50 reads per second
	var buf [16 << 10]byte
	var got int64
	for got < n {
		m, err := br.Read(buf[:min(chunk, n-got)])
		got += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) && got < n {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		due := t0.Add(time.Duration(float64(got) / float64(rate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
	}
	return nil
}
