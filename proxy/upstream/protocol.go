package upstream

import (
	"bufio"
	"io"

	"github.com/valyala/fasthttp"
)

// Protocol frames a request and its response on an upstream connection,
// for the steps where protocols differ; the pick, connect, keepalive cache,
// retry decision and errors are the same for all. The request head is
// built once by the caller (it needs the request's variables) and sent by
// Attempt.Send with the body Frame returns.
//
// HTTP1 is HTTP/1.1. FastCGI is package proxy's (fcgi.go): its head is
// built from fastcgi_param values, and reading its header logs STDERR
// records with the request's fields. HTTP2 (http2.go) is HTTP/2, for
// grpc_pass and proxy_http_version 2. uwsgi is meant to be a further
// implementation. What the response body's framing
// means after the header (chunked decoding, Content-Length checks, reuse)
// is still decided by package proxy per protocol.
type Protocol interface {
	// Frame wraps the request body as the protocol carries it (FastCGI:
	// STDIN records); a nil body stays nil.
	Frame(body io.Reader) io.Reader
	// ReadHeader reads the response head on a's connection into resp
	// (phase: reading response header from upstream).
	ReadHeader(a *Attempt, resp *fasthttp.ResponseHeader) *Error
	// Body is where the response body is read from after ReadHeader.
	Body(a *Attempt) *bufio.Reader
}

// HTTP1 is HTTP/1.1 on the wire: the body as it is, the head checked by
// nginx's rules and parsed by Attempt.ReadHeader, the body read from the
// connection. The zero value is ready; it holds no state.
type HTTP1 struct{}

func (HTTP1) Frame(body io.Reader) io.Reader { return body }

func (HTTP1) ReadHeader(a *Attempt, resp *fasthttp.ResponseHeader) *Error { return a.ReadHeader(resp) }

func (HTTP1) Body(a *Attempt) *bufio.Reader { return a.Conn.Reader() }
