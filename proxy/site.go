package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"spillway/proxy/accesslog"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
	"spillway/proxy/resolver"
	"spillway/proxy/static"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// site is the running form of one *config.Config: virtual hosts per listen
// address, compiled locations and upstream groups. It is built once per
// (re)load and read without locks by every request that started under it.
type site struct {
	cfg       *config.Config
	groups    map[string]*upstream.Group      // by upstream name, and by host:port for literal proxy_pass
	counters  map[*upstream.Peer]*serverStats // each server's counters (metrics.go), set by stats.bind
	listeners map[string][]*vhost
	access    map[accessKey]accessOut // every access_log of the site; held in Proxy.logs
	logKeys   []logKey                // what this site holds in Proxy.logs
	levelLogs map[string]*levelLog    // the error_log lists of http, servers and locations (levellog.go)
	errFiles  []*errorlog.File        // their files this site holds in Proxy.logs
	tls       map[string]*siteTLS     // by ssl listen address (tls.go)
	maps      *vars.Maps              // http.map: the map variables
	retired   atomic.Bool             // a reload replaced it: answers close the connection (reload.go)
	tunnels   tunnelSet               // open upgraded connections (tunnel.go), waited for by drain
	userFiles map[string]*userFile    // auth_basic_user_file by path (authbasic.go)
	reqZones  map[string]*reqZone     // limit_req_zone by name (limitreq.go)

	connZoneByName map[string]*connZone // limit_conn_zone by name (limitconn.go)

	// For proxy_pass with variables (passvars.go): the resolvers, one per
	// distinct resolver directive, and the upstreams' hash keys by name.
	resolvers map[string]*resolver.Resolver
	hashKeys  map[string]*vars.Value

	sticky map[string]*stickyCookie // the groups' sticky cookies by name (sticky.go)

	charsetVars map[string]*vars.Value // charset and source_charset variables by name (charset.go)
}

// vhost is one server block.
type vhost struct {
	conf   *config.Server
	auth   *basicAuth    // the server's auth_basic, for requests no location matches
	authRq *authRequest  // the server's auth_request, likewise (authrequest.go)
	limits []reqLimit    // the server's limit_req, likewise
	conns  []connLimit   // the server's limit_conn, likewise
	rw     *rewritePhase // the server's rewrite, set, if, break, return (rewrite.go)
	name   string        // first server_name: what nginx logs as "server:"
	names  serverNames   // server_name by kind, for vhostFor

	headers *respHeaders         // the server's add_header, expires (headers.go)
	named   map[string]*location // "@name" locations, by name (try_files)
	elog    *levelLog            // the server's error_log; nil: the main one (levellog.go)

	locTree // the server's exact, prefix and regex locations (nested ones in each)
}

// locTree is one level of locations: a server's, or those nested in one
// location.
type locTree struct {
	exact  []*location // "= /path", in file order
	prefix []*location // prefix and "^~" locations, longest first
	regex  []*location // "~" and "~*", in file order
	// slashed: proxying locations named "/x/" by "/x", for nginx's
	// auto_redirect (redirect.go)
	slashed map[string]*location
}

// location is one location block with everything a request needs precomputed.
type location struct {
	conf   *config.Location
	nested *locTree  // the locations nested in this one; nil when none
	parent *location // the location this one is nested in; nil in a server
	named  bool      // its regex has named captures, which set variables (rewrite.go)
	group  *upstream.Group
	scheme string
	tls    *upstream.TLS // https://: proxy_ssl_* for this group (upstream_tls.go)
	// proxySetHeader is proxy_set_header compiled: set[i] is sent first, in
	// file order; names in set are dropped from the client's headers.
	set []compiledHeader
	// drop is the client's header names not forwarded, whatever the
	// request: set's and the hop-by-hop ones (dropNames).
	drop   httphead.NameSet
	method *vars.Value // proxy_method; nil: the client's
	body   *vars.Value // proxy_set_body; nil: the client's body (request.go)
	// fcgi is set by fastcgi_pass: the same pipeline, FastCGI on the wire (fcgi.go).
	fcgi    *fcgiLocation
	uwsgi   *uwsgiLocation   // uwsgi_pass: the same pipeline, a uwsgi packet then HTTP (uwsgi.go)
	grpc    *grpcLocation    // grpc_pass: the same pipeline, HTTP/2 to the upstream (grpc.go)
	h2      *grpcLocation    // proxy_http_version 2: proxy_pass's pipeline, HTTP/2 on the wire (grpc.go)
	hashKey *vars.Value      // the group's hash key, compiled with this site's maps; nil without hash
	auth    *basicAuth       // auth_basic, nil when off (authbasic.go)
	authRq  *authRequest     // auth_request, nil when off (authrequest.go)
	limits  []reqLimit       // limit_req (limitreq.go)
	conns   []connLimit      // limit_conn (limitconn.go)
	headers *respHeaders     // add_header, expires; nil: none (headers.go)
	up      *upHeaders       // proxy_redirect, proxy_hide_header, ...; never nil (upheaders.go)
	files   *static.Location // root, alias, index, try_files: no proxy_pass (files.go)
	rw      *rewritePhase    // rewrite, set, if, break, return (rewrite.go)
	// limit_rate, limit_rate_after, *_limit_rate, compiled (limitrate.go)
	limitRate, limitRateAfter, upLimitRate rateValue

	// pass is a proxy_pass (fastcgi_pass, uwsgi_pass) with variables:
	// group is then nil, and each request evaluates pass into its own copy
	// of the location with group, scheme, tls, hashKey and passURI set
	// (passvars.go). resolver is the location's resolver directive, nil
	// without one.
	pass     *vars.Value
	resolver *resolver.Resolver
	passURI  []byte
	elog     *levelLog // error_log; nil: the main one (levellog.go)

	// lmt is the limit_except block's location: the request's location
	// for a method the block does not list (limitExcept); nil without one.
	lmt *location
}

// proxies reports whether the location passes requests to an upstream:
// a group, or a proxy_pass with variables that names one per request.
func (l *location) proxies() bool { return l.group != nil || l.pass != nil }

// sets reports whether proxy_set_header names the header.
func (l *location) sets(name string) bool {
	for i := range l.set {
		if strings.EqualFold(l.set[i].name, name) {
			return true
		}
	}
	return false
}

type compiledHeader struct {
	name  string
	value *vars.Value
	// none: the value is "" as written, so the header is never sent
	// (appendHead skips it without evaluating it), only dropped from the
	// client's (proxy_set_header Connection "", the keepalive recipe).
	none bool
	// proxyHost: the value is $proxy_host alone (the default Host), which
	// appendHead copies from the request's variables: Append would find
	// the same string through the variable's lookup and Request()'s
	// refresh of the request's fields (about 180 instructions a request,
	// measured: docs/measured/fixed-items-2026-12-07.md).
	proxyHost bool
}

// buildSite validates what config cannot know (variables, addresses) and
// builds the running objects. Groups from prev are kept when an upstream of
// the same name and shape exists, so keepalive caches survive a reload.
func buildSite(cfg *config.Config, now func() time.Time, prev *site) (*site, error) {
	s := &site{cfg: cfg, groups: map[string]*upstream.Group{}, listeners: map[string][]*vhost{}}
	maps, err := vars.CompileVars(cfg.Maps, append(authSetNames(cfg), cfg.Captures...), cfg.SetVars) // auth_request_set's (authrequest.go), named captures' and set's (rewrite.go) too
	if err != nil {
		return nil, fmt.Errorf("http.map: %w", err)
	}
	s.maps = maps
	if s.charsetVars, err = compileCharsetVars(cfg, maps); err != nil {
		return nil, err
	}
	for name, u := range cfg.Upstreams {
		if g := prev.group(name); g != nil && reflect.DeepEqual(g.Conf(), u) {
			s.groups[name] = g
			continue
		}
		s.groups[name] = upstream.NewGroup(name, u, now)
		s.groups[name].ShareResolver(s.resolverFor(u.Resolver))
		s.groups[name].Adopt(prev.group(name)) // resolve servers start with the old addresses
	}
	s.hashKeys = map[string]*vars.Value{}
	for name, u := range cfg.Upstreams {
		if u.Hash != "" {
			if s.hashKeys[name], err = vars.Compile(u.Hash, s.maps); err != nil {
				return nil, fmt.Errorf("upstream %s: hash: %w", name, err)
			}
		}
	}
	if err := s.stickyCookies(cfg); err != nil {
		return nil, err
	}
	if err := s.limitZones(cfg, prev); err != nil {
		return nil, err
	}
	if err := s.connZones(cfg, prev); err != nil {
		return nil, err
	}
	for si, sc := range cfg.Servers {
		vh := &vhost{conf: sc, limits: s.reqLimits(sc.LimitReq), conns: s.connLimits(sc.LimitConn), elog: s.levelLog(sc.ErrorLogs)}
		if vh.auth, err = s.basicAuth(sc.AuthBasic); err != nil {
			return nil, fmt.Errorf("http.servers[%d]: %w", si, err)
		}
		if vh.names, err = newServerNames(sc.ServerName); err != nil {
			return nil, fmt.Errorf("http.servers[%d]: %w", si, err)
		}
		if len(sc.ServerName) > 0 {
			vh.name = strings.TrimPrefix(sc.ServerName[0], ".") // nginx's $server_name of ".example.com"
		}
		if vh.headers, err = compileHeaders(sc.Headers, s.maps); err != nil {
			return nil, err
		}
		if vh.rw, err = compileScript(sc.Script, sc.RewriteLog, sc.Redirect, s.maps, nil); err != nil {
			return nil, fmt.Errorf("http.servers[%d]: %w", si, err)
		}
		var built []builtLocation
		if vh.locTree, err = s.buildTree(vh, nil, sc.Locations, fmt.Sprintf("http.servers[%d]", si), now, prev, &built); err != nil {
			return nil, err
		}
		// auth_request's URI is routed once every location is known.
		if vh.authRq, err = s.compileAuthRequest(vh, &sc.AuthRequest); err != nil {
			return nil, fmt.Errorf("http.servers[%d]: %w", si, err)
		}
		for _, b := range built {
			if b.loc.authRq, err = s.compileAuthRequest(vh, &b.loc.conf.AuthRequest); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", b.key, b.loc.conf.Path, err)
			}
		}
		for _, l := range sc.Listen {
			s.listeners[l] = append(s.listeners[l], vh)
		}
	}
	// The default server of an address (the one a Host no server_name
	// matches goes to) is the first listening on it, or the one whose
	// listen says default_server (config refuses two).
	for l, vhosts := range s.listeners {
		if i := slices.IndexFunc(vhosts, func(vh *vhost) bool { return slices.Contains(vh.conf.ListenDefault, l) }); i > 0 {
			def := vhosts[i]
			copy(vhosts[1:i+1], vhosts[:i])
			vhosts[0] = def
		}
	}
	if s.tls, err = buildSiteTLS(cfg, s.listeners, s.maps); err != nil {
		return nil, err
	}
	return s, nil
}

// builtLocation is one location buildTree built, and its key for errors.
type builtLocation struct {
	loc *location
	key string
}

// buildTree builds the locations of one level (a server's, key, or those
// nested in the location parent) and, in each, those nested in it; every
// location built is appended to built. Named locations go to vh.named
// (config allows them in a server only).
func (s *site) buildTree(vh *vhost, parent *location, lcs []*config.Location, key string, now func() time.Time, prev *site, built *[]builtLocation) (locTree, error) {
	var t locTree
	for li, lc := range lcs {
		lkey := fmt.Sprintf("%s.locations[%d]", key, li)
		loc, err := s.buildLocation(lc, now, prev)
		if err != nil {
			return t, fmt.Errorf("%s (%s): %w", lkey, lc.Path, err)
		}
		loc.parent = parent
		*built = append(*built, builtLocation{loc, lkey})
		if loc.lmt != nil {
			loc.lmt.parent = parent // its captures are the location's (rewrite.go)
			*built = append(*built, builtLocation{loc.lmt, lkey + ".limit_except"})
		}
		if len(lc.Locations) > 0 {
			nested, err := s.buildTree(vh, loc, lc.Locations, lkey, now, prev, built)
			if err != nil {
				return t, err
			}
			loc.nested = &nested
		}
		switch lc.Match {
		case config.MatchExact:
			t.exact = append(t.exact, loc)
		case config.MatchRegex, config.MatchRegexCaseless:
			t.regex = append(t.regex, loc)
		case config.MatchNamed: // try_files's @name only (files.go)
			if vh.named == nil {
				vh.named = map[string]*location{}
			}
			vh.named[lc.Path] = loc
		default:
			t.prefix = append(t.prefix, loc)
		}
	}
	sort.SliceStable(t.prefix, func(i, j int) bool { return len(t.prefix[i].conf.Path) > len(t.prefix[j].conf.Path) })
	t.slashed = slashedLocations(t.exact, t.prefix)
	return t, nil
}

func (s *site) buildLocation(lc *config.Location, now func() time.Time, prev *site) (*location, error) {
	loc := &location{conf: lc, scheme: lc.ProxyPass.Scheme, named: len(config.CaptureNames(nil, lc.Regex)) > 0, limits: s.reqLimits(lc.LimitReq),
		conns: s.connLimits(lc.LimitConn), elog: s.levelLog(lc.ErrorLogs)}
	var err error
	if loc.auth, err = s.basicAuth(lc.AuthBasic); err != nil {
		return nil, err
	}
	if loc.files, err = static.New(lc, s.maps); err != nil {
		return nil, err
	}
	if loc.up, err = compileUpHeaders(lc.UpstreamHeaders, s.maps); err != nil {
		return nil, err
	}
	if lc.ProxyPass.Upstream != "" {
		loc.group = s.groups[lc.ProxyPass.Upstream]
	} else if lc.ProxyPass.Host != "" {
		host := lc.ProxyPass.Host
		if _, _, err := net.SplitHostPort(host); err != nil && !upstream.IsUnixAddr(host) {
			return nil, fmt.Errorf("proxy_pass: %w", err)
		}
		g, ok := s.groups[host]
		if !ok && prev.group(host) != nil && prev.group(host).Literal() {
			g, ok = prev.group(host), true
			s.groups[host] = g
		}
		if !ok {
			g = literalGroup(host, now)
			s.groups[host] = g
		}
		loc.group = g
	}
	if lc.ProxyPass.Value != "" {
		if loc.pass, err = vars.CompileCaptures(lc.ProxyPass.Value, s.maps); err != nil {
			return nil, fmt.Errorf("proxy_pass: %w", err)
		}
		loc.resolver = s.resolverFor(lc.Resolver)
	}
	if loc.group != nil && loc.group.Conf().Hash != "" {
		v, err := vars.Compile(loc.group.Conf().Hash, s.maps)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: hash: %w", loc.group.Name(), err)
		}
		loc.hashKey = v
	}
	if loc.group != nil && loc.group.Conf().Sticky != nil {
		loc.hashKey = s.hashKeys[loc.group.Name()] // $cookie_NAME (sticky.go)
	}
	if lc.ProxyPass.Scheme == "https" && loc.group != nil {
		loc.tls = loc.group.TLSFor(&lc.ProxySSL)
	}
	if lc.Grpc != nil {
		loc.grpc = newGrpcLocation(lc.Grpc.TLS, lc.Upstream.BufferSize)
		if lc.Grpc.TLS && loc.group != nil {
			loc.tls = loc.group.TLSForH2(&lc.ProxySSL) // ALPN h2
		}
	}
	if lc.ProxyMethod != "" {
		if loc.method, err = vars.Compile(lc.ProxyMethod, s.maps); err != nil {
			return nil, fmt.Errorf("proxy_method %s: %w", lc.ProxyMethod, err)
		}
	}
	for _, h := range lc.ProxySetHeader {
		v, err := vars.Compile(h.Value, s.maps)
		if err != nil {
			return nil, fmt.Errorf("proxy_set_header %s: %w", h.Name, err)
		}
		loc.set = append(loc.set, compiledHeader{name: h.Name, value: v, none: v.Literal() && v.String() == "", proxyHost: v.ProxyHostOnly()})
	}
	loc.drop = dropNames(loc.set)
	if loc.headers, err = compileHeaders(lc.Headers, s.maps); err != nil {
		return nil, err
	}
	buildIf := func(ic *config.Location) (*location, error) { return s.buildLocation(ic, now, prev) }
	if loc.rw, err = compileScript(lc.Script, lc.RewriteLog, lc.Redirect, s.maps, buildIf); err != nil {
		return nil, err
	}
	if lc.FastCGI != nil {
		f, err := compileFastCGI(lc, s.maps)
		if err != nil {
			return nil, err
		}
		loc.fcgi = f
	}
	if lc.Uwsgi != nil {
		u, err := compileUwsgi(lc, s.maps)
		if err != nil {
			return nil, err
		}
		loc.uwsgi = u
	}
	if lc.ProxyHTTPVersion == "2.0" && lc.Grpc == nil && loc.fcgi == nil && loc.uwsgi == nil {
		// proxy_http_version 2 (nginx 1.29): h2c with prior knowledge for
		// http://, ALPN h2 for https://
		loc.h2 = newGrpcLocation(lc.ProxyPass.Scheme == "https", lc.Upstream.BufferSize)
		if lc.ProxyPass.Scheme == "https" && loc.group != nil {
			loc.tls = loc.group.TLSForH2(&lc.ProxySSL)
		}
	}
	if lc.HasSetBody && lc.Grpc == nil && loc.fcgi == nil && loc.uwsgi == nil {
		if loc.h2 != nil {
			return nil, fmt.Errorf("proxy_set_body with proxy_http_version 2 is not supported")
		}
		if loc.body, err = vars.Compile(lc.ProxySetBody, s.maps); err != nil {
			return nil, fmt.Errorf("proxy_set_body %s: %w", lc.ProxySetBody, err)
		}
	}
	if loc.limitRate, err = compileRate(lc.LimitRate.Rate, s.maps); err != nil {
		return nil, fmt.Errorf("limit_rate %s: %w", lc.LimitRate.Rate, err)
	}
	if loc.limitRateAfter, err = compileRate(lc.LimitRate.After, s.maps); err != nil {
		return nil, fmt.Errorf("limit_rate_after %s: %w", lc.LimitRate.After, err)
	}
	if loc.upLimitRate, err = compileRate(lc.Upstream.LimitRate, s.maps); err != nil {
		return nil, fmt.Errorf("%s_limit_rate %s: %w", lc.Upstream.Module, lc.Upstream.LimitRate, err)
	}
	if lc.LimitExcept != nil {
		if loc.lmt, err = s.buildLocation(lc.LimitExcept.Location, now, prev); err != nil {
			return nil, fmt.Errorf("limit_except: %w", err)
		}
	}
	return loc, nil
}

// upstreamH2 reports whether the location's upstream speaks HTTP/2:
// grpc_pass, or proxy_pass with proxy_http_version 2.
func (l *location) upstreamH2() bool { return l.grpc != nil || l.h2 != nil }

// resolverFor returns the site's resolver for c, nil when c lists no
// server; locations with the same resolver share one (and its cache).
func (s *site) resolverFor(c config.Resolver) *resolver.Resolver {
	if len(c.Servers) == 0 {
		return nil
	}
	k := fmt.Sprint(c)
	if r := s.resolvers[k]; r != nil {
		return r
	}
	if s.resolvers == nil {
		s.resolvers = map[string]*resolver.Resolver{}
	}
	r := resolver.New(c)
	s.resolvers[k] = r
	return r
}

// group returns s's group of that name; nil for a nil site.
func (s *site) group(name string) *upstream.Group {
	if s == nil {
		return nil
	}
	return s.groups[name]
}

// vhostFor picks the server block for a Host header among those listening
// on one address as nginx does (ngx_http_find_virtual_server): an exact
// server_name ("" for a request without Host), else the longest name with
// a leading wildcard ("*.example.com", ".example.com"), else the longest
// with a trailing one ("www.example.*"), else the first regex that matches
// in the order of the file; else the first server (nginx's default
// server). Names compare without regard to case.
func vhostFor(vhosts []*vhost, host []byte) *vhost {
	if len(vhosts) == 1 {
		return vhosts[0]
	}
	h := bytes.TrimSuffix(hostOnly(host), []byte(".")) // nginx drops a trailing dot
	for _, vh := range vhosts {
		if slices.ContainsFunc(vh.names.exact, func(n string) bool { return strings.EqualFold(n, string(h)) }) {
			return vh
		}
	}
	var best *vhost
	longest := 0
	for _, vh := range vhosts {
		if n := vh.names.headMatch(h); n > longest {
			best, longest = vh, n
		}
	}
	if best != nil {
		return best
	}
	for _, vh := range vhosts {
		if n := vh.names.tailMatch(h); n > longest {
			best, longest = vh, n
		}
	}
	if best != nil {
		return best
	}
	var lower string
	for _, vh := range vhosts {
		if len(vh.names.regex) == 0 {
			continue
		}
		if lower == "" {
			lower = strings.ToLower(string(h))
		}
		for _, re := range vh.names.regex {
			if re.MatchString(lower) {
				return vh
			}
		}
	}
	return vhosts[0]
}

// serverNames is a server's server_name by kind, as nginx hashes them.
type serverNames struct {
	exact []string         // lower case; "" is a request without Host (a server without server_name has it)
	head  []string         // "*.example.com" as ".example.com"; ".example.com" also matches example.com
	dot   []bool           // head[i] was written ".example.com"
	tail  []string         // "www.example.*" as "www.example."
	regex []*regexp.Regexp // "~..." in order
}

func newServerNames(names []string) (serverNames, error) {
	var sn serverNames
	if len(names) == 0 {
		names = []string{""} // nginx's default server_name ""
	}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "~"):
			re, err := config.ServerNameRegex(n[1:])
			if err != nil {
				return sn, fmt.Errorf("server_name %q: %w", n, err)
			}
			sn.regex = append(sn.regex, re)
		case strings.HasPrefix(n, "*."):
			sn.head, sn.dot = append(sn.head, n[1:]), append(sn.dot, false)
		case strings.HasPrefix(n, "."):
			sn.head, sn.dot = append(sn.head, n), append(sn.dot, true)
		case strings.HasSuffix(n, ".*"):
			sn.tail = append(sn.tail, n[:len(n)-1])
		default:
			sn.exact = append(sn.exact, n)
		}
	}
	return sn, nil
}

// headMatch is the length of the longest leading-wildcard name that
// matches h, 0 for none.
func (sn *serverNames) headMatch(h []byte) int {
	best := 0
	for i, n := range sn.head {
		ok := len(h) > len(n) && strings.EqualFold(n, string(h[len(h)-len(n):])) ||
			sn.dot[i] && strings.EqualFold(n[1:], string(h))
		if ok && len(n) > best {
			best = len(n)
		}
	}
	return best
}

// tailMatch is headMatch for the trailing-wildcard names.
func (sn *serverNames) tailMatch(h []byte) int {
	best := 0
	for _, n := range sn.tail {
		if len(h) > len(n) && strings.EqualFold(n, string(h[:len(n)])) && len(n) > best {
			best = len(n)
		}
	}
	return best
}

// regexMatch is the first regex name that h matches (lower-cased, as
// nginx matches it) and its match, when no other name of the server does:
// the server was then chosen by it, and its captures are variables.
func (sn *serverNames) regexMatch(h []byte) (*regexp.Regexp, string, []int) {
	if len(sn.regex) == 0 || sn.headMatch(h) > 0 || sn.tailMatch(h) > 0 ||
		slices.ContainsFunc(sn.exact, func(n string) bool { return strings.EqualFold(n, string(h)) }) {
		return nil, "", nil
	}
	lower := strings.ToLower(string(h))
	for _, re := range sn.regex {
		if m := re.FindStringSubmatchIndex(lower); m != nil {
			return re, lower, m
		}
	}
	return nil, "", nil
}

// hostOnly strips the port from a Host header value.
func hostOnly(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && !bytes.Contains(host[i:], []byte("]")) {
		return host[:i]
	}
	return host
}

// match selects the location for a decoded, normalised path with nginx's
// order (ngx_http_core_find_location): exact; longest prefix, then the
// locations nested in it; unless that prefix is "^~", the first matching
// regex, then the locations nested in it; else the prefix's. It returns
// nil when nothing matches (404).
func (vh *vhost) match(path []byte) *location {
	l, _ := vh.find(path)
	return l
}

// find is match on one level of locations. final is nginx's NGX_OK: an
// exact or a regex location was found, so the enclosing levels try no
// regex of theirs; otherwise loc is the prefix location found (or nil),
// which an enclosing level's regex still overrides.
func (t *locTree) find(path []byte) (loc *location, final bool) {
	for _, l := range t.exact {
		if string(path) == l.conf.Path {
			return l, true
		}
	}
	noregex := false
	for _, l := range t.prefix {
		if bytes.HasPrefix(path, []byte(l.conf.Path)) {
			loc, noregex = l, l.conf.Match == config.MatchPreferPrefix
			break
		}
	}
	if loc != nil && loc.nested != nil {
		if in, final := loc.nested.find(path); in != nil {
			if final {
				return in, true
			}
			loc = in
		}
	}
	if noregex {
		return loc, false
	}
	for _, l := range t.regex {
		if config.MatchPCRE(l.conf.Regex, path) { // nginx's PCRE semantics (bytes, "$")
			if l.nested != nil {
				if in, _ := l.nested.find(path); in != nil {
					return in, true
				}
			}
			return l, true
		}
	}
	return loc, false
}

// accessKey names one access_log of a site's configuration.
type accessKey struct {
	path, format, escape, cond string
	buffer                     int64
	flush                      time.Duration
}

func accessKeyOf(al *config.AccessLog) accessKey {
	return accessKey{al.Path, al.Format, al.Escape, al.If, al.Buffer, al.Flush}
}

// accessOut is one access_log ready to write: its (shared) file and its if=.
type accessOut struct {
	log  *accesslog.Log
	cond *accesslog.Condition
}

// writeAccess writes x's line to each of logs whose if= holds (nginx's
// ngx_http_log_handler); an off list writes nothing.
func (s *site) writeAccess(logs []config.AccessLog, x vars.Exchange) {
	for i := range logs {
		if logs[i].Off {
			return
		}
		if o, ok := s.access[accessKeyOf(&logs[i])]; ok && o.cond.True(x) {
			o.log.Write(x)
		}
	}
}

// literalGroup is nginx's implicit group of a proxy_pass host:port that
// names no upstream block, with no keepalive cache: one server for an
// address; for a name, one per address it resolves to when the
// configuration is loaded (nginx's ngx_parse_url), so that a request that
// fails on one passes on to the next and $upstream_addr names them. A name
// that does not resolve now (nginx refuses to start) is dialed by name.
func literalGroup(host string, now func() time.Time) *upstream.Group {
	name, port, err := net.SplitHostPort(host)
	if err != nil || upstream.IsUnixAddr(host) || net.ParseIP(name) != nil {
		return upstream.NewLiteral(host, now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil || len(ips) == 0 {
		return upstream.NewLiteral(host, now)
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip, port)
	}
	return upstream.NewResolved(host, addrs, now)
}
