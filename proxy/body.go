package proxy

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// reqBody is a fully received request body that can be replayed to every
// upstream tried.
type reqBody interface {
	Size() int64
	reader() io.Reader // a new reader from byte 0
	Close() error
}

// memBody keeps a small body in memory.
type memBody struct{ b []byte }

func (m *memBody) Size() int64       { return int64(len(m.b)) }
func (m *memBody) reader() io.Reader { return bytes.NewReader(m.b) }
func (m *memBody) Close() error      { return nil }

// readBody receives the client's body before any upstream is contacted
// (proxy_request_buffering on), enforcing client_max_body_size the way nginx
// does: a declared Content-Length over the limit is refused at once; a
// chunked body is counted as it arrives.
func (x *exchange) readBody() bool {
	ctx := x.ctx
	lc := x.loc.conf
	h := &ctx.Request.Header
	cl := h.ContentLength() // -1 chunked, -2 none
	limit := lc.ClientMaxBodySize
	if cl > 0 && limit > 0 && int64(cl) > limit {
		x.logf(errorlog.Level(config.LevelError), "client intended to send too large body: "+strconv.Itoa(cl)+" bytes", 0, "")
		x.page(fasthttp.StatusRequestEntityTooLarge)
		return false
	}
	r := ctx.RequestBodyStream()
	if r == nil || cl == 0 {
		if cl == 0 || h.Peek("Content-Length") != nil {
			x.body = &memBody{}
		}
		return true
	}
	var buf bytes.Buffer
	chunk := make([]byte, 16<<10)
	for {
		if lc.ClientBodyTimeout > 0 {
			_ = ctx.Conn().SetReadDeadline(time.Now().Add(lc.ClientBodyTimeout))
		}
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		if limit > 0 && int64(buf.Len()) > limit {
			x.logf(errorlog.Level(config.LevelError), "client intended to send too large chunked body: "+
				strconv.Itoa(buf.Len()-n)+"+"+strconv.Itoa(n)+" bytes", 0, "")
			x.page(fasthttp.StatusRequestEntityTooLarge)
			return false
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return x.clientBodyError(err)
		}
	}
	x.body = &memBody{b: buf.Bytes()}
	return true
}

// clientBodyError answers a body that could not be read: a timeout is 408
// with nothing sent (nginx logs nothing), a broken chunked body 400, a client
// that went away 499.
func (x *exchange) clientBodyError(err error) bool {
	switch classify(PhaseSendClient, err) {
	case KindTimeout:
		x.status = fasthttp.StatusRequestTimeout
		x.closeSilently()
	case KindClosed, KindReset:
		x.logf(errorlog.Level(config.LevelInfo), "client prematurely closed connection", 0, "")
		x.status = 499
		x.closeSilently()
	default:
		x.logf(errorlog.Level(config.LevelError), "client sent invalid chunked body", 0, "")
		x.page(fasthttp.StatusBadRequest)
	}
	return false
}

// closeSilently drops the client connection without a response, as nginx
// does on client timeouts.
func (x *exchange) closeSilently() {
	x.ctx.Response.Reset()
	x.ctx.SetConnectionClose()
	_ = x.ctx.Conn().Close()
}
