//lint:file-ignore SA1019 x/net/http2.Transport.NewClientConn is the one API that runs HTTP/2 on a connection this program dialled itself, so that each connection is a separate, held one

// Command h2idle holds idle HTTP/2 client connections open, for
// bench/harness/h2load.sh's memory per idle h2 connection: it opens -n
// TLS connections to -addr (ALPN h2), sends one GET of -path on each and
// reads its answer (a connection that served a request, as a browser's
// between page loads), prints "ready N" and then holds every connection,
// idle, until its standard input ends or it is signalled. The proxy's RSS
// growth over the N connections divided by N is the figure.
//
//	go run ./bench/h2idle -addr 127.0.0.1:18443 -n 1000 < fifo
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18443", "the proxy's TLS HTTP/2 address")
	n := flag.Int("n", 1000, "connections to open and hold")
	path := flag.String("path", "/size/1", "the one request sent on each connection")
	par := flag.Int("parallel", 32, "connections opened at a time")
	flag.Parse()
	if err := run(*addr, *path, *n, *par); err != nil {
		fmt.Fprintln(os.Stderr, "h2idle:", err)
		os.Exit(1)
	}
}

func run(addr, path string, n, par int) error {
	tr := &http2.Transport{
		// Idle is the point: no pings, no idle close on this side.
		ReadIdleTimeout: 0,
		IdleConnTimeout: 0,
	}
	conf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ServerName: "localhost"} // #nosec G402: a loopback benchmark against a throwaway certificate
	conns := make([]*http2.ClientConn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, max(par, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cc, err := open(tr, conf, addr, path)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			conns[i] = cc
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("ready %d\n", n)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-sig:
	case <-eof:
	}
	for _, cc := range conns {
		_ = cc.Close()
	}
	return nil
}

// open dials one TLS connection with ALPN h2 and sends one GET on it.
func open(tr *http2.Transport, conf *tls.Config, addr, path string) (*http2.ClientConn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		_ = c.Close()
		return nil, fmt.Errorf("ALPN chose %q, not h2", p)
	}
	cc, err := tr.NewClientConn(c)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
	if err != nil {
		_ = cc.Close()
		return nil, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		_ = cc.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_ = cc.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return cc, nil
}
