package client

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"spillway/proxy/config"
	"spillway/proxy/internal/testcert"
	"spillway/proxy/internal/testutil"
)

// The stapler's clock: a fetch when a handshake finds the response due, a
// refresh 5 minutes before nextUpdate (within the hour, not sooner than in
// 5 minutes), a retry 5 minutes after a failure that keeps the previous
// response while valid, and no staple once it is past nextUpdate (nginx's
// ngx_ssl_stapling_ocsp_handler timings).
func TestStaplerRefresh(t *testing.T) {
	nb, na := time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour)
	ca, caKey := testcert.Make(t, "CA", nil, nil, true, nb, na)
	leaf, key := testcert.Make(t, "localhost", ca, caKey, false, nb, na)

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var requests atomic.Int64
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if failing.Load() {
			w.Header().Set("Content-Type", "text/plain")
			return
		}
		at := clock()
		b, err := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Good, SerialNumber: leaf.SerialNumber,
			ThisUpdate: at, NextUpdate: at.Add(2 * time.Hour)}, caKey)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(b)
	}))
	defer srv.Close()

	pair := &tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: key, Leaf: leaf}
	st := newStapler(config.Certificate{CertFile: "leaf.pem", Pair: pair}, &config.Stapling{On: true, Verify: true, Responder: srv.URL})
	st.now = clock
	idle := func() bool { st.mu.Lock(); defer st.mu.Unlock(); return !st.loading }
	fetched := func(n int64) {
		t.Helper()
		testutil.Eventually(t, "the fetch", 10*time.Second, func() bool { return requests.Load() == n && idle() })
	}

	if c := st.current(); c.OCSPStaple != nil { // the first handshake starts the fetch and gets none
		t.Fatal("stapled before any fetch")
	}
	fetched(1)
	if st.current().OCSPStaple == nil {
		t.Fatal("no staple after the fetch")
	}
	advance(59 * time.Minute) // due after an hour (nextUpdate - 5m is later)
	st.current()
	if requests.Load() != 1 {
		t.Errorf("fetched again after 59m")
	}
	advance(2 * time.Minute)
	if st.current().OCSPStaple == nil {
		t.Error("the staple is gone while it is valid")
	}
	fetched(2)

	failing.Store(true)
	advance(61 * time.Minute) // due again; this fetch fails
	st.current()
	fetched(3)
	if st.current().OCSPStaple == nil {
		t.Error("a failed fetch dropped a valid staple")
	}
	advance(4 * time.Minute)
	st.current()
	if requests.Load() != 3 {
		t.Error("retried before 5 minutes")
	}
	advance(57 * time.Minute) // past the last good response's nextUpdate (2h after it was made)
	if st.current().OCSPStaple != nil {
		t.Error("stapled past nextUpdate")
	}
	fetched(4)
}
