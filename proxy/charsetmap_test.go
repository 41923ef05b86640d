package proxy_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const charsetMapTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  proxy_buffers: 4 4k
  charset_map:
    - {charset_map: B A, values: ["58 59"]}
    - {charset_map: koi8-r utf-8, values: ["C1 D0B0", "C2 D0B1"]}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      root: {ROOT}
      locations:
        - {path: /ab/, charset: A, source_charset: B}
        - {path: /ku/, charset: utf-8, source_charset: koi8-r}
        - {path: /uk/, charset: koi8-r, source_charset: utf-8}
        - {path: /gz/, charset: utf-8, source_charset: koi8-r, gzip: on, gzip_min_length: 1, alias: {ROOT}/ku/}
        - {path: /ret/, charset: A, source_charset: B, return: "200 XaX"}
        - {path: /p/, proxy_pass: "http://{U0}/", charset: utf-8, override_charset: on}
        - {path: /pu/, proxy_pass: "http://{U0}/", charset: utf-8, override_charset: on, proxy_buffering: off}
        - {path: /px/, proxy_pass: "http://{U0}/"}
        - {path: /v/, alias: "{ROOT}/ab/", charset: $arg_c, source_charset: B}
`

// koiBody is n bytes of koi8-r text: "a", then а and б (0xC1, 0xC2).
func koiBody(n int) []byte { return bytes.Repeat([]byte("a\xc1\xc2"), n/3) }

// charsetOrigin answers /koi/N with N/3*3 bytes of koiBody as
// "text/html; charset=koi8-r" (Content-Length, or chunked under /chunked/),
// and /b/ with 1000 X's as "text/html; charset=B" and X-Accel-Charset: A.
func charsetOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch {
		case strings.HasPrefix(r.URL.Path, "/b/"):
			h.Set("Content-Type", "text/html; charset=B")
			h.Set("X-Accel-Charset", "A")
			h.Set("Content-Length", "1000")
			_, _ = w.Write(bytes.Repeat([]byte("X"), 1000))
		default:
			n, _ := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
			body := koiBody(n)
			h.Set("Content-Type", "text/html; charset=koi8-r")
			if !strings.Contains(r.URL.Path, "/chunked/") {
				h.Set("Content-Length", strconv.Itoa(len(body)))
			}
			_, _ = w.Write(body)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func charsetMapRig(t *testing.T) *rig {
	t.Helper()
	root := t.TempDir()
	files := map[string][]byte{
		"ab/t.html": []byte(strings.Repeat("X", 990) + "0123456789"),
		"ku/k.html": koiBody(3000),
		"uk/u.html": []byte("a\u0430\u0431\u0432"),
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return newRig(t, "info", strings.ReplaceAll(charsetMapTmpl, "{ROOT}", root), charsetOrigin(t))
}

// utf8Of is koiBody(n) in UTF-8.
func utf8Of(n int) string { return strings.Repeat("a\u0430\u0431", n/3) }

// charset_map recodes as nginx 1.22 (measured; the differential scenarios
// charset-* compare it): byte for byte between single-byte charsets with
// Content-Length and ranges kept (the range is of the file, recoded), to
// or from utf-8 chunked, without Content-Length or Accept-Ranges, a Range
// ignored; a HEAD gets that head; gzip compresses the recoded body;
// return's text is recoded; a proxied body is recoded under
// override_charset or X-Accel-Charset, buffered (small and spilled past the
// proxy buffers) or not, Content-Length or chunked from the upstream; a
// variable charset is named as its value is written.
func TestCharsetMapRecodesLikeNginx(t *testing.T) {
	r := charsetMapRig(t)
	for _, c := range []struct {
		name, req            string
		status               int
		ct, cl, ar, cr, body string // cl "": none; ar: Accept-Ranges
		gz                   bool
	}{
		{"single-byte file", "GET /ab/t.html HTTP/1.1\r\n", 200, "text/html; charset=A", "1000", "bytes", "", strings.Repeat("Y", 990) + "0123456789", false},
		{"single-byte range", "GET /ab/t.html HTTP/1.1\r\nRange: bytes=985-994\r\n", 206, "text/html; charset=A", "10", "", "bytes 985-994/1000", "YYYYY01234", false},
		{"to utf-8 file", "GET /ku/k.html HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(3000), false},
		{"to utf-8 ignores Range", "GET /ku/k.html HTTP/1.1\r\nRange: bytes=0-9\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(3000), false},
		{"to utf-8 HEAD", "HEAD /ku/k.html HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", "", false},
		{"from utf-8 file", "GET /uk/u.html HTTP/1.1\r\n", 200, "text/html; charset=koi8-r", "", "", "", "a\xc1\xc2&#1074;", false},
		{"gzip after recode", "GET /gz/k.html HTTP/1.1\r\nAccept-Encoding: gzip\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(3000), true},
		{"return text", "GET /ret/ HTTP/1.1\r\n", 200, "text/plain; charset=A", "3", "", "", "YaY", false},
		{"proxied small", "GET /p/koi/300 HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(300), false},
		{"proxied spilled", "GET /p/koi/60000 HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(60000), false},
		{"proxied chunked", "GET /p/chunked/koi/3000 HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(3000), false},
		{"proxied unbuffered", "GET /pu/koi/60000 HTTP/1.1\r\n", 200, "text/html; charset=utf-8", "", "", "", utf8Of(60000), false},
		{"X-Accel-Charset", "GET /px/b/ HTTP/1.1\r\n", 200, "text/html; charset=A", "1000", "", "", strings.Repeat("Y", 1000), false},
		{"variable charset", "GET /v/t.html?c=a HTTP/1.1\r\n", 200, "text/html; charset=a", "1000", "bytes", "", strings.Repeat("Y", 990) + "0123456789", false},
		{"variable charset unknown", "GET /v/t.html?c=koi8-u HTTP/1.1\r\n", 200, "text/html", "1000", "bytes", "", strings.Repeat("X", 990) + "0123456789", false},
		{"no override: as it is", "GET /px/koi/30 HTTP/1.1\r\n", 200, "text/html; charset=koi8-r", "30", "", "", string(koiBody(30)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body, _, _ := rawFrom(t, "127.0.0.1", r.addr, c.req+"Host: localhost\r\nConnection: close\r\n\r\n")
			if c.gz {
				if resp.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("not compressed: %v", resp.Header)
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			cl := resp.Header.Get("Content-Length")
			chunked := len(resp.TransferEncoding) > 0
			got := fmt.Sprintf("%d %q cl=%q ar=%q cr=%q chunked=%v", resp.StatusCode, resp.Header.Get("Content-Type"), cl,
				resp.Header.Get("Accept-Ranges"), resp.Header.Get("Content-Range"), chunked)
			want := fmt.Sprintf("%d %q cl=%q ar=%q cr=%q chunked=%v", c.status, c.ct, c.cl, c.ar, c.cr, c.cl == "" && !strings.HasPrefix(c.req, "HEAD"))
			if got != want {
				t.Errorf("head %s\nwant %s", got, want)
			}
			if string(body) != c.body {
				t.Errorf("body %d bytes %.60q, want %d bytes %.60q", len(body), body, len(c.body), c.body)
			}
		})
	}
}
