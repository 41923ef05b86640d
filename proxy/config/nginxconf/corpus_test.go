package nginxconf_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// TestCorpus measures spillway as a drop-in on real nginx configurations
// (testdata/nginx-corpus, see its SOURCES.md): for each file, does convert
// take it with nothing unsupported, does the result pass check, and does
// spillway serving it answer like nginx serving the same file, in front of
// the same local origins? The counts must equal corpusFloor: a regression
// fails, and so does an improvement until the floor is raised with it.
// CORPUS_UPDATE=1 rewrites docs/drop-in.md (the table and the tally of
// what blocks conversion) and the counts in the README, which the test
// otherwise checks are in sync.
//
// It lives here, next to the converter, because convert is the first gate
// of every file and behave_test.go already serves converted files in front
// of bench origins; proxy/internal/difftest compares generated scenarios, not files.
func TestCorpus(t *testing.T) {
	bin := corpusNginx(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", corpusDir, err)
	}
	certs := t.TempDir()
	cert, key := writeTestCert(t, certs)

	results := make([]*corpusResult, len(files))
	t.Run("files", func(t *testing.T) {
		for i, f := range files {
			i, f := i, f
			t.Run(strings.TrimSuffix(filepath.Base(f), ".conf"), func(t *testing.T) {
				t.Parallel()
				results[i] = runCorpusFile(t, bin, f, cert, key)
			})
		}
	})
	for _, r := range results {
		if r == nil {
			t.Fatal("a corpus file did not run")
		}
	}

	c := countCorpus(results)
	doc := corpusDoc(results, c)
	t.Logf("\n%s", corpusTable(results, true))
	t.Logf("%d of %d convert; %d pass check; %d answer like nginx", c.convert, c.files, c.check, c.like)

	const docPath = "../../../docs/drop-in.md"
	if os.Getenv("CORPUS_UPDATE") == "1" {
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != doc {
		t.Errorf("%s is out of date with the corpus results: run CORPUS_UPDATE=1 go test -run TestCorpus ./proxy/config/nginxconf/", docPath)
	}

	// The README states the counts (its "On real sites" paragraph).
	const readmePath = "../../../README.md"
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	counts := fmt.Sprintf("`%d of %d convert; %d pass check; %d answer like nginx`", c.convert, c.files, c.check, c.like)
	if os.Getenv("CORPUS_UPDATE") == "1" {
		readme = reReadmeCounts.ReplaceAll(readme, []byte(counts))
		if err := os.WriteFile(readmePath, readme, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(readme, []byte(counts)) {
		t.Errorf("README.md does not say %s: run CORPUS_UPDATE=1 go test -run TestCorpus ./proxy/config/nginxconf/", counts)
	}

	if c != corpusFloor {
		t.Errorf("corpus counts %+v, recorded %+v: a drop is a regression; after an improvement raise corpusFloor (and rerun with CORPUS_UPDATE=1)", c, corpusFloor)
	}
}

var reReadmeCounts = regexp.MustCompile("`[0-9]+ of [0-9]+ convert; [0-9]+ pass check; [0-9]+ answer like nginx`")

// corpusFloor is the last recorded result of TestCorpus.
var corpusFloor = corpusCounts{files: 40, convert: 32, check: 32, like: 32}

type corpusCounts struct {
	files   int // corpus files
	convert int // convert with nothing unsupported
	check   int // of those, pass check
	like    int // of those, answer every request like nginx
}

const (
	corpusDir = "../../../testdata/nginx-corpus"
	// corpusHost is where the proxies and origins of the corpus listen
	// (see difftest's listenHost for why not 127.0.0.1).
	corpusHost = "127.0.0.3"
)

// corpusResult is one file's row.
type corpusResult struct {
	name        string
	convert     string   // "ok", "N unsupported: first", "refused: why"
	convertOK   bool     // converts with nothing unsupported
	blockers    []string // what did not convert (for the tally)
	check       string   // "ok", "fails: why", "-" when there was nothing to check
	checkOK     bool
	nginx       string // "ok" or "refuses: why" (the rewritten file in real nginx)
	like, total int    // requests answered like nginx, of total
	diffs       []string
}

func corpusNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("DIFFTEST_NGINX"), "nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if p == "" {
			continue
		}
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx is not installed (apt-get install -y nginx-light) and SPILLWAY_REQUIRE_NGINX=1")
	}
	t.Skip("nginx is not installed (apt-get install -y nginx-light); set SPILLWAY_REQUIRE_NGINX=1 to make this a failure")
	return ""
}

// runCorpusFile rewrites one file into a run directory, then runs it
// through convert, check, real nginx and spillway.
func runCorpusFile(t *testing.T, bin, file, cert, key string) *corpusResult {
	res := &corpusResult{name: strings.TrimSuffix(filepath.Base(file), ".conf"), check: "-", nginx: "-"}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "conf"), os.DirFS(filepath.Join(corpusDir, "etc-nginx"))); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := parseCorpus(string(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var lns []*net.TCPListener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	r := &corpusRun{dir: dir, cert: cert, key: key, listens: map[string]*corpusListen{}, origins: map[string]*corpusOrigin{},
		upstream: map[string][]string{}, fcgiUps: map[string]bool{}, muteUps: map[string]bool{}, roots: map[string]bool{}, included: map[string]bool{},
		newPort: func() (string, error) {
			l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(corpusHost)})
			if err != nil {
				return "", err
			}
			lns = append(lns, l)
			return l.Addr().String(), nil
		}}
	r.survey(ns)
	ctx := "main"
	if !hasDirective(ns, "http") {
		ctx = "http"
	}
	if ns, err = r.rewrite(ns, ctx, false); err != nil {
		t.Fatal(err)
	}
	text := formatCorpus(r.mainContext(ns, os.Geteuid() == 0))
	if err := r.makeDirs(); err != nil {
		t.Fatal(err)
	}
	origins := startCorpusOrigins(t, r)
	for ph, addr := range origins.addrs {
		text = strings.ReplaceAll(text, ph, addr)
	}
	for f := range r.included { // the stock files it includes, rewritten too
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for ph, addr := range origins.addrs {
			b = bytes.ReplaceAll(b, []byte(ph), []byte(addr))
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "conf", "nginx.conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	reqs := corpusRequests(r)
	res.total = len(reqs)

	// convert, as `spillway check -p DIR -c nginx.conf` does
	conv, cerr := nginxconf.ConvertFile(confPath, nginxconf.Options{})
	switch {
	case cerr != nil:
		res.convert = "refused: " + cleanMsg(firstLine(cerr.Error()), dir)
		var refused *nginxconf.RefusedError
		if !errors.As(cerr, &refused) {
			res.blockers = []string{blockerKey(cerr.Error(), true)}
			break
		}
		// fail closed: every refusal is listed, each counts
		seen := map[string]bool{}
		for _, w := range refused.Refused {
			if k := blockerKey(w.Msg, true); !seen[k] {
				seen[k] = true
				res.blockers = append(res.blockers, k)
			}
		}
	case conv.Unsupported() == 0:
		res.convert, res.convertOK = "ok", true
	default:
		seen := map[string]bool{}
		for _, w := range conv.Warnings {
			if w.Kind != nginxconf.Unsupported {
				continue
			}
			if res.convert == "" {
				res.convert = fmt.Sprintf("%d unsupported: %s", conv.Unsupported(), cleanMsg(w.Msg, dir))
			}
			if k := blockerKey(w.Msg, false); !seen[k] {
				seen[k] = true
				res.blockers = append(res.blockers, k)
			}
		}
	}

	// real nginx on the same file
	var ng []corpusResponse
	out, err := exec.Command(bin, "-t", "-q", "-p", dir+"/", "-c", confPath).CombinedOutput()
	if err != nil {
		res.nginx = "refuses: " + cleanMsg(firstLine(string(out)), dir)
	} else {
		ng, err = runCorpusNginx(t, bin, dir, confPath, lns, reqs, origins)
		lns = nil // handed to nginx, and closed
		if err != nil {
			res.nginx = "fails: " + cleanMsg(err.Error(), dir)
		} else {
			res.nginx = "ok"
		}
	}
	for _, l := range lns {
		_ = l.Close()
	}
	lns = nil
	if testing.Verbose() {
		for i, q := range reqs {
			if i < len(ng) {
				t.Logf("nginx: %s → %s %q, origin %v", q, statusText(ng[i]), describeCorpusBody(ng[i].body), ng[i].hits)
			}
		}
	}

	if cerr != nil {
		return res
	}
	// check, as `spillway check -p DIR -c nginx.conf` does: load with
	// nginx's prefix, then build what serve builds (proxy.New)
	var elog testutil.LogBuffer
	var p *proxy.Proxy
	cfg, err := config.LoadBytesPaths(confPath+" (converted)", conv.YAML, config.Paths{Prefix: dir})
	if err == nil {
		err = proxy.Validate(cfg)
	}
	if err == nil {
		p, err = proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(&elog, config.LevelError, errorlog.Options{})})
	}
	if err != nil {
		res.check = "fails: " + cleanMsg(firstLine(err.Error()), dir)
		return res
	}
	res.check, res.checkOK = "ok", res.convertOK
	if res.nginx != "ok" {
		_ = p.Close()
		return res
	}
	sp, err := runCorpusSpillway(p, reqs, origins)
	if err != nil {
		res.diffs = append(res.diffs, "spillway: "+cleanMsg(err.Error(), dir))
		return res
	}
	for i := range reqs {
		if d := compareCorpus(ng[i], sp[i]); d != "" {
			res.diffs = append(res.diffs, reqs[i].String()+": "+cleanMsg(d, dir))
			if testing.Verbose() {
				t.Logf("differs from nginx: %s: %s", reqs[i], d)
			}
			continue
		}
		res.like++
	}
	return res
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// cleanMsg takes the run's directory out of a message.
func cleanMsg(s, dir string) string {
	s = strings.ReplaceAll(s, dir+"/", "")
	s = strings.ReplaceAll(s, dir, "")
	s = strings.TrimPrefix(s, "nginx: ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

var (
	reDirective = regexp.MustCompile(`^unsupported directive "([^"]+)"`)
	reParameter = regexp.MustCompile(`^unsupported parameter "([^"]+)" of "([^"]+)"`)
	reQuoted    = regexp.MustCompile(`"[^"]*"`)
	reFileLine  = regexp.MustCompile(` in [^ ]+:[0-9]+$`)
)

// blockerKeys name the messages whose subject is not the directive they
// start with: the variable a proxy_set_header needs, what a proxy_pass
// holds, what a dropped location or server does instead of proxying.
var blockerKeys = []struct {
	re  *regexp.Regexp
	key string
}{
	{regexp.MustCompile(`^unsupported proxy_set_header "[^"]*" in \w+: spillway has no "(\$[^"]+)" variable`), "proxy_set_header with $1"},
	{regexp.MustCompile(`^unsupported proxy_pass "[^"]*" in \w+: variables are not supported`), "proxy_pass with variables"},
	{regexp.MustCompile(`^unsupported proxy_pass "[^"]*" in \w+: unix sockets are not supported`), "proxy_pass to a unix socket"},
	{regexp.MustCompile(`^unsupported named location`), "named location (@name)"},
	{regexp.MustCompile(`^location ".*" not converted: it neither proxies`), "location that does not proxy (files, return, ...)"},
	{regexp.MustCompile(`^location ".*" not converted: its regex`), "location regex not in RE2"},
	{regexp.MustCompile(`^unsupported directive "location" in location`), "nested location"},
	{regexp.MustCompile(`^server not converted: none of its locations proxies`), "server that does not proxy (files, return, ...)"},
	{regexp.MustCompile(`^server not converted: none of its listen addresses`), "server with no listen spillway serves"},
	{regexp.MustCompile(`^location ".*" cannot be converted: it neither proxies`), "location that does not proxy (files, return, ...)"},
	{regexp.MustCompile(`^server cannot be converted: none of its locations proxies`), "server that does not proxy (files, return, ...)"},
	{regexp.MustCompile(`^named location ".*" cannot be converted`), "named location (@name)"},
	{regexp.MustCompile(`^nested location ".*" in \w+ cannot be converted`), "nested location"},
	{regexp.MustCompile(`^"([^"]+)" directive in \w+ is not enforced by spillway`), "$1 (not enforced: refused)"},
	{regexp.MustCompile(`^no servers are inside upstream`), "[emerg] upstream of unix sockets only (no servers are inside upstream)"},
	{regexp.MustCompile(`^no server block could be converted`), "[emerg] no server block could be converted"},
}

// blockerKey names what a warning or error is about, for the tally:
// `gzip`, `listen ssl`... (the directive, and the parameter), or the
// message with its specifics taken out.
func blockerKey(msg string, emerg bool) string {
	for _, k := range blockerKeys {
		if m := k.re.FindStringSubmatch(msg); m != nil {
			return strings.ReplaceAll(k.key, "$1", m[len(m)-1])
		}
	}
	if m := reDirective.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	if m := reParameter.FindStringSubmatch(msg); m != nil {
		p := m[1]
		if i := strings.IndexByte(p, '='); i >= 0 {
			p = p[:i+1]
		}
		return m[2] + " " + p
	}
	msg = reFileLine.ReplaceAllString(msg, "")
	if i := strings.Index(msg, ": "); i >= 0 && !emerg {
		msg = msg[:i]
	}
	msg = reQuoted.ReplaceAllString(msg, "…")
	if emerg {
		return "[emerg] " + msg
	}
	return msg
}

// corpusRequest is one request of a file's request set.
type corpusRequest struct {
	addr, host, path string
	tls              bool
}

func (q corpusRequest) String() string {
	s := "http"
	if q.tls {
		s = "https"
	}
	return fmt.Sprintf("GET %s://%s%s", s, q.host, q.path)
}

// corpusRequests is a file's request set: on every port it listens on,
// for the first name of its first server, "/", a path under no location
// ("/corpus-probe.txt", which every root holds) and one path per prefix or
// exact location; "/" for the other servers' names. At most 16.
func corpusRequests(r *corpusRun) []corpusRequest {
	var out []corpusRequest
	for _, port := range r.order {
		l := r.listens[port]
		seen := map[string]bool{}
		for i, h := range l.hosts {
			h = concreteHost(h)
			paths := []string{"/"}
			if i == 0 {
				paths = append(paths, "/corpus-probe.txt")
				paths = append(paths, l.paths...)
			}
			for _, p := range paths {
				if p == "" || seen[h+p] {
					continue
				}
				seen[h+p] = true
				out = append(out, corpusRequest{addr: l.addr, host: h, path: p, tls: l.ssl})
			}
		}
	}
	if len(out) > 16 {
		out = out[:16]
	}
	return out
}

// concreteHost turns a server_name into a Host a client would send.
func concreteHost(h string) string {
	switch {
	case h == "" || h == "_" || strings.HasPrefix(h, "~") || strings.Contains(h, "$"):
		return "localhost"
	case strings.HasPrefix(h, "*."):
		return "www" + h[1:]
	case strings.HasPrefix(h, "."):
		return h[1:]
	case strings.HasSuffix(h, ".*"):
		return strings.TrimSuffix(h, "*") + "com"
	}
	return h
}

// corpusResponse is what is compared of one answer.
type corpusResponse struct {
	status  int
	err     bool
	headers map[string]string
	body    []byte
	hits    map[string]int // origin requests it caused: "origin2 GET /x" → n
}

// corpusHeaders are the response headers compared: those real sites set
// and clients act on. (Content-Length is the body's, compared after the
// error pages' footers, nginx/1.22.1 or spillway, are made equal.)
var corpusHeaders = []string{"Content-Type", "Location", "Cache-Control", "Content-Encoding", "Vary",
	"WWW-Authenticate", "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options",
	"Access-Control-Allow-Origin", "Referrer-Policy"}

var reFooterCorpus = regexp.MustCompile(`<hr><center>(nginx(/[0-9.]+)?|spillway)</center>`)

func compareCorpus(ng, sp corpusResponse) string {
	var d []string
	if ng.err != sp.err || ng.status != sp.status {
		d = append(d, fmt.Sprintf("status nginx %s, spillway %s", statusText(ng), statusText(sp)))
	}
	for _, h := range corpusHeaders {
		if ng.headers[h] != sp.headers[h] {
			d = append(d, fmt.Sprintf("%s nginx %q, spillway %q", h, ng.headers[h], sp.headers[h]))
		}
	}
	// A gzipped body is compared decompressed (Content-Encoding is compared
	// above): zlib and Go's flate make different bytes of the same text,
	// and an error page's footer names the server.
	nb := reFooterCorpus.ReplaceAll(gunzipCorpus(ng), []byte("<hr><center>SERVER</center>"))
	sb := reFooterCorpus.ReplaceAll(gunzipCorpus(sp), []byte("<hr><center>SERVER</center>"))
	if !bytes.Equal(nb, sb) {
		d = append(d, fmt.Sprintf("body nginx %d bytes, spillway %d bytes", len(ng.body), len(sp.body)))
	}
	if fmt.Sprint(ng.hits) != fmt.Sprint(sp.hits) {
		d = append(d, fmt.Sprintf("origin requests nginx %v, spillway %v", ng.hits, sp.hits))
	}
	return strings.Join(d, "; ")
}

// gunzipCorpus is a response's body, decompressed when it is gzipped (as
// received when it does not decompress).
func gunzipCorpus(r corpusResponse) []byte {
	if r.headers["Content-Encoding"] != "gzip" {
		return r.body
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		return r.body
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return r.body
	}
	return b
}

// describeCorpusBody is a body in the verbose log: its start.
func describeCorpusBody(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

func statusText(r corpusResponse) string {
	if r.err {
		return "no answer"
	}
	return fmt.Sprint(r.status)
}

// send sends one request on its own connection, HTTP/1.1, following no
// redirect, with the headers a browser sends that change nginx's answer.
func (q corpusRequest) send() corpusResponse {
	scheme := "http"
	if q.tls {
		scheme = "https"
	}
	tr := &http.Transport{
		DisableKeepAlives:  true,
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true, ServerName: q.host}, // the test's own self-signed certificate
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest("GET", scheme+"://"+q.addr+q.path, nil)
	if err != nil {
		return corpusResponse{err: true}
	}
	req.Host = q.host
	req.Header.Set("User-Agent", "Mozilla/5.0 (corpus test)")
	req.Header.Set("Accept", "text/html,*/*")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		return corpusResponse{err: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := corpusResponse{status: resp.StatusCode, body: body, headers: map[string]string{}, err: err != nil}
	for _, h := range corpusHeaders {
		out.headers[h] = strings.Join(resp.Header.Values(h), ", ")
	}
	return out
}

// corpusOrigins are the local origins of one run.
type corpusOrigins struct {
	addrs map[string]string // placeholder → address
	ups   []*upstreamsim.Upstream
	names []string
	mu    sync.Mutex
	own   map[string]int // hits of the unix and FastCGI origins
}

// hits is a snapshot of every origin's requests: "originN GET /x?q" → n.
func (o *corpusOrigins) hits() map[string]int {
	m := map[string]int{}
	for i, u := range o.ups {
		for k, v := range u.Stats().Targets { // the target byte for byte, query included
			m[o.names[i]+" "+k] = v
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range o.own {
		m[k] = v
	}
	return m
}

// since is what hits gained after before.
func (o *corpusOrigins) since(before map[string]int) map[string]int {
	m := map[string]int{}
	for k, v := range o.hits() {
		if v > before[k] {
			m[k] = v - before[k]
		}
	}
	return m
}

// startCorpusOrigins starts one origin per upstream address of the run:
// a bench upstream answering 200 with a body whose length tells which
// origin answered (TCP), an HTTP server on a unix socket, or a FastCGI
// server (TCP or unix) answering "fastcgi originN SCRIPT_NAME".
func startCorpusOrigins(t *testing.T, r *corpusRun) *corpusOrigins {
	o := &corpusOrigins{addrs: map[string]string{}, own: map[string]int{}}
	keys := make([]string, 0, len(r.origins))
	for k := range r.origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		org := r.origins[k]
		name := fmt.Sprintf("origin%d", i)
		unix := strings.HasPrefix(org.local, "unix:")
		if org.mute {
			if !unix { // a port bound but never listened on: connect() is refused
				addr, release, err := testutil.RefusedPort(corpusHost)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(release)
				o.addrs[org.local] = addr
			}
			continue
		}
		if !unix && !org.fcgi {
			u, err := upstreamsim.UpstreamConfig{Name: name, Addr: corpusHost + ":0", Behaviors: []upstreamsim.Behavior{upstreamsim.OK().WithSize(int64(10 + i))}}.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = u.Close() })
			o.ups = append(o.ups, u)
			o.names = append(o.names, name)
			o.addrs[org.local] = u.Addr()
			continue
		}
		var ln net.Listener
		var err error
		if unix {
			ln, err = net.Listen("unix", strings.TrimPrefix(org.local, "unix:"))
		} else {
			ln, err = net.Listen("tcp", corpusHost+":0")
			if err == nil {
				o.addrs[org.local] = ln.Addr().String()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		fc := org.fcgi
		h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			key := name + " " + req.Method + " " + req.RequestURI
			body := name + " " + req.Method + " " + req.RequestURI + "\n"
			if fc {
				env := fcgi.ProcessEnv(req)
				script := strings.TrimPrefix(env["SCRIPT_FILENAME"], r.dir)
				key = name + " " + req.Method + " " + script + " " + req.RequestURI
				body = "fastcgi " + name + " " + script + "\n"
			}
			o.mu.Lock()
			o.own[key]++
			o.mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, body)
		})
		if fc {
			go func() { _ = fcgi.Serve(ln, h) }()
			t.Cleanup(func() { _ = ln.Close() })
		} else {
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
		}
	}
	return o
}

// runCorpusNginx runs nginx on the rewritten file, its listening sockets
// handed over (NGINX=3;4;...) so that nothing races for the ports and
// nothing polls: connections wait in the backlog until the worker takes
// them. It sends the requests one after the other and stops nginx.
func runCorpusNginx(t *testing.T, bin, dir, conf string, lns []*net.TCPListener, reqs []corpusRequest, origins *corpusOrigins) ([]corpusResponse, error) {
	var files []*os.File
	env := "NGINX="
	for i, l := range lns {
		f, err := l.File()
		_ = l.Close()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		files = append(files, f)
		env += fmt.Sprintf("%d;", 3+i)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf)
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), env)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for _, f := range files {
		_ = f.Close()
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited early (%v): %s", err, firstLine(stderr.String()))
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: finishes what is in flight
		select {
		case <-exited:
			return nil
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return errors.New("nginx did not stop on SIGQUIT within 20s; killed")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return sendAll(reqs, origins), stop()
}

// runCorpusSpillway serves the checked configuration in-process on the
// same addresses (nginx has stopped) and sends the same requests.
func runCorpusSpillway(p *proxy.Proxy, reqs []corpusRequest, origins *corpusOrigins) ([]corpusResponse, error) {
	if err := p.Start(); err != nil {
		_ = p.Close()
		return nil, err
	}
	out := sendAll(reqs, origins)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return out, p.Shutdown(ctx)
}

// sendAll sends the requests one after the other, each answer with the
// origin requests it caused.
func sendAll(reqs []corpusRequest, origins *corpusOrigins) []corpusResponse {
	out := make([]corpusResponse, len(reqs))
	for i, q := range reqs {
		before := origins.hits()
		out[i] = q.send()
		out[i].hits = origins.since(before)
	}
	return out
}

// writeTestCert writes a self-signed ECDSA certificate for every name.
func writeTestCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corpus.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost", "*.example.com", "example.com"}, IPAddresses: []net.IP{net.ParseIP(corpusHost)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func countCorpus(rs []*corpusResult) corpusCounts {
	c := corpusCounts{files: len(rs)}
	for _, r := range rs {
		if r.convertOK {
			c.convert++
			if r.checkOK {
				c.check++
				if r.nginx == "ok" && r.total > 0 && r.like == r.total {
					c.like++
				}
			}
		}
	}
	return c
}

// corpusTable is the per-file table (Markdown). all shows the comparison
// also for files that convert with warnings (the test's log); the doc
// shows it for the counted files only, because a file with what spillway
// does not convert may answer differently from run to run (nginx's hash
// balancing over origins on random ports).
func corpusTable(rs []*corpusResult, all bool) string {
	var b strings.Builder
	b.WriteString("| file | convert | check | nginx | like nginx |\n|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }
	for _, r := range rs {
		like := "-"
		if r.nginx == "ok" && r.check != "-" && !strings.HasPrefix(r.check, "fails") && (all || r.convertOK) {
			like = fmt.Sprintf("%d/%d", r.like, r.total)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.name, cell(r.convert), cell(r.check), cell(r.nginx), like)
	}
	return b.String()
}

// writeTally writes the rows of a count table, most files first.
func writeTally(b *strings.Builder, tally map[string]int) {
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if tally[keys[i]] != tally[keys[j]] {
			return tally[keys[i]] > tally[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(b, "| `%s` | %d |\n", strings.ReplaceAll(k, "|", `\|`), tally[k])
	}
}

// checkKey is the part of a check error that says what is wrong: the
// first of its ": "-separated parts that quotes a value (`unknown cipher
// "HIGH" in "ssl_ciphers"`, `unknown "nginx_version" variable`), without
// the key path before it or the advice after it.
func checkKey(msg string) string {
	for _, part := range strings.Split(msg, ": ") {
		if strings.Contains(part, `"`) {
			return part
		}
	}
	return msg
}

// corpusDoc is docs/drop-in.md.
func corpusDoc(rs []*corpusResult, c corpusCounts) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Drop-in on real sites: the corpus

<!-- Generated by TestCorpus (proxy/config/nginxconf/corpus_test.go):
     CORPUS_UPDATE=1 go test -run TestCorpus ./proxy/config/nginxconf/ -->

The corpus is %d nginx configurations written by other projects for real
applications (testdata/nginx-corpus, sources and licenses in its
SOURCES.md). TestCorpus rewrites each one mechanically so it runs here
(ports, origins, certificates and paths; the rules are at the top of
proxy/config/nginxconf/corpus_rewrite_test.go), then:

1. **convert**: spillway convert takes it with nothing unsupported;
2. **check**: the converted proxy.yaml passes spillway check;
3. **like nginx**: real nginx serving the rewritten file and spillway
   serving its conversion, in front of the same local origins, give the
   same status, key headers (%s), body and origin requests for
   each request of the file's request set (on each port: "/", a path no
   location names, and one path per prefix or exact location).

**%d of %d convert; %d pass check; %d answer like nginx.**

A file counts for a step only if it passed the steps before it. The
table also shows check for files that convert with warnings (spillway
converts what it can and lists the rest); the test's log (go test -v)
shows their comparison with nginx too.

`, c.files, strings.Join(corpusHeaders, ", "), c.convert, c.files, c.check, c.like)
	b.WriteString("## What blocks conversion\n\nFiles per directive (or message) that convert reports unsupported, or that makes it stop (`[emerg]`; a refused file counts for every refusal convert lists):\n\n| directive | files |\n|---|---|\n")
	tally := map[string]int{}
	for _, r := range rs {
		for _, k := range r.blockers {
			tally[k]++
		}
	}
	writeTally(&b, tally)
	b.WriteString("\n## What fails check\n\nFiles per reason, among those convert takes (with or without warnings):\n\n| reason | files |\n|---|---|\n")
	checks := map[string]int{}
	for _, r := range rs {
		if strings.HasPrefix(r.check, "fails: ") {
			checks[checkKey(strings.TrimPrefix(r.check, "fails: "))]++
		}
	}
	writeTally(&b, checks)
	b.WriteString("\n## Per file\n\n")
	b.WriteString(corpusTable(rs, false))
	b.WriteString("\n## Differences\n\nThe first difference of each file that converts, passes check and does not answer like nginx:\n\n")
	for _, r := range rs {
		if len(r.diffs) > 0 && r.convertOK {
			fmt.Fprintf(&b, "- %s: %s\n", r.name, strings.ReplaceAll(r.diffs[0], "|", `\|`))
		}
	}
	return b.String()
}

// TestCorpusSources checks that every corpus file names its source and
// license in its header and is listed in SOURCES.md; it needs no nginx.
func TestCorpusSources(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Errorf("%d corpus files; the corpus is at least 40", len(files))
	}
	sources, err := os.ReadFile(filepath.Join(corpusDir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"# repository: ", "# path: ", "# commit: ", "# license: ", "# changes: "} {
			if !strings.Contains(string(data), "\n"+field) && !strings.HasPrefix(string(data), field) {
				t.Errorf("%s: no %q line in its header", f, strings.TrimSpace(field))
			}
		}
		if !strings.Contains(string(sources), "`"+filepath.Base(f)+"`") {
			t.Errorf("SOURCES.md does not list %s", filepath.Base(f))
		}
	}
}
