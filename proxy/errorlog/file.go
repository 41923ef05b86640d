package errorlog

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// File is an append-only log file that can be reopened at the same path, nginx's
// model for log rotation: logrotate renames the file (and, in "create" mode, makes
// a new empty one), then SIGUSR1 makes the server call Reopen. Until Reopen, lines
// keep going to the renamed file.
//
// Every Write is one write(2) on a descriptor opened with O_APPEND, so lines from
// concurrent writers never interleave. File is safe for concurrent use. It
// implements zapcore.WriteSyncer; the access log shares it.
type File struct {
	path string
	std  bool // "stderr": never reopened, never closed

	mu     sync.RWMutex // Write holds it shared; Reopen and Close swap f under it
	f      *os.File
	closed bool
}

// OpenFile opens path for appending (O_WRONLY|O_APPEND|O_CREATE, mode 0644), or
// returns a File on the process's stderr when path is "stderr", as nginx's
// error_log accepts. Like nginx it does not create missing directories: the error
// is an *OpenError that reads `open() "/x/error.log" failed (2: No such file or
// directory)`.
func OpenFile(path string) (*File, error) {
	if path == "stderr" {
		return &File{path: path, std: true, f: os.Stderr}, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	return f, nil
}

// Path is the path File writes to.
func (f *File) Path() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.path
}

// Write writes p with a single write(2). After Close it returns os.ErrClosed.
func (f *File) Write(p []byte) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	return f.f.Write(p)
}

// Sync does nothing. nginx never fsyncs its logs: a line is in the kernel once
// write(2) returns, so a crash of the process loses nothing. It exists so File is
// a zapcore.WriteSyncer (zap calls Sync after entries above its ErrorLevel).
func (f *File) Sync() error { return nil }

// Reopen opens the path again and, on success, swaps the new file in and closes
// the old one. On failure it keeps writing to the old file, as nginx does, and
// returns the *OpenError. For "stderr" it does nothing.
func (f *File) Reopen() error {
	f.mu.RLock()
	std, path := f.std, f.path
	f.mu.RUnlock()
	if std {
		return nil
	}
	nf, err := openAppend(path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed || f.path != path {
		f.mu.Unlock()
		_ = nf.Close()
		return os.ErrClosed
	}
	old := f.f
	f.f = nf
	f.mu.Unlock()
	return old.Close()
}

// Retarget switches the file to a new path (a reload that changed the log's
// path): the new file is opened first, so on failure the old one stays in
// use and the *OpenError is returned. The old file is closed unless it was
// stderr.
func (f *File) Retarget(path string) error {
	nf, err := OpenFile(path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = nf.Close()
		return os.ErrClosed
	}
	old, oldStd := f.f, f.std
	f.f, f.std, f.path = nf.f, nf.std, nf.path
	f.mu.Unlock()
	if oldStd {
		return nil
	}
	return old.Close()
}

// Close closes the file (stderr is left open). Later writes fail with
// os.ErrClosed. Closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.std {
		return nil
	}
	return f.f.Close()
}

// OpenError is a failure to open a log file. Its text is nginx's:
// `open() "/var/log/spillway/error.log" failed (13: Permission denied)`.
type OpenError struct {
	Path string
	Err  error // usually an *os.PathError wrapping a syscall.Errno
}

func (e *OpenError) Error() string {
	b := make([]byte, 0, 64+len(e.Path))
	b = append(b, `open() "`...)
	b = append(b, e.Path...)
	b = append(b, `" failed`...)
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		b = appendErrno(b, errno)
	} else {
		b = append(b, " ("...)
		b = append(b, e.Err.Error()...)
		b = append(b, ')')
	}
	return string(b)
}

func (e *OpenError) Unwrap() error { return e.Err }

// Errno is the system error behind the failure, 0 if there is none.
func (e *OpenError) Errno() syscall.Errno {
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		return errno
	}
	return 0
}
