package upstreamsim

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
)

// websocket answers req with a WebSocket handshake and echoes every message
// until the peer closes (the websocket behaviour): an origin for proxies'
// Upgrade tunnels. The protocol is coder/websocket's, driven through a
// minimal http.ResponseWriter over the session's connection; a request
// without the handshake's headers gets the library's refusal (426 or 400)
// and a FIN.
func (s *session) websocket(req *request) ending {
	hr := &http.Request{Method: req.method, Proto: req.proto, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, URL: &url.URL{Path: req.path}, RequestURI: req.target, Host: req.header["host"]}
	if req.http10 {
		hr.ProtoMinor = 0
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	w := &wsWriter{s: s, h: http.Header{}}
	c, err := websocket.Accept(w, hr, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		w.refuse()
		return s.flushThen(endClose)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return endClose
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return endClose
		}
	}
}

// wsWriter is the http.ResponseWriter and http.Hijacker websocket.Accept
// needs: a 101 is written when the connection is hijacked, a refusal when
// the handshake failed (refuse).
type wsWriter struct {
	s    *session
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *wsWriter) Header() http.Header         { return w.h }
func (w *wsWriter) WriteHeader(code int)        { w.code = code }
func (w *wsWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

func (w *wsWriter) head(code int) {
	fmt.Fprintf(w.s.bw, "HTTP/1.1 %d %s\r\nServer: spillway-upstream\r\n", code, http.StatusText(code))
	_ = w.h.Write(w.s.bw)
}

// Hijack writes the 101 head and hands over the session's connection.
func (w *wsWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.head(w.code)
	w.s.bw.WriteString("\r\n")
	if err := w.s.bw.Flush(); err != nil {
		return nil, nil, err
	}
	return w.s.c, bufio.NewReadWriter(w.s.br, w.s.bw), nil
}

// refuse writes the library's answer to a request that is no handshake.
func (w *wsWriter) refuse() {
	code := w.code
	if code == 0 {
		code = http.StatusBadRequest
	}
	w.h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	w.h.Set("Connection", "close")
	w.head(code)
	w.s.bw.WriteString("\r\n")
	_, _ = w.s.bw.Write(w.body.Bytes())
}
