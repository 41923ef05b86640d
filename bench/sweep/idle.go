package sweep

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pidTarget is a target whose process the sweep can read from /proc: the
// spillway child and nginx. proxyPID is 0 between cells.
type pidTarget interface {
	proxyPID() int
}

// idleProbeWorkers is how many goroutines open the probe's connections
// (more past one source address's worth: 100,000 take a while).
func idleProbeWorkers(n int) int {
	if n > perSource {
		return 64
	}
	return 16
}

// idleConnCost measures what an idle keepalive client connection costs the
// proxy whose process tree is rooted at pid: it opens n connections to addr,
// sends each one req and reads the whole response, so that each is an idle
// keepalive connection after a request (what a browser leaves open), and
// returns the growth of the tree's resident set size (VmRSS) per connection,
// over one warm-up connection's state. Connection i (0: the warm-up one)
// is dialled from src(i) (nil: the kernel's choice). release closes the connections and
// resets the tree's peak RSS (clear_refs); the caller calls it before the
// cell's load so that the probe does not show as the cell's peak, or after
// it to hold them open through the load. On error the connections are
// already closed. timeout bounds the opening, not the holding: the
// connections have no deadline.
func idleConnCost(addr string, req []byte, n, pid int, src func(i int) *net.TCPAddr, timeout time.Duration) (per float64, release func(), err error) {
	deadline := time.Now().Add(timeout)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		conns = nil
		resetHWM(pid)
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	var next atomic.Int64 // connection index, for its source address
	open := func() error {
		d := net.Dialer{Deadline: deadline}
		if la := src(int(next.Add(1) - 1)); la != nil {
			d.LocalAddr = la
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		_ = c.SetDeadline(deadline)
		if _, err := c.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil && resp.Close {
			err = errors.New("the proxy closed the connection after the response")
		}
		_ = c.SetDeadline(time.Time{})
		return err
	}
	// The first connection warms the proxy up (pools, the upstream
	// connection); the baseline is taken with it open.
	if err := open(); err != nil {
		return -1, nil, fmt.Errorf("idle-connection probe: %w", err)
	}
	before := treeRSS(pid)
	if before < 0 {
		return -1, nil, errors.New("idle-connection probe: no /proc/PID/status")
	}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	workers := idleProbeWorkers(n)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := open(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return -1, nil, fmt.Errorf("idle-connection probe: %w", err)
	}
	after := treeRSS(pid)
	if after < 0 {
		return -1, nil, errors.New("idle-connection probe: the proxy exited")
	}
	return float64(after-before) / float64(n), release, nil
}
