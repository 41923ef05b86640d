package buffer

import (
	"io"
	"os"
	"sync"
	"time"
)

// SpoolOptions configure a Spool. nginx's directive names are in parentheses.
type SpoolOptions struct {
	// Pool supplies the memory chunks; its chunk size is the size in
	// proxy_buffers N size. Required.
	Pool *Pool

	// Buffers is the N in proxy_buffers N size: the most chunks the spool
	// holds at once. Values below 1 mean 1.
	Buffers int

	// TempDir is where the temp file is created (proxy_temp_path). It is not
	// created; "" means os.TempDir().
	TempDir string

	// MaxTempFileSize is how many bytes in total may go to the temp file
	// (proxy_max_temp_file_size). 0 means never spill: when memory is full
	// the producer's Write blocks until the consumer frees a chunk, so the
	// upstream is read only as fast as the client drains. Once the limit is
	// reached the spool behaves the same way.
	MaxTempFileSize int64

	// TempFileWriteSize caps each write(2) to the temp file
	// (proxy_temp_file_write_size). 0 means the Pool's chunk size.
	TempFileWriteSize int

	// SpillOnlyWhenStalled makes the spool spill the way nginx does: only
	// when memory is full and the consumer's destination cannot take more
	// bytes, as the consumer reports with SetStalled, for memory chunks and
	// temp-file ranges alike. While the consumer keeps up, a producer that
	// finds memory full waits for it instead, so a fast client never costs a
	// temp file. Without it the spool spills as soon as memory is full.
	SpillOnlyWhenStalled bool

	// StallGrace, with SpillOnlyWhenStalled, is how long in all the producer
	// may wait on a stalled consumer before it spills: the most a response
	// holds its upstream longer than it would with a client that keeps up.
	// A fast client whose socket buffer is full for a moment (a busy
	// machine) drains memory again well within it, and a temp file would
	// only cost two more copies through the page cache; a slow client uses
	// the grace up and then spills at every stall, as nginx does. 0 spills
	// at the first stall (nginx).
	StallGrace time.Duration

	// OnSpill, if set, is called once per spool, from the producer's Write,
	// when the temp file has been created, with its name (already unlinked).
	// The proxy logs nginx's "[warn] an upstream response is buffered to a
	// temporary file PATH while reading upstream". It is called without the
	// spool's lock held, but must not call back into the Spool.
	OnSpill func(path string)

	// OnFull, if set, is called once per spool, from the producer's Write,
	// when the temp file could not be created or written for want of space
	// (DiskFull: ENOSPC, EDQUOT, or the Budget's temp-file limit), with
	// that error. Instead of failing, the spool then stops spilling: it
	// keeps what the file already holds, and Write waits for the consumer
	// to free memory, as once MaxTempFileSize is reached, so the response
	// goes on at the consumer's pace. It is called without the spool's
	// lock held, but must not call back into the Spool.
	OnFull func(err error)

	// Passthrough, if set, writes to the consumer's destination without
	// blocking and returns how many bytes it took (0 when the destination
	// is full or failed). While the consumer is in WriteTo with nothing
	// left to write, Write hands its bytes to Passthrough before it copies
	// anything into a chunk: a client that keeps up gets the upstream's
	// bytes with one copy and no hand-off between goroutines, as if the
	// response were not buffered; what Passthrough does not take is
	// buffered as usual. It is called with the spool's lock held.
	Passthrough func(p []byte) int
}

// Spool is a single-producer, single-consumer pipe for an upstream response
// (nginx proxy_buffers, proxy_max_temp_file_size, proxy_temp_file_write_size,
// proxy_temp_path). The producer, reading the upstream, calls Write and then
// CloseWrite; the consumer, the client connection, calls Read or WriteTo and
// then Close. Data streams: the consumer sees every byte as soon as Write has
// accepted it.
//
// Bytes go into up to Buffers chunks from the Pool (never more than the
// Budget allows, but always at least one). When they are all full because the
// client is slower than the upstream, further bytes go to a temp file, created
// on first need, up to MaxTempFileSize; beyond that (or with 0) Write blocks
// until the consumer frees memory. Order is preserved by a FIFO of segments,
// each a memory chunk or a file range; the consumer frees each chunk as soon
// as it has passed it on. Chunks freed by the consumer are reused for later
// data, so memory is preferred again once the client catches up.
//
// Concurrency: Write and CloseWrite belong to one producer goroutine; Read,
// WriteTo, SupportsBodyWriteTo belong to one consumer goroutine; the two
// sides run concurrently. Close, Spilled, TempPath, BytesWritten and
// BufferedBytes may be called from any goroutine. A Spool must not be copied.
//
// Close is idempotent and may be called by either side in any order, also
// while the other side is blocked: it frees all chunks, closes the temp file
// (already unlinked), wakes both sides, makes Write return ErrConsumerClosed
// and Read/WriteTo return ErrClosed. The consumer must call it when done (it
// is the io.Closer fasthttp calls on a body stream); the producer never needs
// to, since CloseWrite never blocks and holds nothing.
type Spool struct {
	pool      *Pool
	budget    *Budget
	maxChunks int
	maxTemp   int64
	writeSize int
	dir       string
	onSpill   func(string)
	onFull    func(error)
	pass      func([]byte) int
	waitCons  bool // SpillOnlyWhenStalled
	grace     time.Duration

	mu       sync.Mutex
	readable sync.Cond // consumer waits for data, CloseWrite or Close
	writable sync.Cond // producer waits for memory or Close

	q        ring
	held     int // chunks held: those in q plus the consumer's scratch
	file     *spillFile
	path     string
	fileEnd  int64 // bytes written to the file
	written  int64
	buffered int64

	wclosed  bool
	werr     error
	closed   bool
	ferr     error         // sticky temp file error
	busy     int           // how many head segments the consumer is using without the lock
	stalled  bool          // the consumer's destination is full (SetStalled)
	draining bool          // the consumer is in WriteTo (Passthrough may write)
	passed   int64         // bytes Passthrough took, for WriteTo's count
	waited   time.Duration // how long the producer has waited on a stalled consumer
	timer    *time.Timer   // wakes a producer waiting out the grace
}

// NewSpool returns an empty Spool. It panics if opts.Pool is nil.
func NewSpool(opts SpoolOptions) *Spool {
	if opts.Pool == nil {
		panic("buffer: SpoolOptions.Pool is nil")
	}
	s := &Spool{
		pool:      opts.Pool,
		budget:    opts.Pool.budget,
		maxChunks: max(opts.Buffers, 1),
		maxTemp:   max(opts.MaxTempFileSize, 0),
		writeSize: opts.TempFileWriteSize,
		dir:       opts.TempDir,
		onSpill:   opts.OnSpill,
		onFull:    opts.OnFull,
		pass:      opts.Passthrough,
		waitCons:  opts.SpillOnlyWhenStalled,
		grace:     max(opts.StallGrace, 0),
	}
	if s.writeSize <= 0 {
		s.writeSize = opts.Pool.size
	}
	if s.dir == "" {
		s.dir = os.TempDir()
	}
	s.readable.L = &s.mu
	s.writable.L = &s.mu
	s.q.init(s.maxChunks + 2)
	return s
}

// Write appends p, for the producer. It copies into the spool's chunks or
// writes to its temp file and returns once all of p is accepted; it blocks
// only when memory is full and the spool may not spill (any more). It returns
// ErrConsumerClosed once the consumer has closed the spool, a *TempFileError
// when the temp file cannot be created or written (the proxy then truncates the
// response, as nginx does; bytes accepted before stay readable), and
// ErrWriteClosed after CloseWrite.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(p) {
		switch {
		case s.closed:
			return n, ErrConsumerClosed
		case s.wclosed:
			return n, ErrWriteClosed
		case s.ferr != nil:
			return n, s.ferr
		}
		// Nothing waits to be written and the consumer is idle in WriteTo:
		// the bytes may go to its destination at once, in order.
		if s.draining && s.buffered == 0 && s.busy == 0 {
			k := s.pass(p[n:])
			n += k
			s.passed += int64(k)
			s.written += int64(k)
			if n == len(p) {
				break
			}
			// The destination is full: buffer the rest as usual; the
			// consumer waits for it to drain.
		}
		// Memory first: the tail chunk, then a new one.
		if s.q.n > 0 {
			if t := s.q.at(s.q.n - 1); t.c != nil && t.w < len(t.c.buf) {
				k := copy(t.c.buf[t.w:], p[n:])
				t.w += k
				n += k
				s.buffered += int64(k)
				s.written += int64(k)
				s.readable.Signal()
				continue
			}
		}
		if c := s.getChunkLocked(); c != nil {
			s.q.push(segment{c: c})
			continue
		}
		// Memory is full: the client is slower than the upstream.
		if s.fileEnd < s.maxTemp {
			wait := s.spillWaitLocked()
			if wait == 0 {
				k, err := s.spillLocked(p[n:])
				n += k
				if err != nil && !(DiskFull(err) && s.stopSpillingLocked(err)) {
					return n, err
				}
				continue
			}
			if wait > 0 {
				s.wakeAfterLocked(wait)
				t0 := time.Now()
				s.writable.Wait()
				s.waited += time.Since(t0)
				continue
			}
		}
		s.writable.Wait()
	}
	return n, nil
}

// spillWaitLocked says whether a producer that found memory full may spill:
// 0 yes; > 0 once the consumer's stall has lasted that much longer; < 0 not
// while the consumer keeps up. With SpillOnlyWhenStalled, memory being full
// is not enough: the consumer must also be stalled, and the producer must
// have waited on it for StallGrace in all.
func (s *Spool) spillWaitLocked() time.Duration {
	switch {
	case !s.waitCons:
		return 0
	case !s.stalled:
		return -1
	case s.grace == 0:
		return 0
	}
	return max(s.grace-s.waited, 0)
}

// stopSpillingLocked turns a temp file that ran out of space into no more
// spilling (see OnFull). It reports false when the consumer closed the
// spool meanwhile.
func (s *Spool) stopSpillingLocked(err error) bool {
	s.ferr = nil
	s.maxTemp = s.fileEnd
	if s.onFull != nil {
		s.mu.Unlock()
		s.onFull(err)
		s.mu.Lock()
	}
	return !s.closed
}

// wakeAfterLocked wakes the producer after d, when the grace runs out.
func (s *Spool) wakeAfterLocked(d time.Duration) {
	if s.timer == nil {
		s.timer = time.AfterFunc(d, func() {
			s.mu.Lock()
			s.writable.Broadcast()
			s.mu.Unlock()
		})
		return
	}
	s.timer.Reset(d)
}

// SetStalled is the consumer's report on its destination: true when a
// write would block (the client's socket buffer is full), false once a
// write went through. It matters only with SpillOnlyWhenStalled. Any
// goroutine may call it, but not while holding a lock the producer needs.
func (s *Spool) SetStalled(stalled bool) {
	s.mu.Lock()
	s.stalled = stalled
	if stalled {
		s.writable.Broadcast() // a waiting producer may spill now, or start its grace
	}
	s.mu.Unlock()
}

// spillLocked writes a prefix of p to the temp file, creating it first if
// needed. It drops the lock around the file operations: only the producer
// writes the file, and the consumer reads only ranges already committed.
func (s *Spool) spillLocked(p []byte) (int, error) {
	if s.file == nil {
		if !s.budget.tempRoom() {
			// No file for a limit already used up (nor a spill warning).
			s.ferr = &TempFileError{Op: "write", Path: s.dir, Err: ErrTempFileLimit}
			return 0, s.ferr
		}
		s.mu.Unlock()
		t, err := s.budget.createTemp(s.dir)
		if err == nil && s.onSpill != nil {
			s.onSpill(t.path)
		}
		s.mu.Lock()
		if err != nil {
			s.ferr = err
			return 0, err
		}
		if s.closed {
			// Close ran meanwhile and will not see this file. Its close
			// error cannot matter: the response is being discarded.
			_ = s.budget.closeTemp(t)
			return 0, ErrConsumerClosed
		}
		s.file, s.path = t, t.path
	}
	k := int(min(int64(len(p)), int64(s.writeSize), s.maxTemp-s.fileEnd))
	off, t := s.fileEnd, s.file
	s.mu.Unlock()
	m, err := s.budget.writeTemp(t, p[:k], off)
	s.mu.Lock()
	if s.closed {
		return 0, ErrConsumerClosed
	}
	if m > 0 {
		end := off + int64(m)
		var last *segment
		if s.q.n > 0 {
			last = s.q.at(s.q.n - 1)
		}
		if last != nil && last.c == nil && last.end == off {
			last.end = end // extend the tail range
		} else {
			s.q.push(segment{off: off, end: end})
		}
		s.fileEnd = end
		s.buffered += int64(m)
		s.written += int64(m)
		s.readable.Signal()
	}
	if err != nil {
		s.ferr = err
	}
	return m, err
}

// getChunkLocked takes a chunk if the spool may hold one more. The Budget
// may refuse, except when the spool holds none.
func (s *Spool) getChunkLocked() *chunk {
	if s.held >= s.maxChunks {
		return nil
	}
	c := s.pool.get(s.held == 0)
	if c != nil {
		s.held++
	}
	return c
}

func (s *Spool) putChunkLocked(c *chunk) {
	s.pool.put(c)
	s.held--
	s.writable.Signal()
}

// CloseWrite ends the producer's side: err == nil is a clean end of the
// response (the consumer gets io.EOF after the buffered bytes), anything else
// means the upstream failed and the consumer gets err instead of io.EOF, so
// the proxy can truncate the client's response. CloseWrite never blocks on
// the consumer: when it returns, the whole response is in the spool and the
// producer may release the upstream connection. Only the first call counts.
func (s *Spool) CloseWrite(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wclosed {
		return
	}
	s.wclosed, s.werr = true, err
	s.readable.Broadcast()
}

// Read implements io.Reader for the consumer. It blocks until bytes are
// available, returns io.EOF after a clean CloseWrite, the producer's error
// after a failed one, and ErrClosed after Close.
func (s *Spool) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.waitLocked(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	h := s.q.at(0)
	if h.c != nil {
		k := copy(p, h.c.buf[h.r:h.w])
		h.r += k
		s.consumedLocked(int64(k))
		return k, nil
	}
	m := int(min(int64(len(p)), h.end-h.off))
	off, t := h.off, s.file
	s.busy = 1
	s.mu.Unlock()
	k, err := readTempAt(t, p[:m], off)
	s.mu.Lock()
	s.busy = 0
	if s.closed {
		return 0, ErrClosed
	}
	s.q.at(0).off += int64(k)
	s.consumedLocked(int64(k))
	return k, err
}

// WriteTo implements io.WriterTo for the consumer: it writes everything the
// producer writes to w as it arrives, until CloseWrite, and returns nil after
// a clean CloseWrite and the producer's error after a failed one. Each memory
// chunk goes out in one w.Write. A file range is handed to w's ReadFrom as an
// *io.LimitedReader over the *os.File when w has one (so a net.TCPConn, or a
// bufio.Writer or fasthttp body writer in front of one, can use sendfile(2));
// otherwise it is copied through a chunk of the spool's own memory. Bytes
// the producer handed to Passthrough meanwhile count in its result.
func (s *Spool) WriteTo(w io.Writer) (int64, error) {
	n, err := s.writeTo(w)
	s.mu.Lock()
	n += s.passed // Passthrough's bytes, which writeTo did not see
	s.passed = 0
	s.mu.Unlock()
	return n, err
}

func (s *Spool) writeTo(w io.Writer) (int64, error) {
	_, isRF := w.(io.ReaderFrom)
	var total int64
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = s.pass != nil
	defer func() { s.draining = false }()
	for {
		if err := s.waitLocked(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		h := s.q.at(0)
		s.busy = 1
		var k int64
		var err error
		if vw, ok := w.(VectorWriter); ok && h.c != nil && s.q.n > 1 && s.q.at(1).c != nil {
			k, closed, err := s.writeVecLocked(vw)
			total += k
			if closed {
				return total, ErrClosed
			}
			if err != nil {
				return total, err
			}
			continue
		}
		if c := h.c; c != nil {
			data := c.buf[h.r:h.w]
			s.mu.Unlock()
			var n int
			n, err = w.Write(data)
			if err == nil && n < len(data) {
				err = io.ErrShortWrite
			}
			s.mu.Lock()
			s.busy = 0
			if s.closed {
				// Close left the chunk we were using to us.
				s.putChunkLocked(c)
				return total + int64(n), ErrClosed
			}
			k = int64(n)
			s.q.at(0).r += n
		} else {
			var buf []byte
			var scratch *chunk
			if !isRF {
				// May be nil when memory is full; copyTemp then allocates.
				if scratch = s.getChunkLocked(); scratch != nil {
					buf = scratch.buf
				}
			}
			off, n, t := h.off, h.end-h.off, s.file
			s.mu.Unlock()
			k, err = copyTemp(w, t, off, n, buf)
			s.mu.Lock()
			s.busy = 0
			if scratch != nil {
				s.putChunkLocked(scratch)
			}
			if s.closed {
				return total + k, ErrClosed
			}
			s.q.at(0).off += k
		}
		total += k
		s.consumedLocked(k)
		if err != nil {
			return total, err
		}
	}
}

// VectorWriter is a destination that writes several slices in one call,
// like writev(2). Spool.WriteTo hands it every memory chunk that is ready at
// once, as nginx writes its busy buffers with one writev.
type VectorWriter interface {
	io.Writer
	WriteVec(bufs [][]byte) (int64, error)
}

// maxVec bounds the chunks given to one WriteVec.
const maxVec = 16

// writeVecLocked writes the leading run of memory segments with one
// WriteVec and consumes what was written. closed reports that Close ran
// meanwhile; the chunks in use have then been returned here.
func (s *Spool) writeVecLocked(vw VectorWriter) (k int64, closed bool, err error) {
	var vec [maxVec][]byte
	var used [maxVec]*chunk
	n := 0
	for n < maxVec && n < s.q.n {
		seg := s.q.at(n)
		if seg.c == nil {
			break
		}
		vec[n], used[n] = seg.c.buf[seg.r:seg.w], seg.c
		n++
	}
	s.busy = n
	s.mu.Unlock()
	k, err = vw.WriteVec(vec[:n])
	s.mu.Lock()
	s.busy = 0
	if s.closed {
		for _, c := range used[:n] {
			s.putChunkLocked(c)
		}
		return k, true, ErrClosed
	}
	// Consume k bytes across the segments written (each was
	// captured at its length then; the tail may have grown since).
	left := k
	for i := 0; i < n && left > 0; i++ {
		h := s.q.at(0)
		m := min(left, int64(len(vec[i])))
		h.r += int(m)
		left -= m
		s.consumedLocked(m)
	}
	if err == nil && k < totalLen(vec[:n]) {
		err = io.ErrShortWrite
	}
	return k, false, err
}

func totalLen(v [][]byte) int64 {
	var n int64
	for _, b := range v {
		n += int64(len(b))
	}
	return n
}

// SupportsBodyWriteTo tells fasthttp (fasthttp.BodyWriterTo) that WriteTo may
// replace Read: it has the same effect, writing memory chunks whole.
func (s *Spool) SupportsBodyWriteTo() bool { return true }

// waitLocked waits until the head segment has unread bytes, or returns the
// error that ends reading.
func (s *Spool) waitLocked() error {
	for {
		if s.closed {
			return ErrClosed
		}
		if s.buffered > 0 {
			return nil
		}
		if s.wclosed {
			if s.werr != nil {
				return s.werr
			}
			return io.EOF
		}
		s.readable.Wait()
	}
}

// consumedLocked accounts for k bytes read from the head segment and frees it
// once it is used up. The tail chunk is kept, rewound, while the producer
// may still write into it.
func (s *Spool) consumedLocked(k int64) {
	s.buffered -= k
	h := s.q.at(0)
	if h.c == nil {
		if h.off == h.end {
			s.q.pop()
		}
		return
	}
	if h.r < h.w {
		return
	}
	if s.q.n == 1 && !s.wclosed {
		h.r, h.w = 0, 0
		s.writable.Signal()
		return
	}
	c := h.c
	s.q.pop()
	s.putChunkLocked(c)
}

// Close releases the spool; see the type's documentation. It returns an error
// only if closing the temp file fails, and only from the first call.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	for i := range s.q.n {
		if seg := s.q.at(i); seg.c != nil && i >= s.busy {
			s.putChunkLocked(seg.c)
		}
	}
	s.q.clear()
	s.buffered = 0
	var err error
	if s.file != nil {
		// A consumer copying from the file meanwhile is safe: os.File
		// defers the close(2) until in-flight calls return.
		err = s.budget.closeTemp(s.file)
		s.file = nil
	}
	s.readable.Broadcast()
	s.writable.Broadcast()
	return err
}

// Spilled reports whether the spool created a temp file.
func (s *Spool) Spilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path != ""
}

// TempPath returns the temp file's name, or "" if the spool never spilled.
// The file is unlinked; the name is for logging.
func (s *Spool) TempPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

// BytesWritten returns how many bytes Write has accepted.
func (s *Spool) BytesWritten() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// BufferedBytes returns how many accepted bytes the consumer has not read
// yet, in memory and in the temp file.
func (s *Spool) BufferedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buffered
}

// segment is one FIFO entry: a memory chunk (c != nil) whose unread bytes
// are c.buf[r:w], or a range [off, end) of the temp file.
type segment struct {
	c        *chunk
	r, w     int
	off, end int64
}

// ring is a FIFO of segments that grows by doubling and never shrinks, so
// steady-state pushes do not allocate. Pointers from at are valid until the
// next push.
type ring struct {
	s       []segment
	head, n int
}

func (q *ring) init(capacity int) { q.s = make([]segment, capacity) }

func (q *ring) at(i int) *segment { return &q.s[(q.head+i)%len(q.s)] }

func (q *ring) push(seg segment) {
	if q.n == len(q.s) {
		s := make([]segment, 2*len(q.s))
		for i := range q.n {
			s[i] = *q.at(i)
		}
		q.s, q.head = s, 0
	}
	*q.at(q.n) = seg
	q.n++
}

func (q *ring) pop() {
	*q.at(0) = segment{}
	q.head = (q.head + 1) % len(q.s)
	q.n--
}

func (q *ring) clear() {
	clear(q.s)
	q.head, q.n = 0, 0
}
