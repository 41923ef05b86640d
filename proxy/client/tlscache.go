package client

import (
	"container/list"
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// ssl_session_cache with ssl_session_tickets off: nginx then resumes from
// sessions it keeps (session IDs in TLS 1.2, stateful tickets in TLS 1.3).
// Go's server resumes only through tickets, so here the ticket a client
// gets is a random key of a session kept in a cache of at most max
// sessions (ssl_session_cache's size; the least recently used goes first),
// each valid for ssl_session_timeout. The cache belongs to one server
// block's configuration: a reload starts an empty one (nginx's shared
// cache survives reloads).
type sessionCache struct {
	mu      sync.Mutex
	max     int
	timeout time.Duration
	lru     *list.List // of *cachedSession, most recent first
	byKey   map[string]*list.Element
}

type cachedSession struct {
	key   string
	state []byte // tls.SessionState.Bytes
	at    time.Time
}

func useSessionCache(c *tls.Config, max int, timeout time.Duration) {
	sc := &sessionCache{max: max, timeout: timeout}
	sc.lru, sc.byKey = newSessionList()
	c.SessionTicketsDisabled = false
	c.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		b, err := ss.Bytes()
		if err != nil {
			return nil, err
		}
		return sc.put(b, time.Now()), nil
	}
	c.UnwrapSession = func(key []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
		b := sc.get(string(key), time.Now())
		if b == nil {
			return nil, nil // unknown or expired: a full handshake
		}
		return tls.ParseSessionState(b)
	}
}

func newSessionList() (*list.List, map[string]*list.Element) {
	return list.New(), map[string]*list.Element{}
}

// put stores a session and returns its key (32 random bytes).
func (sc *sessionCache) put(state []byte, now time.Time) []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.byKey[string(key)] = sc.lru.PushFront(&cachedSession{key: string(key), state: state, at: now})
	for sc.lru.Len() > sc.max {
		old := sc.lru.Remove(sc.lru.Back()).(*cachedSession)
		delete(sc.byKey, old.key)
	}
	return key
}

// get returns a session's state, nil when it is unknown or older than the
// timeout (then it is dropped).
func (sc *sessionCache) get(key string, now time.Time) []byte {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e := sc.byKey[key]
	if e == nil {
		return nil
	}
	s := e.Value.(*cachedSession)
	if now.Sub(s.at) > sc.timeout {
		sc.lru.Remove(e)
		delete(sc.byKey, key)
		return nil
	}
	sc.lru.MoveToFront(e)
	return s.state
}

// len is the number of sessions kept.
func (sc *sessionCache) len() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.lru.Len()
}
