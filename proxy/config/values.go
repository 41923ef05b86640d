package config

import (
	"fmt"
	"strings"
)

// levelName returns the nginx name of an error-log level, "" if l is none.
func levelName(l Level) string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelNotice:
		return "notice"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	case LevelCrit:
		return "crit"
	case LevelAlert:
		return "alert"
	case LevelEmerg:
		return "emerg"
	}
	return ""
}

// String returns the level's nginx name ("warn"), as written in error-log lines.
func (l Level) String() string {
	if s := levelName(l); s != "" {
		return s
	}
	return fmt.Sprintf("Level(%d)", int8(l))
}

// ParseLevel parses an nginx error-log level: debug, info, notice, warn,
// error, crit, alert or emerg (case-insensitive).
func ParseLevel(s string) (Level, error) {
	for l := LevelDebug; l <= LevelEmerg; l++ {
		if strings.EqualFold(s, levelName(l)) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("invalid log level %q: want debug, info, notice, warn, error, crit, alert or emerg", s)
}

// nextUpstreamName returns the proxy_next_upstream word of one flag.
func nextUpstreamName(f NextUpstream) string {
	switch f {
	case NextError:
		return "error"
	case NextTimeout:
		return "timeout"
	case NextInvalidHeader:
		return "invalid_header"
	case NextHTTP500:
		return "http_500"
	case NextHTTP502:
		return "http_502"
	case NextHTTP503:
		return "http_503"
	case NextHTTP504:
		return "http_504"
	case NextHTTP403:
		return "http_403"
	case NextHTTP404:
		return "http_404"
	case NextHTTP429:
		return "http_429"
	case NextNonIdempotent:
		return "non_idempotent"
	case NextOff:
		return "off"
	}
	return ""
}

// ParseNextUpstream parses proxy_next_upstream's words ("error", "timeout",
// "invalid_header", "http_500", "http_502", "http_503", "http_504",
// "http_403", "http_404", "http_429", "non_idempotent", "off") into a mask.
// As in nginx, "off" anywhere wins: "off error" is valid and means NextOff
// alone. Repeated words are allowed (nginx only warns).
func ParseNextUpstream(words []string) (NextUpstream, error) {
	if len(words) == 0 {
		return 0, fmt.Errorf(`invalid number of arguments in "proxy_next_upstream" directive`)
	}
	var n NextUpstream
words:
	for _, w := range words {
		for f := NextError; f <= NextOff; f <<= 1 {
			if w == nextUpstreamName(f) {
				n |= f
				continue words
			}
		}
		return 0, fmt.Errorf("invalid value %q", w)
	}
	if n.Has(NextOff) {
		return NextOff, nil
	}
	return n, nil
}

// Has reports whether every flag of f is set in n.
func (n NextUpstream) Has(f NextUpstream) bool { return n&f == f }

// String returns the mask as proxy_next_upstream words, e.g. "error timeout
// http_502"; "" for an empty mask.
func (n NextUpstream) String() string {
	var words []string
	for f := NextError; f <= NextOff; f <<= 1 {
		if n.Has(f) {
			words = append(words, nextUpstreamName(f))
		}
	}
	if rest := n &^ (NextOff<<1 - 1); rest != 0 {
		words = append(words, fmt.Sprintf("0x%x", uint32(rest)))
	}
	return strings.Join(words, " ")
}
