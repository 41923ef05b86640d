package sweep

import "net"

// perSource is how many connections the bench opens from one loopback
// source address. One address has about 28,000 ephemeral ports here
// (net.ipv4.ip_local_port_range 32768–60999) shared with everything else
// on the machine, so 100,000 connections need several.
const perSource = 20000

// sourceAddr is the local address of the bench's connection i of total to
// the proxy at addr, per connections to a source address: nil (the
// kernel's choice) while total fits one source address or addr is not a
// loopback IPv4 address, else 127.0.0.(2 + i/per), leaving 127.0.0.1's
// ports to the rest of the machine.
func sourceAddr(addr string, i, total, per int) *net.TCPAddr {
	if total <= per {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || ip[0] != 127 {
		return nil
	}
	n := 2 + i/per
	if n > 254 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}
}

// ClientScale is how many client connections a cell's proxy holds besides
// its load's: Idle idle keepalive ones (the probe's, plus its warm-up
// connection), open through the load when Hold.
type ClientScale struct {
	Idle int
	Hold bool
}

// clients is how many client connections the proxy holds at once at most
// with conc load clients.
func (s ClientScale) clients(conc int) int {
	if s.Idle == 0 {
		return conc
	}
	if s.Hold {
		return s.Idle + 1 + conc
	}
	return max(s.Idle+1, conc)
}

// fdNeed is how many file descriptors one process needs for s and conc
// load clients: the proxy holds each client connection and, for each
// active one, an upstream connection (nginx may open a second while the
// first closes); the bench holds the client connections and the origin's
// side of the upstream ones. 1024 more for everything else.
func (s ClientScale) fdNeed(conc int) int {
	return s.clients(conc) + 2*conc + 1024
}

// nginxConns is nginx's worker_connections for s and conc load clients,
// never below the 4096 of the smaller sweeps.
func (s ClientScale) nginxConns(conc int) int {
	return max(4096, s.fdNeed(conc))
}
