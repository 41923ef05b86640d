package buffer

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// maxTempAttempts bounds the EEXIST retry loop, so a directory full of stale
// files fails instead of spinning.
const maxTempAttempts = 1000

// spillFile is an open temp file.
type spillFile struct {
	f      *os.File
	path   string
	linked bool // unlink after create failed: Close must remove it

	// The bytes counted against the Budget's temp-file limit. A Spool's
	// Close may run while its producer writes: whichever of the two comes
	// second gives the bytes back.
	mu     sync.Mutex
	size   int64
	closed bool
}

// tempName formats n as nginx does: at least ten digits, zero padded.
func tempName(n uint64) string {
	var b [20]byte
	i := len(b)
	for n > 0 || i > len(b)-10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// createTemp creates dir/NNNNNNNNNN with O_CREATE|O_EXCL|O_RDWR and mode 0600,
// taking the next number on EEXIST (nginx's ngx_create_temp_file), and unlinks
// it at once, as nginx does for non-persistent temp files: the data lives as
// long as the descriptor, and a crash leaves nothing behind. The directory is
// not created; a missing or unusable one is reported as a *TempFileError
// wrapping the *os.PathError from open.
func (b *Budget) createTemp(dir string) (*spillFile, error) {
	var err error
	for range maxTempAttempts {
		name := filepath.Join(dir, tempName(b.tempSeq.Add(1)))
		var f *os.File
		f, err = os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err == nil {
			b.filesOpen.Add(1)
			b.filesCreated.Add(1)
			t := &spillFile{f: f, path: name}
			// If unlink fails the file still works; Close retries the removal.
			t.linked = os.Remove(name) != nil
			return t, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, &TempFileError{Op: "create", Path: name, Err: err}
		}
	}
	return nil, &TempFileError{Op: "create", Path: dir, Err: err}
}

// closeTemp closes t and removes it if it is still linked.
func (b *Budget) closeTemp(t *spillFile) error {
	err := t.f.Close()
	b.filesOpen.Add(-1)
	t.mu.Lock()
	b.tempInUse.Add(-t.size)
	t.size, t.closed = 0, true
	t.mu.Unlock()
	if t.linked {
		if rerr := os.Remove(t.path); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return &TempFileError{Op: "close", Path: t.path, Err: err}
	}
	return nil
}

// writeTemp writes p at off, counting the bytes as spilled. Within the
// temp-file limit it writes what the limit has room for, and fails with
// ErrTempFileLimit when that is nothing. Callers write each file
// sequentially (off is always the file's end), so the bytes written are
// the file's size.
func (b *Budget) writeTemp(t *spillFile, p []byte, off int64) (int, error) {
	k := b.reserveTemp(int64(len(p)))
	if k == 0 && len(p) > 0 {
		return 0, &TempFileError{Op: "write", Path: t.path, Err: ErrTempFileLimit}
	}
	p = p[:k]
	var n int
	var err error
	if b.writeAt != nil {
		n, err = b.writeAt(t.f, p, off)
	} else {
		n, err = t.f.WriteAt(p, off)
	}
	b.spilled.Add(int64(n))
	unused := k - int64(n)
	t.mu.Lock()
	if t.closed {
		unused = k // closed meanwhile: nothing stays counted
	} else {
		t.size += int64(n)
	}
	t.mu.Unlock()
	if unused > 0 {
		b.tempInUse.Add(-unused)
	}
	if err != nil {
		return n, &TempFileError{Op: "write", Path: t.path, Err: err}
	}
	return n, nil
}

// tempRoom reports whether the temp-file limit leaves room for a byte
// (counting a refusal when not).
func (b *Budget) tempRoom() bool {
	if limit := b.tempLimit.Load(); limit > 0 && b.tempInUse.Load() >= limit {
		b.tempDenied.Add(1)
		return false
	}
	return true
}

// reserveTemp counts up to n bytes against the temp-file limit and returns
// how many it may write: n without a limit, less (or 0) near it.
func (b *Budget) reserveTemp(n int64) int64 {
	for {
		cur, limit := b.tempInUse.Load(), b.tempLimit.Load()
		k := n
		if limit > 0 {
			k = max(min(n, limit-cur), 0)
		}
		if k == 0 {
			if n > 0 {
				b.tempDenied.Add(1)
			}
			return 0
		}
		if b.tempInUse.CompareAndSwap(cur, cur+k) {
			for p := b.tempPeak.Load(); cur+k > p; p = b.tempPeak.Load() {
				if b.tempPeak.CompareAndSwap(p, cur+k) {
					break
				}
			}
			return k
		}
	}
}

// readTempAt is t.f.ReadAt that reports a short file as io.ErrUnexpectedEOF
// (the range was written, so EOF means the file was truncated under us).
func readTempAt(t *spillFile, p []byte, off int64) (int, error) {
	n, err := t.f.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, &TempFileError{Op: "read", Path: t.path, Err: err}
}

// copyTemp writes the n bytes of t starting at off to w.
//
// If w is an io.ReaderFrom (net.TCPConn, bufio.Writer, fasthttp's body
// writers, os.File), it is handed an *io.LimitedReader over the *os.File
// itself, positioned with Seek: that exact shape is what lets net.TCPConn use
// sendfile(2), directly or behind a bufio.Writer. Callers sharing t must
// serialise copyTemp, since it moves the file offset.
//
// Otherwise the bytes go through buf; with a nil buf, one is allocated.
func copyTemp(w io.Writer, t *spillFile, off, n int64, buf []byte) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	if rf, ok := w.(io.ReaderFrom); ok {
		if _, err := t.f.Seek(off, io.SeekStart); err != nil {
			return 0, &TempFileError{Op: "read", Path: t.path, Err: err}
		}
		lr := &io.LimitedReader{R: t.f, N: n}
		written, err := rf.ReadFrom(lr)
		if err == nil && written < n {
			err = &TempFileError{Op: "read", Path: t.path, Err: io.ErrUnexpectedEOF}
		}
		return written, err
	}
	if buf == nil {
		buf = make([]byte, min(n, 32<<10))
	}
	var written int64
	for written < n {
		k := int(min(int64(len(buf)), n-written))
		m, err := readTempAt(t, buf[:k], off+written)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			written += int64(wm)
			if werr == nil && wm < m {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return written, werr
			}
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
