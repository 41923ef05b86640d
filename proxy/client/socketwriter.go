package client

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// SendfileStep is the most one sendfile(2) (or one step of a ReaderFrom)
// sends under one renewal of send_timeout.
const SendfileStep = 1 << 20

// SocketWriter writes to the client's TCP socket directly, with
// non-blocking write(2) and writev(2) through the runtime's poller, and
// reports EAGAIN to the spool as "stalled". ReadFrom hands temp-file ranges
// to the socket's sendfile(2). Package proxy's spool is its one user: the
// spool, a *buffer.Spool, is told of stalls (Stalls, set once the spool
// exists) and writes through Passthrough while it is idle.
type SocketWriter struct {
	conn   *net.TCPConn
	rc     syscall.RawConn
	renew  Deadline // send_timeout's renewal, before each write
	Stalls Staller
	// Sent, when set, counts the bytes the socket took (nginx's c->sent,
	// for $bytes_sent): every write, writev, sendfile and passthrough.
	Sent    *atomic.Int64
	stalled bool

	p     []byte // the write in progress, for the callback
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
	fnTry func(fd uintptr) bool // write without waiting (passthrough)
	pass  func(p []byte) int    // passthrough, for the spool
	pp    []byte                // passthrough's write, on the producer's goroutine
	pn    int
	iov   [16]syscall.Iovec // WriteVec's iovecs
	nvec  int
	fnv   func(fd uintptr) bool

	sfIn  int // sendfile's source descriptor, offset and count
	sfOff int64
	sfN   int
	fnsf  func(fd uintptr) bool

	// held is the response head, taken by Hold instead of being written
	// on its own: the first write sends it with the body's first bytes.
	// (A copy of its own, allocated when a head comes: a buffer inline
	// made every writer larger, and cost more in the GC's scans than the
	// allocation does.)
	held   []byte
	fnTryv func(fd uintptr) bool // writev without waiting (passthrough with a held head)
}

// Staller is told when the client's socket stops taking bytes (true) and
// when it takes them again (false): buffer.Spool's SetStalled.
type Staller interface{ SetStalled(bool) }

// Deadline renews the connection's write deadline (send_timeout) before
// each write. An interface, not a func: the spool's writer is made per
// response, and a method value would be one more allocation each time.
type Deadline interface{ RenewSendDeadline() }

// NewSocketWriter returns a writer to c; renew is called before each
// write. nil when c has no raw descriptor.
func NewSocketWriter(c *net.TCPConn, renew Deadline) *SocketWriter {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	w := &SocketWriter{conn: c, rc: rc, renew: renew}
	w.fn, w.fnv, w.fnsf, w.fnTry, w.fnTryv = w.write, w.writev, w.sendfile, w.tryWrite, w.tryWritev
	w.pass = w.passthrough
	return w
}

// Hold keeps p, the response head (or a part of it), to be sent with the
// body's first bytes in one writev(2) by whichever write comes first
// (Write, WriteVec, the passthrough, ReadFrom), instead of in a write(2) of
// its own: a client waiting in epoll is woken once for the head and the
// body's start, not twice. FlushHeld sends it when no body byte comes.
func (w *SocketWriter) Hold(p []byte) { w.held = append(w.held, p...) }

// FlushHeld writes what Hold kept, if anything is left of it.
func (w *SocketWriter) FlushHeld() error {
	if len(w.held) == 0 {
		return nil
	}
	_, err := w.WriteVec(nil)
	return err
}

// Passthrough is the spool's Passthrough (buffer.SpoolOptions): one
// write(2) that never waits.
func (w *SocketWriter) Passthrough() func(p []byte) int { return w.pass }

// passthrough is the spool's Passthrough: one write(2) that never waits,
// from the producer while the consumer is idle. A full socket or an error
// takes nothing; the consumer then meets the same condition on its own write
// and handles it (the stall, the client's error) as usual.
func (w *SocketWriter) passthrough(p []byte) int {
	if len(w.held) > 0 {
		return w.passHeld(p)
	}
	w.pp, w.pn = p, 0
	err := w.rc.Write(w.fnTry)
	w.pp = nil
	if err != nil {
		return 0
	}
	w.count(int64(w.pn))
	return w.pn
}

// passHeld is passthrough with the held head in front: one writev(2) that
// never waits; it returns how much of p went.
func (w *SocketWriter) passHeld(p []byte) int {
	w.setVec(p)
	w.n, w.errno = 0, 0
	if err := w.rc.Write(w.fnTryv); err != nil || w.errno != 0 {
		w.clearVec()
		return 0
	}
	w.clearVec()
	w.count(int64(w.n))
	h := len(w.held)
	if w.n < h {
		w.held = w.held[w.n:]
		return 0
	}
	w.held = nil
	return w.n - h
}

// setVec puts the held head and p in the iovecs.
func (w *SocketWriter) setVec(p []byte) {
	w.iov[0] = syscall.Iovec{Base: &w.held[0]}
	w.iov[0].SetLen(len(w.held))
	w.nvec = 1
	if len(p) > 0 {
		w.iov[1] = syscall.Iovec{Base: &p[0]}
		w.iov[1].SetLen(len(p))
		w.nvec = 2
	}
}

func (w *SocketWriter) clearVec() { clear(w.iov[:w.nvec]) }

// tryWritev is passHeld's callback: one writev(2), never waiting.
func (w *SocketWriter) tryWritev(fd uintptr) bool {
	switch n, errno := writevFD(fd, w.iov[:w.nvec]); errno {
	case 0:
		w.n = n
	case syscall.EAGAIN:
	default:
		w.errno = errno
	}
	return true
}

// tryWrite is passthrough's callback: it never asks to wait, and only a
// write that went through counts.
func (w *SocketWriter) tryWrite(fd uintptr) bool {
	if n, errno := writeFD(fd, w.pp); errno == 0 {
		w.pn = n
	}
	return true
}

func (w *SocketWriter) Write(p []byte) (int, error) {
	if len(w.held) > 0 {
		n, err := w.WriteVec([][]byte{p})
		return int(n), err
	}
	total := 0
	for len(p) > 0 {
		w.renew.RenewSendDeadline()
		w.p, w.n, w.errno = p, 0, 0
		err := w.rc.Write(w.fn)
		total += w.n
		w.count(int64(w.n))
		p = p[w.n:]
		if err == nil && w.errno != 0 {
			err = &net.OpError{Op: "write", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("write", w.errno)}
		}
		if err != nil {
			return total, err
		}
	}
	w.setStalled(false)
	return total, nil
}

// WriteVec writes bufs with writev(2), the spool's ready chunks at once.
// A held head (Hold) goes in front; the count is of in's bytes only.
func (w *SocketWriter) WriteVec(in [][]byte) (int64, error) {
	var local [1 + 16 + 2][]byte // the caller's slices stay as they are (a held head, the spool's 16, plus chunk framing)
	held := len(w.held)
	k := 0
	if held > 0 {
		local[0], k = w.held, 1
	}
	bufs := local[:k+copy(local[k:], in)]
	var total int64
	for len(bufs) > 0 {
		w.renew.RenewSendDeadline()
		w.nvec = 0
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			if w.nvec == len(w.iov) {
				break
			}
			w.iov[w.nvec] = syscall.Iovec{Base: &b[0]}
			w.iov[w.nvec].SetLen(len(b))
			w.nvec++
		}
		if w.nvec == 0 {
			break
		}
		w.n, w.errno = 0, 0
		err := w.rc.Write(w.fnv)
		w.count(int64(w.n))
		if d := min(w.n, held); d > 0 {
			held -= d
			w.held = w.held[d:]
			total -= int64(d)
			if held == 0 {
				w.held = nil
			}
		}
		total += int64(w.n)
		if err == nil && w.errno != 0 {
			err = &net.OpError{Op: "writev", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("writev", w.errno)}
		}
		if err != nil {
			return total, err
		}
		// Drop what was written.
		n := w.n
		for len(bufs) > 0 && n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
		if len(bufs) > 0 {
			bufs[0] = bufs[0][n:]
		}
	}
	clear(w.iov[:])
	w.setStalled(false)
	return total, nil
}

func (w *SocketWriter) writev(fd uintptr) bool {
	switch n, errno := writevFD(fd, w.iov[:w.nvec]); errno {
	case 0:
		w.n = n
	case syscall.EAGAIN:
		w.setStalled(true)
		return false
	default:
		w.errno = errno
	}
	return true
}

// count adds n to Sent.
func (w *SocketWriter) count(n int64) {
	if w.Sent != nil && n > 0 {
		w.Sent.Add(n)
	}
}

// setStalled tells the spool when the client's socket stops or starts
// taking bytes (EAGAIN, then a write that went through).
func (w *SocketWriter) setStalled(v bool) {
	if w.stalled != v {
		w.stalled = v
		w.Stalls.SetStalled(v)
	}
}

// write is the raw callback: false means "wait until writable, then call
// again", which is when the client has stopped draining.
func (w *SocketWriter) write(fd uintptr) bool {
	n, errno := writeFD(fd, w.p)
	switch errno {
	case 0:
		w.n = n
	case syscall.EAGAIN:
		w.setStalled(true)
		return false
	default:
		w.errno = errno
	}
	return true
}

// writevFD is one writev(2) of iov to a non-blocking socket, retried on
// EINTR.
func writevFD(fd uintptr, iov []syscall.Iovec) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if errno == 0 {
			return int(n), 0
		}
		if errno != syscall.EINTR {
			return 0, errno
		}
	}
}

// writeFD is one write(2) to a non-blocking socket, retried on EINTR.
func writeFD(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, err := syscall.Write(int(fd), p)
		if err == nil {
			return n, 0
		}
		if errno := err.(syscall.Errno); errno != syscall.EINTR {
			return n, errno
		}
	}
}

// ReadFrom sends a temp-file range with sendfile(2) through the runtime's
// poller, a step at a time (send_timeout bounds each step), reporting EAGAIN
// to the spool as a stall like Write does: while the client keeps up with
// the file, the producer waits for memory instead of spilling more.
func (w *SocketWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := w.FlushHeld(); err != nil {
		return 0, err
	}
	lr, ok := r.(*io.LimitedReader)
	var f *os.File
	if ok {
		f, ok = lr.R.(*os.File)
	}
	if !ok {
		w.renew.RenewSendDeadline()
		n, err := w.conn.ReadFrom(r)
		w.count(n)
		return n, err
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	err = frc.Control(func(in uintptr) {
		w.sfIn, w.sfOff = int(in), off
		for lr.N > 0 {
			w.renew.RenewSendDeadline()
			w.sfN, w.n, w.errno = int(min(lr.N, SendfileStep)), 0, 0
			if err = w.rc.Write(w.fnsf); err == nil && w.errno != 0 {
				err = &net.OpError{Op: "sendfile", Net: "tcp", Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("sendfile", w.errno)}
			}
			total += int64(w.n)
			w.count(int64(w.n))
			lr.N -= int64(w.n)
			if err != nil || w.n == 0 {
				return
			}
		}
	})
	if err == nil && lr.N > 0 {
		err = io.ErrUnexpectedEOF // the file is shorter than the spool said
	}
	if err == nil {
		w.setStalled(false)
	}
	return total, err
}

func (w *SocketWriter) sendfile(fd uintptr) bool {
	for {
		n, err := syscall.Sendfile(int(fd), w.sfIn, &w.sfOff, w.sfN)
		switch err {
		case nil:
			w.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if n > 0 {
				w.n = n
				return true
			}
			w.setStalled(true)
			return false
		}
		w.errno = err.(syscall.Errno)
		return true
	}
}
