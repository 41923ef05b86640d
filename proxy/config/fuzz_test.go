package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "512", "8k", "8K", "1m", "1g", "1024m", "", "k", "-1", "1.5k", "8q",
		"9223372036854775807", "9223372036854775808", "8589934592g", "9007199254740992k", "007k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid value") {
				t.Fatalf("ParseSize(%q) error %q lacks nginx's wording", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		// What we print in messages parses back to the same size.
		if back, err := ParseSize(formatSize(n)); err != nil || back != n {
			t.Fatalf("ParseSize(formatSize(%d)=%q) = %d, %v", n, formatSize(n), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "60", "500ms", "60s", "5m", "1h", "1d", "1w", "1M", "1y", "1h30m", "1m30",
		"30m1h", "1s30", "5x", "-1s", "", "292y", "293y", "9223372036854775807", "1y1M1w1d1h1m1s1ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid value") {
				t.Fatalf("ParseDuration(%q) error %q lacks nginx's wording", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v < 0", s, d)
		}
		if n, ok := parseDigits(s); ok && d != time.Duration(n)*time.Second {
			t.Fatalf("ParseDuration(%q) = %v; a bare number is seconds", s, d)
		}
	})
}

func FuzzNextUpstream(f *testing.F) {
	for _, s := range []string{"error timeout", "off", "off error", "error bogus", "http_502 http_504 non_idempotent",
		"", "error  timeout\tinvalid_header", "http_429 http_403 http_404 http_500 http_503"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := strings.Fields(s)
		n, err := ParseNextUpstream(words)
		if err != nil {
			return
		}
		if n == 0 {
			t.Fatalf("ParseNextUpstream(%q) = 0 without an error", words)
		}
		if n.Has(NextOff) && n != NextOff {
			t.Fatalf("ParseNextUpstream(%q) = %v: off must stand alone", words, n)
		}
		back, err := ParseNextUpstream(strings.Fields(n.String()))
		if err != nil || back != n {
			t.Fatalf("round trip of %q: %q → %v, %v", words, n.String(), back, err)
		}
	})
}

// FuzzUpstreamValues checks the decoders of retry_budget and health_check
// status: never a panic, a budget always within 0..1, ranges always within
// 100..599 and ordered, and an error whenever the value is rejected.
func FuzzUpstreamValues(f *testing.F) {
	for _, s := range []string{"20%", "0%", "100%", "100.0%", "12.5%", "off", "OFF", "", "%", "-1%", "101%", "1e2%",
		"NaN%", "Inf%", "0x10%", " 5%", "200", "200-399", "200 204-206", "400-300", "99", "600", "2xx", "200-", "-200"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := percentFrom(s); err == nil && (b < 0 || b > 1 || b != b) {
			t.Fatalf("percentFrom(%q) = %v", s, b)
		}
		rs, err := statusRangesFrom(s)
		if err != nil {
			return
		}
		if len(rs) == 0 {
			t.Fatalf("statusRangesFrom(%q): no ranges and no error", s)
		}
		for _, r := range rs {
			if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
				t.Fatalf("statusRangesFrom(%q) = %v", s, rs)
			}
		}
	})
}

// FuzzLoad feeds arbitrary bytes to LoadBytes: it must never panic, every
// failure must be a *Error with a message, and a success must be a usable
// Config.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"good.yaml", "unknown-key.yaml", "bad-size.yaml", "bad-duration.yaml"} {
		if b, err := os.ReadFile("../../testdata/config/" + name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "~", "- a", "a: [", "http: 5", "http:\n  servers: foo\n",
		base, withLocation("proxy_buffers: 1 4k"), withLocation("proxy_set_header: {A: b, a: c}"),
		"http: &a\n  x: *a\n",
		"http:\n  upstreams: {a.b: {servers: [{address: x}]}, \"c::d\": {}}\n",
		"http:\n  upstreams:\n    1: {servers: [{address: x}]}\n",
		"http:\n  servers:\n    - <<: [{listen: 1}, {locations: []}]\n",
		"error_log: [1, 2]\npid: {a: b}\n",
		"http:\n  proxy_set_header: [{}, {a: 1, b: 2}, 3, [x]]\n",
		"{http: {servers: [{listen: [\"[::1]:0\"], locations: [{path: \"~*(?i)\", proxy_pass: \"http://[::1]:1/\"}]}]}}",
		withUpstream("least_conn: on", "retry_budget: 5%", "health_check: {type: tcp, interval: 1s, timeout: 1s}"),
		withUpstream("health_check: {status: [200, \"300-399\"], uri: /h, host: x}"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadBytes("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			if e.Msg == "" || e.File != "fuzz.yaml" {
				t.Fatalf("error without a message or file: %#v", e)
			}
			return
		}
		if len(c.Servers) == 0 {
			t.Fatal("a valid config without servers")
		}
		for _, s := range c.Servers {
			if len(s.Listen) == 0 || len(s.Locations) == 0 {
				t.Fatalf("a valid server without listen or locations: %+v", s)
			}
			for _, l := range s.Locations {
				if l.ProxyPass.Scheme != "http" || (l.ProxyPass.Upstream != "" && c.Upstreams[l.ProxyPass.Upstream] == nil) {
					t.Fatalf("a valid location with a bad proxy_pass: %+v", l.ProxyPass)
				}
				if (l.Match == MatchRegex || l.Match == MatchRegexCaseless) != (l.Regex != nil) {
					t.Fatalf("location %q: match %v, regex %v", l.Path, l.Match, l.Regex)
				}
			}
		}
	})
}
