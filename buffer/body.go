package buffer

import (
	"errors"
	"io"
	"os"
	"sync"
)

// BodyOptions configure a Body. nginx's directive names are in parentheses.
type BodyOptions struct {
	// Pool supplies the memory chunks and, through its Budget, the temp
	// file numbering and the stats. Required.
	Pool *Pool

	// MemoryLimit is how many bytes the body may keep in memory before it
	// spills to a temp file (client_body_buffer_size). A body of exactly
	// MemoryLimit bytes stays in memory. 0 means one chunk. The body also
	// spills earlier when the Budget refuses a chunk.
	MemoryLimit int64

	// TempDir is where the temp file is created (client_body_temp_path).
	// It is not created; "" means os.TempDir().
	TempDir string

	// Limit is the largest accepted body in bytes (client_max_body_size);
	// 0 means unlimited. A write that would exceed it fails with *LimitError.
	Limit int64

	// TempFileWriteSize is the size of each write(2) to the temp file: once
	// spilled, the body collects this many bytes in one staging chunk before
	// writing them. 0 means the Pool's chunk size.
	TempFileWriteSize int

	// OnSpill, if set, is called once, synchronously from Write, ReadFrom or
	// Seal's caller, when the body spills, with the temp file's name (the
	// file is already unlinked). The proxy logs nginx's "[warn] a client
	// request body is buffered to a temporary file PATH". It must not call
	// back into the Body.
	OnSpill func(path string)
}

type bodyState uint8

const (
	bodyMem    bodyState = iota // writing into memory chunks
	bodyFile                    // writing into the temp file through the staging chunk
	bodySealed                  // read-only, replayable
	bodyFailed                  // a write failed; err is sticky, resources are released
	bodyClosed
)

// Body buffers a request body (nginx client_body_buffer_size,
// client_body_temp_path, client_max_body_size): written once, then read any
// number of times, byte-identical, so that a retry can replay it.
//
// States: memory -> file -> sealed, then closed. Writes fill chunks from the
// Pool up to MemoryLimit; beyond that, or when the Budget refuses a chunk, the
// body spills: the bytes held in memory are written to a new temp file (as
// nginx does) and their chunks are released, and all further bytes go to the
// file through one staging chunk. A sealed spilled body holds no memory. A
// write error (limit, disk) fails the body: its resources are released at
// once and every later call returns that error.
//
// Ownership and concurrency: a Body has one owner (the request handler). Write,
// ReadFrom, Seal, Close and Reset must be called by the owner only, never
// concurrently with anything else on the Body. After Seal, ReadAt, Size and
// NewReader may be called from several goroutines at once, and distinct
// BodyReaders may be used concurrently (file copies through WriteTo are
// serialised internally). Close waits for in-flight reads to return. A Body must
// not be copied.
type Body struct {
	opts      BodyOptions
	memMax    int64
	writeSize int
	stagePool *Pool

	state  bodyState
	size   int64     // bytes accepted
	chunks []*chunk  // memory state and sealed in-memory body: byte i is chunks[i/cs].buf[i%cs]
	first  [1]*chunk // chunks' first backing array: a one-chunk body allocates no slice
	file   *spillFile
	stage  *chunk // file state: bytes not yet written to the file
	staged int
	err    error // sticky, for bodyFailed

	spilled bool
	path    string
	dirty   error // close error from a failure cleanup, reported by Close

	one    [1]byte      // ReadFrom's probe for more data when memory is full
	rw     sync.RWMutex // read lock: ReadAt, WriteTo; write lock: Close
	fileMu sync.Mutex   // serialises Seek-based copies of file
}

// NewBody returns an empty, writable Body. It panics if opts.Pool is nil.
func NewBody(opts BodyOptions) *Body {
	b := &Body{}
	b.init(opts)
	return b
}

func (b *Body) init(opts BodyOptions) {
	if opts.Pool == nil {
		panic("buffer: BodyOptions.Pool is nil")
	}
	cs := opts.Pool.size
	b.opts = opts
	b.memMax = opts.MemoryLimit
	if b.memMax <= 0 {
		b.memMax = int64(cs)
	}
	b.writeSize = opts.TempFileWriteSize
	if b.writeSize <= 0 {
		b.writeSize = cs
	}
	b.stagePool = opts.Pool
	if b.writeSize != cs {
		b.stagePool = opts.Pool.budget.Pool(b.writeSize) // a map under a lock: not per body unless needed
	}
	if b.chunks == nil {
		b.chunks = b.first[:0]
	}
	if b.opts.TempDir == "" {
		b.opts.TempDir = os.TempDir()
	}
}

// Size returns the number of bytes written so far; after Seal, the body's
// length.
func (b *Body) Size() int64 { return b.size }

// Spilled reports whether the body spilled to a temp file.
func (b *Body) Spilled() bool { return b.spilled }

// TempPath returns the temp file's name, or "" if the body never spilled.
// The file is unlinked; the name is for logging.
func (b *Body) TempPath() string { return b.path }

// Write appends p to the body. It fails with *LimitError beyond Limit, with a
// *TempFileError when the temp file cannot be created or written, with
// ErrSealed after Seal and ErrClosed after Close; the body is then unusable
// (except for the ErrSealed case).
func (b *Body) Write(p []byte) (int, error) {
	if err := b.writable(int64(len(p))); err != nil {
		return 0, err
	}
	n := 0
	if b.state == bodyMem {
		for n < len(p) {
			dst := b.memWindow()
			if dst == nil {
				break
			}
			k := copy(dst, p[n:])
			n += k
			b.size += int64(k)
		}
		if n == len(p) {
			return n, nil
		}
		if err := b.spill(); err != nil {
			return n, err
		}
	}
	m, err := b.writeFile(p[n:])
	return n + m, err
}

// ReadFrom reads r until io.EOF straight into the body's chunks (or staging
// chunk), without an intermediate buffer. It returns nil at io.EOF, r's error
// unchanged otherwise (the body stays writable then), and the same errors as
// Write. With a Limit it reads at most Limit+1 bytes, so an oversized body is
// detected without draining the client.
func (b *Body) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := b.writable(0); err != nil {
			return total, err
		}
		var dst []byte
		if b.state == bodyMem {
			if dst = b.memWindow(); dst == nil {
				// Memory is full. Spill only if there is more: a body of
				// exactly MemoryLimit bytes stays in memory.
				k, err := b.probe(r)
				total += int64(k)
				if err == io.EOF {
					return total, nil
				}
				if err != nil {
					return total, err
				}
				continue
			}
		} else {
			if b.staged == b.writeSize {
				if err := b.flushStage(); err != nil {
					return total, err
				}
			}
			dst = b.stage.buf[b.staged:b.writeSize]
		}
		if l := b.opts.Limit; l > 0 && int64(len(dst)) > l-b.size+1 {
			dst = dst[:l-b.size+1]
		}
		k, err := r.Read(dst)
		if k > 0 {
			if werr := b.writable(int64(k)); werr != nil {
				return total, werr
			}
			b.size += int64(k)
			if b.state == bodyFile {
				b.staged += k
			}
			total += int64(k)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Seal ends writing. It flushes the staging chunk to the temp file and
// releases it. After Seal the body is read-only and may be read any number of
// times. Seal is idempotent; on a failed body it returns the failure.
func (b *Body) Seal() error {
	switch b.state {
	case bodyClosed:
		return ErrClosed
	case bodyFailed:
		return b.err
	case bodySealed:
		return nil
	case bodyFile:
		if err := b.flushStage(); err != nil {
			return err
		}
		b.stagePool.put(b.stage)
		b.stage = nil
	}
	b.state = bodySealed
	return nil
}

// Close releases the body: chunks go back to the Pool and the temp file is
// closed (and removed, if unlinking it failed earlier). It waits for in-flight
// reads. Close is idempotent: the first call returns any error from closing the
// file, later calls return nil. Readers return ErrClosed afterwards.
func (b *Body) Close() error {
	b.rw.Lock()
	defer b.rw.Unlock()
	if b.state == bodyClosed {
		return nil
	}
	err := b.release()
	if b.dirty != nil {
		err, b.dirty = b.dirty, nil
	}
	b.state = bodyClosed
	return err
}

// Reset closes the body and makes it empty and writable again with the same
// options, so one Body can be reused (for instance per connection) without
// allocating. It returns Close's error. Unlike Close it must not race with
// readers: call it only when no BodyReader is in use.
func (b *Body) Reset() error {
	err := b.Close()
	chunks := b.chunks[:0]
	opts := b.opts
	*b = Body{chunks: chunks}
	b.init(opts)
	return err
}

// Init makes b an empty, writable Body with opts, as NewBody does, for a
// Body kept in a longer-lived value and reused (the proxy pools them with
// their readers). b must be the zero Body or closed, with no BodyReader in
// use. It panics if opts.Pool is nil.
func (b *Body) Init(opts BodyOptions) {
	chunks := b.chunks[:0]
	*b = Body{chunks: chunks}
	b.init(opts)
}

// writable checks that k more bytes may be written.
func (b *Body) writable(k int64) error {
	switch b.state {
	case bodyClosed:
		return ErrClosed
	case bodyFailed:
		return b.err
	case bodySealed:
		return ErrSealed
	}
	if l := b.opts.Limit; l > 0 && b.size+k > l {
		err := &LimitError{Limit: l, Size: b.size + k}
		b.fail(err)
		return err
	}
	return nil
}

// memWindow returns free memory for the next bytes: the rest of the last
// chunk, or a new chunk. It returns nil when MemoryLimit is reached or the
// budget refuses a chunk; otherwise the window is not empty.
func (b *Body) memWindow() []byte {
	if b.size >= b.memMax {
		return nil
	}
	cs := int64(b.opts.Pool.size)
	if b.size == int64(len(b.chunks))*cs {
		// The first chunk is forced: a body always gets one.
		c := b.opts.Pool.get(len(b.chunks) == 0)
		if c == nil {
			return nil
		}
		b.chunks = append(b.chunks, c)
	}
	off := b.size % cs
	end := min(cs, off+b.memMax-b.size)
	return b.chunks[len(b.chunks)-1].buf[off:end]
}

// probe reads one byte into b.one; if it gets one, it spills and writes it.
func (b *Body) probe(r io.Reader) (int, error) {
	k, err := r.Read(b.one[:])
	if k == 0 {
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if _, werr := b.Write(b.one[:]); werr != nil {
		return 0, werr
	}
	return k, err
}

// spill moves the body from memory to a new temp file.
func (b *Body) spill() error {
	budget := b.opts.Pool.budget
	t, err := budget.createTemp(b.opts.TempDir)
	if err != nil {
		b.fail(err)
		return err
	}
	b.file, b.spilled, b.path = t, true, t.path
	if b.opts.OnSpill != nil {
		b.opts.OnSpill(t.path)
	}
	// nginx writes the whole body to the file; so do we, which frees the
	// memory for the rest of the request's life (retries included).
	cs := int64(b.opts.Pool.size)
	var off int64
	for _, c := range b.chunks {
		k := min(cs, b.size-off)
		if err := b.writeSteps(c.buf[:k], off); err != nil {
			return err
		}
		off += k
	}
	b.releaseChunks()
	// The body holds no chunk now, so this is granted.
	b.stage = b.stagePool.get(true)
	b.staged = 0
	b.state = bodyFile
	return nil
}

// writeFile appends p to the file state body.
func (b *Body) writeFile(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if b.staged == 0 && len(p)-n >= b.writeSize {
			// A whole step is available: write it without copying.
			if err := b.writeSteps(p[n:n+b.writeSize], b.size); err != nil {
				return n, err
			}
			n += b.writeSize
			b.size += int64(b.writeSize)
			continue
		}
		k := copy(b.stage.buf[b.staged:b.writeSize], p[n:])
		b.staged += k
		b.size += int64(k)
		n += k
		if b.staged == b.writeSize {
			if err := b.flushStage(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flushStage writes the staging chunk to the file.
func (b *Body) flushStage() error {
	if b.staged == 0 {
		return nil
	}
	if err := b.writeSteps(b.stage.buf[:b.staged], b.size-int64(b.staged)); err != nil {
		return err
	}
	b.staged = 0
	return nil
}

// writeSteps writes p at off in writes of at most writeSize bytes; a failure
// fails the body.
func (b *Body) writeSteps(p []byte, off int64) error {
	budget := b.opts.Pool.budget
	for len(p) > 0 {
		k := min(len(p), b.writeSize)
		if _, err := budget.writeTemp(b.file, p[:k], off); err != nil {
			b.fail(err)
			return err
		}
		p = p[k:]
		off += int64(k)
	}
	return nil
}

// fail makes err sticky and releases everything at once: a failed body is
// never read, and a full disk gets its blocks back sooner.
func (b *Body) fail(err error) {
	b.err = err
	b.state = bodyFailed
	if cerr := b.release(); cerr != nil && b.dirty == nil {
		b.dirty = cerr
	}
}

func (b *Body) releaseChunks() {
	for i, c := range b.chunks {
		b.opts.Pool.put(c)
		b.chunks[i] = nil
	}
	b.chunks = b.chunks[:0]
}

// release returns all chunks and closes the file.
func (b *Body) release() error {
	b.releaseChunks()
	if b.stage != nil {
		b.stagePool.put(b.stage)
		b.stage = nil
	}
	if b.file != nil {
		t := b.file
		b.file = nil
		return b.opts.Pool.budget.closeTemp(t)
	}
	return nil
}

func (b *Body) readable() error {
	switch b.state {
	case bodySealed:
		return nil
	case bodyClosed:
		return ErrClosed
	case bodyFailed:
		return b.err
	}
	return ErrNotSealed
}

var errNegativeOffset = errors.New("buffer: negative offset")

// ReadAt implements io.ReaderAt on a sealed body, so callers can use
// io.NewSectionReader(body, 0, body.Size()). It is safe for concurrent use.
func (b *Body) ReadAt(p []byte, off int64) (int, error) {
	b.rw.RLock()
	defer b.rw.RUnlock()
	if err := b.readable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= b.size {
		return 0, io.EOF
	}
	var eof error
	if rest := b.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if b.file != nil {
		n, err := readTempAt(b.file, p, off)
		if err != nil {
			return n, err
		}
		return n, eof
	}
	cs := int64(b.opts.Pool.size)
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		n += copy(p[n:], b.chunks[pos/cs].buf[pos%cs:])
	}
	return n, eof
}

// NewReader returns a reader positioned at byte 0. Each call returns an
// independent reader, so every retry can replay the body from the start. The
// reader belongs to the caller; it reads from the Body and is invalid once the
// Body is closed (it then returns ErrClosed). Reading before Seal returns
// ErrNotSealed.
func (b *Body) NewReader() *BodyReader {
	return &BodyReader{b: b}
}

// BuffersWriter is a writer that takes several slices in one call, as
// writev(2) does (net.Buffers on a socket). BodyReader.WriteTo hands it an
// in-memory body of more than one chunk in one WriteBuffers call, instead of
// one Write per chunk.
type BuffersWriter interface {
	io.Writer
	// WriteBuffers writes the concatenation of v and returns how many of
	// its bytes were written; an error when not all were. It may modify v
	// (net.Buffers.WriteTo consumes it) but must not keep it.
	WriteBuffers(v [][]byte) (int64, error)
}

// BodyReader reads a sealed Body from its own offset. It implements io.Reader,
// io.WriterTo, io.Seeker and io.ReaderAt. A BodyReader is not safe for
// concurrent use; use one per goroutine.
type BodyReader struct {
	b   *Body
	off int64
	vec [][]byte // WriteTo's slices for WriteBuffers, kept for the next send
}

// Reset makes r a reader of b from byte 0, as NewReader's, keeping the
// memory its WriteTo uses: a reader kept for every try of a request, or
// pooled with its body, sends a body of several chunks without allocating.
func (r *BodyReader) Reset(b *Body) {
	r.b, r.off = b, 0
}

// Read implements io.Reader.
func (r *BodyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.b.readableLocked()
	}
	n, err := r.b.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt; it does not move the reader's offset.
func (r *BodyReader) ReadAt(p []byte, off int64) (int, error) {
	return r.b.ReadAt(p, off)
}

// Seek implements io.Seeker (for instance Seek(0, io.SeekStart) to rewind).
func (r *BodyReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.b.size
	default:
		return r.off, errors.New("buffer: invalid whence")
	}
	if offset < 0 {
		return r.off, errNegativeOffset
	}
	r.off = offset
	return offset, nil
}

// Size returns the body's length.
func (r *BodyReader) Size() int64 { return r.b.size }

// AppendBuffers appends to v the in-memory body's bytes from the reader's
// offset on, as the slices of its chunks where they lie, for a caller that
// sends them behind bytes of its own in one writev(2) (the proxy's body
// whose first bytes stay in the client connection's read buffer). It
// reports false, and appends nothing, when the body is not readable or
// spilled to its temp file (WriteTo sends that). The offset does not move;
// the slices are the body's until it is closed.
func (r *BodyReader) AppendBuffers(v [][]byte) ([][]byte, bool) {
	b := r.b
	b.rw.RLock()
	defer b.rw.RUnlock()
	if b.readable() != nil || b.file != nil {
		return v, false
	}
	cs := int64(b.opts.Pool.size)
	for off := r.off; off < b.size; {
		i, within := off/cs, off%cs
		end := min(cs, b.size-i*cs)
		v = append(v, b.chunks[i].buf[within:end])
		off += end - within
	}
	return v, true
}

// WriteTo implements io.WriterTo: it writes the rest of the body to w. Memory
// chunks are written whole, one Write each, or all in one WriteBuffers call
// when w is a BuffersWriter. A spilled body is handed to w's
// ReadFrom as an *io.LimitedReader over the *os.File when w has one, so a
// net.TCPConn (or a wrapper that keeps its ReadFrom) uses sendfile(2);
// otherwise it is copied through a chunk from the Pool.
func (r *BodyReader) WriteTo(w io.Writer) (int64, error) {
	b := r.b
	b.rw.RLock()
	defer b.rw.RUnlock()
	if err := b.readable(); err != nil {
		return 0, err
	}
	if r.off >= b.size {
		return 0, nil
	}
	if b.file != nil {
		b.fileMu.Lock()
		defer b.fileMu.Unlock()
		var buf []byte
		if _, ok := w.(io.ReaderFrom); !ok {
			// A sealed spilled body holds no chunk and fileMu admits one
			// copy at a time, so this is within the one-chunk guarantee.
			c := b.opts.Pool.get(true)
			defer b.opts.Pool.put(c)
			buf = c.buf
		}
		n, err := copyTemp(w, b.file, r.off, b.size-r.off, buf)
		r.off += n
		return n, err
	}
	cs := int64(b.opts.Pool.size)
	if vw, ok := w.(BuffersWriter); ok && b.size-r.off > cs-r.off%cs {
		// More than one chunk: all of them in one call (one writev(2)).
		v := r.vec[:0]
		for off := r.off; off < b.size; {
			i, within := off/cs, off%cs
			end := min(cs, b.size-i*cs)
			v = append(v, b.chunks[i].buf[within:end])
			off += end - within
		}
		n, err := vw.WriteBuffers(v)
		clear(v) // keep no reference to the chunks once the body is closed
		r.vec = v[:0]
		r.off += n
		if err == nil && r.off < b.size {
			err = io.ErrShortWrite
		}
		return n, err
	}
	var total int64
	for r.off < b.size {
		i, within := r.off/cs, r.off%cs
		end := min(cs, b.size-i*cs)
		data := b.chunks[i].buf[within:end]
		n, err := w.Write(data)
		r.off += int64(n)
		total += int64(n)
		if err == nil && n < len(data) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (b *Body) readableLocked() error {
	b.rw.RLock()
	defer b.rw.RUnlock()
	return b.readable()
}
