package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"spillway/bench/upstreamsim"
)

// guardedConf is an nginx.conf whose /private/ is for 10.0.0.0/8 only
// (allow/deny, which spillway enforces) and, with {{GUARDS}} and {{HT}}
// filled in, whose /admin/ is behind auth_jwt (NGINX Plus's) and whose /static/
// serves files (neither of which spillway does), so the test can run the
// same file with and without what spillway must refuse.
const guardedConf = `error_log {{DIR}}/error.log notice;
pid {{DIR}}/spillway.pid;
http {
    proxy_temp_path {{DIR}}/temp;
    client_body_temp_path {{DIR}}/ctemp;
    sub_filter_once on; access_log {{DIR}}/access.log;
    server {
        listen {{LISTEN}};
        location / { proxy_pass http://{{ORIGIN}}; } location /private/ { proxy_pass http://{{ORIGIN}}; allow 10.0.0.0/8; deny all; }
        location /admin/ {
            proxy_pass http://{{ORIGIN}};
{{GUARDS}}
        }
{{HT}}
    }
}
`

func writeGuarded(t *testing.T, file, dir, listen, origin string, guarded bool) {
	t.Helper()
	guards, ht := "", ""
	if guarded {
		guards = "            auth_jwt closed;\n            auth_jwt_key_file conf/key.jwk;"
		ht = `        location /static/ { }`
	}
	s := strings.NewReplacer("{{DIR}}", dir, "{{LISTEN}}", listen, "{{ORIGIN}}", origin, "{{GUARDS}}", guards, "{{HT}}", ht).Replace(guardedConf)
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// refusedLines are the [emerg] lines for guardedConf with its guards.
func refusedLines(file string) string {
	return `spillway: [emerg] "auth_jwt" directive in location is not enforced by spillway (no token would be checked) in ` + file + `:12
spillway: [emerg] "auth_jwt_key_file" directive in location is not enforced by spillway (no token would be checked) in ` + file + `:13
spillway: [emerg] location "/static/" cannot be converted: it neither proxies (proxy_pass, fastcgi_pass), answers stub_status nor serves files (root, alias, index, try_files), so its requests would reach another location in ` + file + `:15
`
}

const unsupportedWarn = `:6: unsupported directive "sub_filter_once" in http`

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// spillway check -c nginx.conf and spillway convert refuse access control
// that spillway does not enforce: exit status 1, one [emerg] line per
// refusal with its file and line, the rest of what does not convert still
// listed, and no proxy.yaml written.
func TestCheckAndConvertRefuseAccessControl(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nginx.conf")
	writeGuarded(t, file, dir, "127.0.0.1:8080", "127.0.0.1:9000", true)

	out, err := spillwayCmd(t, "check", "-c", file).CombinedOutput()
	want := "spillway: [warn] " + file + unsupportedWarn + "\n" + refusedLines(file) +
		"spillway: configuration file " + file + " test failed\n"
	if exitCode(err) != 1 || string(out) != want {
		t.Errorf("check: exit %d (%v), want 1; output:\n%s\nwant:\n%s", exitCode(err), err, out, want)
	}

	yamlOut := filepath.Join(dir, "proxy.yaml")
	cmd := spillwayCmd(t, "convert", "-o", yamlOut, file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	want = file + unsupportedWarn + "\n" + refusedLines(file) +
		"spillway: " + file + " not converted: spillway would answer requests that nginx refuses\n"
	if exitCode(err) != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("convert: exit %d (%v), want 1; stdout %q; stderr:\n%s\nwant:\n%s", exitCode(err), err, stdout.String(), stderr.String(), want)
	}
	if _, err := os.Stat(yamlOut); !os.IsNotExist(err) {
		t.Errorf("convert wrote %s for a refused file (%v)", yamlOut, err)
	}

	// Without the guards the same file converts and checks.
	writeGuarded(t, file, dir, "127.0.0.1:8080", "127.0.0.1:9000", false)
	if out, err := spillwayCmd(t, "check", "-c", file).CombinedOutput(); err != nil {
		t.Errorf("check without the guards: %v\n%s", err, out)
	}
}

// serve -c nginx.conf never lets a request reach the upstream through a
// guard it does not enforce: the same file without its guards serves
// /admin/secret from the upstream (so the test can see a request get
// through); with them, a reload (HUP) is refused with the [emerg] lines in
// the error log and the running configuration stays, as nginx does; and a
// start is refused with exit status 1, nothing listening, the upstream
// never asked. allow/deny, which spillway enforces, answers 403.
func TestServeRefusesAccessControl(t *testing.T) {
	origin := startOrigin(t, upstreamsim.OK())
	dir := t.TempDir()
	file := filepath.Join(dir, "nginx.conf")
	listen := "127.0.0.1:" + freePort(t)
	writeGuarded(t, file, dir, listen, origin.Addr(), false)

	srv, exited, _ := startServe(t, file)
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "spillway to listen on %s", listen)
	get(t, "http://"+listen+"/admin/secret", 200)
	if n := origin.Hits("GET", "/admin/secret"); n != 1 {
		t.Fatalf("control: the upstream got /admin/secret %d times, want 1", n)
	}
	get(t, "http://"+listen+"/private/x", 403) // allow/deny is enforced: 127.0.0.1 is not in 10.0.0.0/8

	writeGuarded(t, file, dir, listen, origin.Addr(), true)
	if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "error.log")
	last := `another location in ` + file + `:15`
	waitFor(t, func() bool { b, _ := os.ReadFile(logFile); return strings.Contains(string(b), last) }, "the refused reload in the error log")
	b, _ := os.ReadFile(logFile)
	var emerg []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, msg, ok := strings.Cut(l, " [emerg] "); ok {
			_, msg, _ = strings.Cut(msg, ": ") // after "pid#tid: "
			emerg = append(emerg, "spillway: [emerg] "+msg+"\n")
		}
	}
	if strings.Join(emerg, "") != refusedLines(file) {
		t.Errorf("the error log's [emerg] lines are not the refusals:\n%s", b)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited

	srv, exited, stderr := startServe(t, file)
	conns := 0
	waitFor(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		if c, err := net.Dial("tcp", listen); err == nil { // serving: the test fails below
			c.Close()
			conns++
			return true
		}
		return false
	}, "spillway to exit")
	if conns > 0 {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + listen + "/admin/secret")
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("spillway serves a file whose guards it does not enforce (GET /admin/secret: %v, %v)", resp, err)
	}
	<-exited
	if code := srv.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := "spillway: [warn] " + file + unsupportedWarn + "\n" + refusedLines(file)
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	if n := origin.Total(); n != 1 {
		t.Errorf("the upstream got %d requests, want only the control's 1", n)
	}
}

// startServe runs spillway -c file as a process; exited is closed when it
// has exited. The test's cleanup kills it if it still runs.
// stderr may be read once exited is closed.
func startServe(t *testing.T, file string) (*exec.Cmd, chan struct{}, *bytes.Buffer) {
	t.Helper()
	c := startChild(t, spillwayCmd(t, "-c", file))
	return c.cmd, c.exited, c.stderr
}
