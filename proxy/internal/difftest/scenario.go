// Package difftest runs the same scenarios against real nginx and against
// spillway and compares what a client and the upstreams see: the status,
// the body bytes received, how the client connection ended, the requests
// each upstream server received (and, where a scenario asks, its TCP
// connections), and the error-log lines once timestamps, pids, connection
// numbers and ports are normalised.
//
// One Scenario value describes an upstream group of fresh bench upstreams
// (spillway upstream's behaviours), http-level directives and the requests
// to send; NginxConf and SpillwayYAML generate both configurations from it,
// so a directive means the same thing on both sides. Where spillway differs
// on purpose, the scenario carries a Difference naming what differs and why;
// the test fails when the observed difference is another one, and also when
// a documented difference has disappeared.
//
// The suite is in difftest_test.go. It needs nginx (nginx-light is enough)
// and skips without it unless SPILLWAY_REQUIRE_NGINX=1, which CI sets.
package difftest

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"spillway/bench/upstreamsim"
)

// Scenario is one differential case.
type Scenario struct {
	Name string
	Area string // the table it is listed under in docs/differential.md

	// Servers is the upstream group "app", in order. Each server is a fresh
	// bench upstream per target, so hit counts are per scenario and per side.
	Servers []Server
	// Keepalive is the upstream block's keepalive (0: none).
	Keepalive int
	// Balance is the upstream block's balancing method in nginx's syntax
	// ("hash $arg_k consistent", "ip_hash", "random two"); "" is
	// round-robin.
	Balance string
	// SpillwayUpstream are keys of spillway's own for the upstream group,
	// which nginx has not ("retry_budget: off"): proxy.yaml only.
	SpillwayUpstream []string
	// ProxyPassURI is the URI part of the location's proxy_pass
	// ("http://app" + ProxyPassURI); "" passes the client's URI unchanged.
	ProxyPassURI string
	// Directives go into the http block (nginx) / the http mapping (yaml),
	// in nginx's syntax: {"proxy_next_upstream", "error timeout http_502"}.
	Directives []Directive
	// Requests are sent one after the other, each on its own connection.
	Requests []Request
	// Files are written into each side's directory before it starts
	// (name → content); "{DIR}" in a directive's value is that directory,
	// e.g. auth_basic_user_file {DIR}/htpasswd.
	Files map[string]string
	// Locations come before the server's "location / { proxy_pass
	// http://app; }", in both configurations: locations that serve files
	// (root {DIR}/www, alias, try_files, ...) or answer by themselves
	// (return, rewrite ... redirect). A scenario with Locations
	// also compares the headers a static answer is made of (AspectHeaders).
	Locations []Location
	// ErrorLogs are error-log files of the scenario's own (error_log
	// {DIR}/NAME in Directives or Locations), by name in the side's
	// directory: their lines are compared with the main log's (AspectLog),
	// each prefixed with "NAME: ".
	ErrorLogs []string
	// Nested are locations nested in a location (nginx's location inside
	// a location), by the enclosing one's Path: in Locations, or itself
	// nested.
	Nested map[string][]Location
	// AccessLog keeps each side's access log as written (in AccessFormat)
	// in Outcome.AccessLog, for tools that read the file (fail2ban).
	AccessLog bool
	// CompareConns also compares the number of TCP connections each
	// upstream server accepted (keepalive scenarios).
	CompareConns bool
	// Diff documents a deliberate (or known, Bug) difference; nil means the
	// two must be identical.
	Diff *Difference
	// Racy lists aspects in which nginx itself is not deterministic for
	// this scenario (RacyReason says why): they are compared and a
	// difference is logged, but it does not fail the scenario.
	Racy       []Aspect
	RacyReason string
	// ServerReturn, when set, adds a server named redirect.test on the
	// same address with this return (nginx's arguments, e.g. `301
	// https://$host$request_uri`); requests reach it with a Raw request
	// whose Host is redirect.test.
	ServerReturn string
	// ServerRewrite is likewise that server's one rewrite (nginx's
	// arguments), before its return if both are set.
	ServerRewrite string
	// NamedServers are more servers on the same address, after the
	// scenario's own (localhost, the default server): server_name
	// scenarios, whose requests choose one by their Host.
	NamedServers []NamedServer
	// ServerDirectives go into the scenario's own server (localhost),
	// before its locations: the rewrite module's (rewrite, set, if,
	// return), as in a location (yamlScript).
	ServerDirectives []Directive
	// AccessFormat is both sides' access-log format; "" is accessFormat,
	// which the access aspect compares. (The fail2ban test reads
	// "combined" logs, as a real deployment writes them.)
	AccessFormat string
	// Sizes logs $bytes_sent and $body_bytes_sent (accessSizesFormat) and
	// compares each line's two figures as their distance from the head and
	// body bytes the client received (sizesRelative): the Server header
	// and the error pages' footer name each proxy, so the raw figures
	// differ by that much. Each request's line must be unique.
	Sizes bool
	// ListenParams are more parameters of the server's listen, on both
	// sides ("proxy_protocol").
	ListenParams string
	// Headers names response headers to compare (AspectHeader): each
	// one's values in order, an Expires date as its distance from Date.
	Headers []string
	// DNS, when set, starts a DNS server for each side (dns.go) that
	// answers these names (lower case, with the final dot) with their A
	// records ("{HOST0}": the first upstream server's address), "fail.test." with SERVFAIL and others with NXDOMAIN; "{DNS}"
	// in a directive's value is its address, "{PORT0}" the first upstream
	// server's port (for resolver and proxy_pass with variables).
	DNS map[string][]string
}

func (s *Scenario) accessFormat() string {
	if s.AccessFormat != "" {
		return s.AccessFormat
	}
	if s.Sizes {
		return accessSizesFormat
	}
	return accessFormat
}

// accessSizesFormat is Scenario.Sizes's access-log format.
const accessSizesFormat = accessFormat + ` $bytes_sent $body_bytes_sent`

// sizesRelative rewrites the access lines of a Sizes scenario: the two
// figures become "bytes_sent=head+body+D body_bytes_sent=body+E", D and E
// their distance from what the client of that request line received
// (Response.HeadBytes, BodyBytes). Lines of no request stay as they are.
func sizesRelative(s *Scenario, out *Outcome) []string {
	got := map[string]Response{}
	for i, req := range s.Requests {
		line, _, _ := strings.Cut(string(req.wire()), "\r\n")
		got[line] = out.Responses[i]
	}
	res := make([]string, 0, len(out.Access))
	for _, l := range out.Access {
		f := strings.Fields(l)
		q1, q2 := strings.Index(l, `"`), strings.LastIndex(l, `"`)
		if len(f) < 4 || q1 < 0 || q2 <= q1 {
			res = append(res, l)
			continue
		}
		r, ok := got[l[q1+1:q2]]
		sent, err1 := strconv.Atoi(f[len(f)-2])
		body, err2 := strconv.Atoi(f[len(f)-1])
		if !ok || err1 != nil || err2 != nil {
			res = append(res, l)
			continue
		}
		res = append(res, fmt.Sprintf("%s bytes_sent=head+body%+d body_bytes_sent=body%+d",
			l[:q2+1], sent-r.HeadBytes-r.BodyBytes, body-r.BodyBytes))
	}
	return res
}

// Location is one location of a scenario besides "location /": its path
// as nginx writes it ("= /health", "~ ^/old/(.*)$") and its directives in
// nginx's syntax (return's text may be double-quoted).
type Location struct {
	Path       string
	Directives []Directive
}

// NamedServer is a server that answers every request with Return
// (nginx's arguments), named by Names (server_name's arguments as they
// are, "" for nginx's empty name).
type NamedServer struct {
	Names  []string
	Return string
}

// nginxNames writes server_name's arguments: "" quoted.
func nginxNames(ns []string) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n
		if n == "" {
			out[i] = `""`
		}
	}
	return strings.Join(out, " ")
}

// Server is one server of the upstream group.
type Server struct {
	Behaviors []upstreamsim.Behavior // the bench upstream's script; upstreamsim.Refuse() for a closed port
	Params    string                 // nginx's server parameters: "max_fails=2 fail_timeout=1s", "backup", "weight=2"
	// Unix puts the server on a unix-domain socket in the side's directory
	// ("server unix:DIR/uN.sock"): UnixListen (the bench upstream listens
	// there), UnixMissing (no such file), UnixRefused (a socket file no
	// one listens on). "" is TCP.
	Unix string
}

// Server.Unix values.
const (
	UnixListen  = "listen"
	UnixMissing = "missing"
	UnixRefused = "refused"
)

// Directive is one http-level directive with its value as nginx writes it.
type Directive struct{ Name, Value string }

// Request is one request a scenario sends on a new connection.
type Request struct {
	Method  string   // default GET
	Path    string   // default /x
	Body    int      // request body bytes (a pattern), 0 = none
	Chunked bool     // send the body with Transfer-Encoding: chunked
	Header  []string // extra header lines, "Name: value"
	// Raw is sent byte for byte instead of a generated request.
	Raw string
	// RawAnswers is how many responses the client reads for a Raw request
	// that pipelines several (0 is 1) before it closes; the later ones are
	// compared too, appended to the first's Status, Body and End. Read them
	// all: a close with an answer unread is an RST, which nginx notices or
	// not depending on the moment (its lingering close's shutdown() fails
	// with 107 when the RST came first).
	RawAnswers int
	// Pause is waited before sending: it lets an upstream's idle timer run
	// out, which is what the scenario tests (not a synchronisation).
	Pause time.Duration
	// SlowRead reads nothing of the response until the proxy has logged
	// that it buffered the response to a temporary file (at most 5s), with
	// a 4 KiB receive buffer: a client that does not keep up,
	// deterministically.
	SlowRead bool
	// Abort closes the connection without reading anything once the
	// request has reached an upstream server (its head was read there):
	// AbortFIN closes, AbortRST resets (SO_LINGER 0). What is compared is
	// how the proxy treats a client that went away: its log and the hits.
	Abort string
	// ResetAfter reads the response's head and this many body bytes,
	// then resets the connection (SO_LINGER 0): a client that leaves
	// midway with exactly those bytes (the upstream sends no more before
	// it, SlowBody's pieces).
	ResetAfter int
	// Leave sends nothing: it closes the new connection at once, AbortFIN
	// with a FIN, AbortRST with an RST, then waits (at most 5s) for the
	// proxy to log "while waiting for request" about it. What is compared
	// is how the proxy treats a client that never sent a byte.
	Leave string
}

// Request.Abort values.
const (
	AbortFIN = "fin"
	AbortRST = "rst"
)

// Aspect names one compared property.
type Aspect string

const (
	AspectStatus Aspect = "status" // status line(s), or HTTP/0.9 / none
	AspectBody   Aspect = "body"   // the body bytes received (error-page footer normalised)
	AspectEnd    Aspect = "end"    // how the response ended: complete, EOF, reset, timeout
	AspectHits   Aspect = "hits"   // requests each upstream server received, by method and request target
	AspectConns  Aspect = "conns"  // TCP connections each upstream server accepted
	AspectLog    Aspect = "log"    // the normalised error-log lines, as a multiset
	AspectAccess Aspect = "access" // the access-log lines ($status "$request"), as a multiset
	AspectAuth   Aspect = "auth"   // the WWW-Authenticate header
	AspectHeader Aspect = "header" // the response headers a scenario names (Scenario.Headers)
	// AspectHeaders: Content-Type, ETag, Last-Modified, Accept-Ranges,
	// Content-Range and Location (its port dropped); only for scenarios
	// with Locations (the body aspect covers the length).
	AspectHeaders Aspect = "headers"
)

// Difference is an expected difference between nginx and spillway.
type Difference struct {
	Aspects []Aspect // exactly the aspects that differ
	Reason  string   // why; docs/differential.md lists it
	// Bug marks a difference that is not deliberate: an open spillway bug
	// (or fasthttp limitation) recorded so the table stays honest.
	Bug bool
}

func (s *Scenario) directive(name string) (string, bool) {
	for _, d := range s.Directives {
		if d.Name == name {
			return d.Value, true
		}
	}
	return "", false
}

// baseDirectives are set in every scenario unless it sets them itself:
// short upstream timeouts (nginx-reference.md was measured with these).
var baseDirectives = []Directive{
	{"proxy_connect_timeout", "1s"},
	{"proxy_read_timeout", "1s"},
	{"proxy_send_timeout", "1s"},
}

func (s *Scenario) allDirectives() []Directive {
	var out []Directive
	for _, d := range baseDirectives {
		if _, ok := s.directive(d.Name); !ok {
			out = append(out, d)
		}
	}
	return append(out, s.Directives...)
}

// NginxConf is nginx's configuration for s: one master and one worker
// (listening on an inherited socket at listen), everything under dir, the
// error log at info in dir/error.log. addrs are the upstream servers'
// addresses, in order.
func NginxConf(s *Scenario, dir, listen string, addrs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes 1;
%[2]serror_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
    log_format difftest '%[3]s';
    access_log %[1]s/access.log difftest;
    client_body_temp_path %[1]s/client;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
`, dir, userLine(), s.accessFormat())
	for _, d := range s.allDirectives() {
		end := ";"
		if d.Name == "map" || d.Name == "charset_map" { // its value holds the block: `$uri $m { /a 1; volatile; }`
			end = ""
		}
		fmt.Fprintf(&b, "    %s %s%s\n", d.Name, strings.ReplaceAll(d.Value, "{DIR}", dir), end)
	}
	b.WriteString("    upstream app {\n")
	for i, sv := range s.Servers {
		fmt.Fprintf(&b, "        server %s", addrs[i])
		if sv.Params != "" {
			b.WriteString(" " + sv.Params)
		}
		b.WriteString(";\n")
	}
	if s.Keepalive > 0 {
		fmt.Fprintf(&b, "        keepalive %d;\n", s.Keepalive)
	}
	if s.Balance != "" {
		fmt.Fprintf(&b, "        %s;\n", s.Balance)
	}
	b.WriteString("    }\n")
	if s.ServerReturn != "" || s.ServerRewrite != "" {
		fmt.Fprintf(&b, "    server {\n        listen %s;\n        server_name redirect.test;\n", listen)
		if s.ServerRewrite != "" {
			fmt.Fprintf(&b, "        rewrite %s;\n", s.ServerRewrite)
		}
		if s.ServerReturn != "" {
			fmt.Fprintf(&b, "        return %s;\n", s.ServerReturn)
		}
		b.WriteString("    }\n")
	}
	fmt.Fprintf(&b, `    server {
        listen %s%s;
        server_name localhost;
%s%s        location / {
            proxy_pass http://app%s;
        }
    }
`, listen, listenParams(s), nginxDirectives(s.ServerDirectives, dir, "        "), nginxLocations(s, dir), s.ProxyPassURI)
	for _, ns := range s.NamedServers {
		fmt.Fprintf(&b, "    server {\n        listen %s;\n        server_name %s;\n        return %s;\n    }\n", listen, nginxNames(ns.Names), ns.Return)
	}
	b.WriteString("}\n")
	return b.String()
}

// accessFormat is both sides' access-log format: what is compared of each
// line (AspectAccess). Every request a proxy answered or gave up on has one,
// those its parser refused included: log-based tools (fail2ban) count them.
const accessFormat = `$status "$request"`

// userLine keeps nginx's worker as root when the test runs as root (the
// default user, nobody, could not write the temp directories under the
// test's 0700 temp dir); otherwise the directive would only be ignored with
// a warning.
func userLine() string {
	if os.Geteuid() == 0 {
		return "user root;\n"
	}
	return ""
}

// SpillwayYAML is spillway's proxy.yaml for s: the same directives under
// http, the same upstream group, a server on 127.0.0.1:0, the error log at
// info in dir/error.log.
func SpillwayYAML(s *Scenario, dir string, addrs []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "error_log: {path: %s/error.log, level: info}\nhttp:\n", dir)
	fmt.Fprintf(&b, "  proxy_temp_path: %s/proxy\n  client_body_temp_path: %s/client\n", dir, dir)
	if usesUwsgi(s) {
		fmt.Fprintf(&b, "  uwsgi_temp_path: %s/uwsgi\n", dir) // as nginx.conf's
	}
	// nginx's rule for request bodies (a temp file past
	// client_body_buffer_size), whose warn line the scenarios compare;
	// spillway's default keeps them in memory (README, differences).
	b.WriteString("  client_body_memory_max: 0\n")
	var headers, access, addHeaders, sets, mapBlocks, charsetMaps []string
	lists := map[string][]string{}
	for _, d := range s.allDirectives() {
		d.Value = strings.ReplaceAll(d.Value, "{DIR}", dir)
		if d.Name == "auth_request_set" { // one list in proxy.yaml
			sets = append(sets, yamlString(d.Value))
			continue
		}
		if d.Name == "allow" || d.Name == "deny" { // one ordered list in proxy.yaml
			access = append(access, yamlString(d.Name+" "+d.Value))
			continue
		}
		if d.Name == "add_header" { // one list in proxy.yaml
			addHeaders = append(addHeaders, yamlString(unquoteAll(d.Value)))
			continue
		}
		if listDirectives[d.Name] { // one list in proxy.yaml
			lists[d.Name] = append(lists[d.Name], strconv.Quote(unquoteAll(d.Value)))
			continue
		}
		if d.Name == "proxy_set_header" {
			name, val, _ := strings.Cut(d.Value, " ")
			headers = append(headers, fmt.Sprintf("%s: %s", name, yamlString(unquote(val))))
			continue
		}
		if d.Name == "map" {
			mapBlocks = append(mapBlocks, yamlMap(d.Value))
			continue
		}
		if d.Name == "charset_map" {
			charsetMaps = append(charsetMaps, yamlCharsetMap(d.Value))
			continue
		}
		fmt.Fprintf(&b, "  %s: %s\n", d.Name, yamlString(unquote(d.Value)))
	}
	if len(headers) > 0 {
		b.WriteString("  proxy_set_header: {" + strings.Join(headers, ", ") + "}\n")
	}
	if len(access) > 0 {
		b.WriteString("  access: [" + strings.Join(access, ", ") + "]\n")
	}
	if len(addHeaders) > 0 {
		b.WriteString("  add_header: [" + strings.Join(addHeaders, ", ") + "]\n")
	}
	for _, name := range slices.Sorted(maps.Keys(lists)) {
		b.WriteString("  " + name + ": [" + strings.Join(lists[name], ", ") + "]\n")
	}
	if len(sets) > 0 {
		b.WriteString("  auth_request_set: [" + strings.Join(sets, ", ") + "]\n")
	}
	if len(mapBlocks) > 0 {
		b.WriteString("  map: [" + strings.Join(mapBlocks, ", ") + "]\n")
	}
	if len(charsetMaps) > 0 {
		b.WriteString("  charset_map: [" + strings.Join(charsetMaps, ", ") + "]\n")
	}
	b.WriteString("  upstreams:\n    app:\n")
	if s.Keepalive > 0 {
		fmt.Fprintf(&b, "      keepalive: %d\n", s.Keepalive)
	}
	if s.Balance != "" {
		name, args, _ := strings.Cut(s.Balance, " ")
		if args == "" {
			args = "on" // ip_hash, random
		}
		fmt.Fprintf(&b, "      %s: %s\n", name, yamlString(args))
	}
	for _, l := range s.SpillwayUpstream {
		fmt.Fprintf(&b, "      %s\n", l)
	}
	b.WriteString("      servers:\n")
	for i, sv := range s.Servers {
		fmt.Fprintf(&b, "        - address: %s\n", addrs[i])
		for _, p := range strings.Fields(sv.Params) {
			k, v, hasValue := strings.Cut(p, "=")
			switch {
			case !hasValue && (k == "backup" || k == "down"):
				fmt.Fprintf(&b, "          %s: true\n", k)
			case hasValue && (k == "max_fails" || k == "fail_timeout" || k == "weight"):
				fmt.Fprintf(&b, "          %s: %s\n", k, yamlString(v))
			default:
				return "", fmt.Errorf("scenario %s: server parameter %q has no proxy.yaml form", s.Name, p)
			}
		}
	}
	b.WriteString(`  servers:
    - listen: ["` + listenHost + `:0` + listenParams(s) + `"]
      server_name: [localhost]
      access_log: {path: ` + dir + `/access.log, format: '` + s.accessFormat() + `'}
` + yamlServerScript(s, dir) + `      locations:
` + yamlLocations(s, dir) + `        - path: /
          proxy_pass: http://app` + s.ProxyPassURI + `
`)
	if s.ServerReturn != "" || s.ServerRewrite != "" {
		b.WriteString(`    - listen: ["` + listenHost + `:0"]
      server_name: [redirect.test]
      access_log: {path: ` + dir + `/access.log, format: '` + s.accessFormat() + `'}
`)
		if s.ServerRewrite != "" {
			b.WriteString("      rewrite: " + strconv.Quote(s.ServerRewrite) + "\n")
		}
		if s.ServerReturn != "" {
			b.WriteString("      return: " + yamlString(returnYAML(s.ServerReturn)) + "\n")
		}
	}
	for _, ns := range s.NamedServers {
		names := make([]string, len(ns.Names))
		for i, n := range ns.Names {
			names[i] = strconv.Quote(n)
		}
		b.WriteString(`    - listen: ["` + listenHost + `:0"]
      server_name: [` + strings.Join(names, ", ") + `]
      access_log: {path: ` + dir + `/access.log, format: '` + s.accessFormat() + `'}
      return: ` + yamlString(returnYAML(ns.Return)) + "\n")
	}
	return b.String(), nil
}

func nginxLocations(s *Scenario, dir string) string {
	return nginxLocationList(s, s.Locations, dir, "        ")
}

// nginxLocationList writes locs at indent, each with its Nested ones.
func nginxLocationList(s *Scenario, locs []Location, dir, indent string) string {
	var b strings.Builder
	for _, l := range locs {
		fmt.Fprintf(&b, "%slocation %s {\n", indent, l.Path)
		b.WriteString(nginxDirectives(l.Directives, dir, indent+"    "))
		b.WriteString(nginxLocationList(s, s.Nested[l.Path], dir, indent+"    "))
		b.WriteString(indent + "}\n")
	}
	return b.String()
}

// nginxDirectives writes directives one a line; an if's value holds its
// condition and block: `($a = b) { return 403; }`, a limit_except's its
// methods and block: `GET { deny all; }`.
func nginxDirectives(ds []Directive, dir, indent string) string {
	var b strings.Builder
	for _, d := range ds {
		end := ";"
		if d.Name == "if" || d.Name == "limit_except" {
			end = ""
		}
		fmt.Fprintf(&b, "%s%s %s%s\n", indent, d.Name, strings.ReplaceAll(d.Value, "{DIR}", dir), end)
	}
	return b.String()
}

// scripted reports whether directives use set, if or break: the rewrite
// module's directives then go to proxy.yaml's rewrite list in order,
// return included (yamlScript).
func scripted(ds []Directive) bool {
	for _, d := range ds {
		if d.Name == "set" || d.Name == "if" || d.Name == "break" {
			return true
		}
	}
	return false
}

// yamlServerScript is the server's rewrite list for ServerDirectives.
func yamlServerScript(s *Scenario, dir string) string {
	if len(s.ServerDirectives) == 0 {
		return ""
	}
	items, _ := yamlScript(s.ServerDirectives, dir)
	return "      rewrite: [" + strings.Join(items, ", ") + "]\n"
}

// yamlScript translates the rewrite module's directives into proxy.yaml's
// rewrite list entries, in order; other directives (inside an if: its
// location keys) come back as "key: value" pairs.
func yamlScript(ds []Directive, dir string) (items, keys []string) {
	var addHeaders []string
	for _, d := range ds {
		v := strings.ReplaceAll(d.Value, "{DIR}", dir)
		switch d.Name {
		case "rewrite":
			items = append(items, strconv.Quote(v))
		case "set":
			items = append(items, "{set: "+strconv.Quote(v)+"}")
		case "break":
			items = append(items, "{break: true}")
		case "return":
			items = append(items, "{return: "+strconv.Quote(returnYAML(v))+"}")
		case "if":
			end := strings.Index(v, ") {")
			cond, block := v[1:end], strings.TrimSpace(v[end+3:])
			block = strings.TrimSuffix(block, "}")
			var body []Directive
			for _, st := range splitStatements(block) {
				name, val, _ := strings.Cut(st, " ")
				body = append(body, Directive{name, val})
			}
			sub, subKeys := yamlScript(body, dir)
			item := "{if: " + strconv.Quote(cond)
			if len(sub) > 0 {
				item += ", rewrite: [" + strings.Join(sub, ", ") + "]"
			}
			for _, k := range subKeys {
				item += ", " + k
			}
			items = append(items, item+"}")
		case "add_header":
			addHeaders = append(addHeaders, strconv.Quote(unquoteAll(v)))
		case "internal":
			keys = append(keys, d.Name+": true")
		default:
			keys = append(keys, d.Name+": "+strconv.Quote(unquote(v)))
		}
	}
	if len(addHeaders) > 0 {
		keys = append(keys, "add_header: ["+strings.Join(addHeaders, ", ")+"]")
	}
	return items, keys
}

// yamlMap translates a map's value (`$uri $m { default x; volatile; /a 1; }`)
// into proxy.yaml's map entry.
func yamlMap(v string) string {
	head, block, _ := strings.Cut(v, "{")
	keys := []string{"map: " + strconv.Quote(strings.TrimSpace(head))}
	var values []string
	for _, st := range splitStatements(strings.TrimSuffix(strings.TrimSpace(block), "}")) {
		k, val, _ := strings.Cut(st, " ")
		switch k {
		case "volatile", "hostnames":
			keys = append(keys, k+": on")
		case "default":
			keys = append(keys, "default: "+strconv.Quote(unquote(strings.TrimSpace(val))))
		default:
			values = append(values, "["+strconv.Quote(k)+", "+strconv.Quote(unquote(strings.TrimSpace(val)))+"]")
		}
	}
	if len(values) > 0 {
		keys = append(keys, "values: ["+strings.Join(values, ", ")+"]")
	}
	return "{" + strings.Join(keys, ", ") + "}"
}

// yamlCharsetMap translates a charset_map's value (`koi8-r utf-8 { C1
// D0B0; }`) into proxy.yaml's charset_map entry.
func yamlCharsetMap(v string) string {
	head, block, _ := strings.Cut(v, "{")
	var values []string
	for _, st := range splitStatements(strings.TrimSuffix(strings.TrimSpace(block), "}")) {
		values = append(values, strconv.Quote(strings.Join(strings.Fields(st), " ")))
	}
	return "{charset_map: " + strconv.Quote(strings.TrimSpace(head)) + ", values: [" + strings.Join(values, ", ") + "]}"
}

// yamlLimitExcept translates a limit_except's value (`GET POST { deny
// all; }`) into proxy.yaml's mapping: methods, access, the other keys.
func yamlLimitExcept(v, dir string) string {
	methods, block, _ := strings.Cut(strings.ReplaceAll(v, "{DIR}", dir), "{")
	keys := []string{"methods: " + strconv.Quote(strings.TrimSpace(methods))}
	var access []string
	for _, st := range splitStatements(strings.TrimSuffix(strings.TrimSpace(block), "}")) {
		name, val, _ := strings.Cut(st, " ")
		if name == "allow" || name == "deny" {
			access = append(access, strconv.Quote(st))
			continue
		}
		keys = append(keys, name+": "+strconv.Quote(unquote(val)))
	}
	if len(access) > 0 {
		keys = append(keys, "access: ["+strings.Join(access, ", ")+"]")
	}
	return "{" + strings.Join(keys, ", ") + "}"
}

// splitStatements splits a block's text at the semicolons outside quotes.
func splitStatements(block string) []string {
	var out []string
	quote, start := byte(0), 0
	for i := 0; i < len(block); i++ {
		switch c := block[i]; {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ';':
			if st := strings.TrimSpace(block[start:i]); st != "" {
				out = append(out, st)
			}
			start = i + 1
		}
	}
	return out
}

// listenParams is " " and the scenario's listen parameters, or "".
func listenParams(s *Scenario) string {
	if s.ListenParams == "" {
		return ""
	}
	return " " + s.ListenParams
}

// listDirectives are the directives nginx repeats that proxy.yaml takes
// as one list of their arguments.
var listDirectives = map[string]bool{"proxy_redirect": true, "proxy_cookie_domain": true, "proxy_cookie_path": true, "proxy_cookie_flags": true,
	"proxy_hide_header": true, "proxy_pass_header": true, "fastcgi_hide_header": true, "fastcgi_pass_header": true,
	"set_real_ip_from": true, "add_trailer": true, "error_page": true}

// yamlLocations writes Locations as proxy.yaml entries: a directive with
// several words is a string (index, try_files take "a b c"); allow and
// deny make one ordered access list, rewrites one list, proxy_set_header
// one mapping, auth_request_set one list, a directive without a value
// (internal) is "on", and return's text is read as nginx reads it.
func yamlLocations(s *Scenario, dir string) string {
	return yamlLocationList(s, s.Locations, dir)
}

// yamlLocationList writes locs as yamlLocations does, each with its
// Nested ones as its locations key.
func yamlLocationList(s *Scenario, locs []Location, dir string) string {
	var b strings.Builder
	for _, l := range locs {
		fmt.Fprintf(&b, "        - path: %s\n", strconv.Quote(l.Path))
		if nested := s.Nested[l.Path]; len(nested) > 0 {
			b.WriteString("          locations:\n")
			for _, line := range strings.SplitAfter(yamlLocationList(s, nested, dir), "\n") {
				if line != "" {
					b.WriteString("    " + line)
				}
			}
		}
		if scripted(l.Directives) {
			items, keys := yamlScript(l.Directives, dir)
			for _, k := range keys {
				b.WriteString("          " + k + "\n")
			}
			b.WriteString("          rewrite: [" + strings.Join(items, ", ") + "]\n")
			continue
		}
		var access, rewrites, trailers, addHeaders, headers, sets, params, errorPages []string
		for _, d := range l.Directives {
			switch d.Name {
			case "uwsgi_param": // one list in proxy.yaml
				params = append(params, strconv.Quote(d.Value))
				continue
			case "error_page": // one list in proxy.yaml
				errorPages = append(errorPages, strconv.Quote(d.Value))
				continue
			case "proxy_set_header":
				name, val, _ := strings.Cut(d.Value, " ")
				headers = append(headers, fmt.Sprintf("%s: %s", name, strconv.Quote(unquote(val))))
				continue
			case "auth_request_set":
				sets = append(sets, strconv.Quote(d.Value))
				continue
			case "allow", "deny": // one ordered list in proxy.yaml
				access = append(access, strconv.Quote(d.Name+" "+d.Value))
				continue
			case "add_trailer": // one list in proxy.yaml
				trailers = append(trailers, strconv.Quote(unquoteAll(d.Value)))
				continue
			case "add_header": // one list in proxy.yaml
				addHeaders = append(addHeaders, strconv.Quote(unquoteAll(d.Value)))
				continue
			case "rewrite": // one list in proxy.yaml
				rewrites = append(rewrites, strconv.Quote(d.Value))
				continue
			case "access_log": // "path difftest [if=...]" or "off"
				b.WriteString("          access_log: " + yamlAccessLog(s, strings.ReplaceAll(d.Value, "{DIR}", dir)) + "\n")
				continue
			case "limit_except":
				b.WriteString("          limit_except: " + yamlLimitExcept(d.Value, dir) + "\n")
				continue
			}
			v := strings.ReplaceAll(d.Value, "{DIR}", dir)
			if d.Name == "return" {
				v = returnYAML(v)
			}
			if v == "" {
				v = "on"
			}
			fmt.Fprintf(&b, "          %s: %s\n", d.Name, strconv.Quote(v))
		}
		if len(access) > 0 {
			b.WriteString("          access: [" + strings.Join(access, ", ") + "]\n")
		}
		if len(rewrites) > 0 {
			fmt.Fprintf(&b, "          rewrite: [%s]\n", strings.Join(rewrites, ", "))
		}
		if len(trailers) > 0 {
			fmt.Fprintf(&b, "          add_trailer: [%s]\n", strings.Join(trailers, ", "))
		}
		if len(addHeaders) > 0 {
			fmt.Fprintf(&b, "          add_header: [%s]\n", strings.Join(addHeaders, ", "))
		}
		if len(headers) > 0 {
			b.WriteString("          proxy_set_header: {" + strings.Join(headers, ", ") + "}\n")
		}
		if len(sets) > 0 {
			b.WriteString("          auth_request_set: [" + strings.Join(sets, ", ") + "]\n")
		}
		if len(params) > 0 {
			b.WriteString("          uwsgi_param: [" + strings.Join(params, ", ") + "]\n")
		}
		if len(errorPages) > 0 {
			b.WriteString("          error_page: [" + strings.Join(errorPages, ", ") + "]\n")
		}
	}
	return b.String()
}

// returnYAML is return's proxy.yaml string for nginx's arguments: the
// text's double quotes removed and its escapes read as nginx reads them.
func returnYAML(v string) string {
	code, text, ok := strings.Cut(v, " ")
	if !ok {
		return v
	}
	if u := unquote(text); u != text {
		text = strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`).Replace(u)
	}
	return code + " " + text
}

// unquote removes nginx's double quotes around a value.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// unquoteAll removes nginx's double quotes around each word of v.
func unquoteAll(v string) string {
	f := strings.Fields(v)
	for i := range f {
		f[i] = unquote(f[i])
	}
	return strings.Join(f, " ")
}

// yamlString is v as a YAML scalar: plain when it is one token (so 2 stays
// a number and 4k a size), double-quoted otherwise.
func yamlString(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") == "" {
		return v
	}
	return strconv.Quote(v)
}

// usesUwsgi reports whether a location of s has uwsgi_pass.
func usesUwsgi(s *Scenario) bool {
	for _, l := range s.Locations {
		for _, d := range l.Directives {
			if d.Name == "uwsgi_pass" {
				return true
			}
		}
	}
	return false
}

// yamlAccessLog is proxy.yaml's form of a location's access_log written as
// nginx's "path difftest [if=...]" (the scenario's own format) or "off".
func yamlAccessLog(s *Scenario, v string) string {
	f := strings.Fields(v)
	if len(f) == 1 && f[0] == "off" {
		return "off"
	}
	out := "{path: " + yamlString(f[0]) + ", format: '" + s.accessFormat() + "'"
	for _, p := range f[min(2, len(f)):] {
		if c, ok := strings.CutPrefix(p, "if="); ok {
			out += ", if: " + yamlString(c)
		}
	}
	return out + "}"
}
