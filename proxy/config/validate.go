package config

import (
	"fmt"
	"math"
	"net"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Checks that need more than one value, or the resolved file, with nginx -t's
// wording where nginx has one. Each problem points at the key that caused it;
// for an inherited value, that is where the value was written.

// check checks the server directives in effect at one level.
func (d *serverDirectives) check(p *problems) {
	if d.ClientHeaderBufferSize.or(1) <= 0 {
		p.add(d.ClientHeaderBufferSize.at(), `"client_header_buffer_size" must be greater than 0`)
	}
	d.http2Directives.check(p)
	d.http3Directives.check(p)
}

// checkErrorLogs refuses the error_log targets spillway cannot write to:
// nginx's syslog: and memory: (spillway writes files and stderr).
func checkErrorLogs(o *opt[[]ErrorLog], p *problems) {
	for i, l := range o.or(nil) {
		if strings.HasPrefix(l.Path, "syslog:") || strings.HasPrefix(l.Path, "memory:") {
			key := o.at()
			if len(o.v) > 1 {
				key = fmt.Sprintf("%s[%d]", key, i)
			}
			p.add(key, `unsupported error log %q: spillway writes error logs to files or stderr`, l.Path)
		}
	}
}

// check checks the location directives in effect at one level (http, a
// server or a location, after inheritance).
func (d *locationDirectives) check(p *problems) {
	for _, l := range d.AccessLog.or(nil) {
		if !l.Off && l.Format != "" && l.Format != "combined" {
			p.checkVariables(d.AccessLog.at(), "log_format", l.Format)
		}
		if l.If != "" {
			p.checkVariables(d.AccessLog.at(), "access_log", l.If)
		}
	}
	checkErrorLogs(d.ErrorLog, p)
	if o := d.ClientBodyTempPath; o.set() && strings.TrimSpace(o.v) == "" {
		p.add(o.at(), "%q must not be empty", directiveOf(o.at()))
	}
	if o := d.ClientBodyBufferSize; o.set() && o.v <= 0 {
		p.add(o.at(), "%q must be greater than 0", directiveOf(o.at()))
	}
	if o := d.ClientBodyMemoryMax; o.set() && o.v < 0 {
		p.add(o.at(), "%q must not be negative", directiveOf(o.at()))
	}
	for i, h := range d.ProxySetHeader.or(nil) {
		p.checkVariables(p.headerKey(d.ProxySetHeader, i), "proxy_set_header "+h.Name, h.Value)
	}
	d.moduleSets.check(p)
	d.accessDirectives.check(p)
	d.limitRateDirectives.check(p)
	d.headerDirectives.check(p)
	d.gzipDirectives.check(p)
	d.errorPageDirectives.check(p)
	d.charsetDirectives.check(p)
	d.keepaliveDirectives.check(p)
}

// mulSat multiplies non-negative a and b, saturating at math.MaxInt64.
func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// latest returns, of the key paths that are set, the one written on the
// highest line.
func (p *problems) latest(keys ...string) string {
	best, bestLine := "", -1
	for _, k := range keys {
		if k == "" {
			continue
		}
		if l := lineOf(p.doc, k); l > bestLine {
			best, bestLine = k, l
		}
	}
	return best
}

// mappingKeys returns the keys of the mapping at path in the YAML tree.
func (p *problems) mappingKeys(path string) []string {
	n := nodeAt(p.doc, path)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "<<" {
			keys = append(keys, k)
		}
	}
	return keys
}

// checkServerNames reports servers that listen on the same address with
// the same server_name (no server_name counts as the name ""): the request
// could not tell them apart.
func checkServerNames(servers []*Server, raw []rawServer, p *problems) {
	type pair struct{ listen, name string }
	first := map[pair]int{}
	for i, s := range servers {
		names := s.ServerName
		if len(names) == 0 {
			names = []string{""}
		}
		key := raw[i].ServerName.at()
		if key == "" {
			key = raw[i].Listen.at()
		}
		for _, l := range s.Listen {
			for _, n := range names {
				pr := pair{l, n}
				if j, ok := first[pr]; ok {
					p.add(key, "conflicting server name %q on %s: http.servers[%d] has the same listen and server_name", n, l, j)
					continue
				}
				first[pr] = i
			}
		}
	}
}

// checkDefaultServers reports a second default_server for an address, as
// nginx does ("a duplicate default server for 0.0.0.0:80").
func checkDefaultServers(servers []*Server, raw []rawServer, p *problems) {
	seen := map[string]bool{}
	for i, s := range servers {
		for _, a := range s.ListenDefault {
			if seen[a] {
				p.add(raw[i].Listen.at(), "a duplicate default server for %s", a)
			}
			seen[a] = true
		}
	}
}

// listenAddress normalises a listen entry to host:port: "8080" and ":8080"
// and "*:8080" mean 0.0.0.0:8080 (nginx's *:8080); an address without a
// port gets nginx's default port 80. Port 0 (any free port) is allowed for
// tests, unlike nginx.
func listenAddress(s string) (string, error) {
	a := strings.TrimSpace(s)
	if f := strings.Fields(a); len(f) > 1 {
		return "", fmt.Errorf(`invalid parameter %q of the "listen" directive: spillway supports ssl, http2, quic (with reuseport) and default_server`, f[1])
	}
	if _, ok := parseDigits(a); ok {
		a = ":" + a
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if strings.Contains(strings.Trim(a, "[]"), ":") || a == "" {
			return "", fmt.Errorf(`invalid host in %q of the "listen" directive`, s)
		}
		host, port = strings.Trim(a, "[]"), "80"
	}
	if host == "" || host == "*" {
		host = "0.0.0.0"
	}
	if n, ok := parseDigits(port); !ok || n > 65535 { // port 0: any free port (tests)
		return "", fmt.Errorf(`invalid port in %q of the "listen" directive`, s)
	}
	return net.JoinHostPort(host, port), nil
}

// upstreamAddress normalises an upstream server address to host:port, with
// nginx's default port 80, or to "unix:/path" (a unix-domain socket).
func upstreamAddress(s string) (string, error) {
	a := strings.TrimSpace(s)
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		return unixAddress(s, path)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if strings.Contains(strings.Trim(a, "[]"), ":") || a == "" {
			return "", fmt.Errorf("invalid address %q: want host:port", s)
		}
		host, port = strings.Trim(a, "[]"), "80"
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return "", fmt.Errorf("invalid address %q: want host:port", s)
	}
	if n, ok := parseDigits(port); !ok || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port in upstream %q", s)
	}
	return net.JoinHostPort(host, port), nil
}

// parseLocationPath splits a location path into nginx's modifier and path:
// "/x" (prefix), "= /x" (exact), "^~ /x" (prefix that stops the regex
// search), "~ regex" and "~* regex" (case-insensitive). As in nginx, "=" and
// "~"/"~*" may also be attached ("=/x", "~*\.php$").
func parseLocationPath(s string) (string, MatchKind, *regexp.Regexp, error) {
	t := strings.TrimSpace(s)
	mod, path := "", t
	if f := strings.Fields(t); len(f) > 1 && (f[0] == "=" || f[0] == "^~" || f[0] == "~" || f[0] == "~*") {
		mod, path = f[0], strings.TrimSpace(t[len(f[0]):])
	} else {
		for _, m := range []string{"~*", "~", "="} {
			if rest, ok := strings.CutPrefix(t, m); ok {
				mod, path = m, rest
				break
			}
		}
	}
	if path == "" {
		return "", 0, nil, fmt.Errorf("invalid location %q: the path is empty", s)
	}
	switch mod {
	case "~", "~*":
		kind := MatchRegex
		if mod == "~*" {
			kind = MatchRegexCaseless
		}
		re, err := compilePCRE(path, kind == MatchRegexCaseless)
		if err != nil {
			return path, kind, nil, fmt.Errorf("invalid regular expression %q in location: %v; Go's RE2 syntax has no lookaround or backreferences", path, err)
		}
		return path, kind, re, nil
	}
	kind := MatchPrefix
	switch mod {
	case "=":
		kind = MatchExact
	case "^~":
		kind = MatchPreferPrefix
	}
	if strings.HasPrefix(path, "@") {
		if mod != "" || len(path) == 1 {
			return path, kind, nil, fmt.Errorf("invalid location %q: a named location is \"@name\", without a modifier", s)
		}
		return path, MatchNamed, nil, nil
	}
	if !strings.HasPrefix(path, "/") {
		return path, kind, nil, fmt.Errorf(`invalid location %q: the path must start with "/", or use "~ regex"`, s)
	}
	return path, kind, nil, nil
}

// locationID identifies a non-regex location the way nginx's duplicate
// check does: "/x" and "^~ /x" are the same location, "= /x" is another.
func locationID(l *Location) (string, bool) {
	switch l.Match {
	case MatchExact:
		return "= " + l.Path, l.Path != ""
	case MatchPrefix, MatchPreferPrefix, MatchNamed:
		return l.Path, l.Path != ""
	}
	return "", false
}

// parseProxyPass parses proxy_pass: http://NAME[/uri], where NAME is an
// http.upstreams entry (case-insensitive, as in nginx), or
// http://host:port[/uri]; https:// likewise (proxy_ssl_*: tls.go).
func parseProxyPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	if strings.Contains(s, "$") {
		// nginx checks the scheme when a request has evaluated it.
		pp := ProxyPass{Value: s}
		if l := strings.ToLower(s); strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			pp.Scheme, _, _ = strings.Cut(l, "://")
		}
		return pp, nil
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return ProxyPass{}, fmt.Errorf(`invalid URL prefix in %q: want "http://upstream_name" or "http://host:port"`, s)
	}
	host, uri := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, uri = rest[:i], rest[i:]
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		// nginx's http://unix:/path/to.sock[:/uri]: the path ends at ":".
		path, uri, _ = strings.Cut(path, ":")
		host = "unix:" + path
		if _, err := unixAddress(s, path); err != nil {
			return ProxyPass{}, err
		}
	}
	pp := ProxyPass{Scheme: strings.ToLower(scheme), Host: host, URI: uri, HasURI: uri != ""}
	if strings.HasPrefix(host, "unix:") {
		return pp, nil
	}
	if host == "" {
		return pp, fmt.Errorf("no host in upstream %q", s)
	}
	if name := strings.ToLower(host); upstreams[name] {
		pp.Upstream = name
		return pp, nil
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return pp, fmt.Errorf(`host not found in upstream %q: it is not in http.upstreams, and an address needs a port ("%s:8080")`, host, host)
	}
	if upstreams[strings.ToLower(h)] {
		return pp, fmt.Errorf("upstream %q may not have port %s", h, port)
	}
	if h == "" {
		return pp, fmt.Errorf("no host in upstream %q", s)
	}
	if n, ok := parseDigits(port); !ok || n < 1 || n > 65535 {
		return pp, fmt.Errorf("invalid port in upstream %q", host)
	}
	return pp, nil
}

// unixAddress checks the path of a "unix:" upstream address (s, for the
// message) and returns the address as spillway writes it, "unix:/path".
func unixAddress(s, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("no path in the unix domain socket %q", s)
	}
	if len(path) > 107 { // sun_path
		return "", fmt.Errorf("too long path in the unix domain socket %q", s)
	}
	return "unix:" + path, nil
}
