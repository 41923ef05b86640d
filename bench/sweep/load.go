package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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

	// windows are the latencies of the requests that finished in each
	// window (loadWindows per d) while the clients were still starting
	// requests: the repeats the cell's ± figures come from.
	windows []*hdrhistogram.Histogram
	winLen  time.Duration
}

// loadWindows is how many windows d is cut into for the ± figures.
const loadWindows = 5

// loadShared is what a cell's clients share: when to stop starting
// requests, the count towards the minimum sample count, and the windows.
type loadShared struct {
	start, soft, limit, hard time.Time
	minSamples               int64
	done                     atomic.Int64
	stopped                  atomic.Int64 // ns after start when the clients stopped starting requests; 0 while they go on

	mu      sync.Mutex
	winLen  time.Duration
	windows []*hdrhistogram.Histogram
}

// more says whether a client starts another request: until soft, and
// after it until limit while fewer than minSamples requests have finished.
func (s *loadShared) more() bool {
	now := time.Now()
	if now.Before(s.soft) || s.done.Load() < s.minSamples && now.Before(s.limit) {
		return true
	}
	s.stopped.CompareAndSwap(0, int64(now.Sub(s.start)))
	return false
}

// record counts a finished request into its window.
func (s *loadShared) record(end time.Time, us int64) {
	s.done.Add(1)
	i := int(end.Sub(s.start) / s.winLen)
	s.mu.Lock()
	for len(s.windows) <= i {
		s.windows = append(s.windows, hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 2))
	}
	_ = s.windows[i].RecordValue(us)
	s.mu.Unlock()
}

// runLoad runs w.Concurrency clients against addr for d, each on its own
// keepalive connection. Clients start no request after d; requests in
// flight may finish until d+grace, when their connections are closed and
// the requests counted as aborted (not as errors). Connection i reads like
// w.Client.ForConn(i) and, with a size distribution, draws its sizes from
// its own generator seeded with (seed, i).
//
// minSamples and limit make a cell long enough to measure: past d the
// clients go on until minSamples requests have finished or limit (≥ d)
// has passed, whichever comes first.
//
// Client i is the sweep's connection first+i for its source address
// (sourceAddr): first is how many connections the idle probe holds open.
func runLoad(addr string, w Workload, up upstreamSpec, seed uint64, d, grace time.Duration, minSamples int64, limit time.Duration, first int) loadResult {
	start := time.Now()
	limit = max(limit, d)
	sh := &loadShared{start: start, soft: start.Add(d), limit: start.Add(limit), hard: start.Add(limit + grace),
		minSamples: minSamples, winLen: max(d/loadWindows, time.Millisecond)}
	results := make([]loadResult, w.Concurrency)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := sourceAddr(addr, first+i, first+w.Concurrency, perSource)
			results[i] = client(addr, src, w, w.Client.ForConn(i, w.Concurrency), up, rand.New(rand.NewPCG(seed, uint64(i))), sh)
		}()
	}
	wg.Wait()
	total := loadResult{hist: newHist(), elapsed: time.Since(start), winLen: sh.winLen}
	// Only the windows that ended before the clients stopped starting
	// requests ran at full load.
	if full := int(time.Duration(sh.stopped.Load()) / sh.winLen); full > 0 {
		total.windows = sh.windows[:min(full, len(sh.windows))]
	}
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

// client is one load-generator connection reading like cl; it redials
// after an error, from src (nil: the kernel's choice).
func client(addr string, src *net.TCPAddr, w Workload, cl ClientSpec, up upstreamSpec, rng *rand.Rand, sh *loadShared) loadResult {
	hard := sh.hard
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
	fixed := up.request(w.Size)
	for sh.more() {
		if c == nil {
			d := net.Dialer{Timeout: time.Until(hard)}
			if src != nil {
				d.LocalAddr = src
			}
			if cl.Slow() {
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
		size, req := w.Size, fixed
		if w.Dist != nil {
			size = w.Dist.Pick(rng)
			req = up.request(size)
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			fail(err)
			continue
		}
		n, keep, err := readResponseHead(br)
		if err == nil && !up.external && n != size {
			err = fmt.Errorf("Content-Length %d, want %d", n, size)
		}
		if err == nil {
			err = readBody(br, n, cl.Rate, t0)
		}
		if err != nil {
			fail(err)
			continue
		}
		r.ok++
		end := time.Now()
		us := max(end.Sub(t0).Microseconds(), 1)
		_ = r.hist.RecordValue(us)
		sh.record(end, us)
		if !keep {
			_ = c.Close()
			c = nil
		}
	}
	return r
}

// readResponseHead reads a response head; anything but 200 with a
// Content-Length or chunked body is an error. n is -1 for a chunked body.
func readResponseHead(br *bufio.Reader) (n int64, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, false, fmt.Errorf("status line %q", bytes.TrimSpace(line))
	}
	n, keep = -2, true
	chunked := false
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
			if n, err = strconv.ParseInt(string(v), 10, 64); err != nil || n < 0 {
				return 0, false, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")) && bytes.EqualFold(v, []byte("chunked")):
			chunked = true
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			keep = false
		}
	}
	switch {
	case chunked:
		return -1, keep, nil
	case n < 0:
		return 0, false, errors.New("response without Content-Length")
	}
	return n, keep, nil
}

// readBody reads a body of n bytes, or a chunked body for n = -1. With
// rate > 0 it paces its reads so that the body arrives no faster than rate
// bytes/s since t0.
func readBody(br *bufio.Reader, n, rate int64, t0 time.Time) error {
	var r io.Reader = br
	if rate > 0 {
		r = &paced{r: br, rate: rate, t0: t0, chunk: min(max(rate/50, 512), 16<<10)}
	}
	if n < 0 {
		_, err := io.Copy(io.Discard, httputil.NewChunkedReader(r))
		return err
	}
	got, err := io.CopyN(io.Discard, r, n)
	if errors.Is(err, io.EOF) && got < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// paced reads at most chunk bytes at a time (about 50 reads per second)
// and waits after each read until the bytes read so far are due at rate.
// The waits are pacing, not synchronisation.
type paced struct {
	r     io.Reader
	rate  int64
	t0    time.Time
	chunk int64
	got   int64
}

func (p *paced) Read(b []byte) (int, error) {
	m, err := p.r.Read(b[:min(int64(len(b)), p.chunk)])
	p.got += int64(m)
	due := p.t0.Add(time.Duration(float64(p.got) / float64(p.rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	}
	return m, err
}
