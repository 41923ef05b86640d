package config

import (
	stdctx "context"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// The client's real address (nginx's realip module) and the PROXY
// protocol on a listen address: set_real_ip_from, real_ip_header and
// real_ip_recursive in http, server and location; "listen ...
// proxy_protocol".

// RealIP is the realip module at one level. From empty: off.
type RealIP struct {
	From     []netip.Prefix // set_real_ip_from addresses and networks
	FromUnix bool           // set_real_ip_from unix: (spillway listens on TCP only: never matches)
	// Header is real_ip_header: "X-Real-IP" (the default),
	// "X-Forwarded-For", another header's canonical name, or
	// RealIPProxyProtocol.
	Header    string
	Recursive bool // real_ip_recursive
}

// RealIPProxyProtocol is real_ip_header proxy_protocol: the address the
// PROXY protocol header names.
const RealIPProxyProtocol = "proxy_protocol"

// Trusted reports whether a is one of set_real_ip_from's.
func (r *RealIP) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.From {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// realIPDirectives are the raw keys (http, server, location), inherited
// one by one as nginx merges them.
type realIPDirectives struct {
	SetRealIPFrom   *opt[words]  `mapstructure:"set_real_ip_from"`
	RealIPHeader    *opt[string] `mapstructure:"real_ip_header"`
	RealIPRecursive *opt[bool]   `mapstructure:"real_ip_recursive"`
}

func (d *realIPDirectives) inherit(p *realIPDirectives) {
	merge(&d.SetRealIPFrom, p.SetRealIPFrom)
	merge(&d.RealIPHeader, p.RealIPHeader)
	merge(&d.RealIPRecursive, p.RealIPRecursive)
}

func (d *realIPDirectives) resolve(p *problems) RealIP {
	r := RealIP{Header: "X-Real-IP", Recursive: d.RealIPRecursive.or(false)}
	for _, a := range d.SetRealIPFrom.or(nil) {
		if a == "unix:" {
			r.FromUnix = true
			continue
		}
		var pr netip.Prefix
		var err error
		if strings.Contains(a, "/") {
			pr, err = netip.ParsePrefix(a)
		} else {
			var ad netip.Addr
			if ad, err = netip.ParseAddr(a); err == nil {
				pr = netip.PrefixFrom(ad, ad.BitLen())
			}
		}
		if err != nil && !strings.Contains(a, "/") && validHostName(a) {
			// nginx resolves a host name once, at load, to all its
			// addresses (ngx_inet_resolve_host: the system's resolver).
			addrs, lerr := lookupHost(a)
			if lerr != nil {
				p.add(d.SetRealIPFrom.at(), `host not found in set_real_ip_from "%s"`, a)
				continue
			}
			for _, ad := range addrs {
				ad = ad.Unmap()
				r.From = append(r.From, netip.PrefixFrom(ad, ad.BitLen()))
			}
			continue
		}
		if err != nil || !pr.IsValid() {
			p.add(d.SetRealIPFrom.at(), `invalid parameter "%s": want an address, a network (10.0.0.0/8), a host name or unix:`, a)
			continue
		}
		r.From = append(r.From, pr.Masked())
	}
	if h := d.RealIPHeader.or(""); h != "" {
		switch {
		case h == RealIPProxyProtocol:
			r.Header = h
		case strings.ContainsAny(h, " \t:"):
			p.add(d.RealIPHeader.at(), "invalid header name %q", h)
		default:
			r.Header = textproto.CanonicalMIMEHeaderKey(h)
		}
	}
	if len(r.From) == 0 && !r.FromUnix {
		return RealIP{} // no set_real_ip_from: the module is off
	}
	return r
}

// validHostName reports whether s can be a DNS name (letters, digits,
// '-', '_' and dots, not all digits and dots).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			letter = true
		case c >= '0' && c <= '9', c == '.':
		default:
			return false
		}
	}
	return letter
}

// lookupHost resolves a host name written in the configuration with the
// system's resolver (/etc/hosts, then DNS), as nginx's getaddrinfo.
func lookupHost(name string) ([]netip.Addr, error) {
	ctx, cancel := stdctx.WithTimeout(stdctx.Background(), 30*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
}

// cutListenProxyProtocol takes "proxy_protocol" off a listen address.
func cutListenProxyProtocol(a string) (string, bool) {
	f := strings.Fields(a)
	if len(f) < 2 || !slices.Contains(f[1:], "proxy_protocol") {
		return a, false
	}
	return strings.Join(slices.DeleteFunc(f, func(w string) bool { return w == "proxy_protocol" }), " "), true
}
