package difftest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsEcho is a WebSocket echo origin (coder/websocket, RFC 6455), one per
// side so that neither sees the other's connections.
func wsEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", listenHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// wsCase is one WebSocket session run through both proxies: what the client
// observed, step by step, is its transcript.
type wsCase struct {
	name       string
	directives []Directive
	session    func(addr string) []string
}

const wsAccessFormat = `$status "$request" $body_bytes_sent`

// The same configuration, nginx's documented WebSocket set-up (with the
// constant "upgrade" until variables and map land), through real nginx
// 1.22 and spillway, with the same WebSocket client: the same statuses and
// messages, the same access-log lines (status and the tunnel's bytes) and
// the same error-log lines.
func TestWebSocketDifferential(t *testing.T) {
	bin := nginxBin(t)
	wsHeaders := []Directive{
		{"proxy_http_version", "1.1"},
		{"proxy_set_header", "Upgrade $http_upgrade"},
		{"proxy_set_header", `Connection "upgrade"`},
	}
	cases := []wsCase{
		{"echo", wsHeaders, wsSessionEcho},
		{"idle-timeout", append([]Directive{{"proxy_read_timeout", "1s"}}, wsHeaders...), wsSessionIdle},
		// Without proxy_set_header neither proxy passes Upgrade on (it is
		// hop-by-hop): the origin refuses the handshake.
		{"no-upgrade-headers", []Directive{{"proxy_http_version", "1.1"}}, wsSessionRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				transcript, access, log []string
			}
			var res [2]result
			for i, sd := range []side{nginxSide{bin: bin}, spillwaySide{}} {
				dir := filepath.Join(t.TempDir(), sd.name())
				for _, sub := range []string{"", "client", "proxy"} {
					if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				origin := wsEcho(t)
				s := &Scenario{Name: "websocket-" + tc.name, Directives: tc.directives, Servers: []Server{{}}, AccessFormat: wsAccessFormat}
				r, err := sd.start(s, dir, []string{origin}, t.Cleanup)
				if err != nil {
					t.Fatalf("%s: %v", sd.name(), err)
				}
				addr := r.addr()
				res[i].transcript = tc.session(addr)
				if err := r.stop(); err != nil {
					t.Fatalf("%s: %v", sd.name(), err)
				}
				b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
				res[i].access = strings.Split(strings.TrimSpace(string(b)), "\n")
				res[i].log, _ = normaliseLog(r.log(), map[string]string{origin: "U0", addr: "PROXY"}, dir)
			}
			ng, sp := res[0], res[1]
			for _, a := range []struct {
				what   string
				ng, sp []string
			}{{"transcript", ng.transcript, sp.transcript}, {"access log", ng.access, sp.access}, {"error log", ng.log, sp.log}} {
				if strings.Join(a.ng, "\n") != strings.Join(a.sp, "\n") {
					t.Errorf("%s differs:\nnginx:\n  %s\nspillway:\n  %s", a.what, strings.Join(a.ng, "\n  "), strings.Join(a.sp, "\n  "))
				}
			}
			if testing.Verbose() {
				t.Logf("transcript %q\naccess %q\nlog %q", sp.transcript, sp.access, sp.log)
			}
		})
	}
}

func wsDial(ctx context.Context, addr string) (*websocket.Conn, []string) {
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Host: "localhost"})
	if resp == nil {
		return nil, []string{fmt.Sprintf("dial: no response (%v)", err)}
	}
	// Connection only on a 101: fasthttp never writes nginx's
	// "Connection: keep-alive" on other answers (a difference of every
	// response, not of tunnels).
	out := []string{fmt.Sprintf("dial: %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		out = append(out, "Connection: "+resp.Header.Get("Connection"))
	}
	if err != nil {
		return nil, out
	}
	c.SetReadLimit(1 << 20)
	return c, out
}

func wsEchoStep(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, msg []byte) string {
	if err := c.Write(ctx, typ, msg); err != nil {
		return "write: " + err.Error()
	}
	gt, got, err := c.Read(ctx)
	if err != nil {
		return "read: " + err.Error()
	}
	return fmt.Sprintf("echo %v %d bytes: equal %v", gt, len(got), gt == typ && bytes.Equal(got, msg))
}

// wsSessionEcho: small and large messages, a ping, the close handshake.
func wsSessionEcho(addr string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out := wsDial(ctx, addr)
	if c == nil {
		return out
	}
	defer c.CloseNow()
	out = append(out, wsEchoStep(ctx, c, websocket.MessageText, []byte("hello")))
	out = append(out, wsEchoStep(ctx, c, websocket.MessageBinary, bytes.Repeat([]byte("0123456789abcdef"), 1<<12)))
	got := make(chan string, 1)
	go func() { _, m, err := c.Read(ctx); got <- fmt.Sprintf("after ping: %q %v", m, err) }()
	out = append(out, fmt.Sprintf("ping: %v", c.Ping(ctx)))
	_ = c.Write(ctx, websocket.MessageText, []byte("pong seen"))
	out = append(out, <-got)
	out = append(out, fmt.Sprintf("close: %v", c.Close(websocket.StatusNormalClosure, "bye")))
	return out
}

// wsSessionIdle: one message, then nothing until proxy_read_timeout ends
// the tunnel.
func wsSessionIdle(addr string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out := wsDial(ctx, addr)
	if c == nil {
		return out
	}
	defer c.CloseNow()
	out = append(out, wsEchoStep(ctx, c, websocket.MessageText, []byte("hello")))
	_, _, err := c.Read(ctx)
	return append(out, fmt.Sprintf("idle read ends: %v, close status %v", err != nil && ctx.Err() == nil, websocket.CloseStatus(err)))
}

// wsSessionRefused: the handshake only.
func wsSessionRefused(addr string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, out := wsDial(ctx, addr)
	if c != nil {
		c.CloseNow()
	}
	return out
}
