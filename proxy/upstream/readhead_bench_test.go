package upstream

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// originHead is the head the benchmark harness's origin sends for
// /size/1024 (bench/harness/abn.sh): what ReadHeader reads per request.
const originHead = "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 17:25:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n"

// BenchmarkReadHeader is Attempt.ReadHeader on the harness origin's head
// already in the connection's buffer (the read itself and the yield before
// it are not counted): finding the head's end, nginx's checks and
// fasthttp's parse. "cpu-ns/op" is the process's CPU time per head, which
// a loaded machine does not inflate as it does ns/op
// (docs/measured/cpu-get-2026-12-07.md).
func BenchmarkReadHeader(b *testing.B) {
	raw := []byte(originHead)
	rd := bytes.NewReader(raw)
	a := &Attempt{Conn: &Conn{br: bufio.NewReaderSize(rd, 4096)}}
	var h fasthttp.ResponseHeader
	b.ReportAllocs()
	cpuPerOp(b, func() {
		rd.Reset(raw)
		a.Conn.br.Reset(rd)
		_, _ = a.Conn.br.Peek(1)
		if err := a.ReadHeader(&h); err != nil {
			b.Fatal(err)
		}
	})
	if h.ContentLength() != 1024 {
		b.Fatalf("Content-Length %d", h.ContentLength())
	}
}
