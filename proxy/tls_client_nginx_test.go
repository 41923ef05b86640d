package proxy_test

// ssl_verify_client differentially: the same certificates and requests
// through real nginx and through spillway, comparing statuses, pages, the
// $ssl_client_* variables and the error-log lines. Skipped without nginx
// (varsNginxBin) unless SPILLWAY_REQUIRE_NGINX=1.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/proxy/internal/testutil"
)

var (
	reLogHead = regexp.MustCompile(`^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ `)
	reLogTail = regexp.MustCompile(`, client: .*$`)
)

// verifyLines are the client-certificate lines of an error log, without
// time, pid, connection number and fields.
func verifyLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "SSL certificate") && !strings.Contains(l, "server name different") {
			continue
		}
		l = reLogHead.ReplaceAllString(l, "[$1] ")
		out = append(out, reLogTail.ReplaceAllString(l, ""))
	}
	return out
}

func TestMTLSSameAsNginx(t *testing.T) {
	bin := varsNginxBin(t)
	dir := t.TempDir()
	ca := (*testCA)(nil).intermediate(t, "Test CA")
	mid := ca.intermediate(t, "Int CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "srv")
	caFile := writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	vars := "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint|$ssl_client_v_start|$ssl_client_v_end|$ssl_client_v_remain|$ssl_client_escaped_cert|$ssl_client_cert|$ssl_client_raw_cert"
	modes := []string{"on", "optional", "optional_no_ca"}

	// Half a day past five days: $ssl_client_v_remain is whole days from
	// whole seconds, so an end exactly five days on gives 5 or 4 by the
	// second each side reads the clock in.
	end := time.Now().Add(5*24*time.Hour + 12*time.Hour).Truncate(time.Second)
	good := clientCert(t, ca, pkix.Name{Country: []string{"US"}, Organization: []string{"Acme, Inc."}, OrganizationalUnit: []string{"R+D"}, CommonName: "client one"}, 0x1a2b, end)
	certs := []struct {
		name string
		cert *tls.Certificate
	}{
		{"none", nil},
		{"good", &good},
		{"self-signed", ptr(clientCert(t, nil, pkix.Name{CommonName: "self"}, 0x7f, end))},
		{"unknown CA", ptr(clientCert(t, (*testCA)(nil).intermediate(t, "Other CA"), pkix.Name{CommonName: "c2"}, 2, end))},
		{"expired", ptr(clientCert(t, ca, pkix.Name{CommonName: "old"}, 3, time.Now().Add(-time.Hour).Truncate(time.Second)))},
		{"intermediate sent", ptr(clientCert(t, mid, pkix.Name{CommonName: "c3"}, 0x80, end, mid))},
		{"intermediate not sent", ptr(clientCert(t, mid, pkix.Name{CommonName: "c4"}, 4, end))},
	}
	for _, m := range modes {
		sp := newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  ssl_certificate: %s
  ssl_certificate_key: %s
  ssl_client_certificate: %s
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      server_name: [localhost]
      ssl_verify_client: %s
      locations:
        - {path: /, return: %q}
`, cf, kf, caFile, m, "200 "+vars))
		ngDir := filepath.Join(dir, m)
		if err := os.Mkdir(ngDir, 0o755); err != nil {
			t.Fatal(err)
		}
		ngAddr, ngLogs, stopNg := startNginxBound(t, bin, ngDir, func(listen string) string {
			return fmt.Sprintf(`daemon off; master_process off; pid %[1]s/nginx.pid; error_log %[1]s/error.log info;
events {}
http {
  access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  server { listen %[2]s ssl; server_name localhost; ssl_verify_client %[3]s;
    ssl_certificate %[4]s; ssl_certificate_key %[5]s; ssl_client_certificate %[6]s;
    location / { return 200 %[7]q; } }
}
`, ngDir, listen, m, cf, kf, caFile, vars)
		})
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("nginx (%s):\n%s", m, ngLogs())
			}
		})
		for _, c := range certs {
			nr, nb := mtlsGet(t, ngAddr, "", "localhost", c.cert)
			sr, sb := mtlsGet(t, sp.addr, "", "localhost", c.cert)
			nb = strings.ReplaceAll(nb, "nginx/1.22.1", "spillway")
			if nr.StatusCode != sr.StatusCode || nb != sb || nr.Close != sr.Close {
				t.Errorf("%s, %s:\nnginx    %d close=%v %q\nspillway %d close=%v %q", m, c.name, nr.StatusCode, nr.Close, nb, sr.StatusCode, sr.Close, sb)
			}
		}
		stopNg() // its log is complete then
		if n, s := verifyLines(ngLogs()), verifyLines(sp.log()); len(n) == 0 || strings.Join(n, "\n") != strings.Join(s, "\n") {
			t.Errorf("%s: error log\n--- nginx\n%s\n--- spillway\n%s", m, strings.Join(n, "\n"), strings.Join(s, "\n"))
		}
	}
}

func ptr[T any](v T) *T { return &v }

// startNginxBound is startNginx for a configuration with "listen ... ssl":
// nginx 1.22 does not take TLS connections on a socket handed over with
// NGINX=3; (measured: they are reset), so it binds a port this test freed
// (a port someone else takes in between fails the start, loudly), and the
// test waits until it answers.
func startNginxBound(t *testing.T, bin, dir string, conf func(listen string) string) (addr string, logs func() string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	confPath := writeFile(t, filepath.Join(dir, "nginx.conf"), []byte(conf(addr)))
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logs = func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return out.String() + string(b)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Errorf("nginx did not stop on SIGQUIT")
			}
		})
	}
	t.Cleanup(stop)
	testutil.Eventually(t, "nginx to take TLS connections", 10*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("nginx exited: %s", logs())
		default:
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, logs, stop
}
