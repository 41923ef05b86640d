package proxy

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// nginx's gunzip filter (ngx_http_gunzip_filter_module): a proxied response
// with Content-Encoding: gzip is decompressed for a client that does not
// take gzip. Like the gzip filter (gzip.go), the decision is made on the
// head and the body is transformed as it is read from the upstream, before
// the proxy buffers and the temp file.

// gunzipFor is ngx_http_gunzip_header_filter for the response head in
// x.ctx.Response. When it returns true the head has no Content-Encoding,
// Content-Length nor Accept-Ranges and a weak ETag; the caller decompresses
// the body, if there is one. Either way a gzip'd response varies with
// Accept-Encoding (under gzip_vary).
func (x *exchange) gunzipFor() bool {
	g := x.gzipConf()
	if g == nil || !g.Gunzip {
		return false
	}
	out := &x.ctx.Response.Header
	if !bytes.EqualFold(respPeekFold(out, "Content-Encoding"), []byte("gzip")) { // one coding, gzip
		return false
	}
	x.gzipVary = true
	x.varyAcceptEncoding()
	if x.gzipOK(g) {
		return false
	}
	delHeader(out, "Content-Encoding")
	delHeader(out, "Content-Length")
	delHeader(out, "Accept-Ranges")
	weakETag(out)
	return true
}

// inflateError is the gunzip filter's failure, with nginx's message: the
// body is not gzip ("inflate() failed: 0, -3"), or ends inside the stream
// ("inflate() returned -5 on response end"). nginx logs it "while sending
// to client" and closes the connection.
type inflateError struct{ msg string }

func (e *inflateError) Error() string { return e.msg }

var gzipReaders sync.Pool

// gunzipBody decompresses src as it is read; gzip members one after
// another are one body, as in nginx.
type gunzipBody struct {
	src srcErr
	zr  *gzip.Reader
	err error
}

// srcErr remembers the upstream's own error, to tell it from bad data.
type srcErr struct {
	r   io.Reader
	err error
}

func (s *srcErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func newGunzipBody(src io.Reader) *gunzipBody {
	return &gunzipBody{src: srcErr{r: src}}
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(&g.src)
		} else {
			err = zr.Reset(&g.src)
		}
		if err != nil {
			return 0, g.fail(err)
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		gzipReaders.Put(g.zr)
		g.zr, g.err = nil, io.EOF
	default:
		return n, g.fail(err)
	}
	return n, err
}

// fail turns a decompressor's error into the upstream's, or nginx's:
// zlib's Z_BUF_ERROR (-5) for a stream cut short, Z_DATA_ERROR (-3) for
// anything that is not gzip (a bad header, corrupt deflate data, a wrong
// checksum).
func (g *gunzipBody) fail(err error) error {
	switch {
	case g.src.err != nil:
		g.err = g.src.err
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		g.err = &inflateError{"inflate() returned -5 on response end"}
	default:
		g.err = &inflateError{"inflate() failed: 0, -3"}
	}
	return g.err
}
