package proxy_test

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// ssl_session_ticket_key: two instances that share the key file resume
// each other's sessions; an instance whose first key is new and second the
// old one (a rotation) still resumes the old tickets; without the file
// each configuration has keys of its own and nothing resumes across.
func TestSSLSessionTicketKey(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	key := func(name string) string {
		b := make([]byte, 80)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return writeFile(t, filepath.Join(dir, name), b)
	}
	oldKey, newKey := key("old.key"), key("new.key")
	server := func(keys string) *rig {
		return newRig(t, "info", fmt.Sprintf(`
error_log: {path: stderr, level: info}
http:
  access_log: off
  servers:
    - listen: ["127.0.0.1:0 ssl"]
      ssl_certificate: %s
      ssl_certificate_key: %s
%s      locations: [{path: /, return: "200 $ssl_session_reused\n"}]
`, cf, kf, keys))
	}
	a := server("      ssl_session_ticket_key: " + oldKey + "\n")
	b := server("      ssl_session_ticket_key: " + oldKey + "\n")
	rotated := server("      ssl_session_ticket_key: [" + newKey + ", " + oldKey + "]\n")
	own := server("")
	for _, c := range []struct {
		name   string
		second *rig
		want   string
	}{
		{"same key file", b, "r\n"},
		{"rotated: the old key second", rotated, "r\n"},
		{"no key file", own, ".\n"},
	} {
		cache := tls.NewLRUClientSessionCache(4)
		get := func(r *rig) string {
			conn, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "localhost", RootCAs: ca.pool(), ClientSessionCache: cache})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, body := roundTrip(t, conn, "/") // reads the TLS 1.3 ticket too
			return body
		}
		if got := get(a); got != ".\n" {
			t.Fatalf("%s: the first handshake says %q", c.name, got)
		}
		if got := get(c.second); got != c.want {
			t.Errorf("%s: $ssl_session_reused %q, want %q", c.name, got, c.want)
		}
	}
}

// A key file of another size than nginx's 48 or 80 bytes refuses the
// configuration.
func TestSSLSessionTicketKeySize(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Test CA")
	cf, kf := ca.leaf(t, "localhost").files(t, dir, "l")
	short := writeFile(t, filepath.Join(dir, "short.key"), make([]byte, 32))
	_, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(fmt.Sprintf(
		"http:\n  servers:\n    - listen: [\"127.0.0.1:0 ssl\"]\n      ssl_certificate: %s\n      ssl_certificate_key: %s\n      ssl_session_ticket_key: %s\n      locations: [{path: /, return: \"200\"}]\n", cf, kf, short)))
	if want := `"` + short + `" must be 48 or 80 bytes`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want %q", err, want)
	}
}
