package proxy

import (
	"net/netip"
	"strconv"
	"strings"

	"spillway/proxy/config"
)

// The realip module (ngx_http_realip_module): when the connection comes
// from a set_real_ip_from address, the client address a header (or the
// PROXY protocol header) names becomes the request's client address:
// $remote_addr, $remote_port, $binary_remote_addr, the error log's
// "client:", allow/deny and limit_req/limit_conn keys all see it.
// $realip_remote_addr keeps the connection's own. As in nginx it runs with
// the server's settings right after the request head was read (post-read
// phase), else with the location's before the access checks (preaccess),
// and at most once per request.

// forwardedResult is ngx_http_get_forwarded_addr's NGX_OK, NGX_DONE and
// NGX_DECLINED.
type forwardedResult uint8

const (
	fwdDeclined forwardedResult = iota // no address taken
	fwdOK                              // the address taken; more may follow (recursive)
	fwdDone                            // an address taken, the search ended on an untrusted or bad one
)

// applyRealIP runs the realip module with r once per request.
func (x *exchange) applyRealIP(r *config.RealIP) {
	if x.realip || len(r.From) == 0 || !x.clientIP.IsValid() {
		return // unix: never matches: spillway listens on TCP only
	}
	h := &x.ctx.Request.Header
	var values [][]byte
	var pp netip.AddrPort
	switch r.Header {
	case "X-Forwarded-For":
		values = h.PeekAll("X-Forwarded-For")
	case config.RealIPProxyProtocol:
		if pp = proxyProtocolAddr(ppConnOf(x.ctx.Conn())); !pp.IsValid() {
			return
		}
		values = [][]byte{pp.Addr().AppendTo(nil)}
	default:
		if v := h.Peek(r.Header); v != nil {
			values = [][]byte{v}
		}
	}
	if len(values) == 0 {
		return
	}
	addr, port := x.clientIP, 0
	rc := fwdDeclined
	found := false
	for i := len(values) - 1; i >= 0; i-- { // the last header first (RFC 7230 3.2.2)
		rc = forwardedAddr(&addr, &port, values[i], r)
		if !r.Recursive {
			break
		}
		if rc == fwdDeclined && found {
			rc = fwdDone
			break
		}
		if rc != fwdOK {
			break
		}
		found = true
	}
	if rc == fwdDeclined {
		return
	}
	if pp.IsValid() {
		port = int(pp.Port())
	}
	x.realip = true
	x.realipFrom = append(x.realipFrom[:0], x.client...)
	x.realipPort = x.clientPort
	x.clientIP = addr.Unmap()
	x.client = x.clientIP.AppendTo(x.client[:0])
	x.clientPort = port
	x.fields.Client = bstr(x.client)
	x.vars.connDone = false // read before, vars.Conn is filled in again with the new address (fillConn)
}

// forwardedAddr is ngx_http_get_forwarded_addr_internal: when *addr is
// trusted, the last address of the comma-separated list xff replaces it;
// recursive, the one before it is tried in turn.
func forwardedAddr(addr *netip.Addr, port *int, xff []byte, r *config.RealIP) forwardedResult {
	if !r.Trusted(*addr) {
		return fwdDeclined
	}
	end := len(xff)
	for end > 1 && (xff[end-1] == ' ' || xff[end-1] == ',') {
		end--
	}
	p := end - 1
	for ; p > 0; p-- {
		if xff[p] == ' ' || xff[p] == ',' {
			p++
			break
		}
	}
	if p < 0 {
		return fwdDeclined
	}
	a, n, ok := parseAddrPort(xff[p:end])
	if !ok {
		return fwdDeclined
	}
	*addr, *port = a, n
	if r.Recursive && p > 0 {
		rc := forwardedAddr(addr, port, xff[:p-1], r)
		if rc == fwdDeclined {
			return fwdDone
		}
		return rc
	}
	return fwdOK
}

// parseAddrPort is ngx_parse_addr_port: an IPv4 or IPv6 address, with a
// port as "1.2.3.4:80" or "[::1]:80" (0: none).
func parseAddrPort(b []byte) (netip.Addr, int, bool) {
	s := string(b)
	host, portText := s, ""
	switch {
	case len(s) > 0 && s[0] == '[':
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return netip.Addr{}, 0, false
		}
		host, portText = s[1:i], s[i+1:]
		if portText != "" {
			if portText[0] != ':' {
				return netip.Addr{}, 0, false
			}
			portText = portText[1:]
		}
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host, portText = s[:i], s[i+1:]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	port := 0
	if portText != "" {
		n, err := strconv.Atoi(portText)
		if err != nil || n < 1 || n > 65535 {
			return netip.Addr{}, 0, false
		}
		port = n
	}
	return a, port, true
}
