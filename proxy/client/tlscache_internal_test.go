package client

import (
	"testing"
	"time"
)

// The session cache holds at most its size (least recently used out first)
// and forgets sessions older than ssl_session_timeout.
func TestSessionCacheBounds(t *testing.T) {
	sc := &sessionCache{max: 2, timeout: time.Minute}
	sc.lru, sc.byKey = newSessionList()
	t0 := time.Unix(1000, 0)
	a := sc.put([]byte("a"), t0)
	b := sc.put([]byte("b"), t0)
	if string(sc.get(string(a), t0)) != "a" { // a is now the most recent
		t.Fatal("a not found")
	}
	c := sc.put([]byte("c"), t0) // evicts b
	if sc.len() != 2 || sc.get(string(b), t0) != nil || string(sc.get(string(c), t0)) != "c" || string(sc.get(string(a), t0)) != "a" {
		t.Errorf("after eviction: len %d, b %q", sc.len(), sc.get(string(b), t0))
	}
	if sc.get(string(a), t0.Add(time.Minute+time.Second)) != nil || sc.len() != 1 {
		t.Errorf("an expired session was returned or kept (len %d)", sc.len())
	}
	if sc.get("nosuch", t0) != nil {
		t.Error("unknown key found")
	}
}
