package buffer

import "os"

// SetWriteHook replaces how b writes to its temp files, so tests can make the
// disk fail (ENOSPC) at a chosen point. Call it before b is used.
func SetWriteHook(b *Budget, fn func(f *os.File, p []byte, off int64) (int, error)) {
	b.writeAt = fn
}
