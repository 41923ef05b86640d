package proxy_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// htpasswd is the shared file: one user per hash scheme, every password
// "s3cret", and nginx's parser's corner cases.
const htpasswd = testutil.Htpasswd

const authTmpl = `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}/proxy
  client_body_temp_path: {TMP}/client
  upstreams:
    app:
      servers: [{address: {U0}}]
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: {path: {ALOG}, format: '$remote_addr "$request" $status'}
      auth_basic: Restricted "x" area
      auth_basic_user_file: {FILE}
      locations:
        - path: /
          proxy_pass: http://app
        - path: /open/
          proxy_pass: http://app
          auth_basic: "off"
        - path: /nofile/
          proxy_pass: http://app
          auth_basic_user_file: {FILE}.missing
        - path: /dir/
          proxy_pass: http://app
          auth_basic_user_file: {DIR}
        - path: /denied/
          proxy_pass: http://app
          access: [deny all]
        - path: "~ ^/var/(?<f>[a-z.]+)/"
          proxy_pass: http://app
          auth_basic_user_file: "{DIR}/$f"
`

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

// auth_basic as nginx 1.22 answers it, case by case (measured with the
// same file): 401 with nginx's page and WWW-Authenticate: Basic
// realm="..." (the realm as written, quotes and all) for no or unusable
// credentials (info "no user/password was provided for basic
// authentication"), an unknown user (error `user "x" was not found in
// "FILE"`) or a wrong password (error `user "x": password mismatch`); the
// upstream only for a good password; 403 and nginx's open() line when the
// file is missing, 500 and its pread() line when it is a directory;
// "auth_basic off" turns it off; allow/deny runs first; a request no
// location matches is asked too; a file named with variables is the one
// the request names.
func TestAuthBasicLikeNginx(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(file, []byte(htpasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer("{FILE}", file, "{DIR}", dir).Replace(authTmpl)
	r := newAccessRig(t, "info", tmpl, true, u.Addr())
	const realm = `Basic realm="Restricted "x" area"`
	type tc struct {
		path, auth string
		status     int
		line       string // the error-log line nginx writes, without the client fields
	}
	var cases []tc
	for _, user := range []string{"apr1", "bcrypt", "bcryptb", "bcrypta", "md5", "sha256", "sha512", "sha", "ssha", "plain", "extra", "last"} {
		cases = append(cases, tc{"/u/" + user, basic(user + ":s3cret"), 200, ""})
	}
	cases = append(cases,
		tc{"/x", basic("plain:nope"), 401, `[error] 4242#4242: *N user "plain": password mismatch`},
		tc{"/x", basic("md5:nope"), 401, `[error] 4242#4242: *N user "md5": password mismatch`},
		tc{"/x", basic("bcrypt:nope"), 401, `[error] 4242#4242: *N user "bcrypt": password mismatch`},
		tc{"/x", basic("ghost:s3cret"), 401, `[error] 4242#4242: *N user "ghost" was not found in "` + file + `"`},
		tc{"/x", basic("# comment:x"), 401, `[error] 4242#4242: *N user "# comment" was not found in "` + file + `"`},
		tc{"/x", "", 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/x", "Bearer abc", 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/u/plain", "basic " + base64.StdEncoding.EncodeToString([]byte("plain:s3cret")), 200, ""},
		tc{"/u/plain", "Basic    " + base64.RawStdEncoding.EncodeToString([]byte("plain:s3cret")), 200, ""},
		tc{"/x", "Basic !!!!", 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/x", basic("plainonly"), 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/x", basic(":s3cret"), 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/open/x", "", 200, ""},
		tc{"/nofile/x", basic("plain:s3cret"), 403, `[error] 4242#4242: *N open() "` + file + `.missing" failed (2: No such file or directory)`},
		tc{"/nofile/x", "", 401, `[info] 4242#4242: *N no user/password was provided for basic authentication`},
		tc{"/dir/x", basic("plain:s3cret"), 500, `[crit] 4242#4242: *N pread() "` + dir + `" failed (21: Is a directory)`},
		tc{"/denied/x", basic("plain:s3cret"), 403, `[error] 4242#4242: *N access forbidden by rule`},
		// a file named with variables is the request's
		tc{"/var/htpasswd/x", basic("plain:s3cret"), 200, ""},
		tc{"/var/htpasswd/x", basic("ghost:s3cret"), 401, `[error] 4242#4242: *N user "ghost" was not found in "` + file + `"`},
		tc{"/var/nx/x", basic("plain:s3cret"), 403, `[error] 4242#4242: *N open() "` + dir + `/nx" failed (2: No such file or directory)`},
	)
	var want []string
	conn := 0
	for _, c := range cases {
		conn++
		req := "GET " + c.path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		if c.auth != "" {
			req += "Authorization: " + c.auth + "\r\n"
		}
		before := u.Hits("GET", c.path)
		resp, body, cc, _ := rawFrom(t, "127.0.0.1", r.addr, req+"\r\n")
		cc.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s with %q: status %d, want %d", c.path, c.auth, resp.StatusCode, c.status)
		}
		switch c.status {
		case 200:
			if u.Hits("GET", c.path) != before+1 {
				t.Errorf("%s: the upstream did not get it", c.path)
			}
			conn++ // the upstream connection takes a number too
		case 401:
			if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != realm {
				t.Errorf("%s with %q: WWW-Authenticate %q, want %q", c.path, c.auth, got, realm)
			}
			if want := nginxPage("401 Authorization Required"); string(body) != want {
				t.Errorf("%s: body %q, want nginx's page", c.path, body)
			}
		}
		if c.status != 401 && resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d with WWW-Authenticate", c.path, c.status)
		}
		if c.line != "" {
			want = append(want, strings.Replace(c.line, "*N", "*"+strconv.Itoa(conn), 1)+
				`, client: 127.0.0.1, server: localhost, request: "GET `+c.path+` HTTP/1.1", host: "localhost"`)
		}
	}
	if n := u.Total(); n != 16 {
		t.Errorf("the upstream got %d requests, want the 16 authorised ones", n)
	}
	got := strings.Split(strings.TrimSpace(r.log()), "\n")
	for i := range got {
		got[i] = strings.TrimPrefix(got[i], "YYYY/MM/DD HH:MM:SS ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("error log\n--- got\n%s\n--- want (nginx)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The user file is read again when it changes, as nginx reads it on every
// request: a password changed, a user added by replacing the file, a file
// removed (403) and put back.
func TestAuthBasicFileChanges(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	write := func(s string) {
		t.Helper()
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("alice:{PLAIN}one\n")
	r := newRig(t, "error", withTempDirs(t, strings.NewReplacer("{FILE}", file, "{DIR}", dir, "{ALOG}", filepath.Join(dir, "access.log")).Replace(authTmpl)), u.Addr())
	status := func(userpass string) int {
		resp, _, cc, _ := rawFrom(t, "127.0.0.1", r.addr, "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: "+basic(userpass)+"\r\n\r\n")
		cc.Close()
		return resp.StatusCode
	}
	for _, step := range []struct {
		change func()
		user   string
		want   int
	}{
		{nil, "alice:one", 200},
		{func() { write("alice:{PLAIN}two\n") }, "alice:one", 401},
		{nil, "alice:two", 200},
		{func() { write("alice:{PLAIN}two\nbob:{PLAIN}three\n") }, "bob:three", 200},
		{func() { _ = os.Remove(file) }, "bob:three", 403},
		{func() { write("bob:{PLAIN}three\n") }, "bob:three", 200},
		// Same size, same second: the inode of the renamed file differs.
		{func() { write("bob:{PLAIN}thrEE\n") }, "bob:three", 401},
	} {
		if step.change != nil {
			step.change()
		}
		if got := status(step.user); got != step.want {
			t.Fatalf("%s: %d, want %d", step.user, got, step.want)
		}
	}
	// An edit in place (same inode) is seen too.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("bob:{PLAIN}four\n")
	f.Close()
	now := time.Now().Add(time.Second)
	_ = os.Chtimes(file, now, now)
	if got := status("bob:four"); got != 200 {
		t.Errorf("after an edit in place: %d, want 200", got)
	}
}

const satisfyTmpl = `
error_log: {path: stderr, level: info}
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
      auth_basic: Restricted
      auth_basic_user_file: {FILE}
      locations:
        - {path: /any/, proxy_pass: http://app, satisfy: any, access: [allow 127.0.0.2, deny all]}
        - {path: /all/, proxy_pass: http://app, satisfy: all, access: [allow 127.0.0.1, deny all]}
        - {path: /all2/, proxy_pass: http://app, access: [deny all]}
        - {path: /any2/, proxy_pass: http://app, satisfy: any, access: [deny all]}
        - {path: /any3/, proxy_pass: http://app, satisfy: any, access: [allow 10.0.0.0/8]}
        - {path: /anynoauth/, proxy_pass: http://app, satisfy: any, access: [deny all], auth_basic: "off"}
`

// satisfy all|any combines allow/deny and auth_basic as nginx 1.22 does
// (each case measured): under any, a matching allow lets the client in
// without a password and a good password lets in a client the list
// denies; refused by both, the answer is 401 when auth_basic refused (no
// "access forbidden" line), else 403, logged by the post-access phase;
// under all, allow/deny runs first and its 403 is final.
func TestSatisfyLikeNginx(t *testing.T) {
	u := upstream(t, upstreamsim.OK())
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte(htpasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "info", withTempDirs(t, strings.ReplaceAll(satisfyTmpl, "{FILE}", file)), u.Addr())
	good, bad := basic("plain:s3cret"), basic("plain:bad")
	var want []string
	conn := 0
	for _, c := range []struct {
		src, path, auth string
		status          int
		lines           []string
	}{
		{"127.0.0.1", "/any/x", "", 401, []string{`[info] 4242#4242: *N no user/password was provided for basic authentication`}},
		{"127.0.0.1", "/any/x", good, 200, nil},
		{"127.0.0.2", "/any/x", "", 200, nil},
		{"127.0.0.1", "/all/x", "", 401, []string{`[info] 4242#4242: *N no user/password was provided for basic authentication`}},
		{"127.0.0.1", "/all/x", good, 200, nil},
		{"127.0.0.1", "/all2/x", good, 403, []string{`[error] 4242#4242: *N access forbidden by rule`}},
		{"127.0.0.1", "/all2/x", "", 403, []string{`[error] 4242#4242: *N access forbidden by rule`}},
		{"127.0.0.1", "/any2/x", "", 401, []string{`[info] 4242#4242: *N no user/password was provided for basic authentication`}},
		{"127.0.0.1", "/any2/x", bad, 401, []string{`[error] 4242#4242: *N user "plain": password mismatch`}},
		{"127.0.0.1", "/any3/x", "", 401, []string{`[info] 4242#4242: *N no user/password was provided for basic authentication`}},
		{"127.0.0.1", "/any3/x", good, 200, nil},
		{"127.0.0.1", "/anynoauth/x", "", 403, []string{`[error] 4242#4242: *N access forbidden by rule`}},
	} {
		conn++
		req := "GET " + c.path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		if c.auth != "" {
			req += "Authorization: " + c.auth + "\r\n"
		}
		resp, _, cc, _ := rawFrom(t, c.src, r.addr, req+"\r\n")
		cc.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s from %s with %q: %d, want %d", c.path, c.src, c.auth, resp.StatusCode, c.status)
		}
		if got := resp.Header.Get("WWW-Authenticate"); (c.status == 401) != (got == `Basic realm="Restricted"`) {
			t.Errorf("%s: %d with WWW-Authenticate %q", c.path, c.status, got)
		}
		for _, l := range c.lines {
			want = append(want, strings.Replace(l, "*N", "*"+strconv.Itoa(conn), 1)+
				`, client: `+c.src+`, server: localhost, request: "GET `+c.path+` HTTP/1.1", host: "localhost"`)
		}
		if c.status == 200 {
			conn++
		}
	}
	got := strings.Split(strings.TrimSpace(r.log()), "\n")
	for i := range got {
		got[i] = strings.TrimPrefix(got[i], "YYYY/MM/DD HH:MM:SS ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("error log\n--- got\n%s\n--- want (nginx)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
