package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// nginx's resolver and resolver_timeout (http, server, location): the DNS
// servers a proxy_pass (fastcgi_pass, uwsgi_pass) with variables asks when
// its host is neither an upstream block nor an address. Without one such a
// request is nginx's 502 "no resolver defined to resolve HOST".

// Resolver is resolver and resolver_timeout at one level; no Servers: none.
type Resolver struct {
	Servers []netip.AddrPort // the DNS servers, asked in turn (port 53 unless written)
	// Valid is valid=: how long an answer is kept; 0 keeps it for its TTL.
	Valid time.Duration
	IPv4  bool // ipv4= (default on): ask for A records
	IPv6  bool // ipv6= (default on): ask for AAAA records
	// Timeout is resolver_timeout (default 30s): how long a request waits
	// for an answer in all.
	Timeout time.Duration
}

const defaultResolverTimeout = 30 * time.Second

// resolverDirectives are the raw keys, inherited one by one as nginx merges
// them.
type resolverDirectives struct {
	Resolver        *opt[words]         `mapstructure:"resolver"`
	ResolverTimeout *opt[time.Duration] `mapstructure:"resolver_timeout"`
}

func (d *resolverDirectives) inherit(p *resolverDirectives) {
	merge(&d.Resolver, p.Resolver)
	merge(&d.ResolverTimeout, p.ResolverTimeout)
}

// resolve checks and resolves the level's resolver: nginx's
// ngx_http_core_resolver and ngx_resolver_create.
func (d *resolverDirectives) resolve(p *problems) Resolver {
	r := Resolver{IPv4: true, IPv6: true, Timeout: d.ResolverTimeout.or(defaultResolverTimeout)}
	if o := d.ResolverTimeout; o.set() && o.v <= 0 {
		p.add(o.at(), `"resolver_timeout" must be greater than 0`)
	}
	for _, w := range d.Resolver.or(nil) {
		switch {
		case strings.HasPrefix(w, "valid="):
			v, err := ParseDuration(w[len("valid="):])
			if err != nil || v <= 0 {
				p.add(d.Resolver.at(), `invalid parameter: %s`, w)
			}
			r.Valid = v
		case strings.HasPrefix(w, "ipv4="), strings.HasPrefix(w, "ipv6="):
			name, val, _ := strings.Cut(w, "=")
			if val != "on" && val != "off" {
				p.add(d.Resolver.at(), `invalid parameter: %s`, w)
			}
			if name == "ipv4" {
				r.IPv4 = val == "on"
			} else {
				r.IPv6 = val == "on"
			}
		case w == "status_zone" || strings.HasPrefix(w, "status_zone="):
			// nginx plus's; nothing to count here.
		default:
			as, err := resolverAddrs(w)
			if err != nil {
				p.add(d.Resolver.at(), "%v", err)
				continue
			}
			r.Servers = append(r.Servers, as...)
		}
	}
	if !r.IPv4 && !r.IPv6 {
		p.add(d.Resolver.at(), `"ipv4" and "ipv6" cannot both be "off"`)
	}
	if len(r.Servers) == 0 {
		return Resolver{Timeout: r.Timeout}
	}
	return r
}

// resolverAddrs parses one resolver address: an IP address or a host
// name, with a port or not ("127.0.0.1", "127.0.0.1:5353", "[::1]:53",
// "ns.local"). A name is resolved once, here, to all its addresses, as
// nginx does at start.
func resolverAddrs(w string) ([]netip.AddrPort, error) {
	if a, err := netip.ParseAddr(strings.Trim(w, "[]")); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), 53)}, nil
	}
	host, port := w, 53
	if h, ps, err := net.SplitHostPort(w); err == nil {
		n, err := strconv.Atoi(ps)
		if err != nil || n <= 0 || n >= 65536 {
			return nil, fmt.Errorf(`invalid port in resolver "%s"`, w)
		}
		host, port = h, n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(port))}, nil
	}
	if !validHostName(host) {
		return nil, fmt.Errorf(`invalid resolver address "%s": want an IP address or a host name, with a port or not`, w)
	}
	addrs, err := lookupHost(host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf(`host not found in resolver "%s"`, w)
	}
	out := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a.Unmap(), uint16(port))
	}
	return out, nil
}
