// Package errorlog writes nginx's error log, byte for byte, through zap:
//
//	2026/11/25 10:00:00 [error] 4242#4242: *5 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9000/", host: "127.0.0.1:8080"
//
// The line is nginx's ngx_log_error_core plus ngx_http_log_error: local time, the
// level, "PID#TID: " (TID = PID, as in a single-threaded nginx worker), "*CONN "
// when the line belongs to a connection, the message, " (ERRNO: STRERROR)", then
// " while ACTION" and the request fields. Lines are cut at 2048 bytes like
// NGX_MAX_ERROR_STR.
//
// The hot path (Log.Write) hands a zapcore.Entry and the *Entry to the package's
// zapcore.Core, which encodes with the package's zapcore.Encoder and writes one
// line with one write(2): 0 allocations. Log.Zap gives the same core as a
// *zap.Logger for code that wants zap fields.
//
// Like nginx, a Log may write to several files (several error_log directives,
// OpenAll), each with its own level: a line is encoded once and written to
// every file whose level it reaches. The error_log of the http, server and
// location levels are Logs made by Compose over Files, which opens each
// path once for every level that names it.
package errorlog

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"spillway/proxy/config"
)

// Level is nginx's error-log level. It is config.Level, so the level parsed from
// error_log plugs in directly.
type Level = config.Level

// The levels, in nginx's order.
const (
	Debug  = config.LevelDebug
	Info   = config.LevelInfo
	Notice = config.LevelNotice
	Warn   = config.LevelWarn
	Error  = config.LevelError
	Crit   = config.LevelCrit
	Alert  = config.LevelAlert
	Emerg  = config.LevelEmerg
)

// zapLevels maps nginx's levels onto zap's int8 scale. zap attaches panic/exit
// hooks to DPanic(3), Panic(4) and Fatal(5) in Logger.check, so nginx's levels
// avoid 3..5. The scale keeps zap's own names where nginx has them: zap's Warn
// and Error are [warn] and [error], zap's Info is [notice] and its Debug [info].
// crit, alert and emerg sit above Fatal. (zap's own ioCore would Sync after
// entries above Error; this package's core never does, and File.Sync is a no-op:
// nginx never fsyncs its log either.)
var zapLevels = [...]zapcore.Level{
	Debug:  -2,
	Info:   zapcore.DebugLevel, // -1
	Notice: zapcore.InfoLevel,  // 0
	Warn:   zapcore.WarnLevel,  // 1
	Error:  zapcore.ErrorLevel, // 2
	Crit:   6,
	Alert:  7,
	Emerg:  8,
}

// ZapLevel is the zap level an nginx level is logged at, for Log.Zap().Log.
func ZapLevel(lv Level) zapcore.Level {
	switch {
	case lv < Debug:
		lv = Debug
	case lv > Emerg:
		lv = Emerg
	}
	return zapLevels[lv]
}

// levelName is the bracketed name of a zap level. zap's DPanic, Panic and Fatal
// (reachable only through Log.Zap) print as crit, alert and emerg.
func levelName(l zapcore.Level) string {
	switch {
	case l <= -2:
		return "debug"
	case l == zapcore.DebugLevel:
		return "info"
	case l == zapcore.InfoLevel:
		return "notice"
	case l == zapcore.WarnLevel:
		return "warn"
	case l == zapcore.ErrorLevel:
		return "error"
	case l == zapcore.DPanicLevel, l == 6:
		return "crit"
	case l == zapcore.PanicLevel, l == 7:
		return "alert"
	default:
		return "emerg"
	}
}

// Fields are the request fields nginx's ngx_http_log_error_handler appends, in
// this order. An empty string means the field is absent. Like nginx, a line has
// fields only if Client is set: connection-level lines (e.g. "while waiting for
// request") carry Client and Server (the listen address there), request lines
// add Request, then Upstream once a peer was chosen (`http://127.0.0.1:9001/uri`,
// or the group name for "no live upstreams"), Host if a Host header came, and
// Referrer if a Referer header came. Subrequest is the URI of the
// subrequest whose line it is (auth_request), printed after Request.
type Fields struct {
	Client, Server, Request, Upstream, Host, Referrer string
	Subrequest                                        string
	// HostEmpty: a Host line came with an empty value, which nginx
	// prints as host: "" (Host itself is then "").
	HostEmpty bool
}

// Entry is one error-log line.
type Entry struct {
	Level  Level
	Conn   uint64        // nginx's connection number, printed as "*N "; 0 = none
	Msg    string        // the text before " (errno: ...)"
	Errno  syscall.Errno // 0 = none
	Action string        // the phase, printed as " while ACTION"; "" = none
	Fields *Fields       // nil = no fields
	// RawMsg writes Msg's bytes as they are, as nginx's %V of a peer's
	// bytes does (a NUL raw), but CR and LF as \xHH: one entry, one line.
	RawMsg bool
}

// Options are for tests and embedding. The zero value is the real thing.
type Options struct {
	Now func() time.Time // nil = time.Now (local time, as nginx)
	PID int              // 0 = os.Getpid()
}

// Log is an nginx error log. It is safe for concurrent use. Its owner calls
// Reopen on SIGUSR1 and Close at exit.
type Log struct {
	core   *core
	zap    *zap.Logger
	now    func() time.Time
	writer bool // New: one io.Writer, no files
	// borrowed: Compose's, whose files a Files owns; Reopen, Close and
	// ReconfigureAll leave them alone.
	borrowed bool
	mu       sync.Mutex // serialises Reconfigure, Reopen and Close
}

// output is one destination with its own minimum level.
type output struct {
	min  atomic.Int32 // a zapcore.Level
	w    zapcore.WriteSyncer
	file *File // nil for New's writer
}

// Open opens the error log at path ("stderr" or a file, opened for appending
// and created 0644 if missing; missing directories are an error, as in nginx)
// with level as the minimum level written. The error is an *OpenError.
func Open(path string, level Level, opts Options) (*Log, error) {
	return OpenAll([]config.ErrorLog{{Path: path, Level: level}}, opts)
}

// OpenAll opens several error logs at once, nginx's several error_log
// directives: each file gets the lines at or above its own level. On an error
// (an *OpenError) nothing is left open.
func OpenAll(logs []config.ErrorLog, opts Options) (*Log, error) {
	outs, err := openOutputs(logs, nil)
	if err != nil {
		return nil, err
	}
	return newLog(outs, opts, false), nil
}

// openOutputs opens the files of logs, reusing reuse[i]'s File when it has
// the same path; on failure it closes what it opened.
func openOutputs(logs []config.ErrorLog, reuse []*output) ([]*output, error) {
	outs := make([]*output, len(logs))
	for i, lg := range logs {
		o := &output{}
		o.min.Store(int32(ZapLevel(lg.Level)))
		if i < len(reuse) && reuse[i].file != nil && reuse[i].file.Path() == lg.Path {
			o.file = reuse[i].file
		} else {
			f, err := OpenFile(lg.Path)
			if err != nil {
				for j := range i {
					if j >= len(reuse) || outs[j].file != reuse[j].file {
						_ = outs[j].file.Close()
					}
				}
				return nil, err
			}
			o.file = f
		}
		o.w = o.file
		outs[i] = o
	}
	return outs, nil
}

// New returns a Log that writes each line with one w.Write call, serialised by
// a mutex. Reopen and Close do nothing to w.
func New(w io.Writer, level Level, opts Options) *Log {
	o := &output{w: &lockedWriter{w: w}}
	o.min.Store(int32(ZapLevel(level)))
	return newLog([]*output{o}, opts, true)
}

func newLog(outs []*output, opts Options, writer bool) *Log {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	pid := opts.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	c := &core{min: new(atomic.Int32), enc: newEncoder(pid), outs: new(atomic.Pointer[[]*output])}
	c.set(outs)
	return &Log{
		core:   c,
		zap:    zap.New(c, zap.WithClock(clock{now})),
		now:    now,
		writer: writer,
	}
}

// Enabled reports whether lines at lv are written.
func (l *Log) Enabled(lv Level) bool { return l.core.Enabled(ZapLevel(lv)) }

// Write formats e and writes it as one line, if e.Level is enabled. It does not
// allocate and does not retain e. Write errors are dropped: like nginx, there is
// nowhere left to report them.
func (l *Log) Write(e *Entry) {
	zl := ZapLevel(e.Level)
	if !l.core.Enabled(zl) {
		return
	}
	_ = l.core.write(zapcore.Entry{Level: zl, Time: l.now(), Message: e.Msg}, e)
}

// Logf writes a line without connection number or fields, such as the process
// lifecycle notices ("signal 10 (SIGUSR1) received from 1234, reopening logs").
func (l *Log) Logf(lv Level, format string, args ...any) {
	if !l.Enabled(lv) {
		return
	}
	l.Write(&Entry{Level: lv, Msg: fmt.Sprintf(format, args...)})
}

// Infof, Noticef, Warnf, Errorf, Critf, Alertf and Emergf are Logf at that
// level: process-level lines that belong to no connection.
func (l *Log) Infof(format string, args ...any)   { l.Logf(Info, format, args...) }
func (l *Log) Noticef(format string, args ...any) { l.Logf(Notice, format, args...) }
func (l *Log) Warnf(format string, args ...any)   { l.Logf(Warn, format, args...) }
func (l *Log) Errorf(format string, args ...any)  { l.Logf(Error, format, args...) }
func (l *Log) Critf(format string, args ...any)   { l.Logf(Crit, format, args...) }
func (l *Log) Alertf(format string, args ...any)  { l.Logf(Alert, format, args...) }
func (l *Log) Emergf(format string, args ...any)  { l.Logf(Emerg, format, args...) }

// Reopen reopens every file at its path (SIGUSR1 after logrotate). On
// failure a file keeps its old descriptor and the first *OpenError is
// returned. For stderr and for New it does nothing.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.borrowed {
		return nil
	}
	var first error
	for _, o := range *l.core.outs.Load() {
		if o.file == nil {
			continue
		}
		if err := o.file.Reopen(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Reconfigure applies a reloaded error_log directive: lines at level and up
// go to path from now on (ReconfigureAll with one log).
func (l *Log) Reconfigure(path string, level Level) error {
	return l.ReconfigureAll([]config.ErrorLog{{Path: path, Level: level}})
}

// ReconfigureAll applies reloaded error_log directives: from now on each
// line goes to every file of logs whose level it reaches. New files are
// opened before anything changes, so on failure (an *OpenError) the log
// keeps its files and levels, as nginx keeps the old cycle when a reload
// cannot open its logs. A file whose path stays at its position is kept
// (lines in flight are not lost); the files no longer named are closed. For
// New's writer only the first level applies.
func (l *Log) ReconfigureAll(logs []config.ErrorLog) error {
	if len(logs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.borrowed {
		return nil
	}
	old := *l.core.outs.Load()
	if l.writer {
		old[0].min.Store(int32(ZapLevel(logs[0].Level)))
		l.core.set(old)
		return nil
	}
	outs, err := openOutputs(logs, old)
	if err != nil {
		return err
	}
	l.core.set(outs)
	for _, o := range old {
		if !slices.ContainsFunc(outs, func(n *output) bool { return n.file == o.file }) {
			_ = o.file.Close()
		}
	}
	return nil
}

// Close closes the files (not stderr, not New's writer). Lines written after
// Close are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.borrowed {
		return nil
	}
	var first error
	for _, o := range *l.core.outs.Load() {
		if o.file == nil {
			continue
		}
		if err := o.file.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Zap returns the zap logger on the same core. Its fields are appended after the
// message as ", key: value". Log at nginx levels with
// Zap().Log(errorlog.ZapLevel(errorlog.Warn), ...); zap's own Warn and Error
// are [warn] and [error], Info is [notice] and Debug is [info].
func (l *Log) Zap() *zap.Logger { return l.zap }

// core is the zapcore.Core under Log: one encoder, the outputs each with its
// own minimum level. With() clones the encoder and shares the outputs.
type core struct {
	min  *atomic.Int32 // the lowest of the outputs' levels; shared by With's clones
	enc  *encoder
	outs *atomic.Pointer[[]*output] // shared by With's clones, swapped by Reconfigure
}

// set installs outs and the lowest of their levels.
func (c *core) set(outs []*output) {
	low := int32(math.MaxInt32)
	for _, o := range outs {
		low = min(low, o.min.Load())
	}
	c.outs.Store(&outs)
	c.min.Store(low)
}

func (c *core) Enabled(l zapcore.Level) bool { return int32(l) >= c.min.Load() }

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	enc := c.enc.clone()
	for i := range fields {
		fields[i].AddTo(enc)
	}
	return &core{min: c.min, enc: enc, outs: c.outs}
}

// out writes one encoded line to every output whose level l reaches; the
// first write error is returned.
func (c *core) out(l zapcore.Level, line []byte) error {
	var first error
	for _, o := range *c.outs.Load() {
		if int32(l) < o.min.Load() {
			continue
		}
		if _, err := o.w.Write(line); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *core) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *core) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(ent, fields)
	if err != nil {
		return err
	}
	err = c.out(ent.Level, buf.Bytes())
	buf.Free()
	return err
}

// write is Write for Log.Write: x travels beside the zap entry rather than
// inside a zap.Field, because a Field handed to zap's interfaces escapes, and so
// would the caller's *Entry.
func (c *core) write(ent zapcore.Entry, x *Entry) error {
	buf := c.enc.pool.Get()
	buf.AppendBytes(c.enc.appendLine(buf.Bytes(), ent, x, nil))
	err := c.out(ent.Level, buf.Bytes())
	buf.Free()
	return err
}

func (c *core) Sync() error { return nil } // File and lockedWriter never sync (see zapLevels)

// lockedWriter serialises writes to a plain io.Writer (zapcore.Lock without the
// Sync, which an io.Writer may not have).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *lockedWriter) Sync() error { return nil }

// clock feeds Options.Now to zap.Logger, which timestamps Zap() entries.
type clock struct{ now func() time.Time }

func (c clock) Now() time.Time                         { return c.now() }
func (c clock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }
