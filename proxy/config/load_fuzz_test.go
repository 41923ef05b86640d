package config

import (
	"errors"
	"os"
	"regexp"
	"testing"
)

// reLocated is how an error about the whole file says where: YAML's
// "line 3", or the missing section's key ("no \"http\" section: at least one
// server must be defined in http.servers").
var reLocated = regexp.MustCompile(`line \d+|http\.servers`)

// FuzzLoadErrorsLocated feeds arbitrary proxy.yaml bytes through the real
// loader (LoadBytes: YAML, viper, decoding, inheritance, validation): no
// panic, and every error it reports says where: a key path, a line, or, for
// an error about the whole file, the line or key in its message. FuzzLoad
// (fuzz_test.go) checks the shape of a config that loads.
func FuzzLoadErrorsLocated(f *testing.F) {
	for _, name := range []string{"good.yaml", "unknown-key.yaml", "bad-size.yaml", "bad-duration.yaml"} {
		if b, err := os.ReadFile("../../testdata/config/" + name); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile("../../proxy.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "~", "[]", "- a", "a: [", "\t", "http: 5", "http:\n  servers: foo\n", "http:\n  servers: []\n",
		"http:\n  client_max_body_size: 1q\n", "http:\n  proxy_read_timeout: 1h 30m\n",
		"http:\n  servers:\n    - listen: [\"127.0.0.1:0\"]\n      locations: [{path: /, proxy_pass: \"http://127.0.0.1:1\"}]\n",
		"http:\n  servers:\n    - listen: [\"127.0.0.1:0\"]\n      locations: [{path: /, proxy_pass: \"http://nowhere\"}]\n",
		"http:\n  upstreams: {a: {servers: []}}\n",
		"http:\n  proxy_buffers: 1 4k\n",
		"error_log: {path: stderr, level: loud}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := LoadBytes("fuzz.yaml", data)
		if err == nil {
			return
		}
		var all []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			all = j.Unwrap()
		} else {
			all = []error{err}
		}
		for _, one := range all {
			var e *Error
			if !errors.As(one, &e) {
				t.Fatalf("error %T is not a *Error: %v", one, one)
			}
			if e.Key == "" && e.Line == 0 && !reLocated.MatchString(e.Msg) {
				t.Fatalf("error names neither a key nor a line: %q", e.Error())
			}
		}
	})
}
