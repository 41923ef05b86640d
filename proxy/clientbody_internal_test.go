package proxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"spillway/buffer"
)

// bufferedBody is a clientBody over in, all of it in the read buffer
// already, after skip body bytes were read.
func bufferedClientBody(t *testing.T, in string, cl int, skip int) *clientBody {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(in), 256)
	if _, err := br.Peek(len(in)); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	b := &clientBody{}
	b.start(br, cl)
	if skip > 0 {
		if _, err := io.ReadFull(b, make([]byte, skip)); err != nil {
			t.Fatalf("%q: reading %d bytes: %v", in, skip, err)
		}
	}
	return b
}

// ready says whether a Read returns without waiting: what a streamed body
// sends with what it read before (upstream.Streamed). Every case's input is
// all the client sent so far.
func TestClientBodyReady(t *testing.T) {
	cases := []struct {
		in         string
		cl, skip   int
		ready      bool
		wholeChunk bool // chunkedScan: there whole or refused, for a chunked body read from its start
	}{
		{in: "", cl: 10},
		{in: "0", cl: 10, ready: true},
		{in: "0123456789", cl: 10, skip: 10, ready: true}, // the end: io.EOF at once
		{in: "", cl: -1},
		{in: "5", cl: -1},
		{in: "5\r\n", cl: -1},
		{in: "5\r\n0", cl: -1, ready: true},
		{in: "5;a=b\r\n0", cl: -1, ready: true},
		{in: "5\r\n01234", cl: -1, skip: 5},
		{in: "5\r\n01234\r", cl: -1, skip: 5},
		{in: "5\r\n01234\r\n", cl: -1, skip: 5},
		{in: "5\r\n01234\r\n4\r\nm", cl: -1, skip: 5, ready: true},
		{in: "5\r\n01234\n0\n\n", cl: -1, skip: 5, ready: true, wholeChunk: true},
		{in: "5\r\n01234\r\n0\r\n", cl: -1, skip: 5},
		{in: "5\r\n01234\r\n0\r\nX: y\r\n", cl: -1, skip: 5},
		{in: "5\r\n01234\r\n0\r\nX: y\r\n\r\n", cl: -1, skip: 5, ready: true, wholeChunk: true},
		{in: "0\r\n\r\n", cl: -1, ready: true, wholeChunk: true},
		// Framing errors: a Read refuses them at once.
		{in: "z", cl: -1, ready: true, wholeChunk: true},
		{in: "zz\r\n", cl: -1, ready: true, wholeChunk: true},
		{in: "5\r\n01234x", cl: -1, skip: 5, ready: true, wholeChunk: true},
	}
	for _, c := range cases {
		b := bufferedClientBody(t, c.in, c.cl, c.skip)
		if got := b.ready(); got != c.ready {
			t.Errorf("%q (Content-Length %d, %d read): ready() = %v, want %v", c.in, c.cl, c.skip, got, c.ready)
		}
		if c.cl >= 0 {
			continue
		}
		b = bufferedClientBody(t, c.in, c.cl, 0)
		whole, err := b.chunkedScan(0)
		if got := whole || err != nil; got != c.wholeChunk {
			t.Errorf("%q: chunkedScan() = %v, %v; want whole or refused: %v", c.in, whole, err, c.wholeChunk)
		}
	}
}

// chunkedScan finds client_max_body_size passed in the read buffer before
// the body is read (nginx refuses it in its preread, before an upstream).
func TestChunkedScanLimit(t *testing.T) {
	b := bufferedClientBody(t, "5\r\n01234\r\n10\r\n0123", -1, 0)
	whole, err := b.chunkedScan(16)
	var le *buffer.LimitError
	if whole || !errors.As(err, &le) || le.Size != 21 {
		t.Fatalf("chunkedScan(16) = %v, %v; want a limit error at 5+16 bytes", whole, err)
	}
	if whole, err := b.chunkedScan(21); whole || err != nil {
		t.Fatalf("chunkedScan(21) = %v, %v; want neither", whole, err)
	}
}
