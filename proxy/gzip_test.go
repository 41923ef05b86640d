package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

const gzipTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  gzip: on
  gzip_vary: on
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://{U0}}
        - {path: /plain/, proxy_pass: http://{U0}, gzip_types: text/plain}
        - {path: /any/, proxy_pass: http://{U0}, gzip_proxied: any, gzip_comp_level: 9}
        - {path: /unbuffered/, proxy_pass: http://{U0}, proxy_buffering: off}
        - {path: /spill/, proxy_pass: http://{U0}, proxy_buffers: 4 4k, proxy_spill_grace: 0}
        - {path: /old/, proxy_pass: http://{U0}, gzip_http_version: "1.0"}
        - {path: /ua/, proxy_pass: http://{U0}, gzip_disable: [msie6, "^curl/"]}
`

// gzipText is a body of n bytes that compresses to about half: each line
// holds a pseudo-random number (a large one still fills the proxy buffers
// and the sockets once compressed).
func gzipText(n int) []byte {
	var b bytes.Buffer
	b.Grow(n + 64)
	x := uint64(1)
	for i := 0; b.Len() < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		fmt.Fprintf(&b, "<p>line %d: %016x</p>\n", i, x)
	}
	return b.Bytes()[:n]
}

// gzipOrigin answers /.../N.TYPE with N bytes of gzipText as TYPE (html,
// txt), a strong ETag and Accept-Ranges; "br" in the path says the body
// is already encoded; "/206/" answers 206.
func gzipOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		num, ext, _ := strings.Cut(name, ".")
		n, _ := strconv.Atoi(num)
		h := w.Header()
		h.Set("Content-Type", map[string]string{"html": "text/html; charset=utf-8", "txt": "text/plain"}[ext])
		h.Set("ETag", `"v1"`)
		h.Set("Accept-Ranges", "bytes")
		if strings.Contains(r.URL.Path, "/br/") {
			h.Set("Content-Encoding", "br")
		}
		h.Set("Content-Length", strconv.Itoa(n))
		if strings.Contains(r.URL.Path, "/206/") {
			w.WriteHeader(206)
		}
		_, _ = w.Write(gzipText(n))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// gzip as nginx's gzip filter decides: text/html (and gzip_types) of a
// client that takes gzip, status 200/403/404, a declared length of at least
// gzip_min_length, no Content-Encoding, not HEAD or 206, HTTP/1.1 unless
// gzip_http_version 1.0, a request through a proxy (Via) only as
// gzip_proxied allows, gzip_disable; a compressed answer is chunked, has
// Content-Encoding: gzip, a weak ETag, no Accept-Ranges, and decompresses
// to the upstream's bytes, buffered, unbuffered and spilled to the temp
// file alike; gzip_vary marks every response that could be compressed; a
// HEAD gets the compressed head and no body, as from nginx.
func TestGzipLikeNginx(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, gzipTmpl), gzipOrigin(t))
	send := func(req string) (*http.Response, []byte) {
		t.Helper()
		resp, body, c, _ := rawFrom(t, "127.0.0.1", r.addr, req)
		c.Close()
		return resp, body
	}
	get := func(path string, hdr ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + strings.Join(append(hdr, ""), "\r\n") + "\r\n"
	}
	const ae = "Accept-Encoding: gzip, deflate"
	cases := []struct {
		name, req string
		n         int  // body bytes the upstream sends
		gz        bool // compressed
		vary      bool
	}{
		{"html", get("/a/65536.html", ae), 65536, true, true},
		{"no accept-encoding", get("/a/65536.html"), 65536, false, true},
		{"q=0", get("/a/65536.html", "Accept-Encoding: gzip;q=0, br"), 65536, false, true},
		{"x-gzip only", get("/a/65536.html", "Accept-Encoding: x-gzip"), 65536, false, true},
		{"q=0.5", get("/a/65536.html", "Accept-Encoding: br,gzip;q=0.5"), 65536, true, true},
		{"text/plain not listed", get("/a/65536.txt", ae), 65536, false, false},
		{"text/plain listed", get("/plain/65536.txt", ae), 65536, true, true},
		{"under min length", get("/a/19.html", ae), 19, false, false},
		{"at min length", get("/a/20.html", ae), 20, true, true},
		{"already encoded", get("/a/br/4096.html", ae), 4096, false, false},
		{"206", get("/a/206/4096.html", ae), 4096, false, false},
		{"via, proxied off", get("/a/4096.html", ae, "Via: 1.1 cdn"), 4096, false, true},
		{"via, proxied any", get("/any/4096.html", ae, "Via: 1.1 cdn"), 4096, true, true},
		{"HTTP/1.0", "GET /a/4096.html HTTP/1.0\r\nHost: localhost\r\n" + ae + "\r\n\r\n", 4096, false, true},
		{"HTTP/1.0, gzip_http_version 1.0", "GET /old/4096.html HTTP/1.0\r\nHost: localhost\r\n" + ae + "\r\n\r\n", 4096, true, true},
		{"msie6", get("/ua/4096.html", ae, "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"), 4096, false, true},
		{"msie6 SV1", get("/ua/4096.html", ae, "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"), 4096, true, true},
		{"gzip_disable regex", get("/ua/4096.html", ae, "User-Agent: curl/8.0"), 4096, false, true},
		{"unbuffered", get("/unbuffered/300000.html", ae), 300000, true, true},
	}
	for _, c := range cases {
		resp, body := send(c.req)
		if resp.StatusCode != 200 && resp.StatusCode != 206 {
			t.Errorf("%s: status %d", c.name, resp.StatusCode)
			continue
		}
		ce, vary := resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary")
		if c.gz != (ce == "gzip") || c.vary != (vary == "Accept-Encoding") {
			t.Errorf("%s: Content-Encoding %q, Vary %q; want gzip %v, vary %v", c.name, ce, vary, c.gz, c.vary)
			continue
		}
		if !c.gz {
			if ce == "" && !bytes.Equal(body, gzipText(c.n)) {
				t.Errorf("%s: body of %d bytes differs", c.name, len(body))
			}
			continue
		}
		if resp.ContentLength != -1 || resp.Header.Get("ETag") != `W/"v1"` || resp.Header.Get("Accept-Ranges") != "" {
			t.Errorf("%s: Content-Length %d, ETag %q, Accept-Ranges %q", c.name, resp.ContentLength, resp.Header.Get("ETag"), resp.Header.Get("Accept-Ranges"))
		}
		if strings.Contains(c.req, " HTTP/1.1\r\n") && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
			t.Errorf("%s: Transfer-Encoding %q, want chunked", c.name, resp.TransferEncoding)
		}
		if got := gunzip(t, body); !bytes.Equal(got, gzipText(c.n)) {
			t.Errorf("%s: decompressed %d bytes, want the upstream's %d", c.name, len(got), c.n)
		}
	}

	hc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	_ = hc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(hc, "HEAD /a/65536.html HTTP/1.1\r\nHost: localhost\r\n"+ae+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(hc), &http.Request{Method: "HEAD"})
	// nginx's gzip filter runs before the header-only flag is set: a HEAD
	// gets the head a GET would, with no body (measured with nginx 1.22).
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("Content-Length") != "" {
		t.Errorf("HEAD: %v, Content-Encoding %q, Vary %q, Content-Length %q", err, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), resp.Header.Get("Content-Length"))
	}

	// A client that reads nothing until the response spilled (more than
	// the sockets hold once compressed): the temp file holds compressed
	// bytes, and they arrive whole.
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const big = 48 << 20
	if _, err := io.WriteString(c, get("/spill/"+strconv.Itoa(big)+".html", ae)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the compressed response spilled", 60*time.Second, func() bool {
		return strings.Contains(r.elog.String(), "an upstream response is buffered to a temporary file")
	})
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	sresp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	sbody, err := io.ReadAll(sresp.Body)
	if err != nil || sresp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("spilled: %v, Content-Encoding %q", err, sresp.Header.Get("Content-Encoding"))
	}
	if got := gunzip(t, sbody); !bytes.Equal(got, gzipText(big)) {
		t.Errorf("spilled: decompressed %d bytes, want %d", len(got), big)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Errorf("gunzip: %v", err)
		return nil
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Errorf("gunzip: %v", err)
	}
	return out
}

// nginx compresses its own 403 and 404 pages (text/html) like any answer.
func TestGzipOwnPages(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  gzip: on
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /deny/, access: [deny all]}
`))
	for _, c := range []struct {
		path, title string
		status      int
	}{{"/nowhere", "404 Not Found", 404}, {"/deny/x", "403 Forbidden", 403}} {
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET "+c.path+" HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n")
		cc.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != -1 {
			t.Errorf("%s: %d, Content-Encoding %q, Content-Length %d", c.path, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.ContentLength)
			continue
		}
		if got := string(gunzip(t, body)); got != nginxPage(c.title) {
			t.Errorf("%s: page %q", c.path, got)
		}
	}
}
