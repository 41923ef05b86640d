package proxy_test

// FastCGI faults from a scripted application (no php-fpm needed): each
// answer is raw records, and spillway must give nginx's status and line.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"spillway/proxy/fastcgi"
)

// fakeFastCGI accepts connections, reads each request up to its empty STDIN
// record and answers with reply's bytes, then closes.
func fakeFastCGI(t *testing.T, reply []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var h [fastcgi.HeaderLen]byte
					if _, err := io.ReadFull(br, h[:]); err != nil {
						return
					}
					n := int(h[4])<<8 | int(h[5]) + int(h[6])
					if _, err := br.Discard(n); err != nil {
						return
					}
					if h[1] == fastcgi.TypeStdin && n == 0 {
						break
					}
				}
				_, _ = c.Write(reply)
			}()
		}
	}()
	return ln.Addr().String()
}

func endRequest() []byte {
	return []byte{1, fastcgi.TypeEndRequest, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
}

func stdout(s string) []byte { return fastcgi.AppendRecord(nil, fastcgi.TypeStdout, []byte(s)) }

func TestFastCGIProtocolFaults(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, c := range []struct {
		name   string
		reply  []byte
		status int
		line   string
	}{
		{"stdout closed before the header", cat(stdout("Content-Type: text/html\r\n"), stdout(""), endRequest()), 502,
			"[error] 4242#4242: *1 upstream prematurely closed FastCGI stdout while reading response header from upstream"},
		{"end request only", endRequest(), 502,
			"upstream sent unexpected FastCGI record: 3 while reading response header from upstream"},
		{"invalid status", cat(stdout("Status: abc\r\n\r\n"), stdout(""), endRequest()), 502,
			`upstream sent invalid status "abc" while reading response header from upstream`},
		{"bad version", []byte{2, 6, 0, 1, 0, 0, 0, 0}, 502,
			"upstream sent unsupported FastCGI protocol version: 2 while reading response header from upstream"},
		{"closed before anything", nil, 502,
			"upstream prematurely closed connection while reading response header from upstream"},
		{"too big header", cat(stdout("X-Big: "+strings.Repeat("a", 5000)+"\r\n\r\n"), stdout(""), endRequest()), 502,
			"upstream sent too big header while reading response header from upstream"},
		{"stderr then a good answer", cat(fastcgi.AppendRecord(nil, fastcgi.TypeStderr, []byte("PHP Warning:  x in /a.php on line 2.\n")),
			stdout("Status: 201 Created\r\nX-A: b\r\n\r\nbody"), stdout(""), endRequest()), 201,
			`[error] 4242#4242: *1 FastCGI sent in stderr: "PHP Warning:  x in /a.php on line 2" while reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET /a.php HTTP/1.1", upstream: "fastcgi://`},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := fakeFastCGI(t, c.reply)
			r := fcgiRig(t, fcgiYAML("/srv", server(addr), "          fastcgi_next_upstream: off"))
			resp, body := r.doH("GET", "/a.php", nil, nil)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d (%q)", resp.StatusCode, c.status, body)
			}
			if c.status == 201 && (string(body) != "body" || resp.Header.Get("X-A") != "b") {
				t.Errorf("answer %q %v", body, resp.Header)
			}
			logHas(t, r.elog.String(), c.line, `upstream: "fastcgi://`+addr+`"`)
		})
	}
}
