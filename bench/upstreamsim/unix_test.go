package upstreamsim

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// An upstream listening on a unix-domain socket ("unix:/path"): the same
// behaviours, keepalive and counts as on TCP.
func TestUnixListen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.sock")
	u, err := StartUpstream("unix:"+path, Behavior{Kind: KindStatus, Code: 503, Path: "/down"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	if u.Addr() != "unix:"+path {
		t.Fatalf("Addr() = %q", u.Addr())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, p := range []string{"/size/10", "/down"} {
		if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		want := map[string]int{"/size/10": 200, "/down": 503}[p]
		if resp.StatusCode != want || p == "/size/10" && len(b) != 10 {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, b)
		}
	}
	if u.Total() != 2 || u.Conns() != 1 {
		t.Errorf("Total %d Conns %d, want 2 1 (keepalive)", u.Total(), u.Conns())
	}
}
