package config

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// This file holds nginx's units: sizes ("512", "8k", "1m", "1g"), like
// ngx_parse_offset, and times ("500ms", "60s", "1h30m"), like ngx_parse_time.

// ParseSize parses an nginx size: a number of bytes with an optional k/K
// (1024), m/M (1024²) or g/G (1024³) suffix. Signs, fractions, spaces and
// values beyond int64 are errors.
func ParseSize(s string) (int64, error) {
	digits, scale := s, int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			scale = 1 << 10
		case 'm', 'M':
			scale = 1 << 20
		case 'g', 'G':
			scale = 1 << 30
		}
		if scale != 1 {
			digits = s[:len(s)-1]
		}
	}
	n, ok := parseDigits(digits)
	if !ok {
		return 0, fmt.Errorf("invalid value %q: want a size like 512, 8k, 1m or 1g", s)
	}
	if n > math.MaxInt64/scale {
		return 0, fmt.Errorf("invalid value %q: too large", s)
	}
	return n * scale, nil
}

// parseDigits parses a non-empty run of ASCII digits that fits in an int64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// timeUnit is one unit ParseDuration accepts; rank orders them from the
// largest (1) to the smallest, because nginx wants "1h30m", not "30m1h".
type timeUnit struct {
	name string
	d    time.Duration
	rank int
}

const (
	day   = 24 * time.Hour
	month = 30 * day  // nginx's "M"
	year  = 365 * day // nginx's "y"
)

// timeUnitAt returns the unit that s starts with ("ms" before "m").
func timeUnitAt(s string) (timeUnit, bool) {
	if len(s) >= 2 && s[:2] == "ms" {
		return timeUnit{"ms", time.Millisecond, 8}, true
	}
	switch s[0] {
	case 'y':
		return timeUnit{"y", year, 1}, true
	case 'M':
		return timeUnit{"M", month, 2}, true
	case 'w':
		return timeUnit{"w", 7 * day, 3}, true
	case 'd':
		return timeUnit{"d", day, 4}, true
	case 'h':
		return timeUnit{"h", time.Hour, 5}, true
	case 'm':
		return timeUnit{"m", time.Minute, 6}, true
	case 's':
		return timeUnit{"s", time.Second, 7}, true
	}
	return timeUnit{}, false
}

// ParseDuration parses an nginx time: numbers with the units ms, s, m, h,
// d, w, M (30 days) and y (365 days), largest unit first and each unit at
// most once ("1h30m", "1d12h", "500ms"). A number without a unit is seconds,
// alone ("60") or after larger units ("1m30" is 90s), as in nginx.
// Spaces may follow a unit ("1h 30m"), as in nginx; negative values,
// fractions, other spaces and overflow are errors.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("invalid value %q: %s", s, why)
	}
	const want = "want a time like 500ms, 30s, 5m, 1h or 1d; a bare number is seconds"
	if s == "" {
		return bad(want)
	}
	var total, value time.Duration
	digits, last := false, 0
	add := func(n, unit time.Duration) bool {
		if n > math.MaxInt64/unit || total > math.MaxInt64-n*unit {
			return false
		}
		total += n * unit
		return true
	}
	for i := 0; i < len(s); {
		if c := s[i]; c >= '0' && c <= '9' {
			if value > (math.MaxInt64-9)/10 {
				return bad("too large")
			}
			value = value*10 + time.Duration(c-'0')
			digits = true
			i++
			continue
		}
		u, ok := timeUnitAt(s[i:])
		if !ok || !digits {
			return bad(want)
		}
		if u.rank <= last {
			return bad("units must go from the largest to the smallest, each once, like 1h30m")
		}
		if !add(value, u.d) {
			return bad("too large")
		}
		last, value, digits = u.rank, 0, false
		i += len(u.name)
		for i < len(s) && s[i] == ' ' { // nginx skips spaces after a unit: "1h 30m"
			i++
		}
	}
	if digits {
		if last >= 7 { // "1s30", "500ms5": nothing smaller than the unit before may follow
			return bad("a bare number is seconds, so it cannot follow s or ms")
		}
		if !add(value, time.Second) {
			return bad("too large")
		}
	}
	return total, nil
}

// formatSize writes n the way a user would write it in the file: "4k", "1m",
// or plain bytes.
func formatSize(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "g"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "m"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration writes d the way a user would write it in the file, with
// nginx's units from hours down to milliseconds: "1s", "500ms", "1h30m".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b []byte
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, u.name...)
			d -= n * u.d
		}
	}
	if len(b) == 0 {
		return d.String() // below a millisecond: not writable in the file anyway
	}
	return string(b)
}
