package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"spillway/bench/upstreamsim"
	"spillway/proxy/config"
)

// exposition reads /metrics as text.
func exposition(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// families checks the text format's metadata rules and returns each
// family's type: every sample belongs to a family announced by # HELP (with
// a text) and # TYPE just before its samples, each family appears once and
// in one block, a histogram's or summary's samples carry its suffixes, and
// a counter's name ends in _total.
func families(t *testing.T, text string) map[string]string {
	t.Helper()
	types := map[string]string{}
	helps := map[string]bool{}
	series := map[string]bool{}
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			t.Errorf("empty line in the exposition")
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(line, " ", 4)
			if len(f) < 4 || strings.TrimSpace(f[3]) == "" {
				t.Errorf("no help text: %q", line)
				continue
			}
			if helps[f[2]] {
				t.Errorf("second # HELP for %s", f[2])
			}
			helps[f[2]] = true
			cur = ""
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || !helps[f[2]] {
				t.Errorf("# TYPE without a # HELP before it: %q", line)
				continue
			}
			if _, dup := types[f[2]]; dup {
				t.Errorf("second # TYPE for %s", f[2])
			}
			switch f[3] {
			case "counter", "gauge", "histogram", "summary":
			default:
				t.Errorf("type %q of %s", f[3], f[2])
			}
			if f[3] == "counter" && !strings.HasSuffix(f[2], "_total") {
				t.Errorf("counter %s does not end in _total", f[2])
			}
			types[f[2]] = f[3]
			cur = f[2]
		case line[0] == '#':
			t.Errorf("unexpected comment %q", line)
		default:
			name := line[:strings.IndexAny(line, "{ ")]
			s := line[:strings.LastIndexByte(line, ' ')]
			if series[s] {
				t.Errorf("duplicate series %s", s)
			}
			series[s] = true
			ok := name == cur
			switch types[cur] {
			case "histogram":
				ok = name == cur+"_bucket" || name == cur+"_sum" || name == cur+"_count"
			case "summary":
				ok = ok || name == cur+"_sum" || name == cur+"_count"
			}
			if !ok {
				t.Errorf("sample %q is not in the family announced before it (%q)", line, cur)
			}
		}
	}
	return types
}

// faultScenario runs requests through a proxy whose upstream group has a
// server that resets every request, one that refuses connections and one
// that answers, and returns the proxy's metrics address.
func faultScenario(t *testing.T) (r *rig, rst *upstreamsim.Upstream, refused string, ok *upstreamsim.Upstream) {
	t.Helper()
	rst = upstream(t, upstreamsim.Reset())
	ok = upstream(t, upstreamsim.OK())
	refused = upstreamsim.RefusedAddr(t)
	r = newRig(t, "error", `
metrics: {listen: "127.0.0.1:0"}
http:
  proxy_next_upstream: error timeout
  upstreams:
    app:
      servers: [{address: "{U0}", max_fails: 0}, {address: "{U1}", max_fails: 0}, {address: "{U2}", max_fails: 0}]
    twice: # one address listed twice (nginx allows it): one set of series
      servers: [{address: "{U2}"}, {address: "{U2}", backup: true}]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://app}
        - {path: /direct, proxy_pass: "http://{U0}"}
`, rst.Addr(), refused, ok.Addr())
	for i := range 6 {
		if status, _ := r.do("GET", "/size/10", nil); status != 200 {
			t.Fatalf("GET %d: %d", i, status)
		}
	}
	if status, _ := r.do("GET", "/direct", nil); status != 502 {
		t.Fatalf("GET /direct: %d, want 502", status)
	}
	return r, rst, refused, ok
}

// Every family, spillway's own and the runtime's, has # HELP and # TYPE,
// and the fault scenario shows up per upstream server: resets on one,
// refused connects on another, answers on the third; build_info, go_* and
// process_* are there.
func TestMetricsExpositionHasHelpAndType(t *testing.T) {
	r, rst, refused, ok := faultScenario(t)
	text := exposition(t, r.p.MetricsAddr())
	types := families(t, text)
	for name, typ := range map[string]string{
		"spillway_build_info": "gauge", "spillway_requests_total": "counter",
		"spillway_request_duration_seconds": "histogram", "spillway_upstream_attempts_total": "counter",
		"spillway_upstream_failures_total": "counter", "spillway_upstream_retries_total": "counter",
		"spillway_upstream_header_duration_seconds": "histogram", "spillway_upstream_server_up": "gauge",
		"go_goroutines": "gauge", "go_gc_duration_seconds": "summary", "process_cpu_seconds_total": "counter",
		"process_resident_memory_bytes": "gauge", "process_open_fds": "gauge",
	} {
		if types[name] != typ {
			t.Errorf("%s: type %q, want %q", name, types[name], typ)
		}
	}
	if _, has := types["spillway_upstream_keepalive_reuse_ratio"]; has {
		t.Errorf("the since-start reuse ratio is still exposed; rate() the connections counter instead")
	}
	m := scrape(t, r.p.MetricsAddr())
	lbl := func(a string) string { return `upstream="app",server="` + a + `"` }
	for series, want := range map[string]float64{
		`spillway_upstream_failures_total{` + lbl(rst.Addr()) + `,kind="reset",phase="reading response header from upstream"}`:                                   float64(rst.Total() - 1),
		`spillway_upstream_failures_total{` + lbl(refused) + `,kind="refused",phase="connecting to upstream"}`:                                                   sumOf(m, "spillway_upstream_attempts_total", lbl(refused)),
		`spillway_upstream_attempts_total{` + lbl(ok.Addr()) + `}`:                                                                                               6,
		`spillway_upstream_header_duration_seconds_count{` + lbl(ok.Addr()) + `}`:                                                                                6,
		`spillway_upstream_failures_total{upstream="` + rst.Addr() + `",server="` + rst.Addr() + `",kind="reset",phase="reading response header from upstream"}`: 1,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	if sumOf(m, "spillway_upstream_attempts_total", lbl(refused)) == 0 {
		t.Errorf("the refusing server got no attempt")
	}
	if n := sumOf(m, "spillway_upstream_retries_total", lbl(rst.Addr()), `reason="next upstream"`); n != float64(rst.Total()-1) {
		t.Errorf("retries after resets: %v, want %d", n, rst.Total()-1)
	}
	var build string
	for k := range m {
		if strings.HasPrefix(k, "spillway_build_info{") {
			build = k
		}
	}
	if !strings.Contains(build, `goversion="go1.`) || !strings.Contains(build, `revision="`) || m[build] != 1 {
		t.Errorf("build info %q = %v", build, m[build])
	}
}

// promtool, Prometheus's own checker, accepts the exposition after the
// fault scenario. It skips without promtool unless
// SPILLWAY_REQUIRE_PROMTOOL=1 (CI installs Debian's prometheus package).
func TestMetricsPromtoolAccepts(t *testing.T) {
	promtool := needPromtool(t)
	r, _, _, _ := faultScenario(t)
	text := exposition(t, r.p.MetricsAddr())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// needPromtool finds promtool or skips; SPILLWAY_REQUIRE_PROMTOOL=1 turns
// the skip into a failure.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SPILLWAY_REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("promtool: %v and SPILLWAY_REQUIRE_PROMTOOL=1", err)
		}
		t.Skipf("promtool: %v (apt-get install prometheus)", err)
	}
	return p
}

// A reload that removes a server drops its series; a server the reload
// keeps goes on counting from where it was (no counter reset), even when
// its upstream block changed around it.
func TestMetricsReloadDropsRemovedServers(t *testing.T) {
	a := upstream(t, upstreamsim.OK())
	b := upstream(t, upstreamsim.OK())
	tmpl := `
metrics: {listen: "127.0.0.1:0"}
http:
  upstreams:
    app:
      servers: [SERVERS]
  servers:
    - listen: ["127.0.0.1:0"]
      access_log: off
      locations:
        - {path: /, proxy_pass: http://app}
`
	both := strings.ReplaceAll(tmpl, "SERVERS", `{address: "{U0}"}, {address: "{U1}", weight: 2}`)
	r := newRig(t, "error", both, a.Addr(), b.Addr())
	for range 6 {
		if status, _ := r.do("GET", "/size/1", nil); status != 200 {
			t.Fatalf("GET: %d", status)
		}
	}
	lblA := `{upstream="app",server="` + a.Addr() + `"}`
	lblB := `{upstream="app",server="` + b.Addr() + `"}`
	m := scrape(t, r.p.MetricsAddr())
	if m["spillway_upstream_attempts_total"+lblA] != 2 || m["spillway_upstream_attempts_total"+lblB] != 4 {
		t.Fatalf("before the reload: a %v, b %v attempts; want 2 and 4", m["spillway_upstream_attempts_total"+lblA], m["spillway_upstream_attempts_total"+lblB])
	}

	onlyA := strings.ReplaceAll(strings.ReplaceAll(tmpl, "SERVERS", `{address: "{U0}", max_fails: 3}`), "{U0}", a.Addr())
	dir := t.TempDir()
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(onlyA))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if status, _ := r.do("GET", "/size/1", nil); status != 200 {
		t.Fatalf("GET after the reload: %d", status)
	}
	text := exposition(t, r.p.MetricsAddr())
	if strings.Contains(text, b.Addr()) {
		t.Errorf("the removed server's series are still exposed:\n%s", grepLines(text, b.Addr()))
	}
	m = scrape(t, r.p.MetricsAddr())
	if got := m["spillway_upstream_attempts_total"+lblA]; got != 3 {
		t.Errorf("the kept server's attempts after the reload: %v, want 3 (2 before + 1)", got)
	}
}

func grepLines(text, s string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// pyPromParser is a Python with prometheus_client (Debian's
// python3-prometheus-client), or "" with the reason there is none.
func pyPromParser() (string, string) {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import prometheus_client").Run() == nil {
			return p, ""
		}
	}
	return "", "no python3 with prometheus_client (apt-get install python3-prometheus-client)"
}

// The Python client (prometheus_client's text parser, what many exporters
// and scripts use) reads every family with the type the exposition gives:
// before # TYPE lines it read them all as "unknown".
func TestMetricsPythonClientReadsTypes(t *testing.T) {
	py, why := pyPromParser()
	if py == "" {
		if os.Getenv("SPILLWAY_REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("%s and SPILLWAY_REQUIRE_PROMTOOL=1", why)
		}
		t.Skip(why)
	}
	r, _, _, _ := faultScenario(t)
	text := exposition(t, r.p.MetricsAddr())
	want := families(t, text)
	cmd := exec.Command(py, "-c", `
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    print(f.name, f.type, len(f.samples))
`)
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prometheus_client: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("parser output %q", l)
		}
		// The Python client names a counter family without its _total.
		name := f[0]
		if f[1] == "counter" {
			name += "_total"
		}
		got[name] = f[1]
	}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("%s: the Python client reads type %q, want %q", name, got[name], typ)
		}
	}
}
