package proxy

import (
	"fmt"
	"net"
	"os"
	"sync"
)

// Listening sockets passed from one spillway binary to the next (nginx's
// USR2 binary upgrade): the old process hands the new one its sockets as
// inherited file descriptors (ListenerFiles), and the new one serves them
// (Options.Inherited) instead of binding again, which would fail with
// "Address already in use" while the old process still holds them.

// inheritedSet holds the sockets not yet taken by a listen address.
type inheritedSet struct {
	mu  sync.Mutex
	lns map[string]net.Listener // by configured address
}

// take returns the inherited socket of addr, once.
func (s *inheritedSet) take(addr string) net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	ln := s.lns[addr]
	delete(s.lns, addr)
	return ln
}

// listenTCP opens addr, or takes the socket inherited for it.
func (p *Proxy) listenTCP(addr string) (net.Listener, error) {
	if ln := p.inherited.take(addr); ln != nil {
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// DropInherited closes the inherited sockets the configuration did not
// take (an address the new file no longer lists), as nginx closes them.
func (p *Proxy) DropInherited() {
	p.inherited.mu.Lock()
	defer p.inherited.mu.Unlock()
	for addr, ln := range p.inherited.lns {
		_ = ln.Close()
		delete(p.inherited.lns, addr)
	}
}

// ListenerFiles returns a duplicate of every listening socket (listen
// addresses and metrics.listen) by configured address, for a new binary to
// inherit. The caller closes the files once the new process has them.
func (p *Proxy) ListenerFiles() (map[string]*os.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	files := map[string]*os.File{}
	add := func(addr string, ln net.Listener) error {
		fl, ok := ln.(interface{ File() (*os.File, error) })
		if !ok {
			return fmt.Errorf("listening socket %s cannot be passed on (%T)", addr, ln)
		}
		f, err := fl.File()
		if err != nil {
			return fmt.Errorf("listening socket %s: %w", addr, err)
		}
		files[addr] = f
		return nil
	}
	var err error
	for _, a := range p.order {
		if err = add(a.addr, a.ln); err != nil {
			break
		}
	}
	if err == nil && p.metrics != nil {
		err = add(p.metrics.addr, p.metrics.ln)
	}
	if err != nil {
		for _, f := range files {
			_ = f.Close()
		}
		return nil, err
	}
	return files, nil
}
