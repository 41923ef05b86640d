package proxy

import (
	"bufio"
	"strings"
	"testing"
)

// partialStatus reads the status of a head cut short, nginx's
// $upstream_status for a client that left while the head was arriving.
func TestPartialStatus(t *testing.T) {
	for in, want := range map[string]int{
		"HTTP/1.1 200 OK\r\nX-A: b\r\n": 200,
		"HTTP/1.0 503\r\n":              503,
		"HTTP/1.1 200 OK\nX":            200,
		"HTTP/1.1 20":                   0, // the line has not arrived whole
		"HTTP/1.1 200 OK":               0,
		"hello\r\n":                     0,
		"":                              0,
	} {
		br := bufio.NewReader(strings.NewReader(in))
		_, _ = br.Peek(1) // fill the buffer, as the header read did
		if got := partialStatus(br); got != want {
			t.Errorf("partialStatus(%q) = %d, want %d", in, got, want)
		}
	}
	if partialStatus(nil) != 0 {
		t.Error("partialStatus(nil) != 0")
	}
}
