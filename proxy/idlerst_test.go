//go:build linux

package proxy_test

// TestIdleRSTSlowReader: why TestFaultSoak's slow GETs under /nb and
// /nospill were cut short under load ("875008 of 1048576 body bytes:
// unexpected EOF", with "recv() failed (104: Connection reset by peer) while
// reading upstream" in the error log).
//
// Neither location spools to disk, so spillway reads the upstream only as
// fast as the slow client takes the bytes. The soak's U4 is idle_rst 20ms:
// the bench upstream armed that idle timer as soon as write(2) had put the
// last body byte into its socket's send queue (on loopback the whole 1 MiB
// fits at once), then waited at most 5s for the queue to drain and closed
// with SO_LINGER 0, and an RST discards what is still queued. A slow reader
// that needed more than about 5s for 1 MiB (the soak's 4 KiB reads paced at
// 500µs take 0.4s on an idle machine, far more at load 10+) lost the tail:
// the upstream cut the body, not spillway. nginx 1.22 in the same place does
// exactly what spillway does: in front of `spillway upstream --behavior
// "idle_rst 20ms"` with proxy_buffering off, a client (4 KiB SO_RCVBUF) that
// stalls 6s after the head gets 208384 bytes from nginx and from spillway,
// both logging recv() failed (104) (nginx "while sending to client", the
// handler that ran the read). With an upstream that does not reset, both
// deliver the whole body after a 3s stall: proxy_read_timeout (2s here)
// runs only while the proxy waits for the upstream, not while it waits for
// the client (transport.go renews the deadline before each read).
//
// So the bench was wrong: a connection still delivering a response is not
// idle. Its idle timer now starts once the peer has acknowledged every byte
// (bench session.awaitRequest); idle connections are still reset, which
// the second half checks.
//
// The client's 6s stall is workload (longer than the old 5s wait, and than
// proxy_read_timeout), not a synchronisation; nothing asserted depends on
// timing.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

const idleRSTYAML = `
error_log: {path: stderr, level: warn}
http:
  proxy_connect_timeout: 1s
  proxy_read_timeout: 2s
  send_timeout: 30s
  proxy_buffer_size: 4k
  proxy_buffers: 4 8k
  proxy_temp_path: {PROXYTMP}
  client_body_temp_path: {CLIENTTMP}
  proxy_http_version: "1.1"
  proxy_set_header: {Connection: ""}
  upstreams:
    rst: {keepalive: 16, servers: [{address: "{RST}", max_fails: 0}]}
    ok: {keepalive: 16, servers: [{address: "{OK}", max_fails: 0}]}
  servers:
    - listen: ["127.0.0.1:0"]
      server_name: [localhost]
      access_log: off
      locations:
        - {path: /rst/nb/, proxy_pass: "http://rst/", proxy_buffering: off}
        - {path: /rst/nospill/, proxy_pass: "http://rst/", proxy_max_temp_file_size: 0}
        - {path: /ok/nb/, proxy_pass: "http://ok/", proxy_buffering: off}
        - {path: /ok/nospill/, proxy_pass: "http://ok/", proxy_max_temp_file_size: 0}
`

func TestIdleRSTSlowReader(t *testing.T) {
	const size = 1 << 20
	const stall = 6 * time.Second
	rst, err := upstreamsim.UpstreamConfig{Addr: "127.0.0.1:0", Behaviors: []upstreamsim.Behavior{upstreamsim.OK(), upstreamsim.IdleRST(20 * time.Millisecond)}}.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rst.Close() })
	ok, err := upstreamsim.StartUpstream("127.0.0.1:0", upstreamsim.OK())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ok.Close() })
	d := newBTDirs(t)
	yaml := strings.NewReplacer("{PROXYTMP}", d.proxy, "{CLIENTTMP}", d.client, "{RST}", rst.Addr(), "{OK}", ok.Addr()).Replace(idleRSTYAML)
	elog := &soakLog{levels: map[string]int{}, msgs: map[string]int{}, example: map[string]string{}}
	p := soakStart(t, yaml, elog)
	addr := p.Addrs()[0]

	var wg sync.WaitGroup
	for _, path := range []string{"/rst/nb/", "/rst/nospill/", "/ok/nb/", "/ok/nospill/"} {
		c := btDialSlow(t, addr)
		_ = c.SetDeadline(time.Now().Add(stall + 30*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := fmt.Sprintf("%ssize/%d", path, size)
			if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
				t.Errorf("%s: sending: %v", target, err)
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("%s: response head: %v", target, err)
				return
			}
			if resp.StatusCode != 200 || resp.ContentLength != size {
				t.Errorf("%s: %s, Content-Length %d; want 200 with %d", target, resp.Status, resp.ContentLength, size)
				return
			}
			time.Sleep(stall) // the client stops reading: workload
			var body btBodyCheck
			_, err = io.Copy(&body, resp.Body)
			if err != nil || body.n != size {
				t.Errorf("%s: %d of %d body bytes: %v", target, body.n, size, err)
			}
		}()
	}
	wg.Wait()
	for lv, n := range elog.levels {
		if lv != "warn" {
			t.Errorf("%d error-log lines at %s: %v", n, lv, elog.example)
		}
	}

	// idle_rst still resets connections that really are idle: once the
	// upstream has dropped them, the proxy finds its cached ones reset.
	testutil.Eventually(t, "the idle_rst upstream to reset its idle connections", 10*time.Second, func() bool {
		return rst.OpenConns() == 0
	})
	c := btDial(t, addr)
	resp, br := btGet(t, c, "/rst/nb/size/10")
	if resp.StatusCode != 200 {
		t.Fatalf("after the idle reset: %s", resp.Status)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(br, 10))
	if _, rstN, _, _ := p.StaleStats(); rstN == 0 {
		t.Errorf("no cached upstream connection was found reset: idle_rst did not reset idle connections")
	}
}
