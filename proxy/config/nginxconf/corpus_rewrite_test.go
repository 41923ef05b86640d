package nginxconf_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The corpus (testdata/nginx-corpus) holds real nginx configurations as
// their projects wrote them. They name ports 80 and 443, hosts like
// "localhost:3000" or "lemmy:8536", unix sockets under /run, certificates
// under /etc/letsencrypt and roots under /var/www. corpusRewrite makes one
// of them runnable here, mechanically and the same way for every file:
//
//   - main context: user, pid, daemon, master_process, worker_processes,
//     load_module, lock_file and error_log are replaced by the test's own
//     (one master, one worker, everything under the run's directory, the
//     error log at info); an events block is added when there is none.
//   - a file without an http block (a sites-available file, a conf.d file)
//     is put inside one, after `include mime.types;` and `default_type
//     application/octet-stream;`, as Debian's nginx.conf includes it.
//   - http: client_body_temp_path, proxy_temp_path and fastcgi_temp_path
//     go under the run's directory unless the file sets them (uwsgi's and
//     scgi's stay nginx's default: no corpus file uses them), and so does
//     the access log (nginx's default, spillway's is relative to its
//     working directory) unless http sets one.
//   - listen: every port becomes a free port on listenHost (the same
//     original port, the same new port, in every server); the address part
//     is dropped, IPv6 listens ([::]:80) are dropped (one loopback address
//     serves them all), as is a second listen of the same port in one
//     server and the ipv6only parameter; a server without listen gets
//     nginx's default, port 80.
//   - upstream servers and the addresses of proxy_pass, fastcgi_pass,
//     uwsgi_pass, scgi_pass and grpc_pass (those not naming an upstream
//     block and without variables) become local origins: TCP addresses a
//     spillway test origin (upstreamsim.Upstream), unix: sockets a socket under
//     the run's directory; FastCGI ones a FastCGI origin; those of uwsgi,
//     SCGI and gRPC a refused port or a missing socket (no origin here
//     speaks them: nginx answers 502 at once instead of waiting).
//   - certificates: ssl_certificate, ssl_certificate_key,
//     ssl_trusted_certificate and ssl_client_certificate name the test's
//     self-signed certificate and key; a server listening with ssl that
//     has no certificate of its own, from http or from an included snippet
//     gets them too (mastodon's file says "uncomment once you acquire a
//     certificate"); ssl_dhparam names etc-nginx/dhparam.pem (generated
//     once with openssl dhparam -dsaparam 2048); ssl_stapling_file is
//     dropped (no OCSP response to point it at).
//   - file paths (root, alias, logs, cache paths, auth_basic_user_file,
//     include): absolute paths are re-rooted under the run's fs/
//     directory, except /etc/nginx/..., which becomes the conf directory
//     holding Debian's stock files (testdata/nginx-corpus/etc-nginx), and
//     /dev/...; certbot's options-ssl-nginx.conf, wherever a file includes
//     it from, is the copy in etc-nginx; roots and log directories are
//     created, each root with a file corpus-probe.txt and an index.php (so
//     that a PHP site's "/" reaches its FastCGI origin, as on a real site).
//
// Comments are dropped; everything else is written back as it was read.

// cnode is one directive as written: its words with quotes kept, and its
// block.
type cnode struct {
	words   []string
	isBlock bool
	block   []*cnode
}

func (n *cnode) name() string { return n.words[0] }

// arg is argument i without its quotes and escapes.
func (n *cnode) arg(i int) string {
	if i+1 >= len(n.words) {
		return ""
	}
	return unquote(n.words[i+1])
}

func unquote(w string) string {
	if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] {
		w = w[1 : len(w)-1]
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '\\' && i+1 < len(w) && (w[i+1] == '"' || w[i+1] == '\'' || w[i+1] == '\\') {
			i++
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

// quote writes s as one word nginx reads back as s.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n;{}\"'#\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// parseCorpus reads nginx's syntax into cnodes, keeping each word as
// written (quotes and escapes included).
func parseCorpus(data string) ([]*cnode, error) {
	pos, line := 0, 1
	word := func() (string, bool, error) {
		for pos < len(data) {
			c := data[pos]
			switch {
			case c == '\n':
				line++
				pos++
			case c == ' ' || c == '\t' || c == '\r':
				pos++
			case c == '#':
				for pos < len(data) && data[pos] != '\n' {
					pos++
				}
			default:
				goto start
			}
		}
		return "", false, nil
	start:
		c := data[pos]
		if c == ';' || c == '{' || c == '}' {
			pos++
			return string(c), true, nil
		}
		from := pos
		if c == '"' || c == '\'' {
			pos++
			for pos < len(data) && data[pos] != c {
				if data[pos] == '\\' {
					pos++
				}
				if pos < len(data) && data[pos] == '\n' {
					line++
				}
				pos++
			}
			if pos >= len(data) {
				return "", false, fmt.Errorf("line %d: unterminated quote", line)
			}
			pos++
			return data[from:pos], true, nil
		}
		for pos < len(data) {
			c := data[pos]
			if c == '\\' {
				pos += 2
				continue
			}
			if c == '{' && pos > from && data[pos-1] == '$' { // ${var}
				for pos < len(data) && data[pos] != '}' {
					pos++
				}
				pos++
				continue
			}
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' || c == '}' {
				break
			}
			pos++
		}
		return data[from:min(pos, len(data))], true, nil
	}
	var block func(depth int) ([]*cnode, error)
	block = func(depth int) ([]*cnode, error) {
		var out []*cnode
		var cur []string
		for {
			w, ok, err := word()
			if err != nil {
				return nil, err
			}
			if !ok {
				if depth > 0 || len(cur) > 0 {
					return nil, fmt.Errorf("line %d: unexpected end of file", line)
				}
				return out, nil
			}
			switch w {
			case ";":
				if len(cur) == 0 {
					return nil, fmt.Errorf("line %d: unexpected \";\"", line)
				}
				out = append(out, &cnode{words: cur})
				cur = nil
			case "{":
				if len(cur) == 0 {
					return nil, fmt.Errorf("line %d: unexpected \"{\"", line)
				}
				n := &cnode{words: cur, isBlock: true}
				cur = nil
				if n.block, err = block(depth + 1); err != nil {
					return nil, err
				}
				out = append(out, n)
			case "}":
				if depth == 0 || len(cur) > 0 {
					return nil, fmt.Errorf("line %d: unexpected \"}\"", line)
				}
				return out, nil
			default:
				cur = append(cur, w)
			}
		}
	}
	return block(0)
}

// formatCorpus writes cnodes back in nginx's syntax.
func formatCorpus(ns []*cnode) string {
	var b strings.Builder
	var write func(ns []*cnode, indent string)
	write = func(ns []*cnode, indent string) {
		for _, n := range ns {
			b.WriteString(indent + strings.Join(n.words, " "))
			if !n.isBlock {
				b.WriteString(";\n")
				continue
			}
			b.WriteString(" {\n")
			write(n.block, indent+"    ")
			b.WriteString(indent + "}\n")
		}
	}
	write(ns, "")
	return b.String()
}

func directive(words ...string) *cnode { return &cnode{words: words} }

// corpusListen is one port a rewritten configuration listens on.
type corpusListen struct {
	orig  string   // the port as the file wrote it
	addr  string   // listenHost:port
	ssl   bool     // some listen of it has the ssl parameter
	hosts []string // the first server_name of each server on it, "" for none
	paths []string // prefix and exact locations of those servers, for requests
}

// corpusOrigin is one upstream address of the file and what answers it.
type corpusOrigin struct {
	orig  string // as written: "127.0.0.1:3000", "unix:/run/app.sock"
	local string // what the rewritten file names: "127.0.0.3:N", "unix:DIR/sock/0.sock"
	fcgi  bool   // named by fastcgi_pass (directly or through its upstream)
	mute  bool   // named by uwsgi_pass, scgi_pass or grpc_pass: nothing here speaks those
}

// corpusRun is the rewriting of one corpus file into a run directory.
type corpusRun struct {
	dir      string // the run's directory: conf/, fs/, sock/, logs
	cert     string // test certificate and key
	key      string
	listens  map[string]*corpusListen // by original port
	order    []string                 // original ports in order of appearance
	origins  map[string]*corpusOrigin // by original address
	upstream map[string][]string      // upstream block name → its server addresses
	fcgiUps  map[string]bool          // upstream names used by fastcgi_pass
	muteUps  map[string]bool          // upstream names used by uwsgi_pass, scgi_pass, grpc_pass
	roots    map[string]bool          // re-rooted directories to create
	included map[string]bool          // conf/ files already rewritten
	sockets  int
	// newPort gives a free local port for a listen (the test keeps the
	// socket, to hand it to nginx).
	newPort func() (string, error)
}

// the directives whose arguments are addresses of origins.
var passDirectives = map[string]bool{"proxy_pass": true, "fastcgi_pass": true, "uwsgi_pass": true, "scgi_pass": true, "grpc_pass": true}

// the directives whose first argument is a file or directory path.
var pathDirectives = map[string]bool{
	"root": true, "alias": true, "access_log": true, "error_log": true, "include": true,
	"proxy_cache_path": true, "fastcgi_cache_path": true, "uwsgi_cache_path": true, "scgi_cache_path": true,
	"client_body_temp_path": true, "proxy_temp_path": true, "fastcgi_temp_path": true, "uwsgi_temp_path": true,
	"scgi_temp_path": true, "auth_basic_user_file": true, "ssl_session_ticket_key": true,
}

var certDirectives = map[string]bool{"ssl_certificate": true, "ssl_trusted_certificate": true, "ssl_client_certificate": true}

// survey walks every file of a run (the main one and the stock files it may
// include) before rewriting: upstream blocks, which of them FastCGI uses,
// and every origin address.
func (r *corpusRun) survey(ns []*cnode) {
	for _, n := range ns {
		switch {
		case n.name() == "upstream" && n.isBlock:
			name := n.arg(0)
			for _, s := range n.block {
				if s.name() == "server" && len(s.words) > 1 {
					r.upstream[name] = append(r.upstream[name], s.arg(0))
				}
			}
		case n.name() == "fastcgi_pass" && len(n.words) > 1:
			r.fcgiUps[n.arg(0)] = true
		case (n.name() == "uwsgi_pass" || n.name() == "scgi_pass" || n.name() == "grpc_pass") && len(n.words) > 1:
			r.muteUps[strings.TrimPrefix(n.arg(0), "grpc://")] = true
		}
		if n.isBlock {
			r.survey(n.block)
		}
	}
}

// origin returns the local address for an address the file wrote.
func (r *corpusRun) origin(addr string, fcgi, mute bool) string {
	if o, ok := r.origins[addr]; ok {
		o.fcgi = o.fcgi || fcgi
		o.mute = o.mute || mute
		return o.local
	}
	o := &corpusOrigin{orig: addr, fcgi: fcgi, mute: mute}
	if strings.HasPrefix(addr, "unix:") {
		o.local = "unix:" + filepath.Join(r.dir, "sock", strconv.Itoa(r.sockets)+".sock")
		r.sockets++
	} else {
		// A placeholder until the origin is started: the test writes its
		// address in (corpusRun.text).
		o.local = fmt.Sprintf("@origin%d@", len(r.origins))
	}
	r.origins[addr] = o
	return o.local
}

// passTarget rewrites the address of a *_pass directive: "http://h:p/uri"
// or "h:p" or "unix:/x.sock" (with ":/uri" after the socket for proxy_pass).
func (r *corpusRun) passTarget(name, target string) string {
	if strings.Contains(target, "$") {
		return target
	}
	scheme, rest := "", target
	if i := strings.Index(target, "://"); i >= 0 {
		scheme, rest = target[:i+3], target[i+3:]
	}
	fcgi, mute := name == "fastcgi_pass", name == "uwsgi_pass" || name == "scgi_pass" || name == "grpc_pass"
	if strings.HasPrefix(rest, "unix:") {
		sock, uri := rest, ""
		if i := strings.Index(rest[len("unix:"):], ":"); i >= 0 {
			sock, uri = rest[:len("unix:")+i], rest[len("unix:")+i:]
		}
		return scheme + r.origin(sock, fcgi, mute) + uri
	}
	host, uri := rest, ""
	if i := strings.Index(rest, "/"); i >= 0 {
		host, uri = rest[:i], rest[i:]
	}
	if _, ok := r.upstream[host]; ok {
		return target
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "80"
		if scheme == "https://" {
			port = "443"
		}
		addr = net.JoinHostPort(host, port)
	}
	return scheme + r.origin(addr, fcgi, mute) + uri
}

// path re-roots an absolute file path.
func (r *corpusRun) path(p string) string {
	switch {
	case p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "/dev/"):
		return p
	case strings.HasPrefix(p, "/etc/nginx/"):
		return filepath.Join(r.dir, "conf", strings.TrimPrefix(p, "/etc/nginx/"))
	}
	return filepath.Join(r.dir, "fs", p)
}

// listenPort maps a listen directive's address to the original port
// ("80"), or "" for an address this run drops (IPv6, unix:).
func listenPort(a string) string {
	switch {
	case strings.HasPrefix(a, "unix:"), strings.HasPrefix(a, "["):
		return ""
	case !strings.Contains(a, ":"):
		if _, err := strconv.Atoi(a); err == nil {
			return a
		}
		return "80" // a host name alone
	}
	return a[strings.LastIndex(a, ":")+1:]
}

// rewrite rewrites one context's directives in place; ctx is "main",
// "http", "server", "location", ... and hasCert tells whether an enclosing
// http block sets ssl_certificate.
func (r *corpusRun) rewrite(ns []*cnode, ctx string, hasCert bool) ([]*cnode, error) {
	out := ns[:0]
	for _, n := range ns {
		name := n.name()
		switch {
		case ctx == "main" && (name == "user" || name == "pid" || name == "daemon" || name == "master_process" ||
			name == "worker_processes" || name == "load_module" || name == "lock_file" || name == "error_log"):
			continue
		case name == "ssl_stapling_file":
			continue
		case name == "ssl_dhparam" && len(n.words) == 2:
			n.words[1] = quote(filepath.Join(r.dir, "conf", "dhparam.pem"))
		case certDirectives[name] && len(n.words) == 2:
			n.words[1] = quote(r.cert)
		case name == "ssl_certificate_key" && len(n.words) == 2:
			n.words[1] = quote(r.key)
		case name == "upstream" && n.isBlock:
			fcgi, mute := r.fcgiUps[n.arg(0)], r.muteUps[n.arg(0)]
			for _, s := range n.block {
				if s.name() == "server" && len(s.words) > 1 {
					s.words[1] = quote(r.origin(s.arg(0), fcgi, mute))
				}
			}
			out = append(out, n)
			continue
		case passDirectives[name] && len(n.words) > 1:
			n.words[1] = quote(r.passTarget(name, n.arg(0)))
		case pathDirectives[name] && len(n.words) > 1:
			p := n.arg(0)
			if (name == "access_log" || name == "error_log") && (p == "off" || p == "stderr" || strings.Contains(p, ":")) {
				break
			}
			np := r.path(p)
			if name == "include" && filepath.Base(p) == "options-ssl-nginx.conf" {
				np = filepath.Join(r.dir, "conf", "options-ssl-nginx.conf") // certbot's, wherever it is
			}
			if (name == "root" || name == "alias") && !strings.HasPrefix(p, "/") && !strings.Contains(p, "$") {
				r.roots[filepath.Join(r.dir, p)] = true // relative to nginx's prefix
			}
			if name == "include" {
				if err := r.include(np, ctx, hasCert); err != nil {
					return nil, err
				}
			}
			if np != p {
				n.words[1] = quote(np)
				switch name {
				case "root", "alias":
					if !strings.Contains(np, "$") {
						r.roots[np] = true
					}
				case "access_log", "error_log", "auth_basic_user_file", "ssl_session_ticket_key":
					r.roots[filepath.Dir(np)] = false
				case "include":
				default:
					r.roots[np] = false
				}
			}
		}
		if n.isBlock {
			sub := name
			if sub == "server" && ctx != "http" {
				sub = "upstream-server" // stream or mail; not ours
			}
			var err error
			switch sub {
			case "server":
				err = r.server(n, hasCert)
			case "http":
				n.block, err = r.rewrite(n.block, "http", hasDirective(n.block, "ssl_certificate"))
			default:
				n.block, err = r.rewrite(n.block, sub, hasCert)
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// include rewrites the files of the conf directory (Debian's stock files)
// an include directive names, in the context it is written in.
func (r *corpusRun) include(pattern, ctx string, hasCert bool) error {
	conf := filepath.Join(r.dir, "conf")
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(conf, pattern)
	}
	matches, _ := filepath.Glob(pattern)
	for _, m := range matches {
		if !strings.HasPrefix(m, conf+"/") || r.included[m] || filepath.Base(m) == "mime.types" {
			continue
		}
		r.included[m] = true
		data, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		ns, err := parseCorpus(string(data))
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if ns, err = r.rewrite(ns, ctx, hasCert); err != nil {
			return err
		}
		if err := os.WriteFile(m, []byte(formatCorpus(ns)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func hasDirective(ns []*cnode, name string) bool {
	for _, n := range ns {
		if n.name() == name {
			return true
		}
	}
	return false
}

// server rewrites one server block: its listens, then its directives.
func (r *corpusRun) server(s *cnode, hasCert bool) error {
	seen := map[string]bool{}
	var ports []*corpusListen
	ssl := false
	block := s.block[:0]
	for _, n := range s.block {
		if n.name() != "listen" || len(n.words) < 2 {
			block = append(block, n)
			continue
		}
		port := listenPort(n.arg(0))
		if port == "" || seen[port] {
			continue
		}
		seen[port] = true
		l, err := r.listen(port)
		if err != nil {
			return err
		}
		words := []string{"listen", l.addr}
		for _, p := range n.words[2:] {
			if strings.HasPrefix(p, "ipv6only") {
				continue
			}
			if p == "ssl" {
				l.ssl, ssl = true, true
			}
			words = append(words, p)
		}
		n.words = words
		ports = append(ports, l)
		block = append(block, n)
	}
	if len(ports) == 0 {
		l, err := r.listen("80")
		if err != nil {
			return err
		}
		ports = append(ports, l)
		block = append([]*cnode{directive("listen", l.addr)}, block...)
	}
	if ssl && !hasCert && !hasDirective(block, "ssl_certificate") && !includesCert(block) {
		block = append(block, directive("ssl_certificate", quote(r.cert)), directive("ssl_certificate_key", quote(r.key)))
	}
	s.block = block
	host := ""
	var paths []string
	for _, n := range s.block {
		switch {
		case n.name() == "server_name" && len(n.words) > 1 && host == "":
			host = n.arg(0)
		case n.name() == "location" && n.isBlock:
			if p := locationProbe(n); p != "" {
				paths = append(paths, p)
			}
		}
	}
	for _, l := range ports {
		l.hosts = append(l.hosts, host)
		l.paths = append(l.paths, paths...)
	}
	var err error
	s.block, err = r.rewrite(s.block, "server", hasCert)
	return err
}

// includesCert is whether a server includes a snippet that sets its
// certificate (Debian's snippets/snakeoil.conf, certbot's, ...).
func includesCert(ns []*cnode) bool {
	for _, n := range ns {
		if n.name() == "include" && (strings.Contains(n.arg(0), "ssl") || strings.Contains(n.arg(0), "snakeoil") || strings.Contains(n.arg(0), "cert")) {
			return true
		}
	}
	return false
}

// locationProbe is a request path that lands in a location: its path for
// prefix and exact ones, the literal start of a regex (see regexProbe), ""
// for named ones.
func locationProbe(n *cnode) string {
	args := n.words[1:]
	if len(args) == 2 && (unquote(args[0]) == "~" || unquote(args[0]) == "~*") {
		return regexProbe(unquote(args[1]))
	}
	if len(args) == 2 && (unquote(args[0]) == "=" || unquote(args[0]) == "^~") {
		return unquote(args[1])
	}
	if len(args) != 1 {
		return ""
	}
	p := unquote(args[0])
	if strings.HasPrefix(p, "@") || strings.HasPrefix(p, "~") || strings.HasPrefix(p, "=") || strings.HasPrefix(p, "^~") {
		if strings.HasPrefix(p, "=") && !strings.HasPrefix(p, "=~") {
			return strings.TrimPrefix(p, "=")
		}
		return ""
	}
	return p
}

// regexProbe is the literal start of an anchored regex, taking the first
// alternative of a group: "^/(api|feeds)" → "/api", "^(/_matrix|/x)" →
// "/_matrix"; "" when that is not a path ("\.php$").
func regexProbe(re string) string {
	if !strings.HasPrefix(re, "^") {
		return ""
	}
	var b strings.Builder
	for i := 1; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\' && i+1 < len(re) && strings.IndexByte(".-/_", re[i+1]) >= 0:
			i++
			b.WriteByte(re[i])
		case c == '(':
			j := i + 1
			if strings.HasPrefix(re[j:], "?:") {
				j += 2
			}
			end := strings.IndexAny(re[j:], "|)")
			if end < 0 || strings.ContainsAny(re[j:j+end], "\\.*+?[]{}()$^") {
				i = len(re)
				break
			}
			b.WriteString(re[j : j+end])
			depth := 0
			for i = j; i < len(re); i++ {
				if re[i] == '(' {
					depth++
				}
				if re[i] == ')' {
					if depth == 0 {
						break
					}
					depth--
				}
			}
		case strings.IndexByte("\\.*+?[]{}$|)", c) >= 0:
			i = len(re)
		default:
			b.WriteByte(c)
		}
	}
	p := b.String()
	if len(p) < 2 || p[0] != '/' {
		return ""
	}
	return p
}

func (r *corpusRun) listen(port string) (*corpusListen, error) {
	if l, ok := r.listens[port]; ok {
		return l, nil
	}
	addr, err := r.newPort()
	if err != nil {
		return nil, err
	}
	l := &corpusListen{orig: port, addr: addr}
	r.listens[port] = l
	r.order = append(r.order, port)
	return l, nil
}

// mainContext puts the rewritten directives of the main file into the
// test's main context.
func (r *corpusRun) mainContext(ns []*cnode, asRoot bool) []*cnode {
	head := []*cnode{
		directive("daemon", "off"),
		directive("master_process", "on"),
		directive("worker_processes", "1"),
		directive("pid", quote(filepath.Join(r.dir, "nginx.pid"))),
		directive("error_log", quote(filepath.Join(r.dir, "error.log")), "info"),
	}
	if asRoot {
		// The default user, nobody, could not write the temp directories
		// under the test's 0700 temp dir.
		head = append(head, directive("user", "root"))
	}
	temps := func(http *cnode) {
		for _, t := range []string{"client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path"} {
			if !hasDirective(http.block, t) {
				p := filepath.Join(r.dir, "temp", strings.TrimSuffix(t, "_temp_path"))
				http.block = append([]*cnode{directive(t, quote(p))}, http.block...)
			}
		}
		if !hasDirective(http.block, "access_log") {
			// nginx's default, made explicit in the run's directory:
			// spillway's default is relative to its working directory.
			http.block = append([]*cnode{directive("access_log", quote(filepath.Join(r.dir, "logs", "access.log")))}, http.block...)
		}
	}
	if !hasDirective(ns, "http") {
		http := &cnode{words: []string{"http"}, isBlock: true,
			block: append([]*cnode{directive("include", "mime.types"), directive("default_type", "application/octet-stream")}, ns...)}
		temps(http)
		return append(head, &cnode{words: []string{"events"}, isBlock: true}, http)
	}
	for _, n := range ns {
		if n.name() == "http" && n.isBlock {
			temps(n)
		}
	}
	if !hasDirective(ns, "events") {
		head = append(head, &cnode{words: []string{"events"}, isBlock: true})
	}
	return append(head, ns...)
}

// makeDirs creates the re-rooted directories, each root with its probe
// file.
func (r *corpusRun) makeDirs() error {
	for _, d := range []string{"temp", "sock", "fs", "logs"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return err
		}
	}
	dirs := make([]string, 0, len(r.roots))
	for d := range r.roots {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if r.roots[d] {
			for name, text := range map[string]string{"corpus-probe.txt": "corpus probe file\n", "index.php": "<?php echo 'corpus';\n"} {
				if err := os.WriteFile(filepath.Join(d, name), []byte(text), 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TestCorpusRewrite checks the rewriting rules on a small file; it needs
// no nginx.
func TestCorpusRewrite(t *testing.T) {
	for re, want := range map[string]string{
		`^/(api|pictrs|feeds)`:           "/api",
		`^(/_matrix|/_synapse/client)`:   "/_matrix",
		`\.php$`:                         "",
		`^/static/(thumbnails|avatars)/`: "/static/thumbnails/",
		`^/client/(.*\.(js|css))$`:       "/client/",
		`^/(?:a|b)x`:                     "/ax",
	} {
		if got := regexProbe(re); got != want {
			t.Errorf("regexProbe(%q) = %q, want %q", re, got, want)
		}
	}
	const src = `upstream app { server unix:/run/app.sock fail_timeout=0; server 10.0.0.5:8080; }
server {
    listen 80 default_server; listen [::]:80 default_server; listen 443 ssl http2;
    server_name example.com www.example.com;
    root /var/www/html; # a comment
    access_log /var/log/nginx/a.log combined;
    include /etc/nginx/snippets/none-*.conf;
    location = /x { proxy_pass http://localhost:3000/y; }
    location / { proxy_pass http://app; proxy_set_header Upgrade "$http_upgrade"; }
    location ~ \.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }
}
`
	ns, err := parseCorpus(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := "/D"
	n := 0
	r := &corpusRun{dir: dir, cert: "/C/cert.pem", key: "/C/key.pem", listens: map[string]*corpusListen{}, origins: map[string]*corpusOrigin{},
		upstream: map[string][]string{}, fcgiUps: map[string]bool{}, muteUps: map[string]bool{}, roots: map[string]bool{}, included: map[string]bool{},
		newPort: func() (string, error) { n++; return fmt.Sprintf("127.0.0.3:%d", 1000+n), nil }}
	r.survey(ns)
	if ns, err = r.rewrite(ns, "http", false); err != nil {
		t.Fatal(err)
	}
	got := formatCorpus(ns)
	want := `upstream app {
    server unix:/D/sock/0.sock fail_timeout=0;
    server @origin1@;
}
server {
    listen 127.0.0.3:1001 default_server;
    listen 127.0.0.3:1002 ssl http2;
    server_name example.com www.example.com;
    root /D/fs/var/www/html;
    access_log /D/fs/var/log/nginx/a.log combined;
    include /D/conf/snippets/none-*.conf;
    location = /x {
        proxy_pass http://@origin2@/y;
    }
    location / {
        proxy_pass http://app;
        proxy_set_header Upgrade "$http_upgrade";
    }
    location ~ \.php$ {
        fastcgi_pass unix:/D/sock/1.sock;
    }
    ssl_certificate /C/cert.pem;
    ssl_certificate_key /C/key.pem;
}
`
	if got != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if !r.origins["unix:/run/php/php8.2-fpm.sock"].fcgi || r.origins["unix:/run/app.sock"].fcgi {
		t.Errorf("FastCGI origins: %+v", r.origins)
	}
	if l := r.listens["80"]; l == nil || fmt.Sprint(l.hosts, l.paths) != "[example.com] [/x /]" {
		t.Errorf("listen 80: %+v", l)
	}
}
