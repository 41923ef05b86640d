package errorlog

import (
	"sync"
)

// Output is one destination of a Log made by Compose: a File owned by a
// Files, and the lowest level written to it.
type Output struct {
	File  *File
	Level Level
}

// Compose returns a Log writing to files it does not own: nginx's
// error_log of the http, server and location levels, whose files are
// shared by every level that names them. A line goes to each output whose
// level it reaches. Reopen, Close and ReconfigureAll do nothing to the
// files: their Files reopens and closes them.
func Compose(outs []Output, opts Options) *Log {
	logOuts := make([]*output, len(outs))
	for i, o := range outs {
		logOuts[i] = &output{w: o.File}
		logOuts[i].min.Store(int32(ZapLevel(o.Level)))
	}
	l := newLog(logOuts, opts, false)
	l.borrowed = true
	return l
}

// Files holds the error-log files of the http, server and location
// levels: one open File per path, however many levels and loaded
// configurations name it, closed when the last one lets go. The zero
// value is ready to use; it is safe for concurrent use.
type Files struct {
	mu    sync.Mutex
	files map[string]*sharedFile
}

type sharedFile struct {
	f    *File
	refs int
}

// Acquire returns the File at path, opening it (an *OpenError on failure)
// unless it is open already. Each Acquire is paired with a Release.
func (fs *Files) Acquire(path string) (*File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if sf := fs.files[path]; sf != nil {
		sf.refs++
		return sf.f, nil
	}
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	if fs.files == nil {
		fs.files = map[string]*sharedFile{}
	}
	fs.files[path] = &sharedFile{f: f, refs: 1}
	return f, nil
}

// Release lets go of a File Acquire returned, closing it if nothing else
// holds it.
func (fs *Files) Release(f *File) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	path := f.Path()
	sf := fs.files[path]
	if sf == nil || sf.f != f {
		return
	}
	if sf.refs--; sf.refs <= 0 {
		_ = f.Close()
		delete(fs.files, path)
	}
}

// Reopen reopens every file at its path (SIGUSR1). A file that cannot be
// reopened keeps its old descriptor; the first *OpenError is returned.
func (fs *Files) Reopen() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var first error
	for _, sf := range fs.files {
		if err := sf.f.Reopen(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// CloseAll closes every file, whoever holds it (the process's stop).
func (fs *Files) CloseAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for path, sf := range fs.files {
		_ = sf.f.Close()
		delete(fs.files, path)
	}
}
