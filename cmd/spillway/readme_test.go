package main

import (
	"os"
	"strings"
	"testing"
)

// The README keeps its two set-up commands, and says right under them that
// the first `go run` compiles for about a minute without output (a new user
// otherwise thinks the demo hangs); the demo's help says it too.
func TestReadmeSetupExplainsFirstCompile(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, setup, ok := strings.Cut(readme, "## Set up")
	if !ok {
		t.Fatal("README has no Set up section")
	}
	setup, _, _ = strings.Cut(setup, "\n## ")
	for _, want := range []string{"go run ./cmd/spillway demo", "go test -race ./...", "The first `go run`", "about a minute"} {
		if !strings.Contains(setup, want) {
			t.Errorf("README's Set up section lacks %q", want)
		}
	}
	if long := newDemoCmd(new(string)).Long; !strings.Contains(long, "about a minute") {
		t.Errorf("demo --help does not explain the first compile:\n%s", long)
	}
}
