// Package accesslog writes nginx's access log: a log_format string compiled once
// (Compile), then one line per request (Log.Write), byte for byte as nginx
// writes it, with nginx's default escaping. "combined" gives
//
//	127.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /reset HTTP/1.1" 502 157 "-" "curl/7.88.1"
//
// A file log (Open) writes each line with one write(2) when the request ends, as
// nginx does; with a buffer (nginx's buffer= and flush=) lines are kept until
// the next would not fit, the flush time has passed, or on Flush, Reopen and
// Close. Writing a line does not allocate.
package accesslog

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// maxPooledLine is the largest line buffer kept for the next line.
const maxPooledLine = 64 << 10

// Options are access_log's buffer= and flush= (nginx's defaults: no buffer).
type Options struct {
	// Buffer is the buffer's size; 0 writes each line at once.
	Buffer int
	// Flush is the longest a buffered line waits; 0 = until the buffer
	// is full (or Flush, Reopen, Close).
	Flush time.Duration
}

// Log is an access log. It is safe for concurrent use. The owner calls Reopen on
// SIGUSR1 and Close at exit (which flushes).
type Log struct {
	f     *Format
	lines sync.Pool // *[]byte: one line under construction per writer
	out   interface{ write([]byte) }
	file  *bufferedFile // nil for New
}

// Open opens (O_APPEND|O_CREATE, 0644) the file at path, or "stderr", and writes
// lines formatted by f, each at once or through opts' buffer. Missing
// directories are an error (an *errorlog.OpenError, in nginx's wording), as in
// nginx.
func Open(path string, f *Format, opts Options) (*Log, error) {
	file, err := errorlog.OpenFile(path)
	if err != nil {
		return nil, err
	}
	bf := newBufferedFile(file, opts.Buffer, opts.Flush)
	l := newLog(bf, f)
	l.file = bf
	return l, nil
}

// New returns a Log that writes each line to w at once, with one w.Write call
// serialised by a mutex; nothing is buffered. Reopen, Flush and Close do nothing
// to w.
func New(w io.Writer, f *Format) *Log {
	return newLog(&lockedWriter{w: w}, f)
}

func newLog(out interface{ write([]byte) }, f *Format) *Log {
	l := &Log{f: f, out: out}
	l.lines.New = func() any {
		b := make([]byte, 0, 512)
		return &b
	}
	return l
}

// Write formats x's line and writes (or buffers) it. It does not retain x.
// Write errors are dropped, with the buffered lines that failed, as nginx does
// (a later flush tries again with new lines). After Close, Write does nothing.
func (l *Log) Write(x vars.Exchange) {
	bp := l.lines.Get().(*[]byte)
	b := l.f.appendLine((*bp)[:0], x)
	l.out.write(b)
	if cap(b) <= maxPooledLine { // don't pool a giant line's buffer
		*bp = b
		l.lines.Put(bp)
	}
}

// Flush writes out buffered lines and returns the write error, if any.
func (l *Log) Flush() error {
	if l.file == nil {
		return nil
	}
	return l.file.flush()
}

// Reopen flushes buffered lines to the old file, then reopens the path (SIGUSR1
// after logrotate). On failure the old file stays in use.
func (l *Log) Reopen() error {
	if l.file == nil {
		return nil
	}
	return l.file.reopen()
}

// Close stops the flush timer, flushes and closes the file.
func (l *Log) Close() error {
	if l.file == nil {
		return nil
	}
	return l.file.close()
}

// bufferedFile is the file behind Open. It is not zapcore.BufferedWriteSyncer,
// because that one sits on a bufio.Writer, whose first write error sticks
// forever: one ENOSPC and the access log would stay dead even after Reopen.
// Here a failed flush drops the buffer (as nginx's ngx_http_log_write does) and
// the next flush tries again.
type bufferedFile struct {
	file *errorlog.File
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	buf    []byte // cap is the buffer size
	closed bool
}

func newBufferedFile(file *errorlog.File, size int, every time.Duration) *bufferedFile {
	w := &bufferedFile{
		file: file,
		buf:  make([]byte, 0, size),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if size > 0 && every > 0 {
		go w.flushLoop(every)
	} else {
		close(w.done) // no timer: written at once, or when the buffer fills
	}
	return w
}

func (w *bufferedFile) flushLoop(every time.Duration) {
	defer close(w.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.flush()
		case <-w.stop:
			return
		}
	}
}

// write buffers line, flushing first if it would not fit, so that a line is
// never split between two write(2) calls. A line larger than the whole buffer
// goes out on its own.
func (w *bufferedFile) write(line []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if len(w.buf)+len(line) > cap(w.buf) {
		_ = w.flushLocked()
	}
	if len(line) > cap(w.buf) {
		_, _ = w.file.Write(line)
		return
	}
	w.buf = append(w.buf, line...)
}

func (w *bufferedFile) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *bufferedFile) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.file.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *bufferedFile) reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	ferr := w.flushLocked()
	return errors.Join(ferr, w.file.Reopen())
}

func (w *bufferedFile) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	ferr := w.flushLocked()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return errors.Join(ferr, w.file.Close())
}

// lockedWriter is New's output: one Write per line, serialised.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) write(line []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.w.Write(line)
}
