package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ssl_session_cache: nginx keeps TLS sessions on the server for session-ID
// (TLS 1.2) and stateful (TLS 1.3) resumption. spillway's cache is the
// same idea on Go's tickets: with ssl_session_tickets off, the ticket a
// client gets is only the key of a session kept in a bounded cache.

// sessionsPerMB is nginx's documented capacity: "one megabyte of the cache
// can store about 4000 sessions".
const sessionsPerMB = 4000

// defaultBuiltinSessions is OpenSSL's builtin cache size (nginx's builtin
// without a size).
const defaultBuiltinSessions = 20480

// parseSessionCache turns ssl_session_cache's values into a number of
// sessions: 0 for "off" or "none" (nginx's default), else the shared
// cache's size (4000 a megabyte) or the builtin one's, whichever is given
// (both: the larger).
func parseSessionCache(ws []string) (int, error) {
	n := 0
	for _, w := range ws {
		switch {
		case w == "off" || w == "none":
			if len(ws) > 1 {
				return 0, fmt.Errorf(`invalid session cache %q: "%s" cannot be combined with other values`, strings.Join(ws, " "), w)
			}
			return 0, nil
		case w == "builtin":
			n = max(n, defaultBuiltinSessions)
		case strings.HasPrefix(w, "builtin:"):
			v, err := strconv.Atoi(w[len("builtin:"):])
			if err != nil || v <= 0 {
				return 0, fmt.Errorf(`invalid session cache size in "%s"`, w)
			}
			n = max(n, v)
		case strings.HasPrefix(w, "shared:"):
			name, size, ok := strings.Cut(w[len("shared:"):], ":")
			if !ok || name == "" {
				return 0, fmt.Errorf(`invalid session cache "%s": want shared:name:size`, w)
			}
			b, err := ParseSize(size)
			if err != nil || b < 8<<10 {
				return 0, fmt.Errorf(`invalid zone size "%s" in "%s"`, size, w)
			}
			n = max(n, int(b*sessionsPerMB/(1<<20)))
		default:
			return 0, fmt.Errorf(`invalid session cache "%s"`, w)
		}
	}
	return n, nil
}
