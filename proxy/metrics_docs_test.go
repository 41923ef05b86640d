package proxy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The shipped alert rules and dashboard (docs/prometheus, docs/grafana).
const (
	alertsFile     = "../docs/prometheus/alerts.yml"
	alertsTestFile = "../docs/prometheus/alerts_test.yml"
	dashboardFile  = "../docs/grafana/spillway.json"
)

// promtool check rules accepts the alert rules, and promtool test rules
// runs their unit tests (a retry storm, a server down, the budget).
func TestAlertRulesPassPromtool(t *testing.T) {
	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", filepath.Base(alertsFile)}, {"test", "rules", filepath.Base(alertsTestFile)}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertsFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboardQueries returns the dashboard's PromQL, Grafana's variables
// replaced by what they stand for in a query.
func dashboardQueries(t *testing.T) (exprs []string, templating []string) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$upstream", ".*")
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, vars.Replace(tg.Expr))
		}
	}
	for _, v := range d.Templating.List {
		templating = append(templating, vars.Replace(v.Definition))
	}
	return exprs, templating
}

// Every dashboard query is PromQL that promtool parses: each becomes a
// recording rule of a scratch rules file that promtool checks.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := needPromtool(t)
	exprs, _ := dashboardQueries(t)
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query%d", i), "expr": e})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, res)
	}
}

var metricName = regexp.MustCompile(`\b(?:spillway|go|process)_[a-z0-9_]+`)

// Every metric the dashboard and the alert rules name exists in a live
// exposition after the fault scenario: a renamed series breaks this test,
// not a graph in production.
func TestDocsMetricNamesExist(t *testing.T) {
	r, _, _, _ := faultScenario(t)
	types := families(t, exposition(t, r.p.MetricsAddr()))
	exprs, templating := dashboardQueries(t)
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var alertNames []string
	for _, g := range rules.Groups {
		for _, rl := range g.Rules {
			exprs = append(exprs, rl.Expr)
			alertNames = append(alertNames, rl.Alert)
		}
	}
	for _, want := range []string{"SpillwayRetryStorm", "SpillwaySpillingToDisk", "SpillwayUpstreamServerDown", "SpillwayStaleKeepaliveRate", "SpillwayBufferBudgetExhausted"} {
		if !slices.Contains(alertNames, want) {
			t.Errorf("no alert %s in %s", want, alertsFile)
		}
	}
	seen := 0
	for _, e := range append(exprs, templating...) {
		for _, name := range metricName.FindAllString(e, -1) {
			seen++
			if _, ok := types[name]; ok {
				continue
			}
			base := name[:strings.LastIndexByte(name, '_')]
			switch typ := types[base]; {
			case strings.HasSuffix(name, "_bucket") && typ == "histogram":
			case (strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")) && (typ == "histogram" || typ == "summary"):
			default:
				t.Errorf("%s (in %q) is not in the exposition", name, e)
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d metric names found in the dashboard and the rules", seen)
	}
}
