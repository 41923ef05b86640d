package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string // substring of the error; "" = no error
	}{
		{"0", 0, ""},
		{"512", 512, ""},
		{"8k", 8 << 10, ""},
		{"8K", 8 << 10, ""},
		{"1m", 1 << 20, ""},
		{"1M", 1 << 20, ""},
		{"1g", 1 << 30, ""},
		{"1G", 1 << 30, ""},
		{"1024m", 1 << 30, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"8388607t", 0, "invalid value"},
		{"", 0, `invalid value ""`},
		{"k", 0, `invalid value "k"`},
		{"-1", 0, `invalid value "-1"`},
		{"+1", 0, "invalid value"},
		{"1.5k", 0, "invalid value"},
		{"8 k", 0, "invalid value"},
		{" 8k", 0, "invalid value"},
		{"8kb", 0, "invalid value"},
		{"8q", 0, `invalid value "8q": want a size like 512, 8k, 1m or 1g`},
		{"9223372036854775808", 0, "invalid value"},
		{"8589934592g", 0, "too large"},
		{"9007199254740992k", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"60", 60 * time.Second, ""}, // a bare number is seconds, as in nginx
		{"500ms", 500 * time.Millisecond, ""},
		{"60s", 60 * time.Second, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h", time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"1w", 7 * 24 * time.Hour, ""},
		{"1M", 30 * 24 * time.Hour, ""},
		{"1y", 365 * 24 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1m30s500ms", 90*time.Second + 500*time.Millisecond, ""},
		{"1m30", 90 * time.Second, ""}, // nginx: a trailing number is seconds
		{"292y", 292 * 365 * 24 * time.Hour, ""},
		{"", 0, `invalid value ""`},
		{"5x", 0, `invalid value "5x": want a time like`},
		{"-1s", 0, "invalid value"},
		{"1.5s", 0, "invalid value"},
		{"s", 0, "invalid value"},
		{"1h 30m", 90 * time.Minute, ""}, // nginx skips spaces after a unit
		{"1 30", 0, "invalid value"},
		{"30m1h", 0, "largest to the smallest"},
		{"1m1m", 0, "largest to the smallest"},
		{"1s30", 0, "cannot follow s or ms"},
		{"500ms5", 0, "cannot follow s or ms"},
		{"1hms", 0, "invalid value"},
		{"293y", 0, "too large"},
		{"9223372036854775807s", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 100: "100", 4096: "4k", 1 << 20: "1m", 3 << 30: "3g", 1536: "1536"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
