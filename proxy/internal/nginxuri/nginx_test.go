package nginxuri

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// nginxBin finds nginx; without it the test skips, unless
// SPILLWAY_REQUIRE_NGINX=1 (CI) makes that a failure.
func nginxBin(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx is not installed (apt-get install -y nginx-light) and SPILLWAY_REQUIRE_NGINX=1")
	}
	t.Skip("nginx is not installed (apt-get install -y nginx-light); set SPILLWAY_REQUIRE_NGINX=1 to make this a failure")
	return ""
}

// TestParseAgainstNginx sends random targets built from the pieces nginx's
// parser treats specially to a real nginx that answers with its $uri and
// $args (merge_slashes on, and off), and compares each with Parse.
func TestParseAgainstNginx(t *testing.T) {
	bin := nginxBin(t)
	dir := t.TempDir()
	var files []*os.File
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		_ = ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
		addrs = append(addrs, ln.Addr().String())
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`daemon off; master_process on; worker_processes 1; %s
error_log %[2]s/error.log info; pid %[2]s/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[2]s; proxy_temp_path %[2]s; fastcgi_temp_path %[2]s; uwsgi_temp_path %[2]s; scgi_temp_path %[2]s;
    server { listen %[3]s; location / { return 200 "uri=[$uri] args=[$args]"; } }
    server { listen %[4]s; merge_slashes off; location / { return 200 "uri=[$uri] args=[$args]"; } }
}
`, user, dir, addrs[0], addrs[1])
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath)
	cmd.ExtraFiles = files // fds 3 and 4: nginx inherits the listening sockets
	cmd.Env = append(os.Environ(), "NGINX=3;4;")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		if err := cmd.Wait(); err != nil && t.Failed() {
			t.Logf("nginx: %v: %s", err, stderr.String())
		}
	}()

	pieces := []string{"/", "/", ".", ".", "..", "%2e", "%2E", "%2f", "%2F", "a", "b", "%", "%0", "%00",
		"%41", "%3f", "%3F", "%23", "%25", "?", "#", "+", "%20", "~", "%7e", "x.y", "%zz", "%c3%bc",
		";", "=", "&", "\x01", "\x7f", "\xfc", "/..", "/./", "//", "#x?y", "?a#b"}
	rng := rand.New(rand.NewPCG(1, 22))
	n := 1000
	if testing.Short() {
		n = 100
	}
	for range n {
		target := []byte("/")
		for j := rng.IntN(10); j >= 0; j-- {
			target = append(target, pieces[rng.IntN(len(pieces))]...)
		}
		for i, merge := range []bool{true, false} {
			got := askNginx(t, addrs[i], target)
			want := "400"
			if u, err := Parse(nil, target, merge); err == nil {
				want = "uri=[" + string(u.Path) + "] args=[" + string(u.Args) + "]"
			}
			if got != want {
				t.Errorf("%q (merge_slashes %v): nginx %q, Parse %q", target, merge, got, want)
			}
		}
	}
}

// askNginx sends one GET and returns the body of a 200, else the status.
func askNginx(t *testing.T, addr string, target []byte) string {
	t.Helper()
	var c net.Conn
	var err error
	for range 200 { // nginx may still be starting: the socket queues, so this is rare
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a synchronisation
	_, _ = c.Write(append(append([]byte("GET "), target...), " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
	b, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("%q: %v", target, err)
	}
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) < 2 {
		t.Fatalf("%q: no status line: %q", target, b)
	}
	if status, _ := strconv.Atoi(string(f[1])); status != 200 {
		return string(f[1])
	}
	_, body, _ := bytes.Cut(rest, []byte("\r\n\r\n"))
	return string(body)
}
