// Package deadline renews socket deadlines cheaply.
package deadline

import "time"

// Stale reports whether a deadline dl should be renewed to now+t before an
// I/O call. Setting one updates a runtime timer under a lock; keeping one
// that is within t/16 of exact holds the timeout in [15/16 t, t] at a
// fraction of the cost.
func Stale(dl time.Time, t time.Duration, now time.Time) bool {
	left := dl.Sub(now)
	return left < t-t/16 || left > t
}
