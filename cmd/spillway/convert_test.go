package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const realisticConf = "../../proxy/config/nginxconf/testdata/realistic/nginx.conf"

// spillway convert: YAML on stdout, what did not convert on stderr as
// file:line lines, exit 0 with warnings, 1 with --strict or on an nginx
// error; -o writes a file that spillway check accepts.
func TestConvertCommand(t *testing.T) {
	run := func(args ...string) (stdout, stderr string, err error) {
		root := newRootCmd()
		var o, e bytes.Buffer
		root.SetOut(&o)
		root.SetErr(&e)
		root.SetArgs(args)
		err = root.Execute()
		return o.String(), e.String(), err
	}

	stdout, stderr, err := run("convert", realisticConf)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "# spillway configuration converted by `spillway convert` from "+realisticConf) ||
		!strings.Contains(stdout, "\nhttp:\n") {
		t.Errorf("stdout is not the converted YAML:\n%s", stdout)
	}
	if !strings.Contains(stderr, realisticConf+`:30: unsupported directive "sub_filter_once" in http`) {
		t.Errorf("stderr lacks the unsupported list:\n%s", stderr)
	}

	out := filepath.Join(t.TempDir(), "proxy.yaml")
	stdout, _, err = run("convert", "-o", out, realisticConf)
	if err != nil || stdout != "" {
		t.Fatalf("convert -o: %v, stdout %q", err, stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "upstreams:") {
		t.Fatalf("-o file: %v\n%s", err, b)
	}
	if _, stderr, err := run("check", "-c", out); err != nil {
		t.Errorf("spillway check on the converted file: %v\n%s", err, stderr)
	}

	_, stderr, err = run("convert", "--strict", realisticConf)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(stderr, "spillway: 1 unsupported directive or parameter (--strict)") {
		t.Errorf("--strict: err %v, stderr:\n%s", err, stderr)
	}

	// check (and serve) read a *.conf file as nginx's and convert it first.
	_, stderr, err = run("check", "-c", realisticConf)
	if err != nil || !strings.Contains(stderr, "spillway: [warn] "+realisticConf+`:30: unsupported directive "sub_filter_once" in http`) ||
		!strings.Contains(stderr, "spillway: configuration file "+realisticConf+" test is successful") {
		t.Errorf("check -c nginx.conf: %v\n%s", err, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("http {\n  server {\n  }\n}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = run("convert", bad)
	if !errors.Is(err, errCheckFailed) || stderr != `spillway: [emerg] unexpected "}" in `+bad+":5\n" {
		t.Errorf("syntax error: err %v, stderr %q", err, stderr)
	}
	_, stderr, err = run("check", "-c", bad)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(stderr, `spillway: [emerg] unexpected "}" in `+bad+":5\n") {
		t.Errorf("check on a syntax error: err %v, stderr %q", err, stderr)
	}
}
