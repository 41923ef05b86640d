package config

import (
	"crypto/tls"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOpenSSLCipherList checks the evaluation of cipher strings against what
// OpenSSL itself selects: testdata/openssl-ciphers/expected.txt records
// `openssl ciphers EXPR` for each expression (gen-expected.sh), order
// included.
func TestOpenSSLCipherList(t *testing.T) {
	b, err := os.ReadFile("testdata/openssl-ciphers/expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	n := 0
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "#") || strings.HasPrefix(lines[i], "\t") {
			continue
		}
		expr, want := lines[i], strings.TrimPrefix(lines[i+1], "\t")
		got, err := OpenSSLCipherList(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if g := strings.Join(got, ":"); g != want {
			t.Errorf("%s:\n got %s\nwant %s", expr, g, want)
		}
		n++
	}
	if n < 40 {
		t.Fatalf("only %d expressions checked", n)
	}
}

func TestOpenSSLCipherListErrors(t *testing.T) {
	for _, e := range []string{"HIGH:!", "HIGH:@FOO", "AES/GCM", "HIGH:+"} {
		if _, err := OpenSSLCipherList(e); err == nil {
			t.Errorf("%q: no error", e)
		}
	}
}

func TestGoCipherSuites(t *testing.T) {
	ids, dropped, err := GoCipherSuites("EECDH+AESGCM:EDH+AESGCM")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %x, want %x", ids, want)
	}
	if strings.Join(dropped, ":") != "DHE-DSS-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:DHE-DSS-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256" {
		t.Errorf("dropped %v", dropped)
	}
	// Go's own names still work.
	if ids, _, err := GoCipherSuites("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); err != nil || !slices.Equal(ids, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}) {
		t.Errorf("Go name: %x %v", ids, err)
	}
	for _, e := range []string{"NOSUCHCIPHER", "EDH+AESGCM", "!ALL"} {
		if _, _, err := GoCipherSuites(e); err == nil {
			t.Errorf("%q: no error", e)
		}
	}
}
