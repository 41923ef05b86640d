package difftest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The suite needs nginx. Without it the tests skip, unless
// SPILLWAY_REQUIRE_NGINX=1 (CI), which turns the skip into a failure.
func nginxBin(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("DIFFTEST_NGINX"); bin != "" { // an nginx of your choice
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
				t.Fatalf("DIFFTEST_NGINX: %v and SPILLWAY_REQUIRE_NGINX=1", err)
			}
			t.Skipf("DIFFTEST_NGINX: %v; set SPILLWAY_REQUIRE_NGINX=1 to make this a failure", err)
		}
		return bin
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
			if _, e := os.Stat(p); e == nil {
				return p
			}
		}
		if os.Getenv("SPILLWAY_REQUIRE_NGINX") == "1" {
			t.Fatalf("nginx is not installed (apt-get install -y nginx-light) and SPILLWAY_REQUIRE_NGINX=1: %v", err)
		}
		t.Skipf("nginx is not installed (apt-get install -y nginx-light); set SPILLWAY_REQUIRE_NGINX=1 to make this a failure: %v", err)
	}
	return bin
}

// TestMain raises the default -parallel: scenarios spend most of their
// time waiting for a 1s proxy_read_timeout, not on the CPU.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "12")
	}
	os.Exit(m.Run())
}

// results is filled by TestDifferential's subtests and read by its summary.
type results struct {
	mu        sync.Mutex
	identical int
	differ    int
	failed    int
	dropped   map[string]int
}

// TestDifferential runs every scenario against nginx and spillway and
// fails when they differ in a way the scenario does not document.
func TestDifferential(t *testing.T) {
	bin := nginxBin(t)
	var res results
	res.dropped = map[string]int{}
	t.Run("scenarios", func(t *testing.T) {
		for i := range Scenarios {
			s := &Scenarios[i]
			t.Run(s.Area+"/"+s.Name, func(t *testing.T) {
				t.Parallel()
				ng, sp, err := Run(s, bin, t.TempDir(), t.Cleanup)
				if err != nil {
					res.mu.Lock()
					res.failed++
					res.mu.Unlock()
					t.Fatal(err)
				}
				if os.Getenv("DIFFTEST_VERBOSE") != "" {
					t.Logf("nginx %s\n\t%s\nspillway %s\n\t%s", brief(s, ng.Responses), strings.Join(ng.Log, "\n\t"),
						brief(s, sp.Responses), strings.Join(sp.Log, "\n\t"))
				}
				d := Compare(s, ng, sp)
				err = Check(s, d)
				for _, a := range s.Racy {
					if len(d[a]) > 0 {
						t.Logf("racy aspect %s differs (%s): %s", a, s.RacyReason, strings.Join(d[a], "; "))
					}
				}
				res.mu.Lock()
				for k, v := range ng.Dropped {
					res.dropped[ng.Side+" "+k] += v
				}
				for k, v := range sp.Dropped {
					res.dropped[sp.Side+" "+k] += v
				}
				switch {
				case err != nil:
					res.failed++
				case s.Diff == nil:
					res.identical++
				default:
					res.differ++
				}
				res.mu.Unlock()
				if err != nil {
					t.Errorf("%v\n--- nginx.conf\n%s--- proxy.yaml\n%s--- nginx responses %+v\n--- spillway responses %+v\n--- nginx raw log\n%s--- spillway raw log\n%s",
						err, ng.Config, sp.Config, brief(s, ng.Responses), brief(s, sp.Responses), ng.RawLog, sp.RawLog)
				}
			})
		}
	})
	// Every global normalisation rule must still remove something: a
	// difference that disappeared must leave the documented list.
	if !t.Failed() && len(Scenarios) > 0 && testing.Short() == false && runAll() {
		for _, r := range dropRules {
			n := 0
			for k, v := range res.dropped {
				if strings.HasSuffix(k, " "+r.Name) && (r.Side == "" || strings.HasPrefix(k, r.Side+" ")) {
					n += v
				}
			}
			if n == 0 {
				t.Errorf("global rule %q (%s) removed no line in any scenario: the difference has disappeared; update compare.go, docs/differential.md and README", r.Name, r.Side)
			}
		}
	}
	t.Logf("%d/%d identical, %d documented differences", res.identical, res.identical+res.differ+res.failed, res.differ)
	if res.failed > 0 {
		t.Logf("%d scenarios failed", res.failed)
	}
	t.Logf("lines removed by the global rules: %v", res.dropped)
}

// runAll reports whether the whole suite ran (no -run filter below it).
func runAll() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == "" || f.Value.String() == "TestDifferential"
}

func brief(s *Scenario, rs []Response) string {
	var b strings.Builder
	for i, r := range rs {
		fmt.Fprintf(&b, "\n  %d: %s, %d body bytes, %s %s", i+1, r.Status, len(r.Body), r.End, r.Err)
		if len(s.Headers) > 0 {
			b.WriteString("\n     " + headerValues(s.Headers, r.Lines))
		}
	}
	return b.String()
}

// TestDocInSync checks that docs/differential.md is Markdown():
// DIFFTEST_UPDATE_DOC=1 rewrites it. It needs no nginx.
func TestDocInSync(t *testing.T) {
	const path = "../../../docs/differential.md"
	want := Markdown()
	if os.Getenv("DIFFTEST_UPDATE_DOC") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with the scenario list: run DIFFTEST_UPDATE_DOC=1 go test -run TestDocInSync ./proxy/internal/difftest/", path)
	}
}

// TestScenariosWellFormed needs no nginx: names are unique, every
// difference names its aspects and a reason, and every configuration
// loads in spillway.
func TestScenariosWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for i := range Scenarios {
		s := &Scenarios[i]
		if seen[s.Area+"/"+s.Name] {
			t.Errorf("duplicate scenario %s/%s", s.Area, s.Name)
		}
		seen[s.Area+"/"+s.Name] = true
		if s.Diff != nil && (len(s.Diff.Aspects) == 0 || s.Diff.Reason == "") {
			t.Errorf("%s: a difference needs aspects and a reason", s.Name)
		}
		if len(s.Racy) > 0 && s.RacyReason == "" {
			t.Errorf("%s: racy aspects need a reason", s.Name)
		}
		if len(s.Servers) == 0 || len(s.Requests) == 0 {
			t.Errorf("%s: needs servers and requests", s.Name)
		}
	}
	if len(Scenarios) < 60 {
		t.Errorf("%d scenarios; issue 8 asks for at least 60", len(Scenarios))
	}
}
