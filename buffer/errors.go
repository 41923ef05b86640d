package buffer

import (
	"errors"
	"strconv"
	"syscall"
)

// Sentinel errors. They carry no data; conditions with data have their own
// types (LimitError, TempFileError).
var (
	// ErrClosed is returned by any method called after Close.
	ErrClosed = errors.New("buffer: use of closed buffer")

	// ErrConsumerClosed is returned by Spool.Write once the consumer has called
	// Close: the client is gone and the producer should stop reading the
	// upstream (nginx logs such a request with status 499).
	ErrConsumerClosed = errors.New("buffer: spool consumer closed")

	// ErrSealed is returned by Body.Write and Body.ReadFrom after Seal.
	ErrSealed = errors.New("buffer: write to sealed body")

	// ErrNotSealed is returned when a Body is read before Seal.
	ErrNotSealed = errors.New("buffer: read from body before Seal")

	// ErrWriteClosed is returned by Spool.Write after CloseWrite.
	ErrWriteClosed = errors.New("buffer: write after CloseWrite")
)

// ErrTempFileLimit is a TempFileError's Err when the Budget's temp-file
// limit (http.temp_file_limit) left no room for a write. It stands for a
// full disk and unwraps to syscall.ENOSPC, so that code handling a full
// disk handles it too, and nginx's line for it reads "(28: No space left
// on device)".
var ErrTempFileLimit error = tempLimitError{}

type tempLimitError struct{}

func (tempLimitError) Error() string { return "buffer: temp file limit reached" }
func (tempLimitError) Unwrap() error { return syscall.ENOSPC }

// DiskFull reports whether err is a temp file that could not be written for
// want of space: the disk is full (ENOSPC), a quota is used up (EDQUOT), or
// the Budget's temp-file limit is (ErrTempFileLimit).
func DiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// LimitError is returned by Body.Write and Body.ReadFrom when the body would
// grow beyond BodyOptions.Limit (nginx client_max_body_size). The proxy answers
// 413 and logs nginx's "client intended to send too large body: Size bytes".
type LimitError struct {
	Limit int64 // the configured limit in bytes
	Size  int64 // the size the body would have had, counting the rejected write
}

func (e *LimitError) Error() string {
	return "buffer: body of " + strconv.FormatInt(e.Size, 10) +
		" bytes exceeds limit of " + strconv.FormatInt(e.Limit, 10) + " bytes"
}

// TempFileError reports a failed operation on the temp file a Body or Spool
// spills to. Err is the error from package os, normally an *os.PathError
// holding a syscall.Errno, so both errors.As(err, &pathErr) and
// errors.As(err, &errno) see through it; the proxy prints nginx's
// `open() "PATH" failed (20: Not a directory)` from them.
type TempFileError struct {
	Op   string // "create", "write" or "read"
	Path string // the temp file's name (it may already be unlinked)
	Err  error
}

func (e *TempFileError) Error() string {
	return "buffer: " + e.Op + " temp file: " + e.Err.Error()
}

func (e *TempFileError) Unwrap() error { return e.Err }
