package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// serve creates the directories of every error log, those of the http,
// server and location levels too, as it does for the main one.
func TestEnsureDirsLevelErrorLogs(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(strings.ReplaceAll(`
error_log: {TMP}/main/error.log
http:
  error_log: {TMP}/http/error.log
  servers:
    - listen: ["127.0.0.1:0"]
      error_log: {TMP}/server/error.log
      locations:
        - {path: /, return: "200 ok", error_log: "{TMP}/loc/error.log info"}
`, "{TMP}", dir)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureDirs(cfg); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"main", "server", "loc"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v; want the directory created", d, err)
		}
	}
}
