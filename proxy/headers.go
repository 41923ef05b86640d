package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// nginx's headers filter (ngx_http_headers_filter_module): add_header and
// expires, applied to every answer — proxied responses (respond.go) and
// spillway's own (pages.go, stub_status) — by one call, x.addHeaders.

// respHeaders is one level's add_header and expires, compiled once per site.
type respHeaders struct {
	add      []addHeader
	expires  config.Expires
	expVal   *vars.Value // expires with variables: parsed per response
	trailers []addHeader // add_trailer
}

type addHeader struct {
	name   string
	value  *vars.Value
	always bool
}

// compileHeaders compiles a level's add_header values; nil when the level
// changes no header.
func compileHeaders(r config.ResponseHeaders, maps *vars.Maps) (*respHeaders, error) {
	if r.Empty() {
		return nil, nil
	}
	h := &respHeaders{expires: r.Expires}
	if r.Expires.Value != "" {
		v, err := vars.Compile(r.Expires.Value, maps)
		if err != nil {
			return nil, fmt.Errorf("expires %s: %w", r.Expires.Value, err)
		}
		h.expVal = v
	}
	for _, a := range r.Add {
		v, err := vars.Compile(a.Value, maps)
		if err != nil {
			return nil, &headerError{name: a.Name, err: err}
		}
		h.add = append(h.add, addHeader{name: a.Name, value: v, always: a.Always})
	}
	for _, a := range r.Trailers {
		v, err := vars.Compile(a.Value, maps)
		if err != nil {
			return nil, &headerError{name: a.Name, err: err}
		}
		h.trailers = append(h.trailers, addHeader{name: a.Name, value: v, always: a.Always})
	}
	return h, nil
}

type headerError struct {
	name string
	err  error
}

func (e *headerError) Error() string { return "add_header " + e.name + ": " + e.err.Error() }
func (e *headerError) Unwrap() error { return e.err }

// addHeaderStatus lists the statuses nginx adds headers to without
// "always", and sets expires for.
func addHeaderStatus(status int) bool {
	switch status {
	case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
		return true
	}
	return false
}

// addHeaders is nginx's headers filter for an answer of the given status
// whose head is in x.ctx.Response: expires first, then each add_header in
// file order. The level is the location's, or the server's for an answer
// no location made. Any code that answers the client itself (error pages,
// redirects, return, static files) calls it once the head is complete and
// before the body goes out.
func (x *exchange) addHeaders(status int) {
	x.addHeadersFor(status, status)
}

// addHeadersFor is addHeaders with add_header and expires as for status
// and add_trailer as for trailerStatus (0: none): a range filter's 416
// keeps what the headers filter added while the answer was a 200, and its
// page has had its own pass (files.go).
func (x *exchange) addHeadersFor(status, trailerStatus int) {
	if len(x.accel) > 0 {
		x.addAccelHeaders(&x.ctx.Response.Header) // what an X-Accel-Redirect carried (xaccel.go)
	}
	var h *respHeaders
	switch {
	case x.loc != nil:
		h = x.loc.headers
	case x.vh != nil:
		h = x.vh.headers
	}
	if h == nil {
		return
	}
	out := &x.ctx.Response.Header
	safe := addHeaderStatus(status)
	if safe && h.expires.Kind != config.ExpiresOff {
		if e, ok := x.expires(h); ok {
			setExpires(out, e, time.Now())
		}
	}
	var buf []byte
	for i := range h.add {
		a := &h.add[i]
		if !safe && !a.always {
			continue
		}
		buf = a.value.Append(buf[:0], x)
		switch {
		case strings.EqualFold(a.name, "ETag"), strings.EqualFold(a.name, "Last-Modified"):
			// nginx replaces these (an empty value removes them).
			delHeader(out, a.name)
			if len(buf) > 0 {
				out.Add(a.name, string(buf))
			}
		case len(buf) > 0:
			out.Add(a.name, string(buf))
		}
	}
	if trailerStatus != 0 {
		x.addTrailers(h, addHeaderStatus(trailerStatus), trailerStatus)
	}
}

// expires is the level's expires for this response: with variables, their
// value read as nginx's ngx_http_set_expires does, where a value that does
// not parse, or "off", leaves the headers alone.
func (x *exchange) expires(h *respHeaders) (config.Expires, bool) {
	if h.expVal == nil {
		return h.expires, true
	}
	e, err := config.ParseExpiresValue(h.expires.Kind == config.ExpiresModified, string(h.expVal.Append(nil, x)))
	return e, err == nil && e.Kind != config.ExpiresOff
}

// addTrailers is add_trailer (ngx_http_headers_filter and
// ngx_http_trailers_filter): an HTTP/1.1 answer with a body that has a
// trailer for its status is sent chunked (x.trailers), a Content-Length it
// had dropped, and each trailer whose value is not empty follows the last
// chunk (putTrailers).
func (x *exchange) addTrailers(h *respHeaders, safe bool, status int) {
	req := &x.ctx.Request.Header
	if len(h.trailers) == 0 || !client.HTTP11(req) || req.IsHead() || status < 200 || status == 204 || status == 304 {
		return
	}
	for i := range h.trailers {
		if safe || h.trailers[i].always {
			x.trailers, x.trailerSet, x.trailerSafe = true, h, safe
			return
		}
	}
}

// putTrailers takes the trailers' values, as nginx at the last buffer: a
// streamed body's end (trailerBody), else just before the loop writes the
// answer. Once the head has gone (sent), a header of a trailer's name
// (add_header X-Msec and add_trailer X-Msec) has been sent in it, and is
// not repeated in the trailer; and the time variables ($msec, ...) are
// the body's end, as nginx's are the time they are read (elsewhere
// spillway's are the request's start). fasthttp also announces the names in a
// "Trailer" header when they are known with the head, which nginx does
// not send.
func (x *exchange) putTrailers(sent bool) {
	h := x.trailerSet
	if h == nil {
		return
	}
	x.trailerSet = nil
	out := &x.ctx.Response.Header
	if sent {
		for i := range h.trailers {
			out.Del(h.trailers[i].name)
		}
		start := x.vars.req.Start
		x.vars.req.Start = time.Time{} // now (vars.Request)
		defer func() { x.vars.req.Start = start }()
	}
	var buf []byte
	for i := range h.trailers {
		t := &h.trailers[i]
		if !x.trailerSafe && !t.always {
			continue
		}
		if out.AddTrailer(t.name) != nil { // a name fasthttp will not send (config refuses them)
			continue
		}
		if buf = t.value.Append(buf[:0], x); len(buf) > 0 {
			out.Add(t.name, string(buf))
		}
	}
}

// trailing is body, made to take the trailers at its end when add_trailer
// applies.
func (x *exchange) trailing(body io.Reader) io.Reader {
	if x.trailerSet == nil {
		return body
	}
	return &trailerBody{Reader: body, x: x}
}

// trailerBody is a streamed body that takes the answer's trailers at its
// end (putTrailers), before fasthttp writes them after the last chunk.
type trailerBody struct {
	io.Reader
	x *exchange
}

func (t *trailerBody) Read(p []byte) (int, error) {
	n, err := t.Reader.Read(p)
	if err == io.EOF {
		t.x.putTrailers(true)
	}
	return n, err
}

func (t *trailerBody) SupportsBodyWriteTo() bool {
	wt, ok := t.Reader.(fasthttp.BodyWriterTo)
	return ok && wt.SupportsBodyWriteTo()
}

func (t *trailerBody) WriteTo(w io.Writer) (int64, error) {
	wt, ok := t.Reader.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{t})
	}
	n, err := wt.WriteTo(w)
	if err == nil {
		t.x.putTrailers(true)
	}
	return n, err
}

func (t *trailerBody) Close() error {
	if c, ok := t.Reader.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (t *trailerBody) CloseWithError(err error) error {
	if c, ok := t.Reader.(fasthttp.ReadCloserWithError); ok {
		return c.CloseWithError(err)
	}
	return nil
}

// expiresMax is what nginx writes for "expires max".
const (
	expiresMaxDate   = "Thu, 31 Dec 2037 23:55:55 GMT"
	expiresMaxAge    = "max-age=315360000"
	expiresEpochDate = "Thu, 01 Jan 1970 00:00:01 GMT"
)

// setExpires is ngx_http_set_expires: Expires replaces the response's, and
// one Cache-Control replaces all of its.
// Like nginx, a header that was there keeps its name as the upstream wrote it.
func setExpires(out *fasthttp.ResponseHeader, e config.Expires, now time.Time) {
	exp, cc := delHeader(out, "Expires"), delHeader(out, "Cache-Control")
	switch e.Kind {
	case config.ExpiresEpoch:
		out.Add(exp, expiresEpochDate)
		out.Add(cc, "no-cache")
		return
	case config.ExpiresMax:
		out.Add(exp, expiresMaxDate)
		out.Add(cc, expiresMaxAge)
		return
	}
	now = now.Truncate(time.Second) // nginx's cached second
	var at time.Time
	switch e.Kind {
	case config.ExpiresDaily:
		at = nextTime(now, e.Time)
	case config.ExpiresModified:
		at = now.Add(e.Time)
		if lm, err := http.ParseTime(string(respPeekFold(out, "Last-Modified"))); err == nil {
			at = lm.Add(e.Time)
		}
	default:
		at = now.Add(e.Time)
	}
	out.Add(exp, at.UTC().Format(http.TimeFormat))
	if e.Time < 0 || at.Before(now) {
		out.Add(cc, "no-cache")
		return
	}
	out.Add(cc, "max-age="+strconv.FormatInt(int64(at.Sub(now)/time.Second), 10))
}

// nextTime is ngx_next_time: the next moment, in local time, at the time of
// day tod (today if still ahead, else tomorrow).
func nextTime(now time.Time, tod time.Duration) time.Time {
	y, m, d := now.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, now.Location()).Add(tod)
	if !t.After(now) {
		t = time.Date(y, m, d+1, 0, 0, 0, 0, now.Location()).Add(tod)
	}
	return t
}

// delHeader removes every header of that name, whatever its case (the
// response head keeps upstream names as written), and returns the name as
// the first of them wrote it (name when there was none).
func delHeader(out *fasthttp.ResponseHeader, name string) string {
	var keys [][]byte
	for k := range out.All() {
		if bytes.EqualFold(k, []byte(name)) {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	for _, k := range keys {
		out.DelBytes(k)
	}
	if len(keys) > 0 {
		return string(keys[0])
	}
	return name
}

// respPeekFold is the first value of a response header, whatever the case of its name.
func respPeekFold(out *fasthttp.ResponseHeader, name string) []byte {
	for k, v := range out.All() {
		if bytes.EqualFold(k, []byte(name)) {
			return v
		}
	}
	return nil
}
