package upstreamsim

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The websocket behaviour is a real WebSocket echo: a library client
// completes the handshake, gets its messages back (small, large, after a
// ping) and closes cleanly; a plain GET is refused with 426 and a FIN.
func TestWebSocketEcho(t *testing.T) {
	bs, err := ParseBehaviors("websocket path=/ws,ok")
	if err != nil || len(bs) != 2 || bs[0].Kind != KindWebSocket {
		t.Fatalf("%v %v", bs, err)
	}
	u := start(t, bs...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+u.Addr()+"/ws/chat", nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	for _, m := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("ab"), 1<<20)} {
		if err := c.Write(ctx, websocket.MessageBinary, m); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(got), err)
		}
	}
	read := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); read <- err }()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_ = c.Write(ctx, websocket.MessageText, []byte("x"))
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close handshake: %v", err)
	}

	res, err := http.Get("http://" + u.Addr() + "/ws/plain")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired || !res.Close {
		t.Errorf("plain GET: %d, close %v; want 426 and the connection closed", res.StatusCode, res.Close)
	}
	if st := u.Stats(); st.Targets["GET /ws/chat"] != 1 || st.Targets["GET /ws/plain"] != 1 {
		t.Errorf("targets %v", st.Targets)
	}
}
