package config

// Fuzz checks of nginx's units against a port of nginx's own parsers
// (src/core/ngx_parse.c: ngx_parse_offset, ngx_parse_time): whatever
// spillway accepts, nginx accepts with the same value; what spillway
// prints for a value parses back to it. FuzzParseSize and FuzzParseDuration
// (fuzz_test.go) check the error wording and the bare-number rule.

import (
	"math"
	"strings"
	"testing"
	"time"
)

// ngxParseOffset is nginx's ngx_parse_offset (client_max_body_size,
// proxy_max_temp_file_size): digits with an optional k/K, m/M, g/G suffix,
// -1 for an error. ngx_parse_size (proxy_buffer_size, ...) is the same
// without g/G.
func ngxParseOffset(s string) int64 {
	if s == "" {
		return -1
	}
	max, scale, n := int64(math.MaxInt64), int64(1), len(s)
	switch s[n-1] {
	case 'k', 'K':
		n, max, scale = n-1, math.MaxInt64/1024, 1024
	case 'm', 'M':
		n, max, scale = n-1, math.MaxInt64/(1024*1024), 1024*1024
	case 'g', 'G':
		n, max, scale = n-1, math.MaxInt64/(1024*1024*1024), 1024*1024*1024
	}
	// ngx_atoof
	if n == 0 {
		return -1
	}
	var v int64
	const cutoff, cutlim = math.MaxInt64 / 10, math.MaxInt64 % 10
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		if v >= cutoff && (v > cutoff || int64(c-'0') > cutlim) {
			return -1
		}
		v = v*10 + int64(c-'0')
	}
	if v > max {
		return -1
	}
	return v * scale
}

// ngxParseTime is nginx's ngx_parse_time: milliseconds when isSec is false
// (ngx_conf_set_msec_slot: proxy_read_timeout, ...), seconds when true
// (ngx_conf_set_sec_slot: fail_timeout, ...); -1 for an error.
func ngxParseTime(s string, isSec bool) int64 {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
		stLast
	)
	const maxV = math.MaxInt64
	const cutoff, cutlim = maxV / 10, maxV % 10
	valid := false
	var value, total, max, scale int64
	step := stStart
	if !isSec {
		step = stMonth
	}
	p := 0
	for p < len(s) {
		if c := s[p]; c >= '0' && c <= '9' {
			if value >= cutoff && (value > cutoff || int64(c-'0') > cutlim) {
				return -1
			}
			value = value*10 + int64(c-'0')
			p++
			valid = true
			continue
		}
		c := s[p]
		p++
		switch c {
		case 'y':
			if step > stStart {
				return -1
			}
			step, max, scale = stYear, maxV/(60*60*24*365), 60*60*24*365
		case 'M':
			if step >= stMonth {
				return -1
			}
			step, max, scale = stMonth, maxV/(60*60*24*30), 60*60*24*30
		case 'w':
			if step >= stWeek {
				return -1
			}
			step, max, scale = stWeek, maxV/(60*60*24*7), 60*60*24*7
		case 'd':
			if step >= stDay {
				return -1
			}
			step, max, scale = stDay, maxV/(60*60*24), 60*60*24
		case 'h':
			if step >= stHour {
				return -1
			}
			step, max, scale = stHour, maxV/(60*60), 60*60
		case 'm':
			if p < len(s) && s[p] == 's' {
				if isSec || step >= stMsec {
					return -1
				}
				p++
				step, max, scale = stMsec, maxV, 1
				break
			}
			if step >= stMin {
				return -1
			}
			step, max, scale = stMin, maxV/60, 60
		case 's':
			if step >= stSec {
				return -1
			}
			step, max, scale = stSec, maxV, 1
		case ' ':
			if step >= stSec {
				return -1
			}
			step, max, scale = stLast, maxV, 1
		default:
			return -1
		}
		if step != stMsec && !isSec {
			scale *= 1000
			max /= 1000
		}
		if value > max {
			return -1
		}
		value *= scale
		if total > maxV-value {
			return -1
		}
		total += value
		value = 0
		for p < len(s) && s[p] == ' ' {
			p++
		}
	}
	if !valid {
		return -1
	}
	if !isSec {
		if value > maxV/1000 {
			return -1
		}
		value *= 1000
	}
	if total > maxV-value {
		return -1
	}
	return total + value
}

// FuzzSizeLikeNginx: ParseSize agrees with ngx_parse_offset on every input,
// accepted or not, and formatSize's output parses back to the value.
func FuzzSizeLikeNginx(f *testing.F) {
	for _, s := range []string{"16k", "1m", "1g", "1G", "512", "0", "0k", "k", "", " 1k", "1k ", "+1", "-1",
		"8796093022207k", "8796093022208k", "8589934591g", "8589934592g", "9223372036854775807", "1.5m", "1t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		want := ngxParseOffset(s)
		if (err == nil) != (want >= 0) || (err == nil && n != want) {
			t.Fatalf("ParseSize(%q) = %d, %v; nginx's ngx_parse_offset gives %d", s, n, err, want)
		}
		if err == nil {
			if back, err := ParseSize(formatSize(n)); err != nil || back != n {
				t.Fatalf("ParseSize(formatSize(%d) = %q) = %d, %v", n, formatSize(n), back, err)
			}
		}
	})
}

// FuzzDurationLikeNginx: whatever ParseDuration accepts, nginx's
// ngx_parse_time accepts with the same value, as a msec directive
// (proxy_read_timeout) or, for months and years, which nginx allows only
// there, as a sec directive (fail_timeout). spillway is stricter in places
// (it rejects "1s30", "1hm", "1 30", values past 292 years), and looser in
// one: it takes y/M together with ms.
// formatDuration's output parses back to the value.
func FuzzDurationLikeNginx(f *testing.F) {
	for _, s := range []string{"30s", "1h 30m", "1h  30m ", "1h30m", "500ms", "1d 12h", "1y 2M", "60", "1m30", "1m 30",
		"1s30", "1hm", " 1h", "1h\t30m", "1 30", "30m1h", "292y", "1M", "1w1d", "5ms", "0ms", "0", "ms", "1ms 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		ms, sec := ngxParseTime(s, false), ngxParseTime(s, true)
		msOK := ms >= 0 && d%time.Millisecond == 0 && int64(d/time.Millisecond) == ms
		secOK := sec >= 0 && d%time.Second == 0 && int64(d/time.Second) == sec
		// spillway has one parser for both kinds of directive, so it also
		// takes y or M (nginx: sec directives only) with ms (msec only):
		// "1y500ms". The one leniency; the value is still the sum.
		mixed := strings.ContainsAny(s, "yM") && strings.Contains(s, "ms")
		if !msOK && !secOK && !mixed {
			t.Fatalf("ParseDuration(%q) = %v; nginx gives %d ms (msec directive), %d s (sec directive)", s, d, ms, sec)
		}
		if d >= time.Millisecond {
			if back, err := ParseDuration(formatDuration(d)); err != nil || back != d {
				t.Fatalf("ParseDuration(formatDuration(%v) = %q) = %v, %v", d, formatDuration(d), back, err)
			}
		}
	})
}

// TestDurationSpacesLikeNginx: nginx skips spaces after a unit, so
// "1h 30m" is 90 minutes there; a space elsewhere is an error in both.
func TestDurationSpacesLikeNginx(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration // 0: an error
	}{
		{"1h 30m", 90 * time.Minute},
		{"1h  30m ", 90 * time.Minute},
		{"1d 12h 5s", 36*time.Hour + 5*time.Second},
		{"1m 500ms", time.Minute + 500*time.Millisecond},
		{"1m 30", 90 * time.Second},
		{" 1h", 0},
		{"1 h", 0},
		{"1h\t30m", 0},
	} {
		d, err := ParseDuration(c.in)
		if c.want == 0 {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", c.in, d)
			}
			if ngxParseTime(c.in, false) >= 0 {
				t.Errorf("nginx's port accepts %q", c.in)
			}
			continue
		}
		if err != nil || d != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, d, err, c.want)
		}
		if ms := ngxParseTime(c.in, false); ms != int64(c.want/time.Millisecond) {
			t.Errorf("nginx's port gives %q = %d ms, want %v", c.in, ms, c.want)
		}
	}
}
