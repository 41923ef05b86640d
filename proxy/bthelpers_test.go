package proxy_test

// The buffering tests' helpers that other tests share too, on every OS: temp
// directories, the proxy.yaml they start from, raw clients (a slow one among
// them) and random bodies. buffering_test.go itself is Linux-only.

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// btDirs are a test's temp directories, created (spillway serve creates
// them at start-up; proxy.New does not).
type btDirs struct{ proxy, client string }

func newBTDirs(t *testing.T) btDirs {
	t.Helper()
	base := t.TempDir()
	d := btDirs{proxy: filepath.Join(base, "proxy_temp"), client: filepath.Join(base, "client_temp")}
	for _, p := range []string{d.proxy, d.client} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// btEmptyDir fails the test unless dir has no entries.
func btEmptyDir(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("temp dir %s not empty: %v", dir, names)
	}
}

// btYAML is a config with one location / proxying to group app of
// nServers servers {U0}, {U1}, ...; keepalive turns on upstream keepalive
// (HTTP/1.1, Connection ""); httpLines are extra http-level keys.
func btYAML(d btDirs, nServers int, keepalive bool, httpLines ...string) string {
	var b strings.Builder
	b.WriteString("error_log: {path: stderr, level: error}\nhttp:\n")
	b.WriteString("  proxy_connect_timeout: 1s\n  proxy_read_timeout: 2s\n")
	fmt.Fprintf(&b, "  proxy_temp_path: %s\n  client_body_temp_path: %s\n", d.proxy, d.client)
	if keepalive {
		b.WriteString("  proxy_http_version: \"1.1\"\n  proxy_set_header: {Connection: \"\"}\n")
	}
	for _, l := range httpLines {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("  upstreams:\n    app:\n")
	if keepalive {
		b.WriteString("      keepalive: 8\n")
	}
	b.WriteString("      servers:\n")
	for i := range nServers {
		fmt.Fprintf(&b, "        - address: {U%d}\n", i)
	}
	b.WriteString(`  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - path: /
          proxy_pass: http://app
`)
	return b.String()
}

// btDialSlow connects as a slow client: a 4 KiB receive buffer and a 536
// byte MSS, both set before connect. The small window stops the proxy after
// a few KiB when the client stops reading; the small MSS keeps the proxy's
// send buffer small too (Linux sizes it from the MSS, and loopback's 64 KiB
// MSS would let it absorb a couple of MiB).
// btSlowControl is a dialer Control that makes a slow reader: a 4 KiB
// receive buffer and a 536-byte MSS make the proxy's writes block after a
// few KiB.
func btSlowControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		}
	}); err != nil {
		return err
	}
	return serr
}

func btDialSlow(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: btSlowControl}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// btDial connects normally.
func btDial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// btGet sends GET path on c and reads the response head.
func btGet(t *testing.T, c net.Conn, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: reading the response head: %v", path, err)
	}
	return resp, br
}

// btRandom returns n random bytes (so that a body cannot be confused with
// the upstream's pattern).
func btRandom(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
