package proxy

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/fastcgi"
	"spillway/proxy/upstream"
	"spillway/proxy/vars"
)

// FastCGI is one more upstream protocol for the same pipeline, not a second
// pipeline. A location with fastcgi_pass has loc.fcgi set, and the request
// goes through Proxy.serve like any other: the same pick, connect, keepalive
// cache, retry decision, upstream.Error, buffers, spool and temp files (the
// config copied the fastcgi_* values into the Location's proxy fields).
// Only four steps switch on the protocol: fcgiState is the exchange's
// upstream.Protocol for three of them.
//
//	build the upstream head once   buildFastCGIHead: BEGIN_REQUEST + PARAMS (+ empty STDIN)
//	send the body                  Frame: the body framed as STDIN records as it is read
//	read the response header       ReadHeader: STDOUT records up to the CGI header's end,
//	                               STDERR logged, parsed into x.uresp.Header
//	read the body / reuse          Body: the rest of STDOUT, io.EOF at END_REQUEST;
//	                               fcgiReusable: fastcgi_keep_conn and a complete END_REQUEST

// fcgiLocation is a location's FastCGI settings, compiled once per site.
type fcgiLocation struct {
	params   []fcgiParam
	index    string
	split    *config.FastCGI // for SplitPathInfo
	keepConn bool
	// override: the HTTP_* names a fastcgi_param sets; the client's header
	// of that name is not passed (nginx).
	override []string
}

type fcgiParam struct {
	name       string
	value      *vars.Value
	ifNotEmpty bool
}

// compileFastCGI compiles fastcgi_param values with the variables of
// proxy/vars; unknown variables are an error, as in nginx.
func compileFastCGI(lc *config.Location, maps *vars.Maps) (*fcgiLocation, error) {
	fc := lc.FastCGI
	f := &fcgiLocation{index: fc.Index, split: fc, keepConn: fc.KeepConn}
	for _, p := range fc.Params {
		v, err := vars.Compile(p.Value, maps)
		if err != nil {
			return nil, errors.New("fastcgi_param " + p.Name + ": " + err.Error())
		}
		f.params = append(f.params, fcgiParam{name: p.Name, value: v, ifNotEmpty: p.IfNotEmpty})
		if h, ok := strings.CutPrefix(p.Name, "HTTP_"); ok {
			f.override = append(f.override, h)
		}
	}
	return f, nil
}

// fcgiState is one exchange's FastCGI state; its buffers are kept when the
// exchange is recycled.
type fcgiState struct {
	x      *exchange
	rd     fastcgi.Reader
	br     *bufio.Reader // the STDOUT stream: the CGI header, then the body
	stdin  fastcgi.StdinReader
	hdr    fastcgi.Header
	pairs  []byte
	val    []byte
	script []byte // $fastcgi_script_name
	pinfo  []byte // $fastcgi_path_info
	peer   string
	phase  upstream.Phase
	stderr func([]byte)
}

// recycle keeps the buffers for the next request and lets go of the
// connection and body the last one used. A request that did not go to a
// FastCGI server (x unset: buildFastCGIHead sets it, and only its exchange
// reads or frames anything) left nothing but the buffers.
func (s *fcgiState) recycle() {
	s.pairs, s.val, s.script, s.pinfo = s.pairs[:0], s.val[:0], s.script[:0], s.pinfo[:0]
	if s.x == nil {
		return
	}
	rd := s.rd
	rd.R, rd.Stderr = nil, nil
	s.stdin.Reset(nil)
	s.hdr.Reset()
	*s = fcgiState{br: s.br, stdin: s.stdin, hdr: s.hdr, pairs: s.pairs, val: s.val,
		script: s.script, pinfo: s.pinfo, rd: rd}
}

// buildFastCGIHead renders BEGIN_REQUEST and the PARAMS stream once (and,
// for a request without a body, the empty STDIN record): retries resend it.
func (x *exchange) buildFastCGIHead() {
	f, st := x.loc.fcgi, &x.fcgi
	st.x = x
	x.uri = x.uri[:0] // nginx logs fastcgi://host:port with no URI
	x.splitScriptName()
	r := &x.vars.req
	r.ScriptName, r.PathInfo = bstr(st.script), bstr(st.pinfo)
	if x.body != nil {
		// $content_length: the buffered body's size (a chunked body has
		// one now), else the header as sent (nginx).
		r.BodyLength = x.body.Size()
	}
	pairs := st.pairs[:0]
	for i := range f.params {
		p := &f.params[i]
		st.val = p.value.Append(st.val[:0], x)
		if p.ifNotEmpty && len(st.val) == 0 {
			continue
		}
		pairs = fastcgi.AppendPair(pairs, []byte(p.name), st.val)
	}
	// fastcgi_pass_request_headers on: every client header as HTTP_NAME,
	// except those a fastcgi_param sets and names nginx would not accept.
	var name []byte
	for k, v := range x.ctx.Request.Header.AllInOrder() {
		var ok bool
		if name, ok = cgiHeaderName(name[:0], k); !ok || overridden(f.override, name[5:]) {
			continue
		}
		pairs = fastcgi.AppendPair(pairs, name, v)
	}
	st.pairs = pairs
	head := fastcgi.AppendBeginRequest(x.head[:0], f.keepConn)
	head = fastcgi.AppendParams(head, pairs)
	if x.body == nil || x.body.Size() == 0 {
		head = fastcgi.AppendStdin(head, nil)
	}
	x.head = head
}

// cgiHeaderName appends HTTP_NAME for the client header k to dst, as
// nginx's fastcgi and uwsgi modules name it (upper case, '-' as '_'), and
// whether nginx would pass it: a name with any other byte is not.
func cgiHeaderName(dst, k []byte) ([]byte, bool) {
	dst = append(dst, "HTTP_"...)
	ok := true
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			ok = false
		}
		dst = append(dst, c)
	}
	return dst, ok
}

func overridden(names []string, h []byte) bool {
	for _, n := range names {
		if n == string(h) {
			return true
		}
	}
	return false
}

// splitScriptName computes $fastcgi_script_name and $fastcgi_path_info from
// $uri: fastcgi_split_path_info's two captures when it matches, then
// fastcgi_index appended to a name ending in "/" (nginx's rules).
func (x *exchange) splitScriptName() {
	st, f := &x.fcgi, x.loc.fcgi
	uri := x.path // $uri: no "..", no NUL (uri.go)
	st.script, st.pinfo = append(st.script[:0], uri...), st.pinfo[:0]
	if re := f.split.SplitPathInfo; re != nil {
		if m := config.FindSubmatchIndexPCRE(re, uri); m != nil && m[2] >= 0 {
			st.script = append(st.script[:0], uri[m[2]:m[3]]...)
			if m[4] >= 0 {
				st.pinfo = append(st.pinfo, uri[m[4]:m[5]]...)
			}
		}
	}
	if f.index != "" && len(st.script) > 0 && st.script[len(st.script)-1] == '/' {
		st.script = append(st.script, f.index...)
	}
}

// Frame sends a request body as STDIN records ending with an empty one
// (upstream.Protocol).
func (st *fcgiState) Frame(body io.Reader) io.Reader {
	if body == nil || st.x != nil && st.x.body != nil && st.x.body.Size() == 0 {
		// An empty body (an empty chunked one too): the head ends with
		// the empty STDIN record already (buildFastCGIHead).
		return nil
	}
	st.stdin.Reset(body)
	return &st.stdin
}

// Body is the rest of STDOUT, io.EOF at END_REQUEST (upstream.Protocol).
func (st *fcgiState) Body(*upstream.Attempt) *bufio.Reader { return st.br }

// ReadHeader reads STDOUT records up to the end of the CGI header into h,
// logging STDERR records (upstream.Protocol; phase: reading response
// header from upstream).
func (st *fcgiState) ReadHeader(a *upstream.Attempt, h *fasthttp.ResponseHeader) *upstream.Error {
	x := st.x
	st.peer = a.Conn.Peer().Addr()
	st.phase = upstream.PhaseReadHeader
	if st.stderr == nil {
		st.stderr = st.logStderr
	}
	st.rd.Reset(a.Conn.Reader(), st.stderr)
	// fastcgi_buffer_size bounds the CGI header, as proxy_buffer_size
	// bounds an HTTP head.
	size := max(int(x.loc.conf.Upstream.BufferSize), 16)
	if st.br == nil || st.br.Size() != size {
		st.br = bufio.NewReaderSize(&st.rd, size)
	} else {
		st.br.Reset(&st.rd)
	}
	var head []byte
	for {
		b, _ := st.br.Peek(st.br.Buffered())
		if n := fastcgi.HeaderEnd(b); n > 0 {
			head = b[:n]
			break
		}
		if len(b) >= st.br.Size() {
			return a.FailKind(upstream.PhaseReadHeader, upstream.KindTooBigHeader, &fastcgiTooBig{}, "")
		}
		if _, err := st.br.Peek(len(b) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return a.FailKind(upstream.PhaseReadHeader, upstream.KindTooBigHeader, &fastcgiTooBig{}, "")
			}
			return x.fastcgiFail(a, err)
		}
	}
	if err := fastcgi.ParseHeader(head, &st.hdr); err != nil {
		return x.fastcgiFail(a, err)
	}
	h.Reset()
	h.DisableNormalizing()
	h.SetNoDefaultContentType(true)
	h.SetStatusCode(st.hdr.Status)
	cl := -1 // no Content-Length: the client gets it chunked, as from nginx
	for i, name := range st.hdr.Names {
		v := st.hdr.Values[i]
		switch {
		case strings.EqualFold(string(name), "Content-Length"):
			if n, err := strconv.Atoi(string(v)); err == nil && n >= 0 {
				cl = n
			}
			continue
		case strings.EqualFold(string(name), "Transfer-Encoding"):
			continue // STDOUT is the body as it is; FastCGI frames it
		}
		h.AddBytesKV(name, v)
	}
	_, _ = st.br.Discard(len(head))
	if rest, ok := st.rd.BufferedRest(); ok && cl < 0 {
		// The whole answer is already here (a short script's usual case):
		// its length is known, so it takes the small-body path, without
		// a spool, and the client gets a Content-Length instead of chunks.
		cl = st.br.Buffered() + rest
	}
	h.SetContentLength(cl)
	st.phase = upstream.PhaseReadBody
	return nil
}

// fastcgiTooBig stands for "the CGI header does not fit fastcgi_buffer_size".
type fastcgiTooBig struct{}

func (*fastcgiTooBig) Error() string { return "upstream sent too big header" }

// fastcgiFail turns a failure while reading the header into nginx's
// error: socket errors as for HTTP (104, premature close, timeout);
// FastCGI's own faults are invalid headers with fastcgi's wording.
func (x *exchange) fastcgiFail(a *upstream.Attempt, err error) *upstream.Error {
	st := &x.fcgi
	var pe *fastcgi.ProtocolError
	switch {
	case errors.As(err, &pe):
	case err == io.EOF && st.rd.Stdout == 0 && !st.rd.StdoutClosed:
		pe = &fastcgi.ProtocolError{Msg: "upstream sent unexpected FastCGI record: " + strconv.Itoa(fastcgi.TypeEndRequest)}
	case err == io.EOF:
		pe = &fastcgi.ProtocolError{Msg: "upstream prematurely closed FastCGI stdout"}
	default:
		return a.Fail(upstream.PhaseReadHeader, err)
	}
	ue := a.FailKind(upstream.PhaseReadHeader, upstream.KindInvalidHeader, pe, "")
	ue.Err, ue.Msg = pe, pe.Msg // the socket was fine: not its errno
	return ue
}

// logStderr writes nginx's line for a STDERR record: at error level, in
// the phase the record arrived in.
func (st *fcgiState) logStderr(msg []byte) {
	x := st.x
	x.logPeer(errorlog.Error, st.phase, `FastCGI sent in stderr: "`+string(msg)+`"`, 0, st.peer)
}

// fcgiReusable: with fastcgi_keep_conn the connection goes back to the
// keepalive cache once END_REQUEST has been read whole; a body read only up
// to its Content-Length still has the closing records to read.
func (x *exchange) fcgiReusable() bool {
	st := &x.fcgi
	if !x.loc.fcgi.keepConn || st.br == nil {
		return false
	}
	if !st.rd.Ended {
		// Only what is left of a response already read: a few records.
		if n, err := io.CopyN(io.Discard, st.br, 1<<16); n > 0 || err != io.EOF {
			return false
		}
	}
	return st.rd.Ended && st.br.Buffered() == 0
}
