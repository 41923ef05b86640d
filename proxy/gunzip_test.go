package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

const gunzipTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  gunzip: on
  gzip_vary: on
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://{U0}}
        - {path: /unbuffered/, proxy_pass: http://{U0}, proxy_buffering: off}
        - {path: /off/, proxy_pass: http://{U0}, gunzip: off}
        - {path: /cs/, proxy_pass: http://{U0}, gunzip: off, charset: utf-8, override_charset: on}
        - {path: /csoff/, proxy_pass: http://{U0}, gunzip: off, charset: utf-8}
        - {path: /koi/, proxy_pass: http://{U0}, gunzip: off, charset: koi8-r, source_charset: koi8-r}
`

func gzipBytes(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return b.Bytes()
}

var gunzipWant = strings.Repeat("hello gunzip world\n", 500)

// gunzipOrigin answers with gzip'd bodies (Content-Encoding: gzip, a strong
// ETag, Accept-Ranges) named by the path's last segment: good, multi (two
// gzip members), bad (corrupt deflate data), trunc (the first half), or,
// under /ct/, a plain body whose Content-Type is the query (and
// X-Accel-Charset the header "xac" of the request).
func gunzipOrigin(t *testing.T) string {
	t.Helper()
	good := gzipBytes(gunzipWant)
	bad := append(append(append([]byte(nil), good[:30]...), 0xff, 0xff, 0xff, 0xff), good[34:]...)
	bodies := map[string][]byte{"good": good, "bad": bad, "trunc": good[:len(good)/2],
		"multi": append(gzipBytes("part one\n"), gzipBytes("part two\n")...)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if strings.Contains(r.URL.Path, "/ct/") {
			ct, _ := url.QueryUnescape(r.URL.RawQuery)
			h.Set("Content-Type", ct)
			if v := r.Header.Get("xac"); v != "" {
				h.Set("X-Accel-Charset", v)
			}
			_, _ = io.WriteString(w, "text\n")
			return
		}
		body := bodies[r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]]
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", `"abc"`)
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// gunzip as nginx 1.22's gunzip filter (measured against a gzip'd origin):
// a client that does not take gzip gets the body decompressed, chunked,
// without Content-Encoding, Content-Length or Accept-Ranges and with a weak
// ETag; one that takes gzip gets the upstream's bytes; both get "Vary:
// Accept-Encoding" under gzip_vary; gzip members one after another are one
// body; corrupt data logs `inflate() failed: 0, -3 while sending to client`
// and a body that ends inside the stream `inflate() returned -5 on
// response end while sending to client`, and the response is cut.
func TestGunzipLikeNginx(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, gunzipTmpl), gunzipOrigin(t))
	get := func(method, path string, hdr ...string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + strings.Join(append(hdr, ""), "\r\n") + "\r\n"
	}
	for _, path := range []string{"/good", "/unbuffered/good"} {
		resp, body, _, _ := rawFrom(t, "127.0.0.1", r.addr, get("GET", path))
		h := resp.Header
		if string(body) != gunzipWant || h.Get("Content-Encoding") != "" || resp.ContentLength != -1 ||
			len(resp.TransferEncoding) != 1 || h.Get("ETag") != `W/"abc"` || h.Get("Accept-Ranges") != "" || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: %d body bytes, headers %v, length %d, te %v", path, len(body), h, resp.ContentLength, resp.TransferEncoding)
		}
	}
	resp, body, _, _ := rawFrom(t, "127.0.0.1", r.addr, get("GET", "/good", "Accept-Encoding: gzip"))
	if h := resp.Header; h.Get("Content-Encoding") != "gzip" || h.Get("ETag") != `"abc"` || h.Get("Vary") != "Accept-Encoding" ||
		resp.ContentLength != int64(len(body)) || string(gunzip(t, body)) != gunzipWant {
		t.Errorf("gzip client: headers %v, %d bytes", h, len(body))
	}
	resp, body, _, _ = rawFrom(t, "127.0.0.1", r.addr, get("GET", "/off/good"))
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "" || string(gunzip(t, body)) != gunzipWant {
		t.Errorf("gunzip off: headers %v", resp.Header)
	}
	_, body, _, _ = rawFrom(t, "127.0.0.1", r.addr, get("GET", "/multi"))
	if string(body) != "part one\npart two\n" {
		t.Errorf("two gzip members: %q", body)
	}

	// HEAD: the gunzip filter's head, no body.
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, get("HEAD", "/good")); err != nil {
		t.Fatal(err)
	}
	hresp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "HEAD"})
	if err != nil || hresp.Header.Get("Content-Encoding") != "" || hresp.Header.Get("Content-Length") != "" || hresp.Header.Get("ETag") != `W/"abc"` {
		t.Errorf("HEAD: %v, headers %v", err, hresp.Header)
	}

	for _, c := range []struct{ path, line string }{
		{"/bad", `inflate() failed: 0, -3 while sending to client, client: 127.0.0.1, server: localhost, request: "GET /bad HTTP/1.1", upstream: "http://U0/bad", host: "localhost"`},
		{"/trunc", `inflate() returned -5 on response end while sending to client, client: 127.0.0.1, server: localhost, request: "GET /trunc HTTP/1.1", upstream: "http://U0/trunc", host: "localhost"`},
		{"/unbuffered/bad", `inflate() failed: 0, -3 while sending to client, client: 127.0.0.1, server: localhost, request: "GET /unbuffered/bad HTTP/1.1", upstream: "http://U0/unbuffered/bad", host: "localhost"`},
	} {
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, get("GET", c.path)); err != nil {
			t.Fatal(err)
		}
		all, _ := io.ReadAll(conn)
		conn.Close()
		if bytes.HasSuffix(all, []byte("0\r\n\r\n")) {
			t.Errorf("%s: the response ended as if complete: %q", c.path, all)
		}
		testutil.Eventually(t, c.path+"'s line", 10*time.Second, func() bool { return lineAt(r.log(), "error", c.line) })
	}
}

// charset on proxied responses (ngx_http_charset_filter_module, no
// charset_map in this configuration): a response that names a charset keeps it, unless
// override_charset names the same one (then in charset's spelling) or
// logs nginx's "no charset_map" line for another; X-Accel-Charset names
// the charset whatever the location says, if the configuration knows it.
func TestCharsetProxiedLikeNginx(t *testing.T) {
	r := newRig(t, "info", withTempDirs(t, gunzipTmpl), gunzipOrigin(t))
	for _, c := range []struct {
		path, xac, want, line string
	}{
		{"/csoff/ct/?text/html", "", "text/html; charset=utf-8", ""},
		{"/csoff/ct/?text/html;%20charset=koi8-r", "", "text/html; charset=koi8-r", ""},
		{"/cs/ct/?text/html;%20charset=UTF-8", "", "text/html; charset=utf-8", ""},
		{"/cs/ct/?text/html;%20charset=koi8-r", "", "text/html; charset=koi8-r", `no "charset_map" between the charsets "koi8-r" and "utf-8"`},
		{"/cs/ct/?text/html;%20charset=latin1", "", "text/html; charset=latin1", `no "charset_map" between the charsets "latin1" and "utf-8"`},
		{"/cs/ct/?application/json", "", "application/json", ""},
		{"/off/ct/?text/plain", "koi8-r", "text/plain; charset=koi8-r", ""},
		{"/off/ct/?text/plain", "x-unknown", "text/plain", `unknown charset "x-unknown" to override`},
		{"/koi/ct/?text/html", "", "text/html; charset=koi8-r", ""},
	} {
		req := "GET " + c.path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		if c.xac != "" {
			req += "xac: " + c.xac + "\r\n"
		}
		resp, _, _, _ := rawFrom(t, "127.0.0.1", r.addr, req+"\r\n")
		if got := resp.Header.Get("Content-Type"); got != c.want || resp.Header.Get("X-Accel-Charset") != "" {
			t.Errorf("%s (X-Accel-Charset %q): Content-Type %q, want %q", c.path, c.xac, got, c.want)
		}
		if c.line != "" {
			// nginx logs them while reading the header, naming the upstream
			testutil.Eventually(t, c.line, 10*time.Second, func() bool {
				return lineAt(r.log(), "error", c.line+" while reading response header from upstream, client: ") && lineAt(r.log(), "error", ", upstream: \"http://")
			})
		}
	}
}

// lineAt: a line at level holds s.
func lineAt(log, level, s string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "["+level+"] ") && strings.Contains(l, s) {
			return true
		}
	}
	return false
}
