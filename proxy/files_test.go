package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// fileTree writes a document root for the static tests and returns it.
func fileTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, body := range map[string]string{
		"a.html":           "<p>a</p>\n",
		"big.bin":          strings.Repeat("0123456789abcdef", 1<<16), // 1 MiB
		"d/index.html":     "index of d\n",
		"e/readme.txt":     "no index here\n",
		"img/logo.gif":     "GIF89a",
		"app/fallback.txt": "fallback\n",
		"x.unknownext":     "plain\n",
		"noetag/f.txt":     "f\n",
		"pass/here":        "on disk\n",
		"named/here":       "named on disk\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const filesTmpl = `
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      root: {ROOT}
      locations:
        - {path: /}
        - {path: /pics/, alias: {ROOT}/img/}
        - {path: '~ ^/re/(.+)$', alias: {ROOT}/img/$1}
        - {path: /try/, try_files: $uri $uri/ /app/fallback.txt}
        - {path: /code/, try_files: $uri =418}
        - {path: /vars/, try_files: /$arg_f $uri/$arg_f =404}
        - {path: /proxied/, try_files: $uri /api/x}
        - {path: /api/, proxy_pass: http://app}
        - {path: /quiet/, log_not_found: off}
        - {path: /noetag/, etag: off}
        - {path: /pass/, try_files: $uri =404, proxy_pass: http://app}
        - {path: /named/, try_files: $uri @app}
        - {path: "@app", proxy_pass: http://app}
        - {path: /guarded/, try_files: $uri /private/x}
        - {path: /private/, access: deny all, proxy_pass: http://app}
        - {path: /hidden/, try_files: $uri /inner/x}
        - {path: /inner/, internal: on, proxy_pass: http://app}
        - {path: /vidx/, alias: {ROOT}/d/, index: [none.html, $arg_i.html]}
        - {path: /vmiss/, alias: {ROOT}/nodir/, index: [$arg_i.html, other.html]}
        - {path: /vabs/, index: /$arg_to}
`

func TestStaticFiles(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	root := fileTree(t)
	r := newRig(t, "error", strings.ReplaceAll(withTempDirs(t, filesTmpl), "{ROOT}", root), u.Addr())
	const lm = "Fri, 02 Jan 2026 03:04:05 GMT"
	etag := `"` + strconv.FormatInt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix(), 16) + `-9"`
	for _, tc := range []struct {
		name, req  string
		status     int
		body       string
		hdr        map[string]string // "" = absent
		errLogPart string
	}{
		{name: "file", req: "GET /a.html", status: 200, body: "<p>a</p>\n",
			hdr: map[string]string{"Content-Type": "text/html", "Last-Modified": lm, "ETag": etag, "Accept-Ranges": "bytes", "Content-Length": "9"}},
		{name: "head", req: "HEAD /a.html", status: 200, body: "", hdr: map[string]string{"Content-Length": "9", "ETag": etag}},
		{name: "default_type", req: "GET /x.unknownext", status: 200, body: "plain\n", hdr: map[string]string{"Content-Type": "text/plain"}},
		{name: "gif", req: "GET /img/logo.gif", status: 200, body: "GIF89a", hdr: map[string]string{"Content-Type": "image/gif"}},
		{name: "index", req: "GET /d/", status: 200, body: "index of d\n", hdr: map[string]string{"Content-Type": "text/html"}},
		{name: "directory without slash", req: "GET /d", status: 301, hdr: map[string]string{"Location": "http://localhost:{PORT}/d/"}},
		{name: "no index", req: "GET /e/", status: 403, body: nginxPage("403 Forbidden"),
			errLogPart: `directory index of "` + root + `/e/" is forbidden, client: 127.0.0.1, server: localhost, request: "GET /e/ HTTP/1.1", host: "localhost"`},
		{name: "missing", req: "GET /nope.html", status: 404, body: nginxPage("404 Not Found"),
			errLogPart: `open() "` + root + `/nope.html" failed (2: No such file or directory), client: 127.0.0.1`},
		{name: "missing dir index", req: "GET /nodir/", status: 404,
			errLogPart: `"` + root + `/nodir/index.html" is not found (2: No such file or directory)`},
		{name: "log_not_found off", req: "GET /quiet/nope", status: 404},
		{name: "post", req: "POST /a.html", status: 405, body: nginxPage("405 Not Allowed")},
		{name: "post missing", req: "POST /nope", status: 404, errLogPart: `open() "` + root + `/nope" failed`},
		{name: "alias", req: "GET /pics/logo.gif", status: 200, body: "GIF89a"},
		{name: "alias regex", req: "GET /re/logo.gif", status: 200, body: "GIF89a"},
		{name: "try_files file", req: "GET /try/../a.html", status: 200, body: "<p>a</p>\n"},
		{name: "try_files fallback", req: "GET /try/none", status: 200, body: "fallback\n"},
		{name: "try_files expands any variable", req: "GET /vars/x?f=a.html", status: 200, body: "<p>a</p>\n"},
		{name: "try_files with variables, no file", req: "GET /vars/x?f=none", status: 404, body: nginxPage("404 Not Found")},
		{name: "try_files =code", req: "GET /code/none", status: 418, hdr: map[string]string{"Content-Length": "0", "Content-Type": ""}},
		{name: "try_files to a proxied location", req: "GET /proxied/none", status: 200},
		{name: "try_files before proxy_pass, file found", req: "GET /pass/here", status: 200, hdr: map[string]string{"ETag": ""}},
		{name: "try_files before proxy_pass, no file", req: "GET /pass/none", status: 404, body: nginxPage("404 Not Found")},
		{name: "try_files to a named location, file found", req: "GET /named/here", status: 200, body: "named on disk\n"},
		{name: "try_files to a named location", req: "GET /named/none?q=1", status: 200},
		// "$uri" tests a file whatever it expands to (nginx's test_dir is
		// the argument's own trailing "/"): the directory goes to @app.
		{name: "try_files $uri for a directory", req: "GET /named/", status: 200, hdr: map[string]string{"ETag": ""}},
		{name: "internal redirect runs the access phase", req: "GET /guarded/none", status: 403, body: nginxPage("403 Forbidden"),
			errLogPart: "access forbidden by rule, client: 127.0.0.1"},
		{name: "internal redirect reaches an internal location", req: "GET /hidden/none", status: 200},
		{name: "internal location from a client", req: "GET /inner/x", status: 404},
		// index with variables, evaluated per request (nginx-tests' index.t)
		{name: "index with a variable", req: "GET /vidx/?i=index", status: 200, body: "index of d\n"},
		{name: "index with a variable, no such file", req: "GET /vidx/?i=zz", status: 403,
			errLogPart: `directory index of "` + root + `/d/" is forbidden`},
		{name: "index with a variable, no directory: the first name is logged", req: "GET /vmiss/?i=foo", status: 404,
			errLogPart: `"` + root + `/nodir/foo.html" is not found (2: No such file or directory)`},
		{name: "index with a variable, a URI", req: "GET /vabs/?to=a.html", status: 200, body: "<p>a</p>\n"},
		{name: "etag off", req: "GET /noetag/f.txt", status: 200, hdr: map[string]string{"ETag": ""}},
		{name: "304 If-Modified-Since", req: "GET /a.html\r\nIf-Modified-Since: " + lm, status: 304,
			hdr: map[string]string{"ETag": etag, "Last-Modified": lm, "Content-Type": "", "Accept-Ranges": ""}},
		{name: "not exact If-Modified-Since", req: "GET /a.html\r\nIf-Modified-Since: Sat, 03 Jan 2026 03:04:05 GMT", status: 200},
		{name: "304 If-None-Match", req: "GET /a.html\r\nIf-None-Match: \"x\", W/" + etag, status: 304},
		{name: "412 If-Match", req: "GET /a.html\r\nIf-Match: \"x\"", status: 412, body: nginxPage("412 Precondition Failed")},
		{name: "If-Match *", req: "GET /a.html\r\nIf-Match: *", status: 200},
		{name: "412 If-Unmodified-Since", req: "GET /a.html\r\nIf-Unmodified-Since: Thu, 01 Jan 2026 00:00:00 GMT", status: 412},
		{name: "range", req: "GET /a.html\r\nRange: bytes=1-3", status: 206, body: "p>a",
			hdr: map[string]string{"Content-Range": "bytes 1-3/9", "Content-Length": "3", "Accept-Ranges": ""}},
		{name: "suffix range", req: "GET /a.html\r\nRange: bytes=-2", status: 206, body: ">\n", hdr: map[string]string{"Content-Range": "bytes 7-8/9"}},
		{name: "open range", req: "GET /big.bin\r\nRange: bytes=1048575-", status: 206, body: "f"},
		{name: "416", req: "GET /a.html\r\nRange: bytes=9-", status: 416, body: nginxPage("416 Requested Range Not Satisfiable"),
			hdr: map[string]string{"Content-Range": "bytes */9"}},
		{name: "If-Range other etag", req: "GET /a.html\r\nRange: bytes=1-3\r\nIf-Range: \"x\"", status: 200, body: "<p>a</p>\n"},
		{name: "If-Range same etag", req: "GET /a.html\r\nRange: bytes=1-3\r\nIf-Range: " + etag, status: 206, body: "p>a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, hits := len(r.elog.String()), u.Total()
			line, extra, _ := strings.Cut(tc.req, "\r\n")
			if extra != "" {
				extra += "\r\n"
			}
			resp, body := fileExchange(t, r.addr, line+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"+extra+"\r\n")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("body %q, want %q", trunc(body), trunc([]byte(tc.body)))
			}
			for k, v := range tc.hdr {
				v = strings.ReplaceAll(v, "{PORT}", r.addr[strings.LastIndexByte(r.addr, ':')+1:])
				got, ok := resp.Header[k]
				switch {
				case v == "" && ok && k != "Content-Length":
					t.Errorf("%s: %q, want none", k, got)
				case v != "" && resp.Header.Get(k) != v && !(k == "Content-Length" && strconv.FormatInt(resp.ContentLength, 10) == v):
					t.Errorf("%s: %q, want %q", k, resp.Header.Get(k), v)
				}
			}
			if got := u.Total() - hits; (tc.name == "try_files before proxy_pass, file found" || tc.name == "try_files to a proxied location" || tc.name == "try_files to a named location" || tc.name == "try_files $uri for a directory" || tc.name == "internal redirect reaches an internal location") != (got == 1) {
				t.Errorf("upstream got %d requests", got)
			}
			logged := r.elog.String()[before:]
			if tc.errLogPart == "" && logged != "" {
				t.Errorf("error log %q, want none", logged)
			}
			if tc.errLogPart != "" && !strings.Contains(logged, tc.errLogPart) {
				t.Errorf("error log %q, want it to contain %q", logged, tc.errLogPart)
			}
		})
	}
}

// TestStaticFileBigBody sends 1 MiB through the sendfile path on a
// keepalive connection and then a second request on it.
func TestStaticFileBigBody(t *testing.T) {
	root := fileTree(t)
	r := newRig(t, "error", strings.ReplaceAll(withTempDirs(t, filesTmpl), "{ROOT}", root), "127.0.0.1:1")
	c := &http.Client{Timeout: 10 * time.Second}
	want, _ := os.ReadFile(filepath.Join(root, "big.bin"))
	for i := 0; i < 2; i++ {
		resp, err := c.Get("http://" + r.addr + "/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("request %d: %d, %d bytes, want 200 and the file's %d", i, resp.StatusCode, b.Len(), len(want))
		}
	}
}

// fileExchange sends req on a new connection and reads the answer to its
// method (a HEAD's has no body) and then the connection's end: nothing may
// follow the response.
func fileExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(req)[0]})
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Errorf("%d bytes after the response: %q", len(rest), trunc(rest))
	}
	return resp, body
}

func trunc(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
