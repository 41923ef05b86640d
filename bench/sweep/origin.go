package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Origin is the sweep's upstream: a raw HTTP/1.1 keepalive server answering
// GET /size/N (or any path with the query size=N) with N bytes. It measures each request's upstream hold time:
// from the moment the request head has been read to the moment the last
// body byte has been accepted by the kernel (Write returned). That is how
// long the proxy kept this connection, and the origin's worker, busy.
//
// The kernel's socket buffers (the origin's send buffer, the proxy's receive
// buffer, autotuned up to a few MiB on loopback) absorb part of a response on
// the proxy's behalf, so an unbuffered proxy holds the upstream only for
// responses larger than that. Shrinking SO_SNDBUF to hide this was tried and
// rejected: on loopback a small send buffer stalls on delayed ACKs and
// measures the kernel, not the proxy.
type Origin struct {
	ln   net.Listener
	body []byte

	mu      sync.Mutex
	holds   *hdrhistogram.Histogram // µs
	aborted int64                   // responses whose write failed
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// StartOrigin listens on addr ("" is a free loopback port) and serves
// bodies up to maxBody bytes.
func StartOrigin(addr string, maxBody int64) (*Origin, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &Origin{ln: ln, body: bytes.Repeat([]byte("x"), int(maxBody)), holds: newHist(), conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go o.accept()
	return o, nil
}

// Addr is the origin's host:port.
func (o *Origin) Addr() string { return o.ln.Addr().String() }

// HoldStats is the origin's view of one cell.
type HoldStats struct {
	Count   int64
	Mean    time.Duration
	P50     time.Duration
	P99     time.Duration
	Aborted int64
}

// Take returns the hold times recorded since the last Take and resets them.
func (o *Origin) Take() HoldStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.holds
	s := HoldStats{
		Count:   h.TotalCount(),
		Mean:    time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:     time.Duration(h.ValueAtQuantile(50)) * time.Microsecond,
		P99:     time.Duration(h.ValueAtQuantile(99)) * time.Microsecond,
		Aborted: o.aborted,
	}
	h.Reset()
	o.aborted = 0
	return s
}

// Close stops the listener and closes every connection.
func (o *Origin) Close() error {
	err := o.ln.Close()
	o.mu.Lock()
	for c := range o.conns {
		_ = c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
	return err
}

func (o *Origin) accept() {
	defer o.wg.Done()
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		o.conns[c] = struct{}{}
		o.mu.Unlock()
		o.wg.Add(1)
		go o.serve(c)
	}
}

func (o *Origin) serve(c net.Conn) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.conns, c)
		o.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReaderSize(c, 4096)
	head := make([]byte, 0, 128)
	for {
		n, keep, err := readRequestHead(br)
		if err != nil {
			return
		}
		start := time.Now()
		if n < 0 || n > int64(len(o.body)) {
			_, _ = c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
			continue
		}
		head = append(head[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
		head = strconv.AppendInt(head, n, 10)
		head = append(head, "\r\n\r\n"...)
		bufs := net.Buffers{head, o.body[:n]}
		_, err = bufs.WriteTo(c)
		hold := time.Since(start)
		o.mu.Lock()
		if err != nil {
			o.aborted++
		} else {
			_ = o.holds.RecordValue(max(hold.Microseconds(), 1))
		}
		o.mu.Unlock()
		if err != nil || !keep {
			return
		}
	}
}

// readRequestHead reads one request head and returns N from GET /size/N or
// ?size=N (-1 for any other target) and whether the connection stays open.
func readRequestHead(br *bufio.Reader) (n int64, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	n = -1
	keep = bytes.Contains(line, []byte("HTTP/1.1"))
	if f := bytes.Fields(line); len(f) >= 2 {
		n = sizeOf(string(f[1]))
	}
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue // an overlong header line: skip it
			}
			return 0, false, err
		}
		if len(bytes.TrimSpace(h)) == 0 {
			return n, keep, nil
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Connection")) {
			v = bytes.ToLower(bytes.TrimSpace(v))
			switch {
			case bytes.Equal(v, []byte("close")):
				keep = false
			case bytes.Equal(v, []byte("keep-alive")):
				keep = true
			}
		}
	}
}

// sizeOf is N in a request target /size/N or ...?size=N, or -1.
func sizeOf(target string) int64 {
	path, query, _ := strings.Cut(target, "?")
	v, ok := strings.CutPrefix(path, "/size/")
	if !ok {
		q, err := url.ParseQuery(query)
		if err != nil || !q.Has("size") {
			return -1
		}
		v = q.Get("size")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// upstreamSpec is where the proxies forward: the built-in origin, or an
// external one (--upstream URL).
type upstreamSpec struct {
	addr     string // host:port
	host     string // the Host header for an external upstream; "" for the built-in origin
	target   string // the request target; "{size}" is replaced by the size in bytes
	external bool
	origin   *Origin // the built-in origin, nil for an external one
}

// builtinUpstream is the built-in origin at addr.
func builtinUpstream(addr string) upstreamSpec {
	return upstreamSpec{addr: addr, target: "/size/{size}"}
}

// ParseUpstream checks an --upstream URL: http://HOST[:PORT][/PATH[?QUERY]].
// The path and query are the request target of every request; "{size}" in
// them is replaced by the response size the cell asks for.
func parseUpstream(raw string) (upstreamSpec, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return upstreamSpec{}, fmt.Errorf("--upstream %q: want http://HOST:PORT[/PATH], e.g. http://127.0.0.1:9000/file?size={size}", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	_, rest, _ := strings.Cut(raw, "://")
	target, _, _ := strings.Cut(rest[len(u.Host):], "#")
	if target == "" || target[0] != '/' {
		target = "/" + target
	}
	return upstreamSpec{addr: addr, host: u.Host, target: target, external: true}, nil
}

// sized reports whether the request target names a size.
func (u upstreamSpec) sized() bool { return strings.Contains(u.target, "{size}") }

// request is the request line and head for a response of size n.
func (u upstreamSpec) request(n int64) []byte {
	t := strings.ReplaceAll(u.target, "{size}", strconv.FormatInt(n, 10))
	return []byte("GET " + t + " HTTP/1.1\r\nHost: bench\r\n\r\n")
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
}

// setSlowSockopts gives a slow client's socket a 4 KiB receive buffer and a
// 536-byte MSS before connect: the small window makes the proxy's writes
// block after a few KiB, and the small MSS keeps the proxy's send buffer
// small too (Linux sizes it from the MSS).
func setSlowSockopts(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		}
	}); err != nil {
		return err
	}
	return serr
}
