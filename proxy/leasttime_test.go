package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// least_time header: after one slow answer from a server, the fast one
// takes every request while its average stays the lower.
func TestLeastTimeHeader(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // the server's slowness, not an assertion
		fmt.Fprint(w, "slow")
	}))
	t.Cleanup(slow.Close)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "fast")
	}))
	t.Cleanup(fast.Close)
	r := newRig(t, "warn", `
http:
  upstreams:
    app:
      least_time: header
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`, strings.TrimPrefix(slow.URL, "http://"), strings.TrimPrefix(fast.URL, "http://"))
	got := map[string]int{}
	for range 8 {
		_, body := r.do("GET", "/", nil)
		got[string(body)]++
	}
	if got["slow"] != 1 || got["fast"] != 7 {
		t.Fatalf("answers %v, want the slow server once (the first, before any time was known)", got)
	}
}

// least_time last_byte: the time recorded runs from the attempt's start to
// its last byte (the connection cached or closed), so one slow answer
// sends the rest to the fast server, as with header. The attempt's first
// write consumes the clock Open read for it; the time must not be taken
// from that (a zero start made every server's average the same, huge one,
// and least_time fell back to round-robin).
func TestLeastTimeLastByte(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // the server's slowness, not an assertion
		fmt.Fprint(w, "slow")
	}))
	t.Cleanup(slow.Close)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "fast")
	}))
	t.Cleanup(fast.Close)
	r := newRig(t, "warn", `
http:
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  upstreams:
    app:
      least_time: last_byte
      keepalive: 4
      servers: [{address: {U0}}, {address: {U1}}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`, strings.TrimPrefix(slow.URL, "http://"), strings.TrimPrefix(fast.URL, "http://"))
	got := map[string]int{}
	for range 8 {
		_, body := r.do("GET", "/", nil)
		got[string(body)]++
	}
	if got["slow"] != 1 || got["fast"] != 7 {
		t.Fatalf("answers %v, want the slow server once (the first, before any time was known)", got)
	}
}
