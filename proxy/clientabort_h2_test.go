//go:build linux

//lint:file-ignore SA1019 the test speaks HTTP/2 with x/net/http2's Framer on purpose, as http2_test.go

package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"spillway/proxy/internal/testutil"
)

// An HTTP/2 client that resets its stream (RST_STREAM) while the upstream's
// body is read, the upstream silent after its first half: the stream's
// watch (watchH2) ends the upstream read as the connection's watch does on
// HTTP/1.1 (TestClientAbortDuringBody): the upstream connection is closed
// at once, the line is the body's, the status the upstream's; the
// connection goes on.
func TestHTTP2ClientResetDuringBody(t *testing.T) {
	for _, buffering := range []string{"off", "on"} {
		t.Run("proxy_buffering "+buffering, func(t *testing.T) {
			var open atomic.Int64 // the origin's requests not yet ended by the proxy's close
			o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				open.Add(1)
				defer open.Add(-1)
				w.Header().Set("Content-Length", strconv.Itoa(2*halfBody))
				_, _ = w.Write([]byte(strings.Repeat("a", halfBody)))
				w.(http.Flusher).Flush()
				<-r.Context().Done() // silent until the proxy closes
			}))
			t.Cleanup(o.Close)
			r, alog := h2cRig(t, o.Listener.Addr().String(), "  proxy_read_timeout: 60s\n  proxy_buffering: "+buffering)
			h := dialH2Raw(t, r.addr, nil)
			h.get(1, "localhost", "/slow")
			got := 0
			for got < halfBody {
				f := h.next(10 * time.Second)
				if f == nil {
					t.Fatal("connection closed")
				}
				if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
					got += len(d.Data())
				}
			}
			if err := h.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the upstream connection closed (proxy_read_timeout is 60s)", 10*time.Second, func() bool { return open.Load() == 0 })
			testutil.Eventually(t, "the access log", 10*time.Second, func() bool {
				b, _ := os.ReadFile(alog)
				return len(b) > 0
			})
			if b, _ := os.ReadFile(alog); string(b) != "\"GET /slow HTTP/2.0\" 200\n" {
				t.Errorf("access log %q, want the upstream's 200", b)
			}
			want := `epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while reading upstream, client: 127.0.0.1, server: , request: "GET /slow HTTP/2.0", upstream: "http://U0/slow", host: "localhost"` + "\n"
			if got := r.log(); !strings.HasSuffix(got, want) {
				t.Errorf("error log:\n%s\nwant it to end with:\n%s", got, want)
			}
			// The connection goes on.
			h.get(3, "localhost", "/next")
			for {
				f := h.next(10 * time.Second)
				if f == nil {
					t.Fatal("connection closed")
				}
				if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == 3 {
					break
				}
			}
		})
	}
}
