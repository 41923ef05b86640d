//go:build !linux

package sweep

import "os"

// TermWidth reports 0 (not a terminal) outside Linux: progress comes as
// plain lines.
func TermWidth(*os.File) int { return 0 }
