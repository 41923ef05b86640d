package difftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	b "spillway/bench"
)

// combined is nginx's predefined log format, spelt out: both sides write it
// through one log_format.
const combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// fail2banRegex finds fail2ban-regex; without it the test skips, unless
// SPILLWAY_REQUIRE_FAIL2BAN=1 (CI), which makes that a failure.
func fail2banRegex(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		if os.Getenv("SPILLWAY_REQUIRE_FAIL2BAN") == "1" {
			t.Fatalf("fail2ban-regex is not installed (apt-get install -y fail2ban) and SPILLWAY_REQUIRE_FAIL2BAN=1: %v", err)
		}
		t.Skipf("fail2ban-regex is not installed (apt-get install -y fail2ban); set SPILLWAY_REQUIRE_FAIL2BAN=1 to make this a failure: %v", err)
	}
	return bin
}

var reF2BLines = regexp.MustCompile(`(?m)^Lines: (\d+) lines, \d+ ignored, (\d+) matched`)

// The user-visible check of issue 16: fail2ban's stock nginx-bad-request
// filter, run over the combined access logs nginx and spillway wrote for
// the same traffic (every bad_request scenario's requests, and good ones
// between them), matches as many lines on each. It matched 6 on spillway's
// log and 39 on nginx's before spillway logged the requests its parser
// refuses.
func TestFail2banBadRequestFilter(t *testing.T) {
	bin := fail2banRegex(t)
	ngx := nginxBin(t)
	s := &Scenario{Name: "fail2ban", Servers: []Server{srv(b.OK())}, AccessFormat: combined,
		Directives: dirs("client_header_timeout", "1s")}
	for _, sc := range Scenarios {
		if sc.Area != "bad_request" {
			continue
		}
		if len(sc.Directives) > 0 && !(len(sc.Directives) == 1 && sc.Directives[0].Name == "client_header_timeout") {
			continue // needs its own configuration (buffer sizes)
		}
		s.Requests = append(s.Requests, sc.Requests...)
		s.Requests = append(s.Requests, get("/x"))
	}
	ng, sp, err := Run(s, ngx, t.TempDir(), t.Cleanup)
	if err != nil {
		t.Fatal(err)
	}
	count := func(o *Outcome) (lines, matched int) {
		t.Helper()
		path := filepath.Join(o.Dir, "access.log")
		out, err := exec.Command(bin, path, "nginx-bad-request").CombinedOutput()
		m := reF2BLines.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("fail2ban-regex %s nginx-bad-request: %v\n%s", path, err, out)
		}
		lines, _ = strconv.Atoi(string(m[1]))
		matched, _ = strconv.Atoi(string(m[2]))
		return lines, matched
	}
	nl, nm := count(ng)
	sl, sm := count(sp)
	t.Logf("%d requests; nginx-bad-request matched %d of nginx's %d access-log lines, %d of spillway's %d", len(s.Requests), nm, nl, sm, sl)
	if nm != sm || nl != sl {
		t.Errorf("fail2ban's nginx-bad-request: nginx %d matched of %d lines, spillway %d of %d; want the same\nnginx:\n\t%s\nspillway:\n\t%s",
			nm, nl, sm, sl, strings.Join(ng.Access, "\n\t"), strings.Join(sp.Access, "\n\t"))
	}
	if nm < 20 {
		t.Errorf("only %d lines matched on nginx's log: the traffic lost its bad requests", nm)
	}
}
