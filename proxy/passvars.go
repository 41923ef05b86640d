package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
	"spillway/proxy/resolver"
	"spillway/proxy/upstream"
)

// proxy_pass (fastcgi_pass, uwsgi_pass, grpc_pass) with variables, as nginx: the
// value is evaluated per request (ngx_http_proxy_eval), then
// ngx_http_upstream_init_request finds where it goes: an upstream block
// whose name is the host (when no port is written), an upstream nginx made
// for a literal proxy_pass of the same host and port, an address, or a
// name the location's resolver answers. Its URI part, when there is one,
// is sent as it is: no location prefix is replaced and no $args added.

// passTarget evaluates the location's pass and makes x.loc this request's
// copy of the location, with the group, scheme, TLS, hash key and URI the
// value names. It reports false when the client has been answered: a value
// that is no URL (500) or a host name that cannot be resolved (502).
func (x *exchange) passTarget() bool {
	l := x.loc
	val := string(l.pass.AppendCaptures(nil, x, x.caps.src, x.caps.loc))
	t, msg := parsePass(l, val)
	if msg != "" {
		x.logf(errorlog.Error, msg, 0, "")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	x.passLoc = *l
	d := &x.passLoc
	d.pass, d.scheme, d.passURI, d.hashKey, d.tls = nil, t.scheme, t.uri, nil, nil
	proxyHost, proxyPort := t.host, t.defPort
	switch {
	case t.unix:
		proxyPort = ""
		d.group = upstream.NewLiteral(t.host, nil)
		proxyHost = "localhost" // nginx's $proxy_host for a unix socket
	case t.noPort && x.site.cfg.Upstreams[strings.ToLower(t.host)] != nil:
		name := strings.ToLower(t.host)
		d.group, d.hashKey = x.site.groups[name], x.site.hashKeys[name]
	case t.noPort && t.defPort == "":
		x.logf(errorlog.Error, fmt.Sprintf(`no port in upstream "%s"`, t.host), 0, "")
		x.page(fasthttp.StatusInternalServerError)
		return false
	default:
		port := t.port
		if t.noPort {
			port = t.defPort
		} else if port != t.defPort {
			proxyHost = net.JoinHostPort(t.host, port)
		}
		proxyPort = port
		hostport := net.JoinHostPort(t.host, port)
		if g := x.site.groups[hostport]; g != nil && g.Literal() {
			d.group = g // the upstream of a literal proxy_pass with this host and port
			break
		}
		if _, err := netip.ParseAddr(t.host); err == nil {
			d.group = upstream.NewLiteral(hostport, nil)
			break
		}
		g, ok := x.resolve(l, t.host, port)
		if !ok {
			return false
		}
		d.group = g
	}
	if d.scheme == "https" || d.scheme == "grpcs" {
		ps := l.conf.ProxySSL
		if ps.Name == "" && !t.unix {
			ps.Name = t.host // proxy_ssl_name's default, $proxy_host without its port: the evaluated host
		}
		if d.scheme == "grpcs" || d.h2 != nil {
			d.tls = d.group.TLSForH2(&ps) // ALPN h2
		} else {
			d.tls = d.group.TLSFor(&ps)
		}
	}
	if d.grpc != nil {
		d.grpc = d.grpc.withTLS(d.scheme == "grpcs") // the :scheme the value says
	}
	if d.h2 != nil {
		d.h2 = d.h2.withTLS(d.scheme == "https")
	}
	x.loc = d
	x.vars.req.ProxyHost, x.vars.req.ProxyPort = proxyHost, proxyPort
	return true
}

// resolve asks the location's resolver for host and returns the group of
// its addresses with port; false when it answered the client: nginx's 502
// without a resolver or when the name cannot be resolved.
func (x *exchange) resolve(l *location, host, port string) (*upstream.Group, bool) {
	if l.resolver == nil {
		x.logf(errorlog.Error, "no resolver defined to resolve "+host, 0, "")
		x.page(fasthttp.StatusBadGateway)
		return nil, false
	}
	// The request's context: a client that goes away (watched as while
	// the upstream is awaited, nginx's check_broken_connection is set
	// before it resolves) or a hard stop ends the wait; the lookup goes on
	// for its resolver_timeout and is cached for others.
	ctx, cancel := context.WithTimeout(x.context(), l.resolver.Conf().Timeout)
	defer cancel()
	x.watchClient()
	addrs, err := l.resolver.Lookup(ctx, host, func(server string, errno syscall.Errno) {
		x.p.elog.Write(&errorlog.Entry{Level: errorlog.Error, Msg: "recv() failed", Errno: errno, Action: "resolving, resolver: " + server})
	})
	x.watch.stop()
	if err != nil && x.ended("", nil, nil) { // 499 and nginx's line (clientAborted)
		return nil, false
	}
	if err != nil {
		var re *resolver.Error
		if !errors.As(err, &re) {
			re = &resolver.Error{Name: host, Code: resolver.CodeTimedOut}
		}
		x.logf(errorlog.Error, re.Error(), 0, "")
		x.page(fasthttp.StatusBadGateway)
		return nil, false
	}
	peers := make([]string, len(addrs))
	for i, a := range addrs {
		peers[i] = net.JoinHostPort(a.String(), port)
	}
	return upstream.NewResolved(host, peers, nil), true
}

// passValue is an evaluated pass taken apart.
type passValue struct {
	scheme  string // http, https, fastcgi, uwsgi, grpc, grpcs
	host    string // a name or an address; "unix:/path" for a unix socket
	port    string // as written; "" with noPort
	noPort  bool
	defPort string // the scheme's port when none is written; "" for fastcgi, uwsgi and grpc
	unix    bool
	uri     []byte // the URI part, sent as it is; nil when there is none
}

// parsePass takes val apart as nginx's ngx_http_proxy_eval (and the
// fastcgi and uwsgi ones) with ngx_parse_url; msg is nginx's error line
// when val is no URL.
func parsePass(l *location, val string) (t passValue, msg string) {
	rest := val
	switch {
	case l.fcgi != nil:
		t.scheme = "fastcgi"
	case l.grpc != nil: // ngx_http_grpc_eval: grpc://, grpcs:// or none
		t.scheme = "grpc"
		if len(rest) > 7 && strings.EqualFold(rest[:7], "grpc://") {
			rest = rest[7:]
		} else if len(rest) > 8 && strings.EqualFold(rest[:8], "grpcs://") {
			t.scheme, rest = "grpcs", rest[8:]
		}
	case l.uwsgi != nil:
		t.scheme = "uwsgi"
		if len(rest) >= 8 && strings.EqualFold(rest[:8], "uwsgi://") {
			rest = rest[8:]
		} else if len(rest) >= 9 && strings.EqualFold(rest[:9], "suwsgi://") {
			return t, fmt.Sprintf(`invalid URL prefix in "%s"`, val) // spillway speaks uwsgi without TLS
		}
	case len(rest) > 7 && strings.EqualFold(rest[:7], "http://"): // nginx: longer than the prefix
		t.scheme, t.defPort, rest = "http", "80", rest[7:]
	case len(rest) > 8 && strings.EqualFold(rest[:8], "https://"):
		t.scheme, t.defPort, rest = "https", "443", rest[8:]
	default:
		return t, fmt.Sprintf(`invalid URL prefix in "%s"`, val)
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		path, uri, hasURI := strings.Cut(path, ":")
		if path == "" {
			return t, fmt.Sprintf(`no path in the unix domain socket in upstream "%s"`, rest)
		}
		if len(path) > 107 {
			return t, fmt.Sprintf(`too long path in the unix domain socket in upstream "%s"`, rest)
		}
		t.host, t.unix = "unix:"+path, true
		if hasURI && t.defPort != "" {
			t.uri = []byte(uri)
		}
		return t, ""
	}
	hostport := rest
	if t.defPort != "" { // proxy_pass: the URI part starts at the first "/" or "?"
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			hostport, t.uri = rest[:i], []byte(rest[i:])
			if t.uri[0] == '?' {
				t.uri = append([]byte{'/'}, t.uri...)
			}
		}
	}
	t.host, t.noPort = hostport, true
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return t, fmt.Sprintf(`invalid host in upstream "%s"`, rest)
		}
		t.host = hostport[1:end]
		if p, ok := strings.CutPrefix(hostport[end+1:], ":"); ok {
			t.port, t.noPort = p, false
		}
	} else if h, p, ok := strings.Cut(hostport, ":"); ok {
		t.host, t.port, t.noPort = h, p, false
	}
	if !t.noPort {
		if n, err := strconv.Atoi(t.port); err != nil || n < 1 || n > 65535 {
			return t, fmt.Sprintf(`invalid port in upstream "%s"`, rest)
		}
	}
	if t.host == "" {
		return t, fmt.Sprintf(`no host in upstream "%s"`, rest)
	}
	return t, ""
}
