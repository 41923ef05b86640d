package buffer

import (
	"os"
	"sync"
	"sync/atomic"
)

// Budget is a process-wide memory budget for body buffers, in bytes. All
// Bodies and Spools built on Pools of the same Budget share it.
//
// The budget counts bytes, not buffers: a chunk request is refused when it
// would take BytesInUse over the limit, except that a body (a Body or a Spool)
// that currently holds no chunk is always granted one. Hence memory in chunks
// never exceeds limit + one chunk per in-flight body, and no body ever stalls
// for want of memory; a refused body spills to its temp file (or, for a Spool
// that may not spill, waits for its consumer).
//
// A Budget is safe for concurrent use and must not be copied. It has no Close:
// it holds no resources besides the idle chunks of its Pools, which the garbage
// collector may reclaim.
type Budget struct {
	limit atomic.Int64

	mu    sync.Mutex
	pools map[int]*Pool

	tempSeq atomic.Uint64 // last temp file number handed out, nginx-style

	inUse        atomic.Int64
	chunks       atomic.Int64
	peak         atomic.Int64
	denied       atomic.Int64
	forced       atomic.Int64
	spilled      atomic.Int64
	filesOpen    atomic.Int64
	filesCreated atomic.Int64

	// The temp-file limit (http.temp_file_limit): bytes in open temp files,
	// counted when written and released when the file is closed.
	tempLimit  atomic.Int64 // 0: none
	tempInUse  atomic.Int64
	tempPeak   atomic.Int64
	tempDenied atomic.Int64

	// writeAt writes to temp files; tests replace it to simulate ENOSPC.
	writeAt func(f *os.File, p []byte, off int64) (int, error)
}

// NewBudget returns a budget of limit bytes. With limit <= 0 only the
// one-chunk-per-body guarantee is left: every body holds at most one chunk.
func NewBudget(limit int64) *Budget {
	b := &Budget{pools: make(map[int]*Pool)}
	b.limit.Store(limit)
	return b
}

// Limit returns the current limit.
func (b *Budget) Limit() int64 { return b.limit.Load() }

// SetLimit changes the limit (a reload). Chunks already held stay held; a
// lower limit takes effect as they are released.
func (b *Budget) SetLimit(limit int64) { b.limit.Store(limit) }

// SetTempLimit sets the temp-file limit: the most bytes all open temp files
// of the budget may hold together (http.temp_file_limit); 0 means none. A
// write that finds it used up fails with ErrTempFileLimit. Files already
// written keep their bytes; a lower limit takes effect as they are closed.
func (b *Budget) SetTempLimit(limit int64) { b.tempLimit.Store(max(limit, 0)) }

// Pool returns the pool of size-byte chunks drawing on b. The same size always
// returns the same *Pool. It panics if size <= 0.
func (b *Budget) Pool(size int) *Pool {
	if size <= 0 {
		panic("buffer: Pool size must be positive")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pools[size]
	if p == nil {
		p = &Pool{size: size, budget: b}
		b.pools[size] = p
	}
	return p
}

// Stats is a snapshot of a Budget's counters, for metrics. The fields are read
// one by one, so a snapshot taken under load may be slightly inconsistent.
type Stats struct {
	Limit          int64 // the budget in bytes
	ChunksInUse    int64 // chunks held by bodies and spools
	BytesInUse     int64 // bytes in those chunks
	PeakBytesInUse int64 // highest BytesInUse seen since NewBudget
	Denied         int64 // chunk requests refused because the budget was exhausted
	Forced         int64 // chunks granted over the budget by the one-chunk guarantee
	BytesSpilled   int64 // bytes written to temp files since NewBudget
	FilesOpen      int64 // temp files currently open
	FilesCreated   int64 // temp files created since NewBudget

	TempLimit     int64 // the temp-file limit in bytes (0: none)
	TempBytes     int64 // bytes in open temp files
	PeakTempBytes int64 // highest TempBytes seen since NewBudget
	TempDenied    int64 // temp-file writes refused because the limit was reached
}

// Stats returns the current counters.
func (b *Budget) Stats() Stats {
	return Stats{
		Limit:          b.limit.Load(),
		ChunksInUse:    b.chunks.Load(),
		BytesInUse:     b.inUse.Load(),
		PeakBytesInUse: b.peak.Load(),
		Denied:         b.denied.Load(),
		Forced:         b.forced.Load(),
		BytesSpilled:   b.spilled.Load(),
		FilesOpen:      b.filesOpen.Load(),
		FilesCreated:   b.filesCreated.Load(),
		TempLimit:      b.tempLimit.Load(),
		TempBytes:      b.tempInUse.Load(),
		PeakTempBytes:  b.tempPeak.Load(),
		TempDenied:     b.tempDenied.Load(),
	}
}

// reserve counts n bytes against the budget. Without force it fails when the
// budget would be exceeded; with force it always succeeds.
func (b *Budget) reserve(n int64, force bool) bool {
	for {
		cur, limit := b.inUse.Load(), b.limit.Load()
		next := cur + n
		if next > limit && !force {
			b.denied.Add(1)
			return false
		}
		if b.inUse.CompareAndSwap(cur, next) {
			if next > limit {
				b.forced.Add(1)
			}
			b.chunks.Add(1)
			for p := b.peak.Load(); next > p; p = b.peak.Load() {
				if b.peak.CompareAndSwap(p, next) {
					break
				}
			}
			return true
		}
	}
}

func (b *Budget) release(n int64) {
	b.chunks.Add(-1)
	b.inUse.Add(-n)
}

// Pool hands out chunks of one fixed size, counted against its Budget. Get one
// with Budget.Pool. Chunk memory is recycled through a sync.Pool, so idle
// chunks are not hoarded: the garbage collector reclaims them. The byte count,
// which sync.Pool cannot bound, is enforced by the Budget.
//
// A Pool is safe for concurrent use. Its chunks are used only inside this
// package: a chunk belongs to exactly one Body or Spool from acquisition until
// it is released, and is never touched after that.
type Pool struct {
	size   int
	budget *Budget
	free   sync.Pool // of *chunk; a pointer, so Put does not allocate
}

// Size returns the chunk size in bytes.
func (p *Pool) Size() int { return p.size }

// Budget returns the budget the pool draws on.
func (p *Pool) Budget() *Budget { return p.budget }

// chunk is one fixed-size buffer.
type chunk struct {
	buf []byte
}

// get returns a chunk, or nil when the budget refuses. force must be true only
// when the caller holds no other chunk (the one-chunk guarantee).
func (p *Pool) get(force bool) *chunk {
	if !p.budget.reserve(int64(p.size), force) {
		return nil
	}
	c, _ := p.free.Get().(*chunk)
	if c == nil {
		c = &chunk{buf: make([]byte, p.size)}
	}
	return c
}

// put returns c to the pool. The caller must not touch c afterwards.
func (p *Pool) put(c *chunk) {
	p.budget.release(int64(p.size))
	p.free.Put(c)
}
