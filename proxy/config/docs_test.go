package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryKey keeps docs/config.md's table and the raw structs in
// step: every key is documented for every block it may appear in, and the
// table lists no key or block that the loader would reject.
func TestDocsListEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{} // "block key"
	inKeys := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			inKeys = line == "## Keys" // the Variables table is proxy/vars's
		}
		cells := strings.Split(line, "|")
		if !inKeys || len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if strings.Contains(key, ".") {
			continue // sub-keys of error_log and access_log
		}
		for _, where := range strings.Split(cells[2], ",") {
			where = strings.TrimSpace(where)
			if where == "top" {
				where = "top level"
			}
			documented[where+" "+key] = true
		}
	}
	actual := map[string]bool{}
	for _, c := range contexts() {
		for _, f := range fieldsOf(c.typ) {
			actual[c.name+" "+f.name] = true
			if !documented[c.name+" "+f.name] {
				t.Errorf("docs/config.md does not list %q for %s", f.name, c.name)
			}
		}
	}
	for k := range documented {
		if !actual[k] {
			t.Errorf("docs/config.md lists %q, which the loader does not accept", k)
		}
	}
}
