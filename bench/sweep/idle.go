package sweep

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// pidTarget is a target whose process the sweep can read from /proc: the
// spillway child and nginx. proxyPID is 0 between cells.
type pidTarget interface {
	proxyPID() int
}

// idleProbeWorkers is how many goroutines open the probe's connections.
const idleProbeWorkers = 16

// idleConnCost measures what an idle keepalive client connection costs the
// proxy whose process tree is rooted at pid: it opens n connections to addr,
// sends each one req and reads the whole response, so that each is an idle
// keepalive connection after a request (what a browser leaves open), and
// returns the growth of the tree's resident set size (VmRSS) per connection,
// over one warm-up connection's state. The connections are closed before it
// returns, and the tree's peak RSS is reset (clear_refs), so that the probe
// does not show as the cell's peak. timeout bounds the whole probe.
func idleConnCost(addr string, req []byte, n, pid int, timeout time.Duration) (float64, error) {
	deadline := time.Now().Add(timeout)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
		resetHWM(pid)
	}()
	open := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
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
		return err
	}
	// The first connection warms the proxy up (pools, the upstream
	// connection); the baseline is taken with it open.
	if err := open(); err != nil {
		return -1, fmt.Errorf("idle-connection probe: %w", err)
	}
	before := treeRSS(pid)
	if before < 0 {
		return -1, errors.New("idle-connection probe: no /proc/PID/status")
	}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	errs := make(chan error, idleProbeWorkers)
	var wg sync.WaitGroup
	for range idleProbeWorkers {
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
		return -1, fmt.Errorf("idle-connection probe: %w", err)
	}
	after := treeRSS(pid)
	if after < 0 {
		return -1, errors.New("idle-connection probe: the proxy exited")
	}
	return float64(after-before) / float64(n), nil
}
